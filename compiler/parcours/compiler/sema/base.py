"""What every part of the checker shares: its state over one scope, the errors it raises
internally, and the helpers that turn annotations and type names into IR."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from parcours.runtime import MAX_AMOUNT, MINOR_UNITS, ROUNDING as ROUND_MODES, unit_of, unit_text

from .. import ir
from ..syntax import nodes as n
from ..diagnostics import Diagnostics, did_you_mean
from .load import Scope

# The rounding functions of the language, one per mode of the runtime's table.
ROUNDING = {f"round_{mode}": mode for mode in ROUND_MODES}
MAX_MONEY = MAX_AMOUNT
__all__ = ["MINOR_UNITS", "unit_of", "unit_text"]  # the runtime's currency table, for the checker


class _Bad(Exception):
    """An expression that could not be typed; already reported."""


@dataclass(slots=True)
class _Context:
    """Where an expression sits: what it may refer to."""

    where: str  # "rule" | "let" | "output" | "constraint"
    deps: set[str]  # collected "let:x", "output:y", "pathway"



class CheckerState:
    """The checker's state; the concerns (expressions, dated values, declarations) are
    subclasses, each in its own module."""

    def __init__(self, scope: Scope, diagnostics: Diagnostics) -> None:
        self.scope = scope
        self.d = diagnostics
        self.currency = "???"
        self.decimals = 2  # the currency's minor unit (digits after the point)
        self.enums: dict[str, ir.EnumT] = {}
        # The decision block's pathways (an enum named `pathway`) and declared outputs.
        self.pathway_t = ir.EnumT("pathway", ())
        self.declared: dict[str, tuple[n.DecisionOutput, ir.Type]] = {}
        self.inputs: dict[str, ir.InputDef] = {}
        self.params: dict[str, ir.Param] = {}
        self.accumulators: dict[str, ir.Accumulator] = {}  # sema.accumulators
        self.tables: dict[str, ir.Table] = {}
        self.let_types: dict[str, ir.Type] = {}
        self.valid_from = date(1900, 1, 1)
        self.valid_until: date | None = None
        # What each let, the rules and each output read: "let:x", "output:y", "pathway".
        self._let_deps: dict[str, set[str]] = {}
        self._rule_deps: set[str] = set()
        self._output_deps: dict[str, set[str]] = {}
        self._checking: list[str] = []  # lets being typed, to catch a let that reads itself
        self._failed_lets: set[str] = set()  # lets that could not be typed (already reported)
        self.value_names = scope.value_names()  # the scope is complete: compute once

    # ---- helpers ----------------------------------------------------------
    def _notes(self, annotations: tuple[n.Annotation, ...]) -> ir.Notes:
        cites: list[str] = []
        remarks: list[tuple[str, str]] = []
        for a in annotations:
            if isinstance(a, n.Cite):
                for name, span in a.sources:
                    if name not in self.scope.sources:
                        if name not in self.scope.broken:
                            self.d.error("E301", f"unknown source `{name}`", span,
                                         did_you_mean(name, self.scope.sources)
                                         or "declare it: source NAME = \"document\"")
                    elif name not in cites:
                        cites.append(name)
            else:
                remarks.append((a.kind, a.text))
        return ir.Notes(tuple(cites), tuple(remarks))

    def _type(self, ref: n.TypeRef) -> ir.Type | None:
        if ref.kind == "bool":
            return ir.BoolT()
        if ref.kind == "int":
            if ref.low is not None and ref.high is not None and ref.low > ref.high:
                self.d.error("E302", f"empty range {ref.low}..{ref.high}", ref.span,
                             "write the lower bound first")
            return ir.IntT(ref.low, ref.high)
        if ref.kind == "date":
            return ir.DateT()
        if ref.kind == "money":
            return ir.MoneyT(self.currency)
        if ref.kind == "rate":
            return ir.RateT()
        if ref.kind == "decimal":
            return ir.DecimalT()
        if ref.kind == "id":
            return ir.IdT()
        enum = self.enums.get(ref.name)
        if enum is None:
            if ref.name not in self.scope.broken:
                self.d.error("E303", f"unknown type `{ref.name}`", ref.span,
                             did_you_mean(ref.name, list(self.enums) + ["bool", "int", "date",
                                                                        "money", "rate", "decimal"])
                             or "types are bool, int, date, money, rate, decimal or a declared "
                             "enum")
            return None
        return enum

