"""An output's branches as `decide` tests them: consecutive branches that begin with the
same conditions test them once.

France's base asks `visit.sector == "3" and visit.specialty == general_practice`, then
`visit.sector == "3"`: nested under one `elif visit.sector == "3":`, an episode of
another sector is turned away by one test, not two.  A group is formed only when its
last branch's condition is exactly the shared part, so that the group decides every
episode that passes it and none falls through to the branches after it; the conditions
keep their order and the first that holds wins, as in the policy.  `explain` tests each
branch's whole condition, for its trace."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ... import ir


@dataclass(slots=True)
class BranchView:
    condition: str | None
    value: str
    where: str = ""
    index: int = 0  # its place among the output's branches
    inner: list[BranchView] = field(default_factory=list)  # a group's branches, in order


# How many branches after a group's first one may close it: the search stays linear in
# an output of thousands of branches that all begin alike.
MAX_GROUP = 64


def nest(output: ir.Output, flat: list[BranchView], expr: Callable[[ir.Expr], str]
         ) -> list[BranchView]:
    """`flat` (one view per branch of `output`) with each group of branches sharing their
    first conditions made one branch testing them, its `inner` branches testing the rest."""
    parts = [_conjuncts(b.condition) for b in output.branches]
    chain: list[BranchView] = []
    start = 0
    while start < len(flat):
        end = _group_end(parts, start)
        if end is None:
            chain.append(flat[start])
            start += 1
            continue
        shared = parts[end]
        inner = [BranchView(_text(parts[k][len(shared):], expr), flat[k].value, flat[k].where, k)
                 for k in range(start, end)]
        inner.append(BranchView(None, flat[end].value, flat[end].where, end))
        chain.append(BranchView(_text(shared, expr), "", f"{flat[start].where} to {end}", start,
                                inner))
        start = end + 1
    return chain


def _conjuncts(condition: ir.Expr | None) -> tuple[ir.Expr, ...]:
    if isinstance(condition, ir.BoolOp) and condition.op is ir.BoolOpKind.AND:
        return condition.operands
    return () if condition is None else (condition,)


def _group_end(parts: list[tuple[ir.Expr, ...]], start: int) -> int | None:
    """The last branch of the longest group that begins at `start`: a branch whose whole
    condition begins each condition from `start` to it, and is shorter than each.  Each
    branch after `start` is compared with the first one only: a condition that begins
    with `start`'s first `n` parts, as every one before it does, begins each of them."""
    first = parts[start]
    common, shortest = len(first), len(first)  # over the branches from `start` so far
    end = None
    for j in range(start + 1, min(start + 1 + MAX_GROUP, len(parts))):
        shared = parts[j]
        if not first or shared[:1] != first[:1]:
            break
        if len(shared) < shortest and len(shared) <= common and shared == first[:len(shared)]:
            end = j
        common = min(common, _prefix(shared, first))
        shortest = min(shortest, len(shared))
    return end


def _prefix(a: tuple[ir.Expr, ...], b: tuple[ir.Expr, ...]) -> int:
    """How many first parts `a` and `b` have in common."""
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return n


def _text(parts: tuple[ir.Expr, ...], expr: Callable[[ir.Expr], str]) -> str:
    return expr(parts[0]) if len(parts) == 1 else expr(ir.BoolOp(ir.BoolOpKind.AND, parts))
