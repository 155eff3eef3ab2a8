"""Python text for the expression forms that are more than an operator: a `case` used as
a value, date arithmetic, a rounded division.  `_Emitter.expr` calls these with itself
(`expr`, for the sub-expressions) and the set of module helpers (`helpers`: "divide",
"years", "timedelta"), which the template defines or imports only when they are used, so
that a module without these forms is unchanged by them."""

from __future__ import annotations

from collections.abc import Callable
from typing import assert_never

from parcours.runtime import KEY_SEPARATOR

from ... import ir
from ...ir import ops


def emit(e: ir.Case | ir.DateAdd | ir.DateDiff, expr: Callable[[ir.Expr], str],
         helpers: set[str]) -> str:
    match e:
        case ir.Case():  # Python's conditional chains to the right, as a case reads
            arms = "".join(f"{expr(value)} if {expr(condition)} else "
                           for condition, value in e.arms)
            return f"({arms}{expr(e.default)})"
        case ir.DateAdd():
            helpers.add("timedelta")
            return f"({expr(e.operand)} + timedelta(days={expr(e.days)}))"
        case ir.DateDiff(unit=ir.DateUnit.DAYS):
            return f"({expr(e.end)} - {expr(e.start)}).days"
        case ir.DateDiff(unit=ir.DateUnit.YEARS):
            helpers.add("years")
            return f"_years_between({expr(e.start)}, {expr(e.end)})"
        case ir.DateDiff():  # pragma: no cover - a unit without a spelling
            raise ValueError(e.unit)
        case _:
            assert_never(e)


def divide(e: ir.Round, quotient: ir.Arith, quantum: str, expr: Callable[[ir.Expr], str],
           helpers: set[str]) -> str:
    """`round_MODE(a / b, q)`: the number of quanta in the exact quotient (`_divide`, in
    integers), times the quantum (`quantum`, the constant's name); an int quotient is the
    number itself.  A zero divisor raises PolicyGap with the message both engines give."""
    helpers.add("divide")
    message = repr(ops.division_by_zero(e))  # a str literal, as `emit.py_literal` writes one
    args = f"{expr(quotient.left)}, {expr(quotient.right)}"
    if isinstance(e.type, ir.IntT):
        return f"_divide({args}, 1, {e.mode.value!r}, {message})"
    return f"(_divide({args}, {quantum}, {e.mode.value!r}, {message}) * {quantum})"


def table_key(e: ir.TableKey, expr: Callable[[ir.Expr], str]) -> str:
    """The key of a table keyed by a bool or by several values, as `ops.table_key` spells
    it: each part's member (a bool as "true" / "false"), joined by the separator."""
    parts = [f"('true' if {expr(part)} else 'false')" if isinstance(column, ir.BoolT)
             else expr(part) for part, column in zip(e.parts, e.columns)]
    return "(" + f" + {KEY_SEPARATOR!r} + ".join(parts) + ")"
