"""Condition-by-condition passes over sets of regions: the verifier's engine.

The question "which is the first condition that holds?" (the winning rule, the
branch of a `case`) is answered one condition at a time over a list of
*pending* regions, those where every earlier condition is false.  For condition
k, each pending region is split (by :class:`.regions.Evaluator`) only until
condition k is decided on every part: the parts where it holds are leaves won
by k, the others stay pending.  Three things keep the passes near linear:

* **merging**: two pending regions whose domains are equal on every input that a
  later condition reads get the same answers to every later question, so one
  of them stands for both (it keeps its own values of the other inputs, so a
  counterexample picked from it is a real episode); without this, rules over
  inputs no other rule reads double the pending set each;
* **guards**: the atoms that a condition requires (``visit.code == 7``, a bool,
  a set of members, an interval) are read once from the IR; a pending region
  that contradicts an atom is skipped without evaluation;
* **dead regions**: a pending region that contradicts a guard of every later
  condition goes straight to the end of the pass.

Every step is exact: a leaf's verdict holds for every episode of its region, and
the regions dropped by merging are answered by the one kept.  Work is counted in
region evaluations against a :class:`Budget`; past it :class:`BudgetExceeded`
says where the verifier stopped.  See docs/verification.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .. import ir
from .regions import Domain, Evaluator, Need, Region, Undecided, constraints_hold, to_units

VERIFY_BUDGET = 2_000_000  # region evaluations per policy (`parcours check --verify-budget`)
GAP = -1  # the pass's index for "no condition holds"


class BudgetExceeded(Exception):
    """The verifier used up its budget of region evaluations."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


@dataclass(slots=True)
class Budget:
    limit: int = VERIFY_BUDGET
    used: int = 0

    def spend(self) -> None:
        self.used += 1
        if self.used > self.limit:
            raise BudgetExceeded(self.limit)


@dataclass(frozen=True, slots=True)
class Piece:
    """A region with what is already known on it (e.g. the winning rule, for an output)."""

    region: Region
    known: tuple[tuple[object, object], ...] = ()
    label: object = None  # what the known values mean to later questions (the pathway)


@dataclass(slots=True)
class Pass:
    """The leaves of one pass: (piece, index of the first condition that holds, or GAP);
    `before[k]` is the pending list before condition k, for the indexes asked for."""

    leaves: list[tuple[Piece, int]] = field(default_factory=list)
    before: dict[int, list[Piece]] = field(default_factory=dict)


# ---- what an expression reads ------------------------------------------------------


class Reads:
    """The inputs an expression reads, through lets, outputs, tables and dated values:
    input paths, ``param:NAME`` for a boolean parameter (a what-if switch), ``date``
    for a dated value, ``pathway`` for the rules' outcome."""

    def __init__(self, program: ir.Program) -> None:
        self.program = program
        self.lets = {x.name: x for x in program.lets}
        self.outputs = {o.name: o for o in program.outputs}
        self.params = {p.name: p for p in program.params}
        self.dated_tables = {t.name for t in program.tables if any(len(r.values) > 1 for r in t.rows)}
        self._memo: dict[tuple[str, str], frozenset[str]] = {}

    def of(self, expr: ir.Expr | None) -> frozenset[str]:
        found: set[str] = set()
        for node in ir.walk(expr):
            if isinstance(node, ir.Input):
                found.add(node.path)
            elif isinstance(node, ir.ParamRef):
                param = self.params[node.name]
                if isinstance(param.type, ir.BoolT) and len(param.values) == 1:
                    found.add(f"param:{node.name}")
                if len(param.values) > 1:
                    found.add("date")
            elif isinstance(node, ir.TableRef):
                if node.table in self.dated_tables:
                    found.add("date")
            elif isinstance(node, ir.PathwayRef):
                found.add("pathway")
            elif isinstance(node, ir.LetRef):
                found |= self._named("let", node.name)
            elif isinstance(node, ir.OutputRef):
                found |= self._named("output", node.name)
        return frozenset(found)

    def _named(self, kind: str, name: str) -> frozenset[str]:
        key = (kind, name)
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        if kind == "let":
            # the lets it reads first, each once, so that a long chain of lets does not recurse
            for dep in ir.lets_in_order(self.lets, [name]):
                if ("let", dep) not in self._memo:
                    self._memo[("let", dep)] = self.of(self.lets[dep].expr)
            return self._memo[key]
        self._memo[key] = frozenset()  # an output that reads itself is E345; never reached
        cached = frozenset().union(*(self.of(b.condition) | self.of(b.value)
                                     for b in self.outputs[name].branches))
        self._memo[key] = cached
        return cached


# ---- guards: the atoms a condition requires ------------------------------------------


def guard(program: ir.Program, condition: ir.Expr | None,
          lets: dict[str, ir.Let] | None = None) -> dict[str, Domain]:
    """For each input, a domain outside of which `condition` is false (what its top-level
    `and` requires of single inputs); inputs it does not restrict that way are absent."""
    lets = {x.name: x for x in program.lets} if lets is None else lets
    out: dict[str, Domain] = {}
    stack = [] if condition is None else [condition]
    while stack:
        e = stack.pop()
        if isinstance(e, ir.LetRef):
            stack.append(lets[e.name].expr)
        elif isinstance(e, ir.BoolOp) and e.op == "and":
            stack.extend(e.operands)
        else:
            atom = _atom(program, e)
            if atom is not None:
                path, dom = atom
                out[path] = _meet(out[path], dom) if path in out else dom
    return out


def _atom(program: ir.Program, e: ir.Expr) -> tuple[str, Domain] | None:
    if isinstance(e, ir.Input) and isinstance(e.type, ir.BoolT):
        return e.path, frozenset({True})
    if isinstance(e, ir.Not) and isinstance(e.operand, ir.Input) \
            and isinstance(e.operand.type, ir.BoolT):
        return e.operand.path, frozenset({False})
    if isinstance(e, ir.InSet) and isinstance(e.operand, ir.Input):
        t = e.operand.type
        if isinstance(t, ir.EnumT):
            whole = frozenset(t.members)
            return e.operand.path, (whole - e.members) if e.negated else (whole & e.members)
        return None
    if not isinstance(e, ir.Compare):
        return None
    side, const = e.left, e.right
    op: str = e.op
    if isinstance(const, ir.Input) and isinstance(side, ir.Const):
        side, const = const, side
        op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
    if not isinstance(side, ir.Input) or not isinstance(const, ir.Const):
        return None
    t = side.type
    if isinstance(t, (ir.EnumT, ir.BoolT)):
        return (side.path, frozenset({const.value})) if op == "==" else None
    if not isinstance(t, (ir.IntT, ir.DateT, ir.MoneyT, ir.RateT)) or op == "!=":
        return None
    if isinstance(const.value, bool) or const.value is None:
        return None
    units = to_units(t, const.value)
    low, high = -(10 ** 15), 10 ** 15
    floor, ceil = int(units.to_integral_value("ROUND_FLOOR")), \
        int(units.to_integral_value("ROUND_CEILING"))
    if op == "==":
        return (side.path, (floor, floor)) if floor == ceil else (side.path, (1, 0))
    if op == "<":
        return side.path, (low, ceil - 1)
    if op == "<=":
        return side.path, (low, floor)
    if op == ">":
        return side.path, (floor + 1, high)
    return side.path, (ceil, high)


def _meet(a: Domain, b: Domain) -> Domain:
    if isinstance(a, frozenset) and isinstance(b, frozenset):
        return a & b
    if isinstance(a, tuple) and isinstance(b, tuple):
        return (max(a[0], b[0]), min(a[1], b[1]))
    return a


def _disjoint(a: Domain, b: Domain) -> bool:
    if isinstance(a, frozenset):
        return isinstance(b, frozenset) and not (a & b)
    return isinstance(b, tuple) and (a[1] < b[0] or b[1] < a[0] or a[0] > a[1] or b[0] > b[1])


def contradicts(region: Region, atoms: dict[str, Domain]) -> bool:
    """Whether `region` breaks an atom of a guard (so the condition is false on it)."""
    for path, dom in atoms.items():
        mine = region._map.get(path)
        if mine is not None and _disjoint(mine, dom):
            return True
    return False


def meet(a: Region, b: Region) -> Region | None:
    """The regions' intersection, or None when it is empty (assumptions must agree)."""
    if a.assumed != b.assumed:
        return None
    domains = []
    for (path, x), (_, y) in zip(a.domains, b.domains):
        if _disjoint(x, y):
            return None
        domains.append((path, _meet(x, y)))
    return Region(tuple(domains), a.assumed)


def _point(dom: Domain) -> bool:
    return (len(dom) == 1) if isinstance(dom, frozenset) else dom[0] == dom[1]


# ---- splitting a region until a question is decided --------------------------------


def decide(program: ir.Program, piece: Piece, condition: ir.Expr, budget: Budget
           ) -> list[tuple[Piece, bool | None]]:
    """`piece` split until `condition` is decided on each part: True, False, or None when
    something it reads is itself undecided there (a gap of the rules, a hole)."""
    out: list[tuple[Piece, bool | None]] = []
    stack = [piece.region]
    known = dict(piece.known)
    while stack:
        region = stack.pop()
        budget.spend()
        try:
            holds: bool | None = Evaluator(program, region, cache=known).truth(condition)
        except Need as need:
            stack.extend(reversed(need.parts))
            continue
        except Undecided:
            holds = None
        out.append((Piece(region, piece.known, piece.label), holds))
    return out


def constrained(program: ir.Program, start: Region, budget: Budget) -> list[Piece]:
    """`start` split until every constraint is decided; the parts where all hold."""
    out: list[Piece] = []
    stack = [start]
    while stack:
        region = stack.pop()
        budget.spend()
        try:
            holds = constraints_hold(Evaluator(program, region))
        except Need as need:
            stack.extend(reversed(need.parts))
            continue
        if holds:
            out.append(Piece(region))
    return out


# ---- the pass ---------------------------------------------------------------------


def first_holding(program: ir.Program, conditions: Sequence[ir.Expr | None], start: list[Piece],
                  budget: Budget, reads: Reads, snapshots: frozenset[int] = frozenset(),
                  keep: frozenset[str] = frozenset()) -> Pass:
    """For each part of `start`, the first of `conditions` that holds (None always holds);
    GAP where none does.  Pieces where a condition is undecided (None from
    :func:`decide`) are dropped: they are another question's gap.

    A leaf stands for every region merged into it, which agree with it on what later
    conditions read and on the inputs in `keep` only: a later question asked of the
    leaves (an output's branches, given the winning rule) must read no other input."""
    result = Pass()
    live = [k | keep for k in _suffix_reads(conditions, reads)]
    guards = [guard(program, c, reads.lets) for c in conditions]
    hulls = _hulls(guards, conditions)
    pending: dict[object, Piece] = {}
    live_now = live[0]
    for piece in start:
        pending.setdefault(_key(piece, live_now), piece)
    dead: list[Piece] = []
    for k, condition in enumerate(conditions):
        if k in snapshots:
            result.before[k] = list(pending.values())
        if condition is None:
            result.leaves += [(piece, k) for piece in list(pending.values()) + dead]
            return result
        atoms = guards[k]
        fresh: list[Piece] = []
        decided: list[object] = []
        for key, piece in pending.items():
            if atoms and contradicts(piece.region, atoms):
                continue  # false on the whole piece: it stays as it is
            decided.append(key)
            for part, holds in decide(program, piece, condition, budget):
                if holds:
                    result.leaves.append((part, k))
                elif holds is False:
                    fresh.append(part)
        for key in decided:
            del pending[key]
        live_next = live[k + 1]
        if live_next != live_now:
            pieces, pending = list(pending.values()), {}
            for piece in pieces:
                pending.setdefault(_key(piece, live_next), piece)
        live_now = live_next
        for piece in fresh:
            if _is_dead(piece.region, k + 1, hulls):
                dead.append(piece)
            else:
                pending.setdefault(_key(piece, live_now), piece)
    result.leaves += [(piece, GAP) for piece in list(pending.values()) + dead]
    return result


def _suffix_reads(conditions: Sequence[ir.Expr | None], reads: Reads) -> list[frozenset[str]]:
    """live[k]: what conditions k, k+1, ... read (live[n] is empty)."""
    live: list[frozenset[str]] = [frozenset()] * (len(conditions) + 1)
    for k in range(len(conditions) - 1, -1, -1):
        mine = reads.of(conditions[k])
        live[k] = live[k + 1] if mine <= live[k + 1] else live[k + 1] | mine
    return live


def _key(piece: Piece, live: frozenset[str]) -> object:
    region = piece.region
    # assumptions by the identity of their IR node: hashing a node hashes all of it, which
    # recurses as deep as the expression (a chain of a thousand operands) and costs as much
    assumed = tuple((id(expr), holds) for expr, holds in region.assumed)
    return (tuple(d for p, d in region.domains if p in live), assumed, piece.label)


_NOTHING = object()  # no condition is left: nothing can hold
Hull = Domain | object | None  # None: a later condition does not guard the input


def _hulls(guards: list[dict[str, Domain]], conditions: Sequence[ir.Expr | None]
           ) -> dict[str, list[Hull]]:
    """For each guarded input and each k, a domain outside of which every condition from k
    on is false (None when one of them does not guard the input)."""
    paths = {p for g in guards for p in g}
    n = len(conditions)
    out: dict[str, list[Hull]] = {}
    for path in paths:
        hull: list[Hull] = [None] * (n + 1)
        acc: Hull = _NOTHING
        hull[n] = acc
        for k in range(n - 1, -1, -1):
            if conditions[k] is not None and acc is not None:
                dom = guards[k].get(path)
                if dom is None:
                    acc = None
                elif not _empty(dom):
                    acc = dom if acc is _NOTHING else _join(acc, dom)  # type: ignore[arg-type]
            hull[k] = acc
        out[path] = hull
    return out


def _empty(dom: Domain) -> bool:
    return not dom if isinstance(dom, frozenset) else dom[0] > dom[1]


def _join(a: Domain, b: Domain) -> Domain | None:
    if isinstance(a, frozenset) and isinstance(b, frozenset):
        return a | b
    if isinstance(a, tuple) and isinstance(b, tuple):
        return (min(a[0], b[0]), max(a[1], b[1]))
    return None


def _is_dead(region: Region, k: int, hulls: dict[str, list[Hull]]) -> bool:
    """No condition from k on can hold anywhere on `region` (by the guards alone)."""
    for path, hull in hulls.items():
        h = hull[k]
        if h is None:
            continue
        if h is _NOTHING:
            return True
        dom = region._map.get(path)
        if dom is not None and _disjoint(dom, h):  # type: ignore[arg-type]
            return True
    return False
