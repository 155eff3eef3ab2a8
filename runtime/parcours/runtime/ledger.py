"""Accumulators across episodes: the ledger a run carries, and the order it applies them in.

A policy's accumulators (`ACCUMULATORS` in a generated module: name, input field, keys,
period, the output it adds, the cap by date) add an output up over every episode of the
same key (a person's, a household's id) in the same period (a calendar year).  The
decision itself stays a pure function of the episode: the amount used before the episode
reaches it as the input `NAME_used`; the ledger fills that in and adds the decision's
output afterwards.

- :func:`decide_with_state` is the single-episode API: state in, decision and new state out.
- :class:`Ledger` holds the state of a run (`load_state` / `state_lines` for a file).
- `parcours.runtime.order` puts the lines of a run in the order its ledger needs them.

An episode without its key (no `patient.id`) is a person of its own: the ledger neither
reads nor records anything for it, and whatever `NAME_used` the episode states is taken
as given (zero when absent).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from .decision import Decision
from .record import Frozen, Record

# (name, input field, keys, period, output added, ((from YYYY-MM-DD, cap), …)): what a
# generated module's ACCUMULATORS holds, plain data so that the ABI does not change.
SpecTuple = tuple[str, str, tuple[str, ...], str, str, tuple[tuple[str, str], ...]]
Slot = tuple[str, tuple[str, ...], str]  # (accumulator, key values, period)
DEFAULT_BUFFER = 100_000  # lines sorted in memory before a run is spilled to disk


class StateError(ValueError):
    """A state file that cannot be read: `line N: field F: message`."""


class AccumulatorSpec(Frozen):
    __slots__ = ("name", "field", "keys", "period", "adds", "caps", "_parts")
    _hidden = ("_parts",)
    name: str
    field: str
    keys: tuple[str, ...]
    period: str
    adds: str
    caps: tuple[tuple[date, Decimal], ...]
    _parts: tuple[tuple[str, ...], ...]  # each key's path: ("patient", "id")

    def __init__(self, name: str, field: str, keys: tuple[str, ...], period: str, adds: str,
                 caps: tuple[tuple[date, Decimal], ...]) -> None:
        self._fill(name, field, keys, period, adds, caps, tuple(tuple(k.split(".")) for k in keys))

    @classmethod
    def of(cls, spec: SpecTuple) -> AccumulatorSpec:
        name, field_, keys, period, adds, caps = spec
        return cls(name, field_, keys, period, adds,
                   tuple((date.fromisoformat(d), Decimal(v)) for d, v in caps))

    def cap_at(self, day: date) -> Decimal | None:
        found = None
        for start, value in self.caps:
            if start <= day:
                found = value
        return found

    def key_of(self, episode: Mapping[str, object]) -> tuple[str, ...] | None:
        """The episode's key, or None when a part of it is absent (its own person)."""
        values = []
        for parts in self._parts:
            owner: object = episode
            for part in parts:
                owner = owner.get(part) if type(owner) is dict or isinstance(owner, Mapping) \
                    else None
            if type(owner) is not str or not owner:
                return None
            values.append(owner)
        return tuple(values)


def specs_of(module: Any) -> tuple[AccumulatorSpec, ...]:
    """A generated (or interpreted) module's accumulators; () when it has none."""
    return tuple(AccumulatorSpec.of(s) for s in getattr(module, "ACCUMULATORS", ()))


def period_of(spec: AccumulatorSpec, episode: Mapping[str, object]) -> str | None:
    day = episode.get("date")
    if type(day) is not str or len(day) != 10 or not day[:4].isdigit():
        return None  # the decision rejects it
    return day[:4]  # calendar_year, the one period


_ZERO = Decimal(0)


class Step(Record):
    """One accumulator on one episode: its slot, the amount before and after."""

    __slots__ = ("spec", "slot", "before", "after")
    spec: AccumulatorSpec
    slot: Slot | None
    before: Decimal
    after: Decimal

    def __init__(self, spec: AccumulatorSpec, slot: Slot | None, before: Decimal,
                 after: Decimal = _ZERO) -> None:
        self.spec = spec
        self.slot = slot
        self.before = before
        self.after = after


class Ledger(Record):
    """The amounts used so far, by (accumulator, key, period)."""

    __slots__ = ("specs", "used", "retired", "_year")
    specs: tuple[AccumulatorSpec, ...]
    used: dict[Slot, Decimal]
    retired: Callable[[Slot, Decimal], object] | None  # sees a slot the run dropped
    _year: str

    def __init__(self, specs: tuple[AccumulatorSpec, ...], used: dict[Slot, Decimal] | None = None,
                 retired: Callable[[Slot, Decimal], object] | None = None, _year: str = "") -> None:
        self.specs = specs
        self.used = {} if used is None else used
        self.retired = retired
        self._year = _year

    def prepare(self, episode: Mapping[str, object], copy: bool = True
                ) -> tuple[Mapping[str, object], list[Step]]:
        """The episode with each accumulator's amount used so far, and the steps to record
        (`copy=False`: the episode, a dict the caller owns, is filled in place)."""
        steps: list[Step] = []
        filled: dict[str, object] | None = None if copy or type(episode) is not dict else episode
        for spec in self.specs:
            key = spec.key_of(episode)
            period = period_of(spec, episode) if key is not None else None
            if key is None or period is None:
                given = episode.get(spec.field)
                steps.append(Step(spec, None, Decimal(str(given)) if _amount(given) else Decimal(0)))
                continue
            slot = (spec.name, key, period)
            before = self.used.get(slot, Decimal(0))
            if filled is None:
                filled = dict(episode)
            filled[spec.field] = str(before)
            steps.append(Step(spec, slot, before))
        return (episode if filled is None else filled), steps

    def record(self, decision: Decision, steps: list[Step]) -> None:
        for step in steps:
            added = decision.values[decision.policy.index[step.spec.adds]]
            assert isinstance(added, Decimal)
            step.after = step.before + added
            if step.slot is not None:
                self.used[step.slot] = step.after

    def decide(self, decide: Callable[[Mapping[str, object]], Decision],
               episode: Mapping[str, object], copy: bool = True) -> Decision:
        filled, steps = self.prepare(episode, copy)
        decision = decide(filled)
        self.record(decision, steps)
        return decision

    def decider(self, decide: Callable[[Mapping[str, object]], Decision]
                ) -> Callable[[Mapping[str, object]], Decision]:
        """`decide` through the ledger (`self.decide(decide, episode, copy=False)`: the
        episode, a dict the caller owns, is filled in place), in a few steps for the usual
        policy: one accumulator keyed by one field (`patient.id`).  An episode without its
        key, or without a date to read its period from, is decided as it is."""
        generic = functools.partial(self.decide, decide, copy=False)
        if len(self.specs) != 1 or len(self.specs[0]._parts) != 1 or \
                len(self.specs[0]._parts[0]) > 2:
            return generic
        spec = self.specs[0]
        name, field_name, adds, parts = spec.name, spec.field, spec.adds, spec._parts[0]
        section, key_name = parts if len(parts) == 2 else ("", parts[0])
        at: list[Any] = [None, 0]  # the policy last seen, and where its output `adds` is
        zero = Decimal(0)

        def run(episode: Mapping[str, object]) -> Decision:
            if type(episode) is not dict:
                return generic(episode)
            owner = episode.get(section) if section else episode
            if type(owner) is not dict:
                if isinstance(owner, Mapping):
                    return generic(episode)
                return decide(episode)
            key, day = owner.get(key_name), episode.get("date")
            if type(key) is not str or not key or type(day) is not str or len(day) != 10 \
                    or not day[:4].isdigit():
                return decide(episode)  # its own person, or rejected: nothing to record
            slot = (name, (key,), day[:4])
            used = self.used
            before = used.get(slot, zero)
            episode[field_name] = str(before)
            decision = decide(episode)
            policy = decision.policy
            if policy is not at[0]:
                at[0], at[1] = policy, policy.index[adds]
            added = decision.values[at[1]]
            assert isinstance(added, Decimal)
            used[slot] = before + added
            return decision
        return run

    def retire_before(self, year: str) -> None:
        """Drop the slots of periods before `year` (a run in date order never needs them
        again), handing each to `retired`: memory holds the keys of one year."""
        if year <= self._year:
            return
        self._year = year
        old = [slot for slot in self.used if slot[2] < year]
        for slot in old:
            amount = self.used.pop(slot)
            if self.retired is not None:
                self.retired(slot, amount)

    def sorted_decider(self, decide: Callable[[Mapping[str, object]], Decision]
                       ) -> Callable[[Mapping[str, object]], Decision]:
        """`decide` through the ledger, for episodes that come in date order."""
        through = self.decider(decide)  # a batch's own parsed episode, filled in place

        def run(episode: Mapping[str, object]) -> Decision:
            day = episode.get("date")
            if type(day) is str and len(day) == 10:
                self.retire_before(day[:4])
            return through(episode)
        return run

    # ---- state files ----------------------------------------------------------------
    def load_state(self, lines: Iterable[str]) -> None:
        """Start from a known state: JSON lines `{"accumulator": NAME, "key": [ID, …],
        "period": "2026", "used": "12.00"}` (year-to-date totals from another system)."""
        names = {s.name: s for s in self.specs}
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line, parse_float=Decimal)
            except ValueError:
                raise StateError(f"line {number}: not valid JSON") from None
            if not isinstance(record, dict):
                raise StateError(f"line {number}: a state line is a JSON object")
            name, key, period, used = (record.get(k) for k in ("accumulator", "key", "period",
                                                                "used"))
            spec = names.get(name) if type(name) is str else None
            if spec is None:
                raise StateError(f"line {number}: field accumulator: expected one of: "
                                 + ", ".join(sorted(names)))
            if not isinstance(key, list) or len(key) != len(spec.keys) or \
                    not all(type(k) is str and k for k in key):
                raise StateError(f"line {number}: field key: expected a list of "
                                 f"{len(spec.keys)} id(s) ({', '.join(spec.keys)})")
            if type(period) is not str or len(period) != 4 or not period.isdigit():
                raise StateError(f"line {number}: field period: expected a calendar year "
                                 "such as \"2026\"")
            if not _amount(used) or Decimal(str(used)) < 0:
                raise StateError(f"line {number}: field used: expected a non-negative amount "
                                 "such as \"12.00\"")
            self.used[(spec.name, tuple(key), period)] = Decimal(str(used))

    def state_lines(self) -> Iterator[str]:
        """The state as JSON lines, in a stable order (the slots a run still holds)."""
        for slot in sorted(self.used):
            yield state_line(slot, self.used[slot])


def state_line(slot: Slot, amount: Decimal) -> str:
    name, key, period = slot
    return json.dumps({"accumulator": name, "key": list(key), "period": period,
                       "used": str(amount)}, ensure_ascii=False, separators=(",", ":"))


def _amount(value: object) -> bool:
    if type(value) not in (str, int, Decimal):
        return False
    try:
        return Decimal(str(value)).is_finite()
    except InvalidOperation:
        return False


def decide_with_state(decide: Callable[[Mapping[str, object]], Decision],
                      specs: tuple[AccumulatorSpec, ...], episode: Mapping[str, object],
                      state: Mapping[Slot, Decimal]) -> tuple[Decision, dict[Slot, Decimal]]:
    """One episode with an explicit state: the decision, and the state after it (a new
    mapping; `state` is left as it was).  Raises what `decide` raises."""
    ledger = Ledger(specs, dict(state))
    decision = ledger.decide(decide, episode)
    return decision, ledger.used
