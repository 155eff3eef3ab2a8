"""Static verification of a checked policy over its whole input space (run by `parcours check`).

For the rules and for every output, :mod:`.partition` answers "which condition holds
first?" condition by condition over regions (of :mod:`.regions`) that together cover
every episode the declared types and constraints allow (dates included); each verdict
holds exactly on its region.  From them this module proves, or refutes with a concrete
counterexample episode:

* E401  a gap: no rule, or no branch of a `case`, applies to some episodes;
* E402  a conflict: two exceptions of equal priority with different pathways
        both apply (and no higher-priority rule does);
* W403  an unreachable rule: higher-priority rules settle every episode it matches;
* W404  an unreachable branch of a `case`.

W405 says what was not verified when the budget of region evaluations runs out.
Holes and overlaps in dated values are E321/E322, reported by :mod:`.check`.
The method and its limits are described in docs/verification.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .. import ir
from ..diagnostics import Diagnostic, Span
from .approximate import approximations
from .partition import (GAP, Budget, BudgetExceeded, Pass, Piece, Reads, constrained, contradicts,
                        decide, first_holding, guard, meet)
from .examples import example
from .regions import Region, root


def _approx(region: Region) -> str:
    if not region.approximate:
        return ""
    assumed = ", ".join(("" if holds else "not ") + ir.format_expr(e) for e, holds in region.assumed)
    return f" (assuming {assumed}: the verifier could not decide it exactly)"


def _rules_span(program: ir.Program) -> Span:
    return program.rules[-1].span if program.rules else Span(program.policy.file, 1, 1, 1, 1)



def _switches(program: ir.Program) -> dict[str, object]:
    return {f"param:{p.name}": p.values[0].value.value for p in program.params
            if isinstance(p.type, ir.BoolT) and len(p.values) == 1}


def _as_written(written: dict[str, object], piece: Piece) -> Piece | None:
    """`piece` with every what-if switch at its written value (None: none left)."""
    region = piece.region
    for path in written:
        dom = region._map.get(path)
        if dom is not None:
            if not isinstance(dom, frozenset) or written[path] not in dom:
                return None
            if len(dom) > 1:
                region = region.with_domain(path, frozenset({written[path]}))
    return piece if region is piece.region else Piece(region, piece.known, piece.label)


@dataclass(slots=True)
class _Verifier:
    """One policy's verification, stage by stage, within one budget."""

    program: ir.Program
    budget: Budget
    timings: dict[str, float]
    reads: Reads = field(init=False)
    out: list[Diagnostic] = field(default_factory=list)
    _starts: dict[bool, list[Piece]] = field(default_factory=dict)
    _rules: tuple[Pass, Pass] | None = None

    def __post_init__(self) -> None:
        self.reads = Reads(self.program)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            key = f"verify {name}"
            self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - started

    def start(self, switches: bool) -> list[Piece]:
        """Every episode that the constraints allow (the what-if switches free or as written)."""
        if switches not in self._starts:
            self._starts[switches] = constrained(self.program, root(self.program, switches),
                                                 self.budget)
        return self._starts[switches]

    def _reads_switch(self, conditions: list[ir.Expr | None]) -> bool:
        return any(p.startswith("param:") for c in conditions for p in self.reads.of(c))

    def rule_passes(self) -> tuple[Pass, Pass]:
        """The winning rule everywhere: with the switches free, and as written."""
        if self._rules is None:
            conditions = [r.condition for r in self.program.rules]
            firsts = frozenset(_groups(self.program))
            # the outputs that read the pathway start from these leaves: keep what they read
            keep = frozenset().union(*(self.reads.of(b.condition) for o in self.program.outputs
                                       for b in o.branches))
            keep = keep if "pathway" in keep else frozenset()
            free = first_holding(self.program, conditions, self.start(True), self.budget,
                                 self.reads, firsts, keep)
            if self._reads_switch(conditions):
                written = first_holding(self.program, conditions, self.start(False), self.budget,
                                        self.reads, firsts, keep)
            else:
                written = Pass(self._narrow_leaves(free.leaves),
                               {k: self._narrow(v) for k, v in free.before.items()})
            self._rules = free, written
        return self._rules

    def _narrow(self, pieces: list[Piece]) -> list[Piece]:
        written = _switches(self.program)
        return [q for q in (_as_written(written, p) for p in pieces) if q is not None]

    def _narrow_leaves(self, leaves: list[tuple[Piece, int]]) -> list[tuple[Piece, int]]:
        out = []
        written = _switches(self.program)
        for piece, index in leaves:
            narrowed = _as_written(written, piece)
            if narrowed is not None:
                out.append((narrowed, index))
        return out

    # -- the rules
    def gaps_and_unreachable(self) -> None:
        program = self.program
        free, written = self.rule_passes()
        gaps = [piece.region for piece, index in written.leaves if index == GAP]
        if gaps:
            more = f" (and {len(gaps) - 1} other region(s))" if len(gaps) > 1 else ""
            self.out.append(Diagnostic(
                "E401", "error",
                f"no rule decides the pathway of some episodes{more}{_approx(gaps[0])}",
                _rules_span(program), "add a `default` rule, or an exception that covers them",
                (), example(program, gaps[0])))
        won = {index for _, index in free.leaves}
        for index in range(len(program.rules)):
            if index not in won:
                self.out.append(self._unreachable_rule(index))

    def _unreachable_rule(self, index: int) -> Diagnostic:
        program = self.program
        rule = program.rules[index]
        _, written = self.rule_passes()
        if rule.condition is None:
            found = next((p.region for p, i in written.leaves), None)
            shadow = sorted({i for _, i in written.leaves if i >= 0})
            notes = tuple((program.rules[i].span, f"rule `{program.rules[i].name}` applies first")
                          for i in shadow[:5])
            return Diagnostic(
                "W403", "warning",
                f"the default rule `{rule.name}` is unreachable: the exceptions decide every "
                f"episode", rule.span, "remove it, or check the exceptions above it", notes,
                example(program, found) if found else None)
        atoms = guard(program, rule.condition, self.reads.lets)
        matching = [part for piece in self.start(False) if not contradicts(piece.region, atoms)
                    for part, holds in decide(program, piece, rule.condition, self.budget) if holds]
        if not matching:
            return Diagnostic(
                "W403", "warning",
                f"rule `{rule.name}` is unreachable: its condition never holds",
                rule.span, "check its condition against the inputs' types and constraints")
        earlier = [r.condition for r in program.rules[:index]]
        winners: dict[int, Region] = {}
        for piece, winner in first_holding(program, earlier, matching, self.budget,
                                           self.reads).leaves:
            if winner >= 0:
                winners.setdefault(winner, piece.region)
        notes = tuple((program.rules[i].span, f"rule `{program.rules[i].name}` applies first")
                      for i in sorted(winners)[:5])
        first = winners[min(winners)] if winners else matching[0].region
        return Diagnostic(
            "W403", "warning",
            f"rule `{rule.name}` is unreachable: rules of higher priority settle every episode it "
            f"matches{_approx(first)}",
            rule.span, "give it a higher priority, narrow the rules above it, or remove it",
            notes, example(program, first))

    def conflicts(self) -> None:
        """E402: for each group of rules of one priority, where each holds (among the
        episodes no higher rule takes); only pairs of rules with different pathways whose
        regions meet conflict, checked first on the inputs the group reads."""
        program = self.program
        rules = program.rules
        _, written = self.rule_passes()
        for first, last in _groups(program).items():
            pending = written.before.get(first, [])
            group = range(first, last)
            holding: dict[int, list[Region]] = {}
            for i in group:
                condition = rules[i].condition
                assert condition is not None
                atoms = guard(program, condition, self.reads.lets)
                holding[i] = [part.region for piece in pending
                              if not contradicts(piece.region, atoms)
                              for part, holds in decide(program, piece, condition, self.budget)
                              if holds]
            quick = sorted(frozenset().union(*(self.reads.of(rules[i].condition) for i in group)))
            near = _overlapping(holding, quick)
            for i in group:
                for j in range(i + 1, last):
                    a, b = rules[i], rules[j]
                    if a.pathway == b.pathway or (near is not None and (i, j) not in near):
                        continue
                    found = _first_meet(holding[i], holding[j], quick)
                    if found is None:
                        continue
                    self.out.append(Diagnostic(
                        "E402", "error",
                        f"rules `{a.name}` ({a.pathway}) and `{b.name}` ({b.pathway}) have the "
                        f"same priority {a.priority} and both apply to some episodes"
                        f"{_approx(found)}",
                        b.span, "give one of them a higher priority, or make their conditions "
                        "exclusive", ((a.span, f"rule `{a.name}` applies too"),),
                        example(program, found)))

    # -- the outputs
    def output(self, output: ir.Output) -> None:
        program = self.program
        if len(output.branches) == 1 and output.branches[0].condition is None:
            return
        conditions = [b.condition for b in output.branches]
        uses_pathway = any("pathway" in self.reads.of(c) for c in conditions)
        switch = self._reads_switch(conditions) or (uses_pathway and self._reads_switch(
            [r.condition for r in program.rules]))

        def start(free: bool) -> list[Piece]:
            if not uses_pathway:
                return self.start(free)
            leaves = self.rule_passes()[0 if free else 1].leaves
            return [Piece(p.region, (("rule", i),), program.rules[i].pathway)
                    for p, i in leaves if i >= 0]

        free = first_holding(program, conditions, start(True), self.budget, self.reads)
        written = first_holding(program, conditions, start(False), self.budget, self.reads) \
            if switch else Pass(self._narrow_leaves(free.leaves))
        gaps = [piece.region for piece, index in written.leaves if index == GAP]
        if gaps:
            more = f" (and {len(gaps) - 1} other region(s))" if len(gaps) > 1 else ""
            self.out.append(Diagnostic(
                "E401", "error",
                f"no branch of output `{output.name}` applies to some episodes{more}"
                f"{_approx(gaps[0])}",
                output.span, "add an `else` branch, or a branch that covers them",
                (), example(program, gaps[0])))
        won = {index for _, index in free.leaves}
        for index, branch in enumerate(output.branches):
            if index in won:
                continue
            earlier = tuple((b.span, "an earlier branch") for b in output.branches[:index]
                            if b.condition is not None)[:5]
            what = "the `else` branch" if branch.condition is None else \
                f"branch `when {branch.text}`"
            self.out.append(Diagnostic(
                "W404", "warning",
                f"{what} of output `{output.name}` is unreachable: earlier branches (or the "
                f"constraints) leave it no episode",
                branch.span, "remove it, or narrow the branches before it", earlier))


def _groups(program: ir.Program) -> dict[int, int]:
    """Runs of exceptions of one priority that name two pathways or more: first → end."""
    out: dict[int, int] = {}
    rules = program.rules
    i = 0
    while i < len(rules):
        j = i
        while j < len(rules) and rules[j].condition is not None \
                and rules[j].priority == rules[i].priority:
            j += 1
        if j - i > 1 and len({r.pathway for r in rules[i:j]}) > 1:
            out[i] = j
        i = max(j, i + 1)
    return out


def _overlapping(holding: dict[int, list[Region]], paths: list[str]
                 ) -> set[tuple[int, int]] | None:
    """The pairs of rules whose regions overlap on one interval input that every region
    restricts, by a sweep over that input (None when there is no such input): other
    pairs cannot meet, so a run of rules on apart ranges costs no pairwise test."""
    regions = [(i, r) for i, rs in holding.items() for r in rs]
    path = next((p for p in paths if all(isinstance(r._map.get(p), tuple) for _, r in regions)),
                None)
    if path is None:
        return None
    items = sorted((r.interval(path), i) for i, r in regions)
    pairs: set[tuple[int, int]] = set()
    active: list[tuple[int, int]] = []  # (end, rule) of the intervals still open
    for (lo, hi), i in items:
        active = [(end, j) for end, j in active if end >= lo]
        pairs.update((min(i, j), max(i, j)) for _, j in active if j != i)
        active.append((hi, i))
    return pairs


def _first_meet(xs: list[Region], ys: list[Region], quick: list[str]) -> Region | None:
    for x in xs:
        for y in ys:
            if any(_apart(x, y, path) for path in quick):
                continue
            found = meet(x, y)
            if found is not None:
                return found
    return None


def _apart(x: Region, y: Region, path: str) -> bool:
    a, b = x._map.get(path), y._map.get(path)
    if a is None or b is None:
        return False
    if isinstance(a, frozenset) and isinstance(b, frozenset):
        return not (a & b)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return a[1] < b[0] or b[1] < a[0]
    return False


def verify_program(program: ir.Program, budget: int | None = None,
                   timings: dict[str, float] | None = None) -> list[Diagnostic]:
    """Every E401/E402/W403/W404 finding of the policy, each with a counterexample; W405
    when the budget of region evaluations runs out (what was not verified is named)."""
    verifier = _Verifier(program, Budget() if budget is None else Budget(budget),
                         {} if timings is None else timings)
    verifier.out.extend(approximations(program))  # W406: what is only approximated
    steps: list[tuple[str, Callable[[], None]]] = []
    if program.rules:
        steps += [("rules", verifier.gaps_and_unreachable), ("conflicts", verifier.conflicts)]
    for output in program.outputs:
        steps.append((f"output {output.name}", lambda o=output: verifier.output(o)))  # type: ignore[misc]
    for number, (name, step) in enumerate(steps):
        try:
            with verifier.stage(name.split(" ")[0]):
                step()
        except BudgetExceeded as stop:
            left = ", ".join(n for n, _ in steps[number:])
            verifier.out.append(Diagnostic(
                "W405", "warning",
                f"verification stopped after {stop.limit} region evaluations (its budget): not "
                f"verified: {left}",
                _rules_span(program), "raise the budget with `parcours check --verify-budget N`,"
                " or simplify the rules", ()))
            break
    return verifier.out
