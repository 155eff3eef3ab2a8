"""Expressions and the evaluation schedule, on one validated episode.

:meth:`Evaluator.value` is a `match` over every IR expression kind that ends in
`assert_never`: when a node kind is added to the IR, mypy names this place.  The
operators themselves are `ir.ops`.  :meth:`Evaluator.run` walks the program's
schedule: each let, the pathway (the first rule in priority order whose condition
holds), each output (its first branch whose condition holds).

Two modes, as in a generated module: `decide` stops at the first rule or branch
that holds; `explain` evaluates every rule's and branch's condition, for the trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, assert_never

from parcours.runtime import PolicyGap

from .. import ir
from ..ir import ops


@dataclass(slots=True)
class Env:
    """What an expression may read while one episode is decided."""

    inputs: dict[str, object]
    params: Any  # an instance of the policy's Parameters class (see meta.parameters)
    period: int
    lets: dict[str, object] = field(default_factory=dict)
    outputs: dict[str, object] = field(default_factory=dict)
    pathway: str = ""


@dataclass(slots=True)
class Outcome:
    """What the schedule settled: the rule, each output's branch and value."""

    rule: int
    branches: dict[str, int]
    rule_conditions: tuple[object, ...]  # explain only: every rule's condition, in order


class Evaluator:
    def __init__(self, program: ir.Program) -> None:
        self.p = program
        self.dated = {prm.name: prm.dated for prm in program.params}
        self.param_fields = {prm.name: f"p_{prm.name}" for prm in program.params}
        self.table_fields = {t.name: f"t_{t.name}" for t in program.tables}
        self.lets = {let.name: let for let in program.lets}
        self.outputs = {out.name: out for out in program.outputs}
        self.no_rule = f"no rule of {program.policy.id} decides this episode"

    # ---- expressions -----------------------------------------------------------
    def value(self, e: ir.Expr, env: Env) -> Any:
        match e:
            case ir.Input(path=path):
                return env.inputs[path]
            case ir.Const(value=value):
                return value
            case ir.LetRef(name=name):
                return env.lets[name]
            case ir.OutputRef(name=name):
                return env.outputs[name]
            case ir.PathwayRef():
                return env.pathway
            case ir.ParamRef(name=name):
                found = getattr(env.params, self.param_fields[name])
                return found[env.period] if self.dated[name] else found
            case ir.TableRef(table=table, key=key):
                rows = getattr(env.params, self.table_fields[table])
                return rows[self.value(key, env)][env.period]
            case ir.TableKey(parts=parts):
                return ops.table_key([self.value(part, env) for part in parts])
            case ir.Not(operand=operand):
                return not self.value(operand, env)
            case ir.BoolOp(op=op, operands=operands):
                return self._boolop(op, operands, env)
            case ir.Compare(op=op, left=left, right=right):
                a = self.value(left, env)
                return ops.compare(op, a, self.value(right, env))
            case ir.InSet(operand=operand, members=members, negated=negated):
                inside = self.value(operand, env) in members
                return not inside if negated else inside
            case ir.Arith():
                # a chain `a + b - c …` nests to the left: fold it in a loop, not by
                # recursing once per operand (a chain may hold a thousand)
                spine: list[ir.Arith] = []
                node: ir.Expr = e
                while isinstance(node, ir.Arith):
                    spine.append(node)
                    node = node.left
                result = self.value(node, env)
                for step in reversed(spine):
                    result = ops.arith(step.op, result, self.value(step.right, env))
                return result
            case ir.Round(mode=mode, operand=ir.Arith(op=ir.ArithOp.DIV) as quotient,
                          quantum=quantum):
                return self._divide(e, quotient, env)
            case ir.Round(mode=mode, operand=operand, quantum=quantum):
                return ops.round_to(mode, self.value(operand, env), quantum)
            case ir.Case(arms=arms, default=default):
                for condition, arm in arms:
                    if self.value(condition, env):
                        return self.value(arm, env)
                return self.value(default, env)
            case ir.DateAdd(operand=operand, days=days):
                return ops.date_add(self.value(operand, env), self.value(days, env))
            case ir.DateDiff(unit=unit, start=start, end=end):
                return ops.date_diff(unit, self.value(start, env), self.value(end, env))
            case ir.MinMax(function=function, operands=operands):
                return ops.min_max(function, [self.value(o, env) for o in operands])
            case _:
                assert_never(e)

    def _divide(self, rounding: ir.Round, quotient: ir.Arith, env: Env) -> Any:
        """A rounded division; a zero divisor leaves the episode undecided, naming where."""
        a = self.value(quotient.left, env)
        b = self.value(quotient.right, env)
        quantum = 1 if isinstance(rounding.type, ir.IntT) else rounding.quantum
        try:
            return ops.divide(rounding.mode, a, b, quantum)
        except ops.DivisionByZero:
            raise PolicyGap(ops.division_by_zero(rounding)) from None

    def _boolop(self, op: ir.BoolOpKind, operands: tuple[ir.Expr, ...], env: Env) -> Any:
        """Short-circuit, left to right, giving the operand that settled it (as Python's
        `and` / `or` do)."""
        result: Any = None
        match op:
            case ir.BoolOpKind.AND:
                for operand in operands:
                    result = self.value(operand, env)
                    if not result:
                        return result
            case ir.BoolOpKind.OR:
                for operand in operands:
                    result = self.value(operand, env)
                    if result:
                        return result
            case _:
                assert_never(op)
        return result

    # ---- the schedule ------------------------------------------------------------
    def constraint_broken(self, env: Env) -> ir.Constraint | None:
        """The first constraint the episode breaks, if any."""
        for constraint in self.p.constraints:
            if self.value(constraint.condition, env) and not self.value(constraint.requirement,
                                                                         env):
                return constraint
        return None

    def run(self, env: Env, explain: bool) -> Outcome:
        outcome = Outcome(-1, {}, ())
        for step in self.p.schedule:
            match step:
                case ir.LetStep(name=name):
                    let = self.lets[name]
                    if not isinstance(let.expr.type, ir.SetT):  # sets are read by InSet
                        env.lets[name] = self.value(let.expr, env)
                case ir.PathwayStep():
                    outcome.rule = self._pathway(env, outcome, explain)
                    env.pathway = self.p.rules[outcome.rule].pathway
                case ir.OutputStep(name=name):
                    self._output(self.outputs[name], env, outcome, explain)
                case _:
                    assert_never(step)
        return outcome

    def _pathway(self, env: Env, outcome: Outcome, explain: bool) -> int:
        rules = self.p.rules
        if explain:
            conditions = tuple(True if r.condition is None else self.value(r.condition, env)
                               for r in rules)
            outcome.rule_conditions = conditions
            chosen = next((i for i, holds in enumerate(conditions) if holds), -1)
        else:
            chosen = next((i for i, r in enumerate(rules)
                           if r.condition is None or self.value(r.condition, env)), -1)
        if chosen < 0:
            raise PolicyGap(self.no_rule)
        return chosen

    def _output(self, out: ir.Output, env: Env, outcome: Outcome, explain: bool) -> None:
        branches = out.branches
        if explain:
            conditions = [True if b.condition is None else self.value(b.condition, env)
                          for b in branches]
            chosen = next((i for i, holds in enumerate(conditions) if holds), -1)
        else:
            chosen = next((i for i, b in enumerate(branches)
                           if b.condition is None or self.value(b.condition, env)), -1)
        if chosen < 0:
            raise PolicyGap(f"no value of {out.name} applies to this episode")
        env.outputs[out.name] = self.value(branches[chosen].value, env)
        outcome.branches[out.name] = chosen
