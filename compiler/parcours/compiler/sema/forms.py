"""Lookups in tables keyed by a bool or by several values, sets of values in `in`,
arithmetic with decimals, and reading an accumulator (`NAME.used`, `NAME.left`).

`t[visit.specialty, visit.sector]` reads a table keyed by `(specialty, sector)`: one key
per column, each of the column's type.  `patient.age in {1, 3..5, 12}` tests a value
against values and ranges of its kind; it lowers to comparisons, as a range does
(`x == 1 or 3 <= x and x <= 5 or x == 12`), so that every engine and the verifier read it
as they read comparisons.  A decimal (`decimal`: neither money nor a rate) with a decimal,
an int or a rate is a decimal.
"""

from __future__ import annotations

from typing import Protocol

from .. import ir
from ..diagnostics import Diagnostics, Span
from ..syntax import nodes as n
from .base import _Bad, _Context
from .types import _describe, _same_kind


class ExpressionChecker(Protocol):
    """What these forms need of `expressions.ExpressionChecker`."""

    @property
    def d(self) -> Diagnostics: ...

    def _expr(self, expr: n.Expr, ctx: _Context, expected: ir.Type | None) -> ir.Expr: ...

    def _literal(self, lit: n.Literal, expected: ir.Type | None) -> ir.Expr: ...

    def _ref(self, ref: n.Ref, ctx: _Context, expected: ir.Type | None) -> ir.Expr: ...

    @property
    def accumulators(self) -> dict[str, ir.Accumulator]: ...


def accumulator_read(checker: ExpressionChecker, ref: n.Ref, ctx: _Context) -> ir.Expr:
    """`NAME.used` (the amount used before the episode) or `NAME.left` (what the cap leaves,
    which reads the cap: an amount, E394); E396 for anything else."""
    acc = checker.accumulators[ref.path[0]]
    if ref.path[1] in ("used", "left"):
        cap = checker._ref(n.Ref((acc.cap,), ref.span), ctx, None) if ref.path[1] == "left" else None
        if cap is not None and (not isinstance(cap.type, ir.MoneyT) or not cap.type.exact):
            checker.d.error("E394", f"the cap `{acc.cap}` of `{acc.name}` is {cap.type}", acc.span)
            raise _Bad
        return ir.read_accumulator(acc, ref.path[1], cap)
    checker.d.error("E396", f"accumulator `{acc.name}` has no `{ref.path[1]}`", ref.span,
                    f"read `{acc.name}.used` or `{acc.name}.left`")
    raise _Bad

# the date functions, each with an example of its use (for help lines)
DATE_FUNCTIONS = {"years_between": "years_between(patient.birth_date, date)",
                  "days_between": "days_between(visit.admitted, date)",
                  "add_days": "add_days(date, visit.stay)"}

_ORDERED = (ir.IntT, ir.MoneyT, ir.RateT, ir.DateT, ir.DecimalT)


def keyed_lookup(checker: ExpressionChecker, lookup: n.Lookup, ctx: _Context,
                 table: ir.Table) -> ir.Expr:
    """`t[a, b]` for a table keyed by `columns`: one key per column, of its type."""
    parts = (lookup.key,) + lookup.more
    if not table.columns:
        checker.d.error("E376", f"table `{table.name}` is keyed by one {table.key.name}",
                        lookup.span, f"write `{table.name}[KEY]`")
        raise _Bad
    if len(parts) != len(table.columns):
        checker.d.error("E376", f"table `{table.name}` is keyed by {table.key.name}: "
                        f"{len(table.columns)} key{'s' if len(table.columns) > 1 else ''}, "
                        f"not {len(parts)}", lookup.span,
                        f"write `{table.name}[" + ", ".join(_example(c) for c in table.columns)
                        + "]`")
        raise _Bad
    typed: list[ir.Expr] = []
    for part, column in zip(parts, table.columns):
        key = checker._expr(part, ctx, column)
        if key.type != column:
            checker.d.error("E376", f"table `{table.name}` is keyed by {table.key.name}; this "
                            f"key is {_describe(key.type)}, not {_describe(column)}", part.span,
                            "the keys go in the order of the columns")
            raise _Bad
        typed.append(key)
    return ir.TableRef(table.name, ir.TableKey(tuple(typed), table.columns, table.key),
                       table.type)


def _example(column: ir.EnumT | ir.BoolT) -> str:
    return "a condition" if isinstance(column, ir.BoolT) else f"a {column.name}"


def value_set(checker: ExpressionChecker, expr: n.Binary, ctx: _Context) -> ir.Expr:
    """`x in {1, 3..5, 12}` (or `not in`): x equals one of the values or lies in one of the
    ranges (both ends included)."""
    assert isinstance(expr.right, n.ValueSet)
    operand = checker._expr(expr.left, ctx, None)
    if not isinstance(operand.type, _ORDERED):
        checker.d.error("E381", f"a set of values tested against {_describe(operand.type)}",
                        expr.span, "a set `{1, 3..5}` holds ints, amounts, rates, decimals or "
                        "dates; test an enum with a set of members `{a, b}`")
        raise _Bad
    tests: list[ir.Expr] = []
    singles: set[object] = set()
    for low_lit, high_lit in expr.right.items:
        low = _item(checker, low_lit, operand.type)
        if high_lit is None:
            if low.value in singles:
                checker.d.warning("W362", f"`{low_lit.value}` is listed twice", low_lit.span)
            singles.add(low.value)
            tests.append(ir.Compare(ir.CompareOp.EQ, operand, low))
            continue
        high = _item(checker, high_lit, operand.type)
        tests.append(ir.BoolOp(ir.BoolOpKind.AND, (ir.Compare(ir.CompareOp.GE, operand, low),
                                                   ir.Compare(ir.CompareOp.LE, operand, high))))
    inside = tests[0] if len(tests) == 1 else ir.BoolOp(ir.BoolOpKind.OR, tuple(tests))
    return ir.Not(inside) if expr.op == "not in" else inside


def stray_value_set(checker: ExpressionChecker, expr: n.ValueSet) -> None:
    """A set of values anywhere but on the right of `in` (reported, then `_Bad`)."""
    checker.d.error("E364", "a set of values stands on the right of `in`", expr.span,
                    "test a value against it: `patient.age in {1, 3..5, 12}`")
    raise _Bad


def _item(checker: ExpressionChecker, lit: n.Literal, expected: ir.Type) -> ir.Const:
    value = checker._literal(lit, expected)
    if not _same_kind(value.type, expected) or (
            isinstance(value.type, ir.MoneyT) and isinstance(expected, ir.MoneyT)
            and value.type.currency != expected.currency):
        checker.d.error("E381", f"{_describe(value.type)} in a set tested against "
                        f"{_describe(expected)}", lit.span,
                        "every value and range of the set is of the tested value's kind")
        raise _Bad
    assert isinstance(value, ir.Const)
    return value


def decimal_arith(checker: ExpressionChecker, op: str, left: ir.Expr, right: ir.Expr,
                  span: Span) -> ir.Expr:
    """`left op right` where one side is a decimal: with a decimal, an int or a rate it is a
    decimal; an amount times a decimal is an unrounded amount."""
    lt, rt = left.type, right.type
    numbers = (ir.DecimalT, ir.IntT, ir.RateT)
    if isinstance(lt, numbers) and isinstance(rt, numbers):
        return ir.Arith(ir.ArithOp(op), left, right, ir.DecimalT())
    if op == "*" and isinstance(rt, ir.MoneyT):
        left, right, lt, rt = right, left, rt, lt
    if op == "*" and isinstance(lt, ir.MoneyT):
        return ir.Arith(ir.ArithOp.MUL, left, right, ir.MoneyT(lt.currency, exact=False))
    checker.d.error("E368" if op == "*" else "E369",
                    f"cannot compute {_describe(lt)} {op} {_describe(rt)}", span,
                    "a decimal goes with decimals, ints and rates; an amount may be multiplied "
                    "by it")
    raise _Bad
