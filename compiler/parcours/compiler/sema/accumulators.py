"""Accumulators and id inputs: declarations → IR.

An accumulator adds up a declared money output over every episode of the same key (id
inputs such as `patient.id`) in the same period, up to a cap (a money parameter).  It
lowers to what the rest of the compiler already knows: the amount used before an
episode is an input of its own (`NAME_used`, top level, default zero; a run's ledger
fills it in, see `parcours.runtime.ledger`), and `NAME.left` is `max(0, cap - used)`.
So generated modules, the interpreter and the verifier need nothing new to decide one
episode; `Program.accumulators` tells a run what to carry.
"""

from __future__ import annotations

from decimal import Decimal

from .. import ir
from ..syntax import nodes as n
from ..diagnostics import did_you_mean
from .dated import DatedChecker

class AccumulatorChecker(DatedChecker):
    """The checks of `accumulator` declarations and of `id` inputs."""

    def _id_input(self, path: str, decl: n.InputDecl) -> ir.Const | None:
        """An id input's implicit default (absent: no key); E390 for a written one."""
        if decl.default is not None:
            self.d.error("E390", f"the id input `{path}` cannot have a default", decl.span,
                         "an id is always optional: an episode without it has no key")
        return ir.Const("", ir.IdT())

    def _accumulator_inputs(self) -> None:
        """Check every accumulator but its `adds` and add the input it reads (after the
        inputs and parameters, before anything reads `NAME.used` / `NAME.left`)."""
        for decl in self.scope.accumulators.values():
            ok = True
            type_ = self._type(decl.type)
            if type_ is not None and not isinstance(type_, ir.MoneyT):
                self.d.error("E393", f"accumulator `{decl.name}` is of type {type_}",
                             decl.type.span, "an accumulator adds up money: write `: money`")
                ok = False
            keys: list[str] = []
            for path, span in decl.keys:
                key = ".".join(path)
                found = self.inputs.get(key)
                if found is None or not isinstance(found.type, ir.IdT):
                    what = "an unknown input" if found is None else f"of type {found.type}"
                    self.d.error("E391", f"the key `{key}` of accumulator `{decl.name}` is {what}",
                                 span, "a key is an input of type id, such as `patient.id`")
                    ok = False
                keys.append(key)
            if decl.period not in {p.value for p in ir.Period}:
                self.d.error("E392", f"unknown period `{decl.period}`", decl.period_span,
                             did_you_mean(decl.period, [p.value for p in ir.Period])
                             or "periods: " + ", ".join(p.value for p in ir.Period))
                ok = False
            cap = self.params.get(decl.cap)
            if (cap is None and decl.cap not in self.scope.lets) or \
                    (cap is not None and not isinstance(cap.type, ir.MoneyT)):
                what = "not a parameter or a let" if cap is None else f"of type {cap.type}"
                self.d.error("E394", f"the cap `{decl.cap}` of accumulator `{decl.name}` is {what}",
                             decl.cap_span, did_you_mean(decl.cap, list(self.params)
                                                         + list(self.scope.lets))
                             or "the cap is a money parameter (dated like any value), or a "
                                "money let computed from the episode")
                ok = False
            field = f"{decl.name}_used"
            if decl.name in self.value_names or field in self.inputs or \
                    any(p.split(".")[0] == decl.name for p in self.inputs):
                self.d.error("E395", f"accumulator `{decl.name}` is named like a value or an input "
                             f"(or `{field}` is declared)", decl.span, "rename the accumulator")
                ok = False
            notes = self._notes(decl.annotations)
            if not ok:
                self.scope.broken.add(decl.name)
                continue
            money = ir.MoneyT(self.currency)
            zero = ir.Const(Decimal(0).scaleb(-self.decimals), money)
            self.inputs[field] = ir.InputDef(
                field, money, zero, ir.Notes(notes.cites, (
                    ("note", f"the amount of accumulator {decl.name} used before this episode, "
                             "in the same period; a run's ledger fills it in"),)), decl.span)
            self.accumulators[decl.name] = ir.Accumulator(
                decl.name, money, tuple(keys), decl.period, decl.adds, decl.cap, field,
                notes, decl.span, self.decimals)

    def _accumulator_adds(self) -> None:
        """What each accumulator adds: a declared money output (E393)."""
        for decl in self.scope.accumulators.values():
            if decl.name not in self.accumulators:
                continue
            found = self.declared.get(decl.adds)
            if found is None or not isinstance(found[1], ir.MoneyT):
                what = "not an output the decision declares" if found is None else \
                    f"of type {found[1]}"
                self.d.error("E393", f"accumulator `{decl.name}` adds `{decl.adds}`, {what}",
                             decl.adds_span, did_you_mean(decl.adds, self.declared)
                             or "an accumulator adds a money output of the decision")
