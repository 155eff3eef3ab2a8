"""Accumulators in `compare`: each policy's run through its own ledger, and who reaches a cap.

A policy with accumulators decides the population in the ledger's order (date, then id;
`compare` sorts the lines once for every policy).  For each accumulator it counts the keys
(persons, households) that reach the cap in some period, the episodes on which the cap bound,
and what the cap is worth: how much less the episodes added than they would have with
nothing used before, and what that changed for the insurer and for patients (the outputs
marked `totals insurer` / `totals patient`).  The counterfactual decision is made only where
the cap can have bound: the total after the episode is at the cap (or, for a cap computed
from the episode, something was used before).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from parcours.runtime import AccumulatorSpec, Decision, Ledger, ledger_lines, specs_of

ZERO = Decimal(0)
DecideFn = Callable[[Mapping[str, object]], Decision]


@dataclass
class CapTotals:
    """One accumulator of one policy over the population."""

    name: str
    keys: tuple[str, ...]
    reached: set[tuple[str, ...]] = field(default_factory=set)  # keys at the cap in some period
    periods_reached: int = 0  # (key, period) pairs that reach the cap
    bound: int = 0  # episodes on which the cap made the episode add less
    not_added: Decimal = ZERO  # what those episodes did not add
    insurer: Decimal = ZERO  # what the cap changed for the insurer (actual − without the cap)
    patient: Decimal = ZERO  # and for patients

    def to_dict(self) -> dict[str, object]:
        return {"keys": list(self.keys), "keys_reaching_cap": len(self.reached),
                "periods_reaching_cap": self.periods_reached, "episodes_bound": self.bound,
                "not_added": str(self.not_added), "insurer_change": str(self.insurer),
                "patient_change": str(self.patient)}


class CappedRun:
    """One policy's decide through its ledger, counting the caps."""

    def __init__(self, module: object, decide: DecideFn, policy_roles: tuple[int, int] | None
                 ) -> None:
        self.specs: tuple[AccumulatorSpec, ...] = specs_of(module)
        self.ledger = Ledger(self.specs)
        self.decide = decide
        self.roles = policy_roles
        self.totals = [CapTotals(s.name, s.keys) for s in self.specs]
        self._at_cap: set[tuple[str, tuple[str, ...], str]] = set()

    def observe(self, filled: Mapping[str, object], decision: Decision) -> None:
        """After the ledger recorded `decision`: who reached a cap, and what it was worth."""
        day = filled.get("date")
        when = date.fromisoformat(day) if isinstance(day, str) and len(day) == 10 else None
        for spec, totals in zip(self.specs, self.totals):
            key = spec.key_of(filled)
            if key is None or when is None:
                continue
            slot = (spec.name, key, str(when.year))
            after = self.ledger.used.get(slot, ZERO)
            added = decision.values[decision.policy.index[spec.adds]]
            assert isinstance(added, Decimal)
            before = after - added
            cap = spec.cap_at(when) if spec.caps else None
            if cap is not None and after >= cap and slot not in self._at_cap:
                self._at_cap.add(slot)
                totals.reached.add(key)
                totals.periods_reached += 1
            maybe = (after >= cap) if cap is not None else before > 0
            if not maybe:
                continue
            fresh = dict(filled)
            fresh[spec.field] = "0"
            alone = self.decide(fresh)
            alone_added = alone.values[alone.policy.index[spec.adds]]
            assert isinstance(alone_added, Decimal)
            if added >= alone_added:
                continue
            totals.bound += 1
            totals.not_added += alone_added - added
            if cap is None and slot not in self._at_cap:
                self._at_cap.add(slot)
                totals.reached.add(key)
                totals.periods_reached += 1
            if self.roles is not None:
                insurer, patient = self.roles
                totals.insurer += decision.values[insurer] - alone.values[insurer]  # type: ignore[operator]
                totals.patient += decision.values[patient] - alone.values[patient]  # type: ignore[operator]

    def tracked(self, retire: bool = True) -> DecideFn:
        """`decide` through the ledger, observing every decision; `retire`: the episodes
        come in date order, so the totals of past years can be dropped."""
        ledger = self.ledger

        def run(episode: Mapping[str, object]) -> Decision:
            day = episode.get("date")
            if retire and type(day) is str and len(day) == 10:
                ledger.retire_before(day[:4])
            filled, steps = ledger.prepare(episode)
            decision = self.decide(filled)
            ledger.record(decision, steps)
            self.observe(filled, decision)
            return decision
        return run


def ledger_order(lines: Iterable[bytes | str], specs: list[tuple[AccumulatorSpec, ...]],
                 numbers: list[int], restart: Callable[[int], object] | None = None
                 ) -> tuple[Iterator[bytes], bool]:
    """The lines as the ledgers of every compared policy need them, and whether they were
    sorted (`ledger_lines`); `restart(how many)` is called before the first line of the
    second pass."""
    ordered, sorted_ = ledger_lines(lines, tuple(s for group in specs for s in group),
                                    numbers=numbers)
    if restart is None:
        return ordered, sorted_
    return _restarted(ordered, restart, numbers), sorted_


def _restarted(lines: Iterator[bytes], restart: Callable[[int], object],
               numbers: list[int]) -> Iterator[bytes]:
    started = False
    for raw in lines:
        if not started:
            restart(numbers[1])
            started = True
        yield raw
