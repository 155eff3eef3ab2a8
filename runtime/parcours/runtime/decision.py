"""Decisions: the contract's output object, built by generated modules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple
from decimal import Decimal

from .money import format_money, format_rate
from .trace import Trace


@dataclass(frozen=True, slots=True)
class PolicyMeta:
    """What every decision of one compiled policy shares."""

    id: str
    title: str
    version: str
    currency: str
    status: str
    sources_of: Callable[[tuple[int, ...]], tuple[tuple[str, ...], ...]]  # path → documents
    source_documents: dict[str, str]  # document → title ("" when none)


class Decision(NamedTuple):
    """One episode's decision (contract v1); `to_dict()` gives its JSON object.

    A named tuple, because generated modules build one per episode and
    ``tuple.__new__`` is the cheapest way to do it.
    """

    id: object
    policy: PolicyMeta
    pathway: str
    rule: str
    base: Decimal
    rate: Decimal
    reimbursed: Decimal
    flat_fee: Decimal
    patient_pays: Decimal
    path: tuple[int, ...]  # the rule's and each output branch's index, then the period
    overrides: tuple[tuple[str, str], ...] = ()
    trace: Trace | None = None

    @property
    def sources(self) -> tuple[str, ...]:
        """The documents behind the rule and the values that applied, first cited first."""
        seen: dict[str, None] = {}
        for group in self.policy.sources_of(self.path):
            for document in group:
                seen[document] = None
        return tuple(seen)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id,
            "policy": self.policy.id,
            "policy_version": self.policy.version,
            "pathway": self.pathway,
            "rule": self.rule,
            "currency": self.policy.currency,
            "base": format_money(self.base),
            "rate": format_rate(self.rate),
            "reimbursed": format_money(self.reimbursed),
            "flat_fee": format_money(self.flat_fee),
            "patient_pays": format_money(self.patient_pays),
            "sources": list(self.sources),
        }
        if self.overrides:
            out["overrides"] = dict(self.overrides)
        if self.trace is not None:
            out["trace"] = self.trace.to_list()
        return out
