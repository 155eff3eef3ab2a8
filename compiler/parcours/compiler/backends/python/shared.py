"""Tests of the episode that several steps make, made once.

France asks whether the visit's specialty is dentistry or midwifery in a rule, in the
base's first branch and in the flat fee.  The base asks it of every episode, so asking it
once, before the rules, costs nothing and spares the others.  Only a plain test of one
field (a member test, or a comparison of a field with a field or a constant: nothing
that can fail) is shared, and only when one step asks it of every episode (the first
test of the rules, of a let, or of an output's branches) and another step asks it too."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

from ... import ir


def plain_test(e: ir.Expr) -> bool:
    """A member test of a field, or a comparison of fields and constants."""
    match e:
        case ir.InSet(operand=ir.Input()):
            return True
        case ir.Compare(left=ir.Input() | ir.Const(), right=ir.Input() | ir.Const()):
            return True
    return False


def shared_tests(program: ir.Program, moved: Collection[str]
                 ) -> list[tuple[ir.Expr, tuple[object, ...]]]:
    """The plain tests asked of every episode by one step and asked by another, each with
    the first rule, let or output branch that asks it (what the emitter names its sets
    after).  A let in `moved` is evaluated where it is read: not for every episode."""
    steps: list[list[tuple[ir.Expr, tuple[object, ...]]]] = [
        [(r.condition, (r.name,)) for r in program.rules if r.condition is not None]]
    steps += [[(let.expr, (let.name,))] for let in program.lets if let.name not in moved]
    steps += [[(b.condition, (o.name, "BRANCH", i)) for i, b in enumerate(o.branches)
               if b.condition is not None] for o in program.outputs]
    every: list[ir.Expr] = []  # asked of every episode: each step's first test
    asked: Counter[ir.Expr] = Counter()  # by how many steps
    first: dict[ir.Expr, tuple[object, ...]] = {}  # the first place that asks it
    for roots in steps:
        if roots:
            every += _leading(roots[0][0])
        found: set[ir.Expr] = set()
        for root, hint in roots:
            for node in ir.walk(root):
                if plain_test(node):
                    found.add(node)
                    first.setdefault(node, hint)
        asked.update(found)
    tests = dict.fromkeys(t for t in every if plain_test(t) and asked[t] > 1)
    return [(t, first[t]) for t in tests]


def _leading(condition: ir.Expr) -> list[ir.Expr]:
    """`condition` and what is always evaluated with it: the first part of an `and` or an
    `or`, what a `not` negates."""
    out = [condition]
    while True:
        match condition:
            case ir.BoolOp(operands=operands):
                condition = operands[0]
            case ir.Not(operand=operand):
                condition = operand
            case _:
                return out
        out.append(condition)
