"""Accumulators in the IR: an amount carried from one episode to the next."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from .nodes import (Accumulator, Arith, ArithOp, Case, Compare, CompareOp, Const, Dated, Expr, Input,
                    MinMax, MinMaxFn, ParamRef, Program)


class Period(StrEnum):
    """Over what an accumulator adds up before it starts again from zero."""

    CALENDAR_YEAR = "calendar_year"  # 1 January to 31 December of the episode's date


def read(acc: Accumulator, prop: str, cap: Expr | None) -> Expr:
    """`used` (the input `acc.field`: the amount used before the episode, in the same
    period) or `left` (`max(0, cap - used)`, `cap` the parameter's or let's reference),
    as an expression of the IR (for a parameter cap, `if used >= cap then 0 else cap - used`).

    The amount used before an episode reaches the decision as an input of its own
    (default zero), which a run's ledger fills in; so one decision stays a pure function
    of its episode for the generated code, the interpreter and the verifier."""
    used = Input(acc.field, acc.type)
    if prop == "used":
        return used
    assert cap is not None
    zero = Const(Decimal(0).scaleb(-acc.decimals), acc.type)
    if isinstance(cap, ParamRef):
        # `if used >= cap then 0 else cap - used`: the verifier and `diff` split the amount
        # used at the cap, so that their regions say when the cap is reached
        return Case(((Compare(CompareOp.GE, used, cap), zero),),
                    Arith(ArithOp.SUB, cap, used, acc.type), acc.type)
    return MinMax(MinMaxFn.MAX, (zero, Arith(ArithOp.SUB, cap, used, acc.type)), acc.type)


def accumulator_specs(program: Program
                      ) -> tuple[tuple[str, str, tuple[str, ...], str, str,
                                       tuple[tuple[str, str], ...]], ...]:
    """Each accumulator as the runtime's ledger reads it (`parcours.runtime.ledger`):
    (name, input field, keys, period, output added, ((from, cap), …))."""
    return tuple((a.name, a.field, a.keys, a.period, a.adds,
                  tuple((v.start.isoformat(), str(v.value.value))
                        for v in _cap_values(program, a.cap)))
                 for a in program.accumulators)


def _cap_values(program: Program, cap: str) -> tuple[Dated, ...]:
    """A parameter cap's dated values; () for a cap computed by a let (per episode)."""
    found = [p for p in program.params if p.name == cap]
    return found[0].values if found else ()
