"""Lets written where they are used, when that is once.

A `let` read by one condition or value is evaluated there rather than stored first:
France's `penalised` is needed only to decide whether the penalty cap applies, and the
`and` it sits in stops at the first false part.  Only a let that cannot fail is moved
(comparisons, truth values, members: no division, no table cell), so that an episode
the reference interpreter decides, evaluating every let, is decided alike."""

from __future__ import annotations

from collections import Counter

from ... import ir

# What a moved let may be built of: nothing here raises, whatever the episode.
_SAFE = (ir.Const, ir.Input, ir.ParamRef, ir.LetRef, ir.OutputRef, ir.PathwayRef, ir.Not,
         ir.BoolOp, ir.Compare, ir.InSet)


def used_once(program: ir.Program) -> dict[str, ir.Expr]:
    """The lets read exactly once, by name, with their expressions."""
    roots: list[ir.Expr] = [let.expr for let in program.lets]
    roots += [r.condition for r in program.rules if r.condition is not None]
    roots += [part for o in program.outputs for b in o.branches
              for part in (b.condition, b.value) if part is not None]
    roots += [part for c in program.constraints for part in (c.condition, c.requirement)]
    reads = Counter(node.name for root in roots for node in ir.walk(root)
                    if isinstance(node, ir.LetRef))
    return {let.name: let.expr for let in program.lets
            if reads[let.name] == 1 and not isinstance(let.expr.type, ir.SetT)
            and all(isinstance(node, _SAFE) for node in ir.walk(let.expr))}
