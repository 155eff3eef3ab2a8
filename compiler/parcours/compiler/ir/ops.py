"""The language's primitive operations on concrete values, in one place.

Arithmetic, comparison, rounding and min/max as the policy language defines them:
exact (``Decimal`` for money and rates, ``int`` for whole numbers, in the default
decimal context), and a tie in ``min``/``max`` goes to the first operand.  The
reference interpreter (``interpret``) and the verifier's concrete arithmetic
(``analysis.regions``) call these; the Python backend spells the same operations as
Python operators in the generated text, and ``tests/test_differential.py`` holds
the two spellings equal.

Each function matches over its closed operator enum and ends in ``assert_never``,
so mypy names this module when an operator is added to the IR.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, assert_never

from parcours.runtime import ROUNDING
from parcours.runtime import KEY_SEPARATOR

from .nodes import (ArithOp, BoolT, CompareOp, DateT, DateUnit, DecimalT, EnumT, IdT, IntT,
                    MinMaxFn, MoneyT, RateT, Round, RoundMode, SetT, Type)
from .printer import format_expr


def decimal_rounding(mode: RoundMode) -> str:
    """The `decimal` module's rounding constant for a rounding mode (the runtime's table,
    the one definition; a test holds its keys equal to `RoundMode`)."""
    return ROUNDING[mode.value]


def arith(op: ArithOp, left: Any, right: Any) -> Any:
    """`left op right` for two numbers (int, Decimal)."""
    match op:
        case ArithOp.ADD:
            return left + right
        case ArithOp.SUB:
            return left - right
        case ArithOp.MUL:
            return left * right
        case ArithOp.DIV:
            # A quotient is not exact in general: the language only divides inside a
            # rounding, which `divide` computes exactly.
            raise ValueError("a division is evaluated with its rounding (ops.divide)")
        case _:
            assert_never(op)


class DivisionByZero(ArithmeticError):
    """A division whose divisor is zero on this episode."""


def divide(mode: RoundMode, left: Any, right: Any, quantum: Decimal | int) -> Decimal | int:
    """`left / right` rounded to a multiple of `quantum` by `mode`, exactly (as fractions:
    no digit of the quotient is lost before it is rounded).  An int `quantum` (1) gives an
    int; a Decimal one, a Decimal with the quantum's exponent."""
    if right == 0:
        raise DivisionByZero()
    steps = Fraction(left) / Fraction(right) / Fraction(quantum)
    whole = steps.numerator // steps.denominator  # floor
    rest = steps - whole  # 0 <= rest < 1
    negative = steps < 0
    match mode:
        case RoundMode.DOWN:  # toward zero
            up = negative and rest != 0
        case RoundMode.UP:  # away from zero
            up = not negative and rest != 0
        case RoundMode.HALF_UP:  # a tie away from zero
            up = rest > Fraction(1, 2) or (rest == Fraction(1, 2) and not negative)
        case RoundMode.HALF_EVEN:
            up = rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2 == 1)
        case _:
            assert_never(mode)
    count = whole + 1 if up else whole
    if isinstance(quantum, int):
        return count * quantum
    result: Decimal = (Decimal(count) * quantum).quantize(quantum)
    return result


def division_by_zero(rounding: Round) -> str:
    """What an episode that divides by zero is told, by both engines: the division as the
    policy writes it, and where (`file:line:col`)."""
    return f"division by zero in `{format_expr(rounding.operand)}` at {rounding.at}"


def date_add(day: date, days: int) -> date:
    """`day + days` (OverflowError past year 9999 or before year 1)."""
    return day + timedelta(days=days)


def date_diff(unit: DateUnit, start: date, end: date) -> int:
    """Whole days or whole years from `start` to `end` (negative when `end` is earlier).

    Years count as an age does: one more on each anniversary of `start`; in a year
    without 29 February, the anniversary of 29 February is 1 March (someone born on
    2008-02-29 is 14 on 2023-02-28, 15 on 2023-03-01 and 16 on 2024-02-29).
    """
    match unit:
        case DateUnit.DAYS:
            return (end - start).days
        case DateUnit.YEARS:
            if end < start:
                return -date_diff(unit, end, start)
            years = end.year - start.year
            if (end.month, end.day) < (start.month, start.day):
                years -= 1
            return years
        case _:
            assert_never(unit)


def compare(op: CompareOp, left: Any, right: Any) -> bool:
    """`left op right` for two values of one type (ordering only for ordered types)."""
    match op:
        case CompareOp.EQ:
            return bool(left == right)
        case CompareOp.NE:
            return bool(left != right)
        case CompareOp.LT:
            return bool(left < right)
        case CompareOp.LE:
            return bool(left <= right)
        case CompareOp.GT:
            return bool(left > right)
        case CompareOp.GE:
            return bool(left >= right)
        case _:
            assert_never(op)


def round_to(mode: RoundMode, value: Any, quantum: Decimal) -> Decimal:
    """`value` rounded to a multiple of `quantum` (0.01: to the cent)."""
    result: Decimal = value.quantize(quantum, decimal_rounding(mode))
    return result


def min_max(function: MinMaxFn, values: Sequence[Any]) -> Any:
    """The least or greatest of `values`; on a tie, the first of them."""
    best = values[0]
    match function:
        case MinMaxFn.MIN:
            for value in values[1:]:
                if value < best:
                    best = value
        case MinMaxFn.MAX:
            for value in values[1:]:
                if value > best:
                    best = value
        case _:
            assert_never(function)
    return best


def value_kind(type_: Type) -> str:
    """The runtime's name for a value's kind: how an input is validated, a parameter
    overridden (`ParamSpec.kind`) and a declared output written (`OUTPUT_KINDS`)."""
    match type_:
        case MoneyT():
            return "money"
        case RateT():
            return "rate"
        case IntT():
            return "int"
        case BoolT():
            return "bool"
        case EnumT():
            return "enum"
        case DateT():
            return "date"
        case DecimalT():
            return "decimal"
        case IdT():
            return "id"
        case SetT():
            raise ValueError(f"a set is not a value of its own ({type_})")
        case _:
            assert_never(type_)


def key_part(value: bool | str) -> str:
    """One part of a table key as a key holds it: a member, or `true` / `false`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def table_key(values: Sequence[bool | str]) -> str:
    """The key of a table keyed by a bool or by several values, for one value per column
    (see `TableKey`): the parts joined by the runtime's `KEY_SEPARATOR`."""
    return KEY_SEPARATOR.join(key_part(v) for v in values)


def key_members(columns: Sequence[EnumT | BoolT]) -> tuple[str, ...]:
    """Every key of a table keyed by `columns`, in order: the first column varies slowest."""
    keys: list[tuple[str, ...]] = [()]
    for column in columns:
        values = ("true", "false") if isinstance(column, BoolT) else column.members
        keys = [key + (v,) for key in keys for v in values]
    return tuple(KEY_SEPARATOR.join(key) for key in keys)
