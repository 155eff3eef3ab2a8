"""Decisions: the contract's output object, built by generated modules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


class Decision:
    """One episode's decision (contract v1); `to_dict()` gives its JSON object."""

    __slots__ = ("id", "policy", "pathway", "rule", "base", "rate", "reimbursed", "flat_fee",
                 "patient_pays", "path", "trace", "overrides")

    def __init__(self, episode_id: object, policy: PolicyMeta, pathway: str, rule: str,
                 base: Decimal, rate: Decimal, reimbursed: Decimal, flat_fee: Decimal,
                 patient_pays: Decimal, path: tuple[int, ...],
                 overrides: tuple[tuple[str, str], ...] = (), trace: Trace | None = None) -> None:
        self.id = episode_id
        self.policy = policy
        self.pathway = pathway
        self.rule = rule
        self.base = base
        self.rate = rate
        self.reimbursed = reimbursed
        self.flat_fee = flat_fee
        self.patient_pays = patient_pays
        self.path = path  # the rule's and each output branch's index, then the period
        self.overrides = overrides
        self.trace = trace

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

    def __repr__(self) -> str:
        return (f"Decision(id={self.id!r}, policy={self.policy.id!r}, pathway={self.pathway!r}, "
                f"rule={self.rule!r}, base={self.base}, rate={self.rate}, "
                f"reimbursed={self.reimbursed}, flat_fee={self.flat_fee}, "
                f"patient_pays={self.patient_pays})")
