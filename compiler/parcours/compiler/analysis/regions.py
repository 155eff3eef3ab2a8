"""Regions of a policy's input space, and a lazy decision tree over them.

A :class:`Region` gives every input a domain: a set of members for an enum or a
bool, an interval for an int, a date (as day ordinals) or an amount (in the
currency's minor unit: `units.py`).
An :class:`Evaluator` evaluates IR expressions over a whole region at once: it
returns the value when every episode of the region gives the same one, and
otherwise raises :class:`Need` with a partition of the region that brings the
expression closer to being decided (split an input at the constant it is
compared with, split the date at the policy's change dates, ...).  :func:`leaves`
grows the tree lazily: it splits only where a goal is still undecided, and drops
the regions that break a constraint.  Every split is exact, so a leaf's verdict
holds for every episode in it; the only approximation is a comparison between a
computed amount and something that depends on an input amount in a non-trivial
way, which is split on an *assumption* and flagged (``Region.approximate``).

See docs/verification.md for the method and its limits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TypeVar, assert_never

from parcours.runtime import MAX_AMOUNT

from .. import ir
from ..ir import ops
from .units import RATE_SCALE, scale as scale, to_units as to_units, unscale as unscale  # re-exported

Interval = tuple[int, int]  # inclusive, in the input's units
Domain = frozenset[object] | Interval

INT_LOW, INT_HIGH = -(10 ** 9), 10 ** 9
_MISSING = object()


class Need(Exception):
    """The region must be split into `parts` (a partition) before the expression decides."""

    def __init__(self, parts: tuple[Region, ...]) -> None:
        super().__init__(len(parts))
        self.parts = parts


class Undecided(Exception):
    """No rule (``what == "pathway"``) or no branch of an output applies on this region."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class Symbolic(Exception):
    """A numeric input is not a single value on the region."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def full_domain(program: ir.Program, item: ir.InputDef) -> Domain:
    t = item.type
    if isinstance(t, ir.BoolT):
        return frozenset({False, True})
    if isinstance(t, ir.EnumT):
        return frozenset(t.members)
    if isinstance(t, ir.IntT):
        return (INT_LOW if t.low is None else t.low, INT_HIGH if t.high is None else t.high)
    if isinstance(t, ir.DateT):
        if item.path == "date":
            until = program.policy.valid_until or date(9999, 12, 31)
            return (program.policy.valid_from.toordinal(), until.toordinal())
        return (date(1900, 1, 1).toordinal(), date(9999, 12, 31).toordinal())
    if isinstance(t, ir.MoneyT):
        for acc in program.accumulators:
            caps = [p for p in program.params if p.name == acc.cap]
            if acc.field == item.path and caps:  # bounded: 0 up to the cap (the highest, if dated)
                cap = max(v.value.value for v in caps[0].values)
                return (0, int(cap * scale(t)))  # type: ignore[operator]
        return (0, int(MAX_AMOUNT * scale(t)) - 1)
    if isinstance(t, ir.IdT):
        return frozenset({""})  # no expression reads an id
    if isinstance(t, ir.RateT):
        return (0, 10 * RATE_SCALE)
    return frozenset()


@dataclass(frozen=True)
class Region:
    domains: tuple[tuple[str, Domain], ...]
    assumed: tuple[tuple[ir.Expr, bool], ...] = ()
    _map: dict[str, Domain] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self._map:
            self._map.update(self.domains)

    def get(self, path: str) -> Domain:
        return self._map[path]

    def interval(self, path: str) -> Interval:
        dom = self._map[path]
        assert isinstance(dom, tuple)
        return dom

    def with_domain(self, path: str, domain: Domain) -> Region:
        domains = self.domains
        at = next(i for i, (p, _) in enumerate(domains) if p == path)
        mapping = dict(self._map)
        mapping[path] = domain
        return Region(domains[:at] + ((path, domain),) + domains[at + 1:], self.assumed, mapping)

    def assume(self, expr: ir.Expr, holds: bool) -> Region:
        return Region(self.domains, self.assumed + ((expr, holds),), dict(self._map))

    @property
    def approximate(self) -> bool:
        return bool(self.assumed)


def root(program: ir.Program, switches: bool = False) -> Region:
    """Every episode; with `switches`, every setting of the boolean parameters too (the
    what-if switches), as pseudo-inputs named ``param:NAME``."""
    domains: list[tuple[str, Domain]] = [(i.path, full_domain(program, i)) for i in program.inputs]
    if switches:
        domains += [(f"param:{p.name}", frozenset({False, True})) for p in program.params
                    if isinstance(p.type, ir.BoolT) and len(p.values) == 1]
    return Region(tuple(domains))


def periods(program: ir.Program) -> tuple[int, ...]:
    """The first day (ordinal) of every period of constant dated values."""
    return tuple(d.toordinal() for d in (program.policy.valid_from,) + program.change_dates())


# ---- evaluation ----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Index:
    """Look-ups by name for one program (built once per program and set of periods)."""

    program: ir.Program
    extra: tuple[int, ...]
    starts: tuple[int, ...]
    params: dict[str, ir.Param]
    lets: dict[str, ir.Let]
    outputs: dict[str, ir.Output]
    rows: dict[str, dict[str, ir.TableRow]]
    inputs: dict[str, ir.Type]
    conditions: list[ir.Expr | None]  # the rules', in order
    let_orders: dict[str, list[str]] = field(default_factory=dict)  # see `lets_before`

    def lets_before(self, name: str) -> list[str]:
        """`name` and the lets it reads, each after those it reads (memoised)."""
        order = self.let_orders.get(name)
        if order is None:
            order = self.let_orders[name] = ir.lets_in_order(self.lets, [name])
        return order


_INDEXES: dict[tuple[int, tuple[int, ...]], _Index] = {}


def _index(program: ir.Program, extra: tuple[int, ...]) -> _Index:
    key = (id(program), extra)
    found = _INDEXES.get(key)
    if found is not None and found.program is program:
        return found
    if len(_INDEXES) > 64:
        _INDEXES.clear()
    found = _Index(program, extra, tuple(sorted(set(periods(program) + extra))),
                   {p.name: p for p in program.params}, {x.name: x for x in program.lets},
                   {o.name: o for o in program.outputs},
                   {t.name: {k: row for row in t.rows for k in row.keys} for t in program.tables},
                   {i.path: i.type for i in program.inputs},
                   [r.condition for r in program.rules])
    _INDEXES[key] = found
    return found


class Evaluator:
    """Evaluate expressions of `program` over every episode of `region` at once."""

    def __init__(self, program: ir.Program, region: Region,
                 extra_periods: tuple[int, ...] = (),
                 cache: dict[object, object] | None = None) -> None:
        self.p = program
        self.r = region
        self.ix = _index(program, extra_periods)
        self.starts = self.ix.starts
        self._cache: dict[object, object] = dict(cache) if cache else {}
        self._rules = program.rules

    def narrow(self, region: Region) -> Evaluator:
        """An evaluator for a sub-region, reusing what is already decided here."""
        # a let that was not one value here may be one on the smaller region
        kept = {k: v for k, v in self._cache.items() if not isinstance(v, Symbolic)}
        return Evaluator(self.p, region, self.ix.extra, kept)

    # -- splitting helpers
    def _split_set(self, path: str, keep: frozenset[object]) -> Need:
        dom = self.r.get(path)
        assert isinstance(dom, frozenset)
        inside, outside = dom & keep, dom - keep
        return Need(tuple(self.r.with_domain(path, part) for part in (inside, outside) if part))

    def _split_interval(self, path: str, cuts: list[int]) -> Need:
        """Split at every cut c (a part starts at c) that falls strictly inside the interval."""
        lo, hi = self.r.interval(path)
        inner = sorted({c for c in cuts if lo < c <= hi})
        bounds = [lo] + inner + [hi + 1]
        return Need(tuple(self.r.with_domain(path, (a, b - 1)) for a, b in zip(bounds, bounds[1:])))

    def day(self, values: tuple[ir.Dated, ...] = ()) -> date:
        """The date, when the region lies within one period of the policy (or, given
        `values`, where none of them changes); otherwise split it."""
        lo, hi = self.r.interval("date")
        if values:
            inner = sorted({c for v in values for c in _bounds(v) if lo < c <= hi})
        else:
            inner = [s for s in self.starts if lo < s <= hi]
        if inner:
            raise self._split_interval("date", inner)
        return date.fromordinal(lo)

    def input_value(self, path: str, type_: ir.Type) -> object:
        dom = self.r.get(path)
        if isinstance(dom, frozenset):
            if len(dom) == 1:
                return next(iter(dom))
            if isinstance(type_, ir.BoolT):
                raise self._split_set(path, frozenset({True}))
            members = [m for m in type_.members if m in dom] if isinstance(type_, ir.EnumT) \
                else sorted(dom, key=str)
            raise Need(tuple(self.r.with_domain(path, frozenset({m})) for m in members))
        lo, hi = dom
        if lo == hi:
            return unscale(type_, lo)
        raise Symbolic(path)

    # -- the pathway and the outputs
    def rule_index(self) -> int:
        """The index of the rule that settles the pathway (first that holds)."""
        return self._first_holding("rule", self.ix.conditions, "pathway")

    def branch_index(self, output: ir.Output) -> int:
        """The index of the branch that gives `output` its value (first that holds)."""
        return self._first_holding(("branch", output.name),
                                   [b.condition for b in output.branches], output.name)

    def _first_holding(self, key: object, conditions: list[ir.Expr | None], what: str) -> int:
        """The first condition that holds here (None always holds); Need when an earlier one
        is still open in this region, Undecided when none holds."""
        cached = self._cache.get(key, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        pending: Need | None = None
        for index, condition in enumerate(conditions):
            if condition is None:
                holds: object = True
            else:
                try:
                    holds = self.truth(condition)
                except Need as need:
                    pending = pending or need
                    continue
            if holds:
                if pending is not None:
                    raise pending
                self._cache[key] = index
                return index
        if pending is not None:
            raise pending
        raise Undecided(what)

    def truth(self, e: ir.Expr) -> bool:
        value = self.value(e)
        assert isinstance(value, bool)
        return value

    # -- expressions
    def value(self, e: ir.Expr) -> object:
        """The expression's value on this region, or `Need` to split it first: a `match`
        over every IR node kind, so that mypy names the verifier when the IR grows."""
        match e:
            case ir.Const():
                return e.value
            case ir.Input():
                return self.input_value(e.path, e.type)
            case ir.ParamRef():
                return self._param(e)
            case ir.TableRef():
                return self._table(e)
            case ir.TableKey():  # each part splits the region as it needs, then one key
                parts = [self.value(part) for part in e.parts]
                assert all(isinstance(part, (bool, str)) for part in parts)
                return ops.table_key(parts)  # type: ignore[arg-type]
            case ir.LetRef():
                return self._let(e.name)
            case ir.OutputRef():
                key = ("output", e.name)
                cached = self._cache.get(key, _MISSING)
                if cached is _MISSING:
                    output = self.ix.outputs[e.name]
                    cached = self.value(output.branches[self.branch_index(output)].value)
                    self._cache[key] = cached
                return cached
            case ir.PathwayRef():
                return self._rules[self.rule_index()].pathway
            case ir.Not():
                return not self.truth(e.operand)
            case ir.BoolOp():
                return self._boolop(e)
            case ir.InSet():
                return self._inset(e)
            case ir.Compare():
                return self._compare(e)
            case ir.Arith():  # concrete values: the language's operators (ir.ops)
                return self._arith(e)
            case ir.Round(operand=ir.Arith(op=ir.ArithOp.DIV) as quotient):
                a, b = self.value(quotient.left), self.value(quotient.right)
                try:
                    return ops.divide(e.mode, a, b, 1 if isinstance(e.type, ir.IntT) else e.quantum)
                except ops.DivisionByZero:  # the episode is refused: no value to reason on
                    raise Symbolic("") from None
            case ir.Case():
                for condition, arm in e.arms:
                    if self.truth(condition):
                        return self.value(arm)
                return self.value(e.default)
            case ir.DateAdd():
                return ops.date_add(self.value(e.operand), self.value(e.days))  # type: ignore[arg-type]
            case ir.DateDiff():
                return ops.date_diff(e.unit, self.value(e.start), self.value(e.end))  # type: ignore[arg-type]
            case ir.Round():
                operand = self.value(e.operand)
                assert isinstance(operand, Decimal)
                return ops.round_to(e.mode, operand, e.quantum)
            case ir.MinMax():
                return ops.min_max(e.function, [self.value(o) for o in e.operands])
            case _:
                assert_never(e)

    def _let(self, name: str) -> object:
        """A let's value.  The lets it reads are evaluated first, in order (lets are
        evaluated eagerly in both engines, so this changes no answer), so that a chain of
        thousands of lets does not recurse once per let."""
        key = ("let", name)
        cached = self._cache.get(key, _MISSING)
        if cached is _MISSING:
            for dep in self.ix.lets_before(name):
                if ("let", dep) not in self._cache:
                    try:
                        self._cache[("let", dep)] = self.value(self.ix.lets[dep].expr)
                    except Symbolic as symbolic:  # not one value on this region: raised
                        self._cache[("let", dep)] = symbolic  # again where it is read
            cached = self._cache[key]
        if isinstance(cached, Symbolic):  # the comparison reading it decides by assumption
            raise Symbolic(cached.path)
        return cached

    def _arith(self, e: ir.Arith) -> object:
        """A chain `a + b - c …` (nested to the left) folded left to right in a loop, so
        that a chain of a thousand operands does not recurse once per operand."""
        spine: list[ir.Arith] = []
        node: ir.Expr = e
        while isinstance(node, ir.Arith):
            spine.append(node)
            node = node.left
        result = self.value(node)
        for step in reversed(spine):
            result = ops.arith(step.op, result, self.value(step.right))
        return result

    def _param(self, e: ir.ParamRef) -> object:
        if f"param:{e.name}" in self.r._map:  # a what-if switch, free for reachability
            return self.input_value(f"param:{e.name}", e.type)
        param = self.ix.params[e.name]
        if len(param.values) == 1:
            return param.values[0].value.value
        found = ir.value_at(param.values, self.day(param.values))
        if found is None:
            raise Undecided("hole")
        return found.value

    def _table(self, e: ir.TableRef) -> object:
        rows = self.ix.rows[e.table]
        key = e.key
        if isinstance(key, ir.Input) and isinstance(self.r.get(key.path), frozenset):
            dom = self.r.get(key.path)
            assert isinstance(dom, frozenset)
            if len(dom) > 1:
                dated = tuple(v for m in dom if len(rows[str(m)].values) > 1
                              for v in rows[str(m)].values)
                day = self.day(dated) if dated else None
                groups: dict[object, set[object]] = {}
                order = key.type.members if isinstance(key.type, ir.EnumT) else sorted(dom, key=str)
                for m in (m for m in order if m in dom):  # a stable order of the parts
                    values = rows[str(m)].values
                    found = ir.value_at(values, day) if day else values[0].value
                    groups.setdefault(None if found is None else found.value, set()).add(m)
                if len(groups) == 1:
                    return next(iter(groups))
                raise Need(tuple(self.r.with_domain(key.path, frozenset(g))
                                 for g in groups.values()))
        member = self.value(key)
        values = rows[str(member)].values
        found = ir.value_at(values, self.day(values)) if len(values) > 1 else values[0].value
        if found is None:
            raise Undecided("hole")
        return found.value

    def _boolop(self, e: ir.BoolOp) -> bool:
        stop = e.op == "or"  # the value that decides the whole
        pending: Need | None = None
        for operand in e.operands:
            try:
                if self.truth(operand) == stop:
                    return stop
            except Need as need:
                pending = pending or need
        if pending is not None:
            raise pending
        return not stop

    def _inset(self, e: ir.InSet) -> bool:
        operand = e.operand
        if isinstance(operand, ir.Input):
            dom = self.r.get(operand.path)
            assert isinstance(dom, frozenset)
            inside = dom & e.members
            if inside and inside != dom:
                raise self._split_set(operand.path, frozenset(e.members))
            return bool(inside) != e.negated
        return (self.value(operand) in e.members) != e.negated

    def _compare(self, e: ir.Compare) -> bool:
        for expr, holds in self.r.assumed:
            if expr == e:
                return holds
        # enum and bool equality against a constant: split the input's set
        for side, other in ((e.left, e.right), (e.right, e.left)):
            if isinstance(side, ir.Input) and isinstance(self.r.get(side.path), frozenset) \
                    and isinstance(other, ir.Const) and e.op in ("==", "!="):
                dom = self.r.get(side.path)
                assert isinstance(dom, frozenset)
                if len(dom) > 1:
                    if other.value in dom:
                        raise self._split_set(side.path, frozenset({other.value}))
                    return e.op == "!="
        left = right = _MISSING
        symbolic: list[str] = []
        try:
            left = self.value(e.left)
        except Symbolic as sym:
            symbolic.append(sym.path)
        try:
            right = self.value(e.right)
        except Symbolic as sym:
            symbolic.append(sym.path)
        if not symbolic:
            return _apply(e.op, left, right)
        # a numeric input against a value fixed on the region: split its interval
        if len(symbolic) == 1:
            side, op, const = (e.left, e.op, right) if left is _MISSING else \
                (e.right, _FLIP[e.op], left)
            path = self._as_input(side)
            if path is not None and const is not None:
                type_ = self.ix.inputs[path]
                units = to_units(type_, const)
                lo, hi = self.r.interval(path)
                if any(lo < c <= hi for c in _cuts(op, units)):
                    raise self._split_interval(path, _cuts(op, units))
                return _apply(op, Decimal(lo), units)
        raise Need((self.r.assume(e, True), self.r.assume(e, False)))

    def _as_input(self, e: ir.Expr) -> str | None:
        """The input an expression stands for (through lets and outputs), if it is one."""
        while True:
            if isinstance(e, ir.Input):
                return e.path
            if isinstance(e, ir.LetRef):
                e = self.ix.lets[e.name].expr
            elif isinstance(e, ir.OutputRef):
                output = self.ix.outputs[e.name]
                e = output.branches[self.branch_index(output)].value
            else:
                return None


def _bounds(value: ir.Dated) -> tuple[int, ...]:
    """The days on which a dated value starts and stops being in force."""
    if value.until is None or value.until >= date.max:
        return (value.start.toordinal(),)
    return (value.start.toordinal(), value.until.toordinal() + 1)


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _cuts(op: str, c: Decimal) -> list[int]:
    """Where to cut an interval of units so that `x op c` is constant on every part."""
    low, high = math.floor(c), math.ceil(c)
    if op in ("<", ">="):
        return [high]
    if op in ("<=", ">"):
        return [low + 1]
    if low == high:  # == and != against a point of the grid
        return [low, low + 1]
    return []


def _apply(op: str, a: object, b: object) -> bool:
    return ops.compare(ir.CompareOp(op), a, b)


# ---- the tree ------------------------------------------------------------------

T = TypeVar("T")


def constraints_hold(ev: Evaluator) -> bool:
    for c in ev.p.constraints:
        if ev.truth(c.condition) and not ev.truth(c.requirement):
            return False
    return True


def leaves(program: ir.Program, goal: Callable[[Evaluator], T], start: Region | None = None,
           extra_periods: tuple[int, ...] = (),
           programs: tuple[ir.Program, ...] = ()) -> Iterator[tuple[Region, T]]:
    """The leaves of the lazy decision tree for `goal`, in a stable order.

    Regions that break a constraint of `program` (or of every program in
    `programs`, for a joint tree) are dropped."""
    stack = [start or root(program)]
    checked = programs or (program,)
    while stack:
        region = stack.pop()
        try:
            if not all(constraints_hold(Evaluator(p, region, extra_periods)) for p in checked):
                continue
            result = goal(Evaluator(program, region, extra_periods))
        except Need as need:
            stack.extend(reversed(need.parts))
            continue
        yield region, result
