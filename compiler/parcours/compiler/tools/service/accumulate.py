"""Accumulators in the service, with the runtime's ledger (`parcours.runtime.Ledger`), as
`parcours decide` and `parcours explain` apply them:

- a batch (`batch_run`): one ledger for the whole body, the episodes applied in (date, id,
  line) order: the lines as they come when each key's episodes already come in that order
  (`in_key_order`), else sorted (`sorted_lines`) and the answers put back in input order
  (`InputOrder`); so a batch gives the decisions of `parcours decide` on the same lines;
- one episode (`explain_one`): stateless, the amount used before it is the episode's own
  `NAME_used` (zero when absent); its decision, and each accumulator before and after it,
  as `parcours explain --format json` gives them (with `--state-in` holding that amount).

Without accumulators nothing here changes a decision.
"""

from __future__ import annotations

import functools
import io
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from parcours.runtime import (DEFAULT_BUFFER, AccumulatorSpec, Decision, InputOrder, Ledger,
                              Rejection, in_key_order, period_of, sorted_lines, specs_of)

Decide = Callable[[Mapping[str, object]], Decision]


@dataclass(slots=True)
class BatchRun:
    """A batch through one policy: the function each episode goes through, and, when the
    batch is sorted, where its answers wait to be written in input order."""

    decide: Decide
    lines: Iterable[bytes]
    order: InputOrder | None = None  # None: the answers go out as they are made
    numbers: list[int] = field(default_factory=lambda: [0])  # the input line being decided

    def line(self, rejection: Rejection) -> int:
        """The input line of a rejection (in a sorted batch, not its place in the sort)."""
        return self.numbers[0] if self.order is not None else rejection.line

    def keep(self, write: Callable[[str], object]) -> Callable[[str], object]:
        """Where an answer goes: `write` for a batch in input order, else kept by its input
        line until `answers` gives it back."""
        if self.order is None:
            return write
        order, numbers = self.order, self.numbers
        return lambda text: order.add(numbers[0], text)


def batch_run(module: types.ModuleType, function: Decide, body: bytes,
              buffer: int = DEFAULT_BUFFER) -> BatchRun:
    """The batch `body` (JSON Lines) through `function`: with the module's accumulators, one
    ledger, in the order `parcours decide` applies them."""
    specs = specs_of(module)
    if not specs:
        return BatchRun(function, io.BytesIO(body))
    lines = list(io.BytesIO(body))  # read twice; split at b"\n" only, as a file is read
    ledger = Ledger(specs)
    if in_key_order(lines, specs):  # as they come: the decisions of the sorted order
        return BatchRun(functools.partial(ledger.decide, function, copy=False), lines)
    run = BatchRun(ledger.sorted_decider(function), [], InputOrder(buffer))
    run.lines = sorted_lines(lines, buffer, run.numbers)
    return run


@dataclass(frozen=True, slots=True)
class Bound:
    """One accumulator on one explained episode (the `accumulators` block of `parcours
    explain --format json`)."""

    name: str
    key: tuple[str, ...] | None  # None: the episode has no key (a person of its own)
    period: str | None
    before: Decimal
    after: Decimal
    cap: Decimal | None  # None: computed from the episode (a let)
    bound: bool  # the cap made the episode add less than with nothing used before

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "key": list(self.key) if self.key is not None else None,
                "period": self.period, "before": str(self.before), "after": str(self.after),
                "cap": str(self.cap) if self.cap is not None else None, "bound": self.bound}


def _stated(value: object) -> Decimal | None:
    """A `NAME_used` the episode states, when it is an amount a state file could hold."""
    if type(value) not in (str, int, Decimal):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def _seeded(specs: tuple[AccumulatorSpec, ...], episode: Mapping[str, object]) -> Ledger:
    """A ledger holding, for the episode's key and period, the amount it states as used."""
    ledger = Ledger(specs)
    for spec in specs:
        key = spec.key_of(episode)
        period = period_of(spec, episode) if key is not None else None
        stated = _stated(episode.get(spec.field))
        if key is not None and period is not None and stated is not None:
            ledger.used[(spec.name, key, period)] = stated
    return ledger


def explain_one(module: types.ModuleType, function: Decide, episode: Mapping[str, object]
                ) -> tuple[Decision, list[Bound]]:
    """The decision of `episode` and each accumulator before and after it; the amount used
    before is the episode's own `NAME_used` (the service keeps no state).  Raises what
    `function` raises."""
    specs = specs_of(module)
    if not specs:
        return function(episode), []
    if any(spec.field in episode and _stated(episode[spec.field]) is None for spec in specs):
        function(episode)  # the policy rejects the amount, naming the field
    ledger = _seeded(specs, episode)
    filled, steps = ledger.prepare(episode)
    decision = function(filled)
    ledger.record(decision, steps)
    bounds = []
    for step in steps:
        fresh = dict(filled)
        fresh[step.spec.field] = "0"
        alone = function(fresh).values[decision.policy.index[step.spec.adds]]
        assert isinstance(alone, Decimal)
        day = episode.get("date")
        cap = step.spec.cap_at(date.fromisoformat(day)) if isinstance(day, str) else None
        key = step.slot[1] if step.slot is not None else None
        period = step.slot[2] if step.slot is not None else None
        bounds.append(Bound(step.spec.name, key, period, step.before, step.after, cap,
                            step.after - step.before < alone))
    return decision, bounds


def answers(run: BatchRun, block: int) -> Iterator[str]:
    """A sorted batch's answers in input order, `block` at a time."""
    assert run.order is not None
    out: list[str] = []
    for text in run.order:
        out.append(text)
        if len(out) >= block:
            yield "".join(out)
            out = []
    if out:
        yield "".join(out)
