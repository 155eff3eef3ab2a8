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
from decimal import Decimal
from typing import Any, assert_never

from parcours.runtime import ROUNDING

from .nodes import ArithOp, CompareOp, MinMaxFn, RoundMode


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
        case _:
            assert_never(op)


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
