"""A branch's value simplified by what reaching it says.

An output's branch is taken when every condition before it is false and its own is true.
A `case` in its value that tests one of those conditions again (France's flat fee asks
whether the annual cap is reached, which the branch before it already answered) has its
answer known: the arm is dropped, or taken.  Conditions are compared as IR trees, so only
the very same test is known; the value stays the same for every episode, and the
reference interpreter, which evaluates the value as written, checks it."""

from __future__ import annotations

from ... import ir


def branch_values(output: ir.Output) -> list[ir.Expr]:
    """The values of `output`'s branches, each simplified by what taking it says.  What
    the branches before say is gathered once, branch after branch (an output may have
    thousands); an output without a `case` in its values is left as it is."""
    values = [b.value for b in output.branches]
    if not any(isinstance(node, ir.Case) for value in values for node in ir.walk(value)):
        return values
    false: set[ir.Expr] = set()  # what the branches before say
    true: set[ir.Expr] = set()
    simplified = []
    for branch in output.branches:
        own_false: set[ir.Expr] = set()  # what the branch's own condition adds, for it alone
        own_true: set[ir.Expr] = set()
        if branch.condition is not None:
            _add(branch.condition, True, own_false, own_true)
        own_false -= false
        own_true -= true
        false |= own_false
        true |= own_true
        simplified.append(simplify(branch.value, false, true))
        false -= own_false
        true -= own_true
        if branch.condition is not None:
            _add(branch.condition, False, false, true)
    return simplified


def _add(condition: ir.Expr, holds: bool, false: set[ir.Expr], true: set[ir.Expr]) -> None:
    (true if holds else false).add(condition)
    match condition:
        case ir.Not(operand=operand):
            _add(operand, not holds, false, true)
        case ir.BoolOp(op=ir.BoolOpKind.AND, operands=operands) if holds:
            for part in operands:
                _add(part, True, false, true)
        case ir.BoolOp(op=ir.BoolOpKind.OR, operands=operands) if not holds:
            for part in operands:
                _add(part, False, false, true)


def simplify(e: ir.Expr, false: set[ir.Expr], true: set[ir.Expr]) -> ir.Expr:
    """`e` with the arms of its cases whose conditions are known dropped or taken, through
    arithmetic, rounding, min and max (where a value's cases usually sit)."""
    if not false and not true:
        return e
    match e:
        case ir.Case():
            arms: list[tuple[ir.Expr, ir.Expr]] = []
            for condition, value in e.arms:
                if condition in false:
                    continue
                if condition in true:
                    return _case(arms, simplify(value, false, true), e.type)
                arms.append((condition, simplify(value, false, true)))
            return _case(arms, simplify(e.default, false, true), e.type)
        case ir.Arith():
            return ir.Arith(e.op, simplify(e.left, false, true), simplify(e.right, false, true),
                            e.type)
        case ir.Round():
            return ir.Round(e.mode, simplify(e.operand, false, true), e.quantum, e.type, e.at)
        case ir.MinMax():
            return ir.MinMax(e.function, tuple(simplify(o, false, true) for o in e.operands),
                             e.type)
        case _:
            return e


def _case(arms: list[tuple[ir.Expr, ir.Expr]], default: ir.Expr, type_: ir.Type) -> ir.Expr:
    return ir.Case(tuple(arms), default, type_) if arms else default
