"""Accumulators around one explained episode, for `parcours explain` and the service: its
decision, and each accumulator before and after it, with whether the cap bound.

The amount used before the episode comes from a ledger (`parcours explain --state-in`),
else from the episode's own `NAME_used` (zero when absent).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from parcours.runtime import AccumulatorSpec, Decision, Ledger, format_money, period_of, specs_of

Decide = Callable[[Mapping[str, object]], Decision]


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
    alone: Decimal  # what the episode would add with nothing used before
    bound: bool  # the cap made the episode add less than `alone`

    def text(self, currency: str, decimals: int, keys: tuple[str, ...]) -> str:
        """One line of `parcours explain`'s text."""
        def amount(value: Decimal) -> str:
            return f"{format_money(value, decimals)} {currency}"

        who = (f"{', '.join(keys)} {', '.join(self.key)}, {self.period}" if self.key is not None
               else f"no {', '.join(keys)}: a key of its own")
        cap = f"cap {amount(self.cap)}" if self.cap is not None else "cap computed for the episode"
        verdict = (f"the cap bound: {amount(self.after - self.before)} added, "
                   f"{amount(self.alone)} with nothing used before" if self.bound
                   else "the cap did not bind")
        return (f"  {self.name} ({who}): {amount(self.before)} before, {amount(self.after)} "
                f"after, {cap}; {verdict}")

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


def explain_one(module: types.ModuleType, function: Decide, episode: Mapping[str, object],
                ledger: Ledger | None = None) -> tuple[Decision, list[Bound]]:
    """The decision of `episode` and each accumulator before and after it; the amount used
    before is the ledger's (a state file's), else the episode's own `NAME_used`.  Raises
    what `function` raises."""
    specs = specs_of(module)
    if not specs:
        return function(episode), []
    if any(spec.field in episode and _stated(episode[spec.field]) is None for spec in specs):
        function(episode)  # the policy rejects the amount, naming the field
    if ledger is None:
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
        bounds.append(Bound(step.spec.name, key, period, step.before, step.after, cap, alone,
                            step.after - step.before < alone))
    return decision, bounds
