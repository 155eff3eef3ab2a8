"""Decisions: the contract's output object, built by generated modules.

A policy declares the shape of its decisions (`decision { … }`): the pathways and the
outputs, each with a kind and, for money, an optional role (`totals insurer` /
`totals patient`).  `PolicyMeta.outputs` carries that shape; a `Decision` holds the
outputs' values in the declared order.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from .money import format_money, format_rate
from .record import Frozen
from .trace import Trace

# The kinds of a declared output, as a decision writes them: money, rates and decimals as
# decimal strings, ints as JSON numbers, bools as JSON true/false, enum members and dates as
# strings.
OUTPUT_KINDS = ("money", "rate", "int", "bool", "enum", "date", "decimal")
ROLES = ("insurer", "patient")


class OutputField(NamedTuple):
    """One declared output: its name, kind (`OUTPUT_KINDS`), role (`ROLES` or "") and note."""

    name: str
    kind: str
    role: str = ""
    note: str = ""


class PolicyMeta(Frozen):
    """What every decision of one compiled policy shares, its declared shape included."""

    __slots__ = ("id", "title", "version", "currency", "status", "sources_of",
                 "source_documents", "pathways", "outputs", "decimals", "index")
    _hidden = ("index",)
    id: str
    title: str
    version: str
    currency: str
    status: str
    sources_of: Callable[[tuple[int, ...]], tuple[tuple[str, ...], ...]]  # path → documents
    source_documents: dict[str, str]  # document → title ("" when none)
    pathways: tuple[str, ...]
    outputs: tuple[OutputField, ...]
    decimals: int  # the currency's minor unit: digits after the point (2 unless given)
    index: dict[str, int]  # each output's place in `outputs`, by name

    def __init__(self, id: str, title: str, version: str, currency: str, status: str,
                 sources_of: Callable[[tuple[int, ...]], tuple[tuple[str, ...], ...]],
                 source_documents: dict[str, str], pathways: tuple[str, ...] = (),
                 outputs: tuple[OutputField, ...] = (), decimals: int = 2) -> None:
        self._fill(id, title, version, currency, status, sources_of, source_documents, pathways,
                   outputs, decimals, {o.name: i for i, o in enumerate(outputs)})

    def total(self, role: str) -> str | None:
        """The name of the money output that totals `role` ("insurer", "patient"), if any."""
        return next((o.name for o in self.outputs if o.role == role), None)

    def money_outputs(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.outputs if o.kind == "money")

    def totalled(self) -> tuple[tuple[str, str], ...]:
        """What tools total, as (output, role): the outputs marked `totals insurer` and
        `totals patient`, in that order; without either, every money output (role "");
        () when the policy has no money output."""
        roles = tuple((name, role) for role in ROLES
                      if (name := self.total(role)) is not None)
        return roles or tuple((name, "") for name in self.money_outputs())

    def json_value(self, kind: str, value: object) -> object:
        """An output's value as the decision's JSON holds it."""
        if kind == "money":
            assert isinstance(value, Decimal)
            return format_money(value, self.decimals)
        if kind == "rate":
            assert isinstance(value, Decimal)
            return format_rate(value)
        if kind == "date":
            assert isinstance(value, date)
            return value.isoformat()
        if kind == "decimal":  # exact, never in exponent form: "1.50", "0.0000001"
            assert isinstance(value, Decimal)
            return format(value, "f")
        return value


class Decision:
    """One episode's decision; `to_dict()` gives its JSON object.

    Not a tuple: a class with slots.  A generated module subclasses it as its own
    `Decision`, whose `pathway` and `rule` are `Literal`s of the policy's names, and fills a
    new one's slots in place (as cheap as the named tuple it replaces: docs/backends.md).
    `values` holds the declared outputs in the order of `policy.outputs`; how the decision
    was reached (the rule's and each branch's index, then the period) stays internal.
    Read-only (a type checker sees properties); equal when every field is equal.
    """

    __slots__ = ("id", "policy", "pathway", "rule", "values", "_path", "overrides", "trace")

    if TYPE_CHECKING:  # what a type checker sees: read-only attributes
        @property
        def id(self) -> object: ...
        @property
        def policy(self) -> PolicyMeta: ...
        @property
        def pathway(self) -> str: ...
        @property
        def rule(self) -> str: ...
        @property
        def values(self) -> tuple[object, ...]: ...
        @property
        def overrides(self) -> tuple[tuple[str, str], ...]: ...
        @property
        def trace(self) -> Trace | None: ...

    _path: tuple[int, ...]

    def __init__(self, id: object, policy: PolicyMeta, pathway: str, rule: str,
                 values: tuple[object, ...], path: tuple[int, ...],
                 overrides: tuple[tuple[str, str], ...] = (), trace: Trace | None = None) -> None:
        self.id = id  # type: ignore[misc]
        self.policy = policy  # type: ignore[misc]
        self.pathway = pathway  # type: ignore[misc]
        self.rule = rule  # type: ignore[misc]
        self.values = values  # type: ignore[misc]
        self._path = path
        self.overrides = overrides  # type: ignore[misc]
        self.trace = trace  # type: ignore[misc]

    def _key(self) -> tuple[object, ...]:
        return (self.id, self.policy, self.pathway, self.rule, self.values, self._path,
                self.overrides, self.trace)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:  # a policy's metadata is not hashable: its id stands for it
        return hash((self.id, self.policy.id, self.pathway, self.rule, self.values, self._path))

    def __repr__(self) -> str:
        return (f"Decision(id={self.id!r}, policy={self.policy.id!r}, pathway={self.pathway!r}, "
                f"rule={self.rule!r}, outputs={self.outputs!r})")

    def value(self, name: str) -> object:
        """The value of the declared output `name` (KeyError for an undeclared one)."""
        return self.values[self.policy.index[name]]

    def number(self, name: str) -> Decimal:
        """The value of a money, rate or decimal output, as a Decimal (TypeError for another
        kind)."""
        found = self.values[self.policy.index[name]]
        if type(found) is not Decimal:
            raise TypeError(f"output {name} is not an amount or a rate")
        return found

    @property
    def outputs(self) -> dict[str, object]:
        """Every declared output by name, in declared order."""
        return {o.name: v for o, v in zip(self.policy.outputs, self.values)}

    @property
    def sources(self) -> tuple[str, ...]:
        """The documents behind the rule and the values that applied, first cited first."""
        seen: dict[str, None] = {}
        for group in self.policy.sources_of(self._path):
            for document in group:
                seen[document] = None
        return tuple(seen)

    def to_dict(self) -> dict[str, object]:
        policy = self.policy
        out: dict[str, object] = {
            "id": self.id,
            "policy": policy.id,
            "policy_version": policy.version,
            "pathway": self.pathway,
            "rule": self.rule,
            "currency": policy.currency,
        }
        for spec, value in zip(policy.outputs, self.values):
            out[spec.name] = policy.json_value(spec.kind, value)
        out["sources"] = list(self.sources)
        if self.overrides:
            out["overrides"] = dict(self.overrides)
        if self.trace is not None:
            out["trace"] = self.trace.to_list()
        return out
