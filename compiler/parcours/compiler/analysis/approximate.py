"""Which conditions the verifier can only approximate (W406).

The verifier splits episodes exactly on an input compared with a value fixed on a region.
A comparison of a *computed* value (an age from `years_between`, a date moved by
`+ 30 days`, a `case` value, a rounded quotient) with anything is split on an assumption
instead: it is taken as a true/false of its own, independent of the rest.  Every gap and
conflict it reports still exists on some assumed combination (and says so), and no gap is
missed; but a rule or branch left unreachable only by what the computation implies is
not reported.  W406 names each rule and branch whose condition holds such a comparison,
so that this is never silent.
"""

from __future__ import annotations

from .. import ir
from ..diagnostics import Diagnostic


def _computed(e: ir.Expr) -> bool:
    return isinstance(e, (ir.DateDiff, ir.DateAdd, ir.Case)) or (
        isinstance(e, ir.Round) and isinstance(e.operand, ir.Arith)
        and e.operand.op == ir.ArithOp.DIV)


def _approximated(program: ir.Program, condition: ir.Expr) -> ir.Compare | None:
    """The first comparison in `condition` (through lets) that reads a computed value."""
    lets = {let.name: let.expr for let in program.lets}
    stack, seen = [condition], set()
    while stack:
        expr = stack.pop()
        for node in ir.walk(expr):
            if isinstance(node, ir.Compare):
                for side in (node.left, node.right):
                    inner = [side]
                    while inner:
                        part = inner.pop()
                        if _computed(part):
                            return node
                        if isinstance(part, ir.LetRef) and part.name in lets:
                            inner.append(lets[part.name])
                        else:
                            inner.extend(ir.children(part))
            elif isinstance(node, ir.LetRef) and node.name not in seen and node.name in lets:
                seen.add(node.name)
                stack.append(lets[node.name])
    return None


def approximations(program: ir.Program) -> list[Diagnostic]:
    """One W406 per rule and per output branch whose condition the verifier approximates."""
    out: list[Diagnostic] = []
    places = [(f"rule `{r.name}`", r.condition, r.span) for r in program.rules]
    places += [(f"output `{o.name}` branch {i}", b.condition, b.span)
               for o in program.outputs for i, b in enumerate(o.branches)]
    for what, condition, span in places:
        found = None if condition is None else _approximated(program, condition)
        if found is not None:
            out.append(Diagnostic(
                "W406", "warning",
                f"{what}: the verifier cannot split episodes exactly on "
                f"`{ir.format_expr(found)}` (a computed value); it treats it as true or false "
                "on its own, so a rule or branch unreachable only because of it is not reported",
                span, "compare an input with a value to have it verified exactly, e.g. an "
                "`age` input, where the policy allows it", ()))
    return out
