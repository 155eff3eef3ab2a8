"""Static verification of a checked policy over its whole input space (run by `parcours check`).

For the rules and for every output, :mod:`.regions` grows a decision tree whose
leaves partition every episode the declared types and constraints allow (dates
included); each leaf is decided exactly.  From the leaves this module proves, or
refutes with a concrete counterexample episode:

* E401  a gap: no rule, or no branch of a `case`, applies to some episodes;
* E402  a conflict: two exceptions of equal priority with different pathways
        both apply (and no higher-priority rule does);
* W403  an unreachable rule: higher-priority rules settle every episode it matches;
* W404  an unreachable branch of a `case`.

Holes and overlaps in dated values are E321/E322, reported by :mod:`.check`.
The method and its limits are described in docs/verification.md.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import ir
from ..diagnostics import Diagnostic, Span
from .regions import Evaluator, Region, Undecided, example, leaves, root

_SKIP = -2  # a leaf where something the goal depends on is itself undecided


def _winner(ev: Evaluator) -> int:
    try:
        return ev.rule_index()
    except Undecided as gap:
        if gap.what == "pathway":
            return -1
        return _SKIP


def _branch(output: ir.Output) -> Callable[[Evaluator], int]:
    def goal(ev: Evaluator) -> int:
        try:
            return ev.branch_index(output)
        except Undecided as gap:
            if gap.what == output.name:
                return -1
            return _SKIP
    return goal


def _holds(condition: ir.Expr) -> Callable[[Evaluator], bool]:
    def goal(ev: Evaluator) -> bool:
        try:
            return ev.truth(condition)
        except Undecided:
            return False
    return goal


def _approx(region: Region) -> str:
    if not region.approximate:
        return ""
    assumed = ", ".join(("" if holds else "not ") + ir.format_expr(e) for e, holds in region.assumed)
    return f" (assuming {assumed}: the verifier could not decide it exactly)"


def _rules_span(program: ir.Program) -> Span:
    return program.rules[-1].span if program.rules else Span(program.policy.file, 1, 1, 1, 1)


def verify_rules(program: ir.Program) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    rules = program.rules
    if not rules:
        return out
    gaps, won = _gaps_and_winners(program, _winner)
    if gaps:
        more = f" (and {len(gaps) - 1} other region(s))" if len(gaps) > 1 else ""
        out.append(Diagnostic(
            "E401", "error",
            f"no rule decides the pathway of some episodes{more}{_approx(gaps[0])}",
            _rules_span(program), "add a `default` rule, or an exception that covers them",
            (), example(program, gaps[0])))
    for index, rule in enumerate(rules):
        if index in won:
            continue
        out.append(_unreachable_rule(program, index))
    out.extend(_conflicts(program))
    return out


def _unreachable_rule(program: ir.Program, index: int) -> Diagnostic:
    rule = program.rules[index]
    if rule.condition is None:
        found = next(leaves(program, _winner), None)
        shadow = sorted({i for _, i in leaves(program, _winner) if i >= 0})
        notes = tuple((program.rules[i].span, f"rule `{program.rules[i].name}` applies first")
                      for i in shadow[:5])
        return Diagnostic(
            "W403", "warning",
            f"the default rule `{rule.name}` is unreachable: the exceptions decide every episode",
            rule.span, "remove it, or check the exceptions above it", notes,
            example(program, found[0]) if found else None)
    matching = [region for region, holds in leaves(program, _holds(rule.condition)) if holds]
    if not matching:
        return Diagnostic(
            "W403", "warning",
            f"rule `{rule.name}` is unreachable: its condition never holds",
            rule.span, "check its condition against the inputs' types and constraints")
    winners: dict[int, Region] = {}
    for region in matching:
        for sub, winner in leaves(program, _winner, region):
            if winner >= 0:
                winners.setdefault(winner, sub)
    notes = tuple((program.rules[i].span, f"rule `{program.rules[i].name}` applies first")
                  for i in sorted(winners)[:5])
    first = winners[min(winners)] if winners else matching[0]
    return Diagnostic(
        "W403", "warning",
        f"rule `{rule.name}` is unreachable: rules of higher priority settle every episode it "
        f"matches{_approx(first)}",
        rule.span, "give it a higher priority, narrow the rules above it, or remove it",
        notes, example(program, first))


def _conflicts(program: ir.Program) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    rules = [r for r in program.rules if r.priority is not None and r.condition is not None]
    for i, a in enumerate(rules):
        for b in rules[i + 1:]:
            if a.priority != b.priority or a.pathway == b.pathway:
                continue
            assert a.condition is not None and b.condition is not None
            higher = tuple(r.condition for r in rules
                           if r.priority is not None and a.priority is not None
                           and r.priority < a.priority and r.condition is not None)
            parts: tuple[ir.Expr, ...] = (a.condition, b.condition)
            if higher:
                parts = (ir.Not(ir.BoolOp(ir.BoolOpKind.OR, higher)),) + parts
            both = ir.BoolOp(ir.BoolOpKind.AND, parts)
            found = next((region for region, holds in leaves(program, _holds(both)) if holds), None)
            if found is None:
                continue
            out.append(Diagnostic(
                "E402", "error",
                f"rules `{a.name}` ({a.pathway}) and `{b.name}` ({b.pathway}) have the same "
                f"priority {a.priority} and both apply to some episodes{_approx(found)}",
                b.span, "give one of them a higher priority, or make their conditions exclusive",
                ((a.span, f"rule `{a.name}` applies too"),), example(program, found)))
    return out


def _gaps_and_winners(program: ir.Program, classify: Callable[[Evaluator], int]
                      ) -> tuple[list[Region], dict[int, Region]]:
    """Regions where nothing applies (parameters as written), and for each rule or branch a
    region where it wins (boolean what-if switches free, so a what-if can reach it)."""
    gaps = [region for region, index in leaves(program, classify) if index == -1]
    won: dict[int, Region] = {}
    for region, index in leaves(program, classify, root(program, switches=True)):
        if index >= 0:
            won.setdefault(index, region)
    return gaps, won


def verify_output(program: ir.Program, output: ir.Output) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    if len(output.branches) == 1 and output.branches[0].condition is None:
        return out
    gaps, won = _gaps_and_winners(program, _branch(output))
    if gaps:
        more = f" (and {len(gaps) - 1} other region(s))" if len(gaps) > 1 else ""
        out.append(Diagnostic(
            "E401", "error",
            f"no branch of output `{output.name}` applies to some episodes{more}{_approx(gaps[0])}",
            output.span, "add an `else` branch, or a branch that covers them",
            (), example(program, gaps[0])))
    for index, branch in enumerate(output.branches):
        if index in won:
            continue
        earlier = tuple((b.span, "an earlier branch") for b in output.branches[:index]
                        if b.condition is not None)[:5]
        what = "the `else` branch" if branch.condition is None else f"branch `when {branch.text}`"
        out.append(Diagnostic(
            "W404", "warning",
            f"{what} of output `{output.name}` is unreachable: earlier branches (or the "
            f"constraints) leave it no episode",
            branch.span, "remove it, or narrow the branches before it", earlier))
    return out


def verify_program(program: ir.Program) -> list[Diagnostic]:
    """Every E401/E402/W403/W404 finding of the policy, each with a counterexample."""
    out = verify_rules(program)
    for output in program.outputs:
        out.extend(verify_output(program, output))
    return out
