"""What a policy knows before it sees an episode: periods, parameters, citations.

The reference interpreter's static side, taken from the IR: the periods (the
validity cut at every change date), the parameters and tables with one value per
period, what a `--set` may override, and the explanation steps and sources of every
rule and branch.  It gives the same values and citations as a generated module's
constants (`backends/python/emit.py` builds those from the same IR); the
differential tests compare the two.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any

from parcours.runtime import MINOR_UNITS, OutputField, ParamSpec, PolicyMeta, StepInfo

from .. import ir
from ..ir.ops import value_kind
from ..ir.citations import Citations as SharedCitations, branch_text, location


class InterpretError(Exception):
    """The IR breaks an invariant the interpreter relies on (a compiler bug)."""




def periods(program: ir.Program) -> tuple[date, ...]:
    """The first day of each period: the validity's start, then every change date."""
    return (program.policy.valid_from,) + program.change_dates()


def per_period(values: tuple[ir.Dated, ...], starts: tuple[date, ...]) -> tuple[ir.Value, ...]:
    out = []
    for start in starts:
        found = ir.value_at(values, start)
        if found is None:
            raise InterpretError("a dated value has a hole inside the validity")
        out.append(found.value)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ParamTable:
    """The policy's parameters: a `Parameters` class (fields `p_<name>` and `t_<table>`,
    as in a generated module, so that `runtime.apply_overrides` works on it), its
    defaults and the specs of what may be overridden."""

    cls: type
    defaults: Any
    specs: tuple[ParamSpec, ...]


def parameters(program: ir.Program, starts: tuple[date, ...]) -> ParamTable:
    fields: list[tuple[str, type]] = []
    defaults: dict[str, object] = {}
    specs: list[ParamSpec] = []
    for prm in program.params:
        name = f"p_{prm.name}"
        fields.append((name, object))
        defaults[name] = (per_period(prm.values, starts) if prm.dated
                          else prm.values[0].value.value)
        specs.append(_spec(prm.name, prm.type, name, prm.dated))
    for table in program.tables:
        name = f"t_{table.name}"
        by_key: dict[str, tuple[ir.Value, ...]] = {}
        for row in table.rows:
            values = per_period(row.values, starts)
            by_key.update((k, values) for k in row.keys)
        fields.append((name, object))
        defaults[name] = MappingProxyType({k: by_key[k] for k in table.key.members
                                           if k in by_key})
        specs.append(_spec(table.name, table.type, name, True, table.key.members))
    cls = dataclasses.make_dataclass(
        "Parameters", [*fields, ("overrides", tuple, dataclasses.field(default=()))],
        frozen=True, slots=True)
    return ParamTable(cls, cls(**defaults), tuple(specs))


def _spec(name: str, type_: ir.Type, field: str, dated: bool,
          keys: tuple[str, ...] = ()) -> ParamSpec:
    members = type_.members if isinstance(type_, ir.EnumT) else ()
    low, high = (type_.low, type_.high) if isinstance(type_, ir.IntT) else (None, None)
    decimals = MINOR_UNITS[type_.currency] if isinstance(type_, ir.MoneyT) else 2
    return ParamSpec(name, value_kind(type_), field, dated, keys=keys, members=members, low=low,
                     high=high, decimals=decimals)


# ---- explanations and sources ----------------------------------------------------


class Citations:
    """The explanation steps and documents of each rule and branch, as the generated module
    has them (both take them from `ir.citations`)."""

    def __init__(self, program: ir.Program, starts: tuple[date, ...]) -> None:
        self.p = program
        self.starts = starts
        self.shared = SharedCitations(program)

    def rule_infos(self) -> tuple[StepInfo, ...]:
        return tuple(StepInfo("pathway", r.name, r.priority, r.pathway, r.text,
                              self.shared.rule(r, self.starts[0]), r.notes.remarks,
                              location(r.span))
                     for r in self.p.rules)

    def rule_sources(self) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(dict.fromkeys(self.shared.of(r.notes))) for r in self.p.rules)

    def branches(self, output: ir.Output) -> tuple[tuple[StepInfo, ...],
                                                   tuple[tuple[tuple[str, ...], ...], ...]]:
        """Per branch: its explanation step, and the documents behind it per period."""
        infos: list[StepInfo] = []
        sources: list[tuple[tuple[str, ...], ...]] = []
        for b in output.branches:
            each = self.shared.branch(output, b, self.starts)
            label, text = branch_text(output, b)
            every = tuple(dict.fromkeys(c for cites in each for c in cites))
            infos.append(StepInfo(output.name, label, None, "", text, every, b.notes.remarks,
                                  location(b.span)))
            sources.append(each)
        return tuple(infos), tuple(sources)


def policy_meta(program: ir.Program,
                sources_of: Callable[[tuple[int, ...]], tuple[tuple[str, ...], ...]]) -> PolicyMeta:
    p = program.policy
    return PolicyMeta(id=p.id, title=p.title, version=p.version, currency=p.currency,
                      status=p.status, sources_of=sources_of,
                      source_documents={s.document: s.title or "" for s in program.sources},
                      pathways=program.decision.pathways,
                      outputs=tuple(OutputField(o.name, value_kind(o.type),
                                                o.role.value if o.role else "", o.note)
                                    for o in program.decision.outputs),
                      decimals=MINOR_UNITS[p.currency])
