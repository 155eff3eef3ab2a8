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


# How deep a moved let may make the expression it is written into (IR levels): a chain of
# lets read once each would otherwise nest without end.  Past it, a let stays a variable
# and the next one of the chain can be moved again.
MAX_MOVED_DEPTH = 16


def used_once(program: ir.Program) -> dict[str, ir.Expr]:
    """The lets read exactly once, by name, with their expressions."""
    roots: list[ir.Expr] = [let.expr for let in program.lets]
    roots += [r.condition for r in program.rules if r.condition is not None]
    roots += [part for o in program.outputs for b in o.branches
              for part in (b.condition, b.value) if part is not None]
    roots += [part for c in program.constraints for part in (c.condition, c.requirement)]
    reads = Counter(node.name for root in roots for node in ir.walk(root)
                    if isinstance(node, ir.LetRef))
    moved: dict[str, ir.Expr] = {}
    depths: dict[str, int] = {}  # of each moved let's expression, the lets in it moved too
    for let in program.lets:  # in dependency order: what a let reads is settled before it
        if reads[let.name] == 1 and not isinstance(let.expr.type, ir.SetT) \
                and all(isinstance(node, _SAFE) for node in ir.walk(let.expr)):
            depth = _depth(let.expr, depths)
            if depth <= MAX_MOVED_DEPTH:
                moved[let.name], depths[let.name] = let.expr, depth
    return moved


def _depth(e: ir.Expr, moved: dict[str, int]) -> int:
    """Levels of `e` once the moved lets it reads are written in (a let's own expression
    is within the language's depth limit, so this recursion is too)."""
    if isinstance(e, ir.LetRef):
        return moved.get(e.name, 1)
    return 1 + max((_depth(c, moved) for c in ir.children(e)), default=0)
