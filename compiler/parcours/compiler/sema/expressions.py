"""Expressions: names, literals, operators and calls typed against what is expected."""

from __future__ import annotations

from decimal import Decimal
from pathlib import PurePath

from .. import ir
from ..syntax import nodes as n
from ..diagnostics import Span, did_you_mean
from .base import MAX_MONEY, ROUNDING, unit_of, unit_text, CheckerState, _Bad, _Context
from .forms import (DATE_FUNCTIONS, accumulator_read, decimal_arith, keyed_lookup,
                    stray_value_set, value_set)
from .types import (_arith_hint, _assignable, _compare_hint, _condition_hint, _conversion_hint,
                    _describe, _same_kind)


class ExpressionChecker(CheckerState):
    """Types expressions; a let is typed on first use, so lets may come in any order."""

    def _let(self, name: str) -> ir.Let | None:
        decl = self.scope.lets[name]
        ctx = _Context("let", set())
        try:
            expr = self._expr(decl.expr, ctx, None)
        except _Bad:
            self._failed_lets.add(name)
            return None
        self.let_types[name] = expr.type
        self._let_deps[name] = ctx.deps
        return ir.Let(name, expr, self._notes(decl.annotations), decl.span)

    def _constant(self, lit: n.Literal, expected: ir.Type, what: str) -> ir.Const | None:
        """A literal written where a value of type `expected` is needed."""
        try:
            expr = self._literal(lit, expected)
        except _Bad:
            return None
        if not _assignable(expr.type, expected):
            self.d.error("E304", f"{what} is {_describe(expr.type)}, expected {_describe(expected)}",
                         lit.span, _conversion_hint(expr.type, expected))
            return None
        assert isinstance(expr, ir.Const)
        if isinstance(expected, ir.IntT) and isinstance(expr.value, int):
            low, high = expected.low, expected.high
            if (low is not None and expr.value < low) or (high is not None and expr.value > high):
                self.d.error("E305", f"{expr.value} is outside {expected}", lit.span)
        return ir.Const(expr.value, expected if not isinstance(expected, ir.IntT) else expected)

    # ---- expressions ------------------------------------------------------
    def _condition(self, expr: n.Expr, ctx: _Context) -> ir.Expr:
        out = self._expr(expr, ctx, ir.BoolT())
        if not isinstance(out.type, ir.BoolT):
            self.d.error("E350", f"a condition must be true or false; this is {_describe(out.type)}",
                         expr.span, _condition_hint(out.type))
            raise _Bad
        return out

    def _expr(self, expr: n.Expr, ctx: _Context, expected: ir.Type | None) -> ir.Expr:
        if isinstance(expr, n.Literal):
            return self._literal(expr, expected)
        if isinstance(expr, n.Ref):
            return self._ref(expr, ctx, expected)
        if isinstance(expr, n.Unary):
            return ir.Not(self._condition(expr.operand, ctx))
        if isinstance(expr, n.Binary):
            return self._binary(expr, ctx)
        if isinstance(expr, n.Chain):
            return self._chain(expr, ctx, expected)
        if isinstance(expr, n.Call):
            return self._call(expr, ctx, expected)
        if isinstance(expr, n.Lookup):
            return self._lookup(expr, ctx)
        if isinstance(expr, n.CaseExpr):
            return self._case(expr, ctx, expected)
        if isinstance(expr, n.InRange):
            return self._range(expr, ctx)
        if isinstance(expr, n.ValueSet):
            stray_value_set(self, expr)
        assert isinstance(expr, n.SetLiteral)
        return self._set(expr, expected)

    def _literal(self, lit: n.Literal, expected: ir.Type | None) -> ir.Expr:
        if lit.kind == "bool":
            return ir.Const(lit.value, ir.BoolT())
        if lit.kind == "int":
            if isinstance(expected, ir.RateT) and lit.value in (0, 1):
                return ir.Const(Decimal(int(lit.value)), ir.RateT())  # type: ignore[arg-type]
            if isinstance(expected, ir.DecimalT):  # `2` where a decimal is expected
                return ir.Const(Decimal(int(lit.value)), ir.DecimalT())  # type: ignore[arg-type]
            return ir.Const(lit.value, ir.IntT())
        if lit.kind == "decimal":
            assert isinstance(lit.value, Decimal)
            if isinstance(expected, ir.DecimalT):
                return ir.Const(lit.value, ir.DecimalT())
            if not Decimal(0) <= lit.value <= Decimal(1):
                self.d.error("E351", f"{lit.value} is not a rate: rates are between 0 and 1",
                             lit.span, f"an amount of money carries its currency: `{lit.value} "
                             f"{self.currency}`; another number is a `decimal` parameter")
                raise _Bad
            return ir.Const(lit.value, ir.RateT())
        if lit.kind == "percent":
            assert isinstance(lit.value, Decimal)
            if not Decimal(0) <= lit.value <= Decimal(1):
                self.d.error("E351", f"{lit.value.scaleb(2)}% is not a rate: rates are between "
                             "0% and 100%", lit.span)
                raise _Bad
            return ir.Const(lit.value, ir.RateT())
        if lit.kind == "days":
            self.d.error("E380", f"`{lit.value} days` is a duration: it is added to a date or "
                         "subtracted from one", lit.span, "for example `date + 30 days`")
            raise _Bad
        if lit.kind == "money":
            assert isinstance(lit.value, Decimal)
            if lit.currency != self.currency:
                self.d.error("E352", f"an amount in {lit.currency} in a policy in {self.currency}",
                             lit.span, "currencies never mix: write every amount in "
                             f"{self.currency}")
                raise _Bad
            unit = unit_of(self.decimals)
            if lit.value.quantize(unit) != lit.value:
                self.d.error("E353", f"{lit.value} {lit.currency} has fractions of the currency's "
                             f"unit ({unit_text(self.decimals, self.currency)})", lit.span,
                             f"amounts in {self.currency} are exact to {unit}")
                raise _Bad
            if lit.value >= MAX_MONEY:
                self.d.error("E353", f"{lit.value} {lit.currency} is out of range", lit.span)
                raise _Bad
            return ir.Const(lit.value.quantize(unit), ir.MoneyT(self.currency))
        if lit.kind == "date":
            return ir.Const(lit.value, ir.DateT())
        # a string or a bare name: an enum member, where one is expected
        member = str(lit.value)
        if isinstance(expected, ir.EnumT):
            if member in expected.members:
                return ir.Const(member, expected)
            self.d.error("E354", f"`{member}` is not a member of `{expected.name}`", lit.span,
                         did_you_mean(member, expected.members)
                         or f"members: {', '.join(expected.members)}")
            raise _Bad
        self.d.error("E355", f"`{member}` is not a value here", lit.span,
                     "a string or a name stands for an enum member, next to an enum value")
        raise _Bad

    def _ref(self, ref: n.Ref, ctx: _Context, expected: ir.Type | None) -> ir.Expr:
        if len(ref.path) == 2 and ref.path[0] in self.accumulators:
            return accumulator_read(self, ref, ctx)
        if len(ref.path) > 1 or ref.path[0] in self.inputs or ref.path[0] == "date":
            path = ".".join(ref.path)
            found = self.inputs.get(path)
            if found is None:
                if path not in self.scope.inputs and path not in self.scope.broken:
                    self.d.error("E356", f"unknown input `{path}`", ref.span,
                                 did_you_mean(path, self.inputs) or "declare it with `input`")
                raise _Bad
            if isinstance(found.type, ir.IdT):
                self.d.error("E390", f"`{path}` is an id: only an accumulator's key reads it",
                             ref.span, "declare an accumulator `per " + path + "`")
                raise _Bad
            return ir.Input(path, found.type)
        name = ref.path[0]
        if isinstance(expected, ir.EnumT) and name in expected.members \
                and name not in self.value_names:
            return ir.Const(name, expected)
        if name == "pathway":
            if ctx.where in ("rule", "constraint"):
                self.d.error("E357", "a rule cannot read the pathway it decides", ref.span)
                raise _Bad
            ctx.deps.add("pathway")
            return ir.PathwayRef(self.pathway_t)
        if name in self.params:
            return ir.ParamRef(name, self.params[name].type)
        if name in self.scope.lets:
            if name not in self.let_types:
                if name in self._failed_lets:
                    raise _Bad
                if name in self._checking:
                    self.d.error("E345", f"`{name}` depends on itself", ref.span)
                    raise _Bad
                self._checking.append(name)
                try:
                    self._let(name)
                finally:
                    self._checking.pop()
                if name not in self.let_types:
                    raise _Bad
            ctx.deps.add(f"let:{name}")
            return ir.LetRef(name, self.let_types[name])
        if name in self.scope.outputs:
            if ctx.where in ("rule", "constraint"):
                self.d.error("E357", f"a {ctx.where} cannot read the output `{name}`", ref.span,
                             "outputs are computed after the pathway is decided")
                raise _Bad
            ctx.deps.add(f"output:{name}")
            decl = self.scope.outputs[name]
            type_ = self._type(decl.type)
            if type_ is None:
                raise _Bad
            return ir.OutputRef(name, type_)
        if name in self.scope.tables:
            self.d.error("E358", f"`{name}` is a table; look a value up with `{name}[KEY]`",
                         ref.span)
            raise _Bad
        if name in self.scope.broken or name in self.scope.params:
            raise _Bad
        members = {m for e in self.enums.values() for m in e.members}
        if name in members:
            self.d.error("E359", f"`{name}` is an enum member, but nothing here says which enum",
                         ref.span, "compare it with a value: `visit.specialty == NAME`")
        else:
            self.d.error("E360", f"unknown name `{name}`", ref.span,
                         did_you_mean(name, self.value_names | set(self.inputs))
                         or "declare it with `param`, `let`, `table` or `input`")
        raise _Bad

    def _set(self, lit: n.SetLiteral, expected: ir.Type | None) -> ir.Expr:
        enum: ir.EnumT | None = None
        if isinstance(expected, ir.SetT):
            enum = expected.enum
        else:
            values = {str(m.value) for m in lit.members}
            candidates = [e for e in self.enums.values() if values <= set(e.members)]
            if len(candidates) == 1:
                enum = candidates[0]
            else:
                self.d.error("E361", "cannot tell which enum these members belong to", lit.span,
                             "every member must belong to one declared enum")
                raise _Bad
        members: set[str] = set()
        for m in lit.members:
            member = str(m.value)
            if member not in enum.members:
                self.d.error("E354", f"`{member}` is not a member of `{enum.name}`", m.span,
                             did_you_mean(member, enum.members))
                raise _Bad
            if member in members:
                self.d.warning("W362", f"`{member}` is listed twice", m.span)
            members.add(member)
        return ir.Const(frozenset(members), ir.SetT(enum))

    def _chain(self, expr: n.Chain, ctx: _Context, expected: ir.Type | None) -> ir.Expr:
        """A flat chain: and/or become one BoolOp; arithmetic is typed left to right into
        left-nested Arith nodes (the order of evaluation), each step as `a op b`."""
        op = expr.ops[0]
        if op in ("and", "or"):
            operands: list[ir.Expr] = []
            for node in expr.operands:
                side = self._condition(node, ctx)
                if isinstance(side, ir.BoolOp) and side.op == op:
                    operands.extend(side.operands)
                else:
                    operands.append(side)
            return ir.BoolOp(ir.BoolOpKind(op), tuple(operands))
        if "/" in expr.ops:
            self.d.error("E379", "a quotient must be rounded by name", expr.span,
                         "write the division as the first argument of a rounding function: "
                         "round_half_up(a / b, 0.01)")
            raise _Bad
        left = self._expr(expr.operands[0], ctx, expected)
        for index, step in enumerate(expr.ops, start=1):
            node = expr.operands[index]
            if isinstance(node, n.Literal) and node.kind == "days" and step in ("+", "-") \
                    and isinstance(left.type, ir.DateT):
                assert isinstance(node.value, int)
                left = ir.DateAdd(left, ir.Const(node.value if step == "+" else -node.value,
                                                 ir.IntT()))
                continue
            right = self._expr(node, ctx, expected)
            left = self._arith(step, left, right, expr.prefix_span(index))
        return left

    def _case(self, expr: n.CaseExpr, ctx: _Context, expected: ir.Type | None) -> ir.Expr:
        """A `case` (or `if`) as a value: every arm one type, and an `else` last."""
        branches = expr.branches
        for branch in branches[:-1]:
            if branch.condition is None:
                self.d.error("E343", "`else` must be the last arm of a `case`", branch.span)
                raise _Bad
        if branches[-1].condition is not None:
            self.d.error("E377", "a `case` used as a value needs an `else` arm", expr.span,
                         "add `else: VALUE` last, so that it always has a value")
            raise _Bad
        conditions = [self._condition(b.condition, ctx) for b in branches[:-1]
                      if b.condition is not None]
        for branch in branches:
            self._notes(branch.annotations)
        # Arms that are bare enum members take their enum from the others (or `expected`).
        values: dict[int, ir.Expr] = {}
        order = sorted(range(len(branches)),
                       key=lambda i: _looks_like_member(branches[i].value, self))
        for index in order:
            known = next(iter(values.values())).type if values else expected
            values[index] = self._expr(branches[index].value, ctx, known)
        first = values[order[0]]
        result = first.type
        for index in range(len(branches)):
            arm = values[index]
            if not _same_kind(result, arm.type) or (
                    isinstance(result, ir.MoneyT) and isinstance(arm.type, ir.MoneyT)
                    and result.currency != arm.type.currency):
                self.d.error("E378", f"the arms of a `case` have different types: "
                             f"{_describe(first.type)} and {_describe(arm.type)}",
                             branches[index].value.span, "every arm gives a value of one type")
                raise _Bad
            if isinstance(result, ir.MoneyT) and isinstance(arm.type, ir.MoneyT):
                result = ir.MoneyT(result.currency, result.exact and arm.type.exact)
            elif isinstance(result, ir.IntT) and arm.type != result:
                result = ir.IntT()
        arms = tuple(zip(conditions, (values[i] for i in range(len(branches) - 1))))
        return ir.Case(arms, values[len(branches) - 1], result)

    def _range(self, expr: n.InRange, ctx: _Context) -> ir.Expr:
        """`x in low..high`: `low <= x and x <= high` (ints, amounts, rates, dates)."""
        operand = self._expr(expr.operand, ctx, None)
        low = self._expr(expr.low, ctx, operand.type)
        high = self._expr(expr.high, ctx, operand.type)
        for bound in (low, high):
            if not isinstance(operand.type, (ir.IntT, ir.MoneyT, ir.RateT, ir.DateT, ir.DecimalT)) \
                    or not _same_kind(operand.type, bound.type) \
                    or (isinstance(operand.type, ir.MoneyT) and isinstance(bound.type, ir.MoneyT)
                        and operand.type.currency != bound.type.currency):
                self.d.error("E381", f"a range of {_describe(bound.type)} tested against "
                             f"{_describe(operand.type)}", expr.span,
                             "a range `LOW..HIGH` holds ints, amounts, rates or dates, of the "
                             "tested value's kind")
                raise _Bad
        inside = ir.BoolOp(ir.BoolOpKind.AND, (ir.Compare(ir.CompareOp.GE, operand, low),
                                               ir.Compare(ir.CompareOp.LE, operand, high)))
        return ir.Not(inside) if expr.negated else inside

    def _binary(self, expr: n.Binary, ctx: _Context) -> ir.Expr:
        op = expr.op
        if op in ("in", "not in") and isinstance(expr.right, n.ValueSet):
            return value_set(self, expr, ctx)
        if op in ("in", "not in"):
            operand = self._expr(expr.left, ctx, None)
            if not isinstance(operand.type, ir.EnumT):
                self.d.error("E363", f"`{op}` tests an enum value; this is {_describe(operand.type)}",
                             expr.left.span)
                raise _Bad
            members = self._expr(expr.right, ctx, ir.SetT(operand.type))
            if isinstance(members, ir.LetRef):
                let = self.scope.lets[members.name]
                members = self._expr(let.expr, _Context("let", set()), ir.SetT(operand.type))
            if not (isinstance(members, ir.Const) and isinstance(members.value, frozenset)
                    and isinstance(members.type, ir.SetT)):
                self.d.error("E364", "the right of `in` must be a set such as `{a, b}`",
                             expr.right.span)
                raise _Bad
            if members.type.enum != operand.type:
                self.d.error("E365", f"a set of {members.type.enum.name} tested against "
                             f"{operand.type.name}", expr.span)
                raise _Bad
            return ir.InSet(operand, members.value, op == "not in")
        return self._compare(expr, ctx)

    def _compare(self, expr: n.Binary, ctx: _Context) -> ir.Expr:
        # An enum member on either side takes its enum from the other side.
        if _looks_like_member(expr.left, self) and not _looks_like_member(expr.right, self):
            right = self._expr(expr.right, ctx, None)
            left = self._expr(expr.left, ctx, right.type)
        else:
            left = self._expr(expr.left, ctx, None)
            right = self._expr(expr.right, ctx, left.type)
        lt, rt = left.type, right.type
        if isinstance(lt, ir.MoneyT) and isinstance(rt, ir.MoneyT):
            if lt.currency != rt.currency:
                self.d.error("E352", f"comparing {lt.currency} with {rt.currency}", expr.span)
                raise _Bad
        elif not _same_kind(lt, rt):
            self.d.error("E366", f"cannot compare {_describe(lt)} with {_describe(rt)}", expr.span,
                         _compare_hint(lt, rt))
            raise _Bad
        if expr.op not in ("==", "!=") and isinstance(lt, (ir.BoolT, ir.EnumT, ir.SetT)):
            self.d.error("E367", f"`{expr.op}` orders values; {_describe(lt)} has no order",
                         expr.span, "use `==`, `!=` or `in`")
            raise _Bad
        if isinstance(lt, ir.SetT):
            self.d.error("E367", "sets are tested with `in`", expr.span)
            raise _Bad
        return ir.Compare(ir.CompareOp(expr.op), left, right)

    def _arith(self, op: str, left: ir.Expr, right: ir.Expr, span: Span) -> ir.Expr:
        """`left op right`, typed; `span` covers both operands."""
        lt, rt = left.type, right.type
        if isinstance(lt, ir.DecimalT) or isinstance(rt, ir.DecimalT):
            return decimal_arith(self, op, left, right, span)
        if op == "*":
            if isinstance(lt, ir.RateT) and isinstance(rt, ir.MoneyT):
                left, right, lt, rt = right, left, rt, lt
            if isinstance(lt, ir.MoneyT) and isinstance(rt, ir.RateT):
                return ir.Arith(ir.ArithOp.MUL, left, right, ir.MoneyT(lt.currency, exact=False))
            if isinstance(lt, ir.MoneyT) and isinstance(rt, ir.IntT):
                return ir.Arith(ir.ArithOp.MUL, left, right, lt)
            if isinstance(lt, ir.RateT) and isinstance(rt, ir.RateT):
                return ir.Arith(ir.ArithOp.MUL, left, right, ir.RateT())
            if isinstance(lt, ir.IntT) and isinstance(rt, ir.IntT):
                return ir.Arith(ir.ArithOp.MUL, left, right, ir.IntT())
            if isinstance(lt, ir.MoneyT) and isinstance(rt, ir.MoneyT):
                self.d.error("E368", "money times money means nothing", span,
                             "multiply an amount by a rate")
                raise _Bad
            self.d.error("E368", f"cannot multiply {_describe(lt)} by {_describe(rt)}", span)
            raise _Bad
        if isinstance(lt, ir.MoneyT) and isinstance(rt, ir.MoneyT):
            if lt.currency != rt.currency:
                self.d.error("E352", f"{lt.currency} {op} {rt.currency}", span,
                             "currencies never mix")
                raise _Bad
            return ir.Arith(ir.ArithOp(op), left, right, ir.MoneyT(lt.currency, lt.exact and rt.exact))
        if isinstance(lt, ir.RateT) and isinstance(rt, ir.RateT):
            return ir.Arith(ir.ArithOp(op), left, right, ir.RateT())
        if isinstance(lt, ir.IntT) and isinstance(rt, ir.IntT):
            return ir.Arith(ir.ArithOp(op), left, right, ir.IntT())
        self.d.error("E369", f"cannot compute {_describe(lt)} {op} {_describe(rt)}", span,
                     _arith_hint(lt, rt))
        raise _Bad

    def _call(self, call: n.Call, ctx: _Context, expected: ir.Type | None) -> ir.Expr:
        if call.function in ROUNDING:
            if len(call.args) != 2:
                self.d.error("E370", f"{call.function}(AMOUNT, QUANTUM) takes two arguments",
                             call.span, f"for example {call.function}(base * rate, 0.01)")
                raise _Bad
            rounded = call.args[0]
            if isinstance(rounded, n.Chain) and rounded.ops[-1] == "/":
                return self._divide(call, rounded, ctx)
            operand = self._expr(rounded, ctx, None)
            quantum_node = call.args[1]
            unit = unit_of(self.decimals)
            if isinstance(quantum_node, n.Ref) and quantum_node.path == ("unit",):
                # `unit`: the currency's minor unit (0.01 EUR, 0.001 TND, 1 JPY), for money
                if not isinstance(operand.type, ir.MoneyT):
                    self.d.error("E371", "`unit` is the currency's unit: it rounds money",
                                 quantum_node.span, "round a rate to a decimal such as 0.01")
                    raise _Bad
                quantum_value: object = unit
            elif (isinstance(quantum_node, n.Literal) and quantum_node.kind == "decimal"
                    and isinstance(quantum_node.value, Decimal) and quantum_node.value > 0):
                quantum_value = quantum_node.value
            else:
                self.d.error("E371", "the rounding quantum is a positive decimal such as 0.01, "
                             "or `unit` (the currency's unit)", quantum_node.span)
                raise _Bad
            assert isinstance(quantum_value, Decimal)
            quantum = quantum_value
            if isinstance(operand.type, ir.MoneyT):
                if quantum.quantize(unit) != quantum:
                    self.d.error("E371", f"money is rounded to the currency's unit "
                                 f"({unit_text(self.decimals, self.currency)}) or coarser",
                                 quantum_node.span,
                                 f"write `{call.function}(…, unit)` or a multiple of {unit}")
                    raise _Bad
                return ir.Round(ir.RoundMode(ROUNDING[call.function]), operand, quantum,
                                ir.MoneyT(operand.type.currency))
            if isinstance(operand.type, (ir.RateT, ir.DecimalT)):
                return ir.Round(ir.RoundMode(ROUNDING[call.function]), operand, quantum,
                                operand.type)
            self.d.error("E372", f"cannot round {_describe(operand.type)}", call.args[0].span)
            raise _Bad
        if call.function in ("min", "max"):
            if len(call.args) < 2:
                self.d.error("E370", f"{call.function} takes two or more arguments", call.span)
                raise _Bad
            args = tuple(self._expr(a, ctx, expected) for a in call.args)
            first = args[0].type
            for arg, node in zip(args[1:], call.args[1:]):
                if not _same_kind(first, arg.type) or isinstance(first, (ir.BoolT, ir.EnumT)):
                    self.d.error("E373", f"{call.function} of {_describe(first)} and "
                                 f"{_describe(arg.type)}", node.span)
                    raise _Bad
                if isinstance(first, ir.MoneyT) and isinstance(arg.type, ir.MoneyT) \
                        and first.currency != arg.type.currency:
                    self.d.error("E352", "currencies never mix", node.span)
                    raise _Bad
            result: ir.Type = first
            if isinstance(first, ir.MoneyT):
                exact = all(isinstance(a.type, ir.MoneyT) and a.type.exact for a in args)
                result = ir.MoneyT(first.currency, exact)
            return ir.MinMax(ir.MinMaxFn(call.function), args, result)
        if call.function in DATE_FUNCTIONS:
            return self._date_call(call, ctx)
        functions = list(ROUNDING) + ["min", "max"] + list(DATE_FUNCTIONS)
        self.d.error("E374", f"unknown function `{call.function}`", call.span,
                     did_you_mean(call.function, functions)
                     or "functions: " + ", ".join(functions))
        raise _Bad

    def _date_call(self, call: n.Call, ctx: _Context) -> ir.Expr:
        """`years_between(a, b)`, `days_between(a, b)` (ints), `add_days(d, n)` (a date)."""
        if len(call.args) != 2:
            self.d.error("E370", f"{call.function} takes two arguments", call.span,
                         f"for example {DATE_FUNCTIONS[call.function]}")
            raise _Bad
        first = self._expr(call.args[0], ctx, None)
        second = self._expr(call.args[1], ctx, None)
        wanted = (ir.DateT(), ir.IntT() if call.function == "add_days" else ir.DateT())
        for arg, node, want in zip((first, second), call.args, wanted):
            if not _same_kind(arg.type, want):
                self.d.error("E380", f"{call.function} reads {_describe(want)} here, not "
                             f"{_describe(arg.type)}", node.span,
                             f"for example {DATE_FUNCTIONS[call.function]}")
                raise _Bad
        if call.function == "add_days":
            return ir.DateAdd(first, second)
        unit = ir.DateUnit.YEARS if call.function == "years_between" else ir.DateUnit.DAYS
        return ir.DateDiff(unit, first, second)

    def _divide(self, call: n.Call, chain: n.Chain, ctx: _Context) -> ir.Expr:
        """`round_MODE(a / b, QUANTUM)`: the exact quotient, rounded by name.  `a` is the
        chain before its last operator (`x * y / z` divides `x * y` by `z`)."""
        if "/" in chain.ops[:-1]:
            self.d.error("E379", "one division per rounding", chain.span,
                         "round each quotient: round_half_up(round_half_up(a / b, 0.01) / c, 0.01)")
            raise _Bad
        count = len(chain.ops)
        top: n.Expr = chain.operands[0] if count == 1 else n.Chain(
            chain.ops[:-1], chain.operands[:-1], chain.prefix_span(count - 1))
        left = self._expr(top, ctx, None)
        right = self._expr(chain.operands[-1], ctx, None)
        lt, rt = left.type, right.type
        quantum_node = call.args[1]
        quantum: Decimal | None = None
        unit = unit_of(self.decimals)
        if isinstance(quantum_node, n.Ref) and quantum_node.path == ("unit",) \
                and isinstance(lt, ir.MoneyT) and not isinstance(rt, ir.MoneyT):
            quantum = unit  # `unit`: the currency's unit, for an amount
        elif isinstance(quantum_node, n.Literal) and isinstance(quantum_node.value, Decimal) \
                and quantum_node.kind == "decimal" and quantum_node.value > 0:
            quantum = quantum_node.value
        elif isinstance(quantum_node, n.Literal) and quantum_node.kind == "int" \
                and quantum_node.value == 1 and isinstance(lt, ir.IntT) and isinstance(rt, ir.IntT):
            quantum = Decimal(1)
        if quantum is None:
            self.d.error("E371", "the rounding quantum is a positive decimal such as 0.01 "
                         "(or 1, for a whole number of two ints)", quantum_node.span)
            raise _Bad
        result: ir.Type | None = None
        if isinstance(lt, ir.MoneyT) and isinstance(rt, (ir.IntT, ir.RateT)):
            if quantum.quantize(unit) != quantum:
                self.d.error("E371", f"money is rounded to the currency's unit "
                             f"({unit_text(self.decimals, self.currency)}) or coarser",
                             quantum_node.span, f"write `{call.function}(…, unit)`")
                raise _Bad
            result = ir.MoneyT(lt.currency)
        elif isinstance(lt, ir.MoneyT) and isinstance(rt, ir.MoneyT):
            if lt.currency != rt.currency:
                self.d.error("E352", f"{lt.currency} / {rt.currency}", chain.span,
                             "currencies never mix")
                raise _Bad
            result = ir.RateT()
        elif isinstance(lt, ir.RateT) and isinstance(rt, (ir.IntT, ir.RateT)):
            result = ir.RateT()
        elif isinstance(lt, ir.IntT) and isinstance(rt, ir.IntT):
            if not (isinstance(quantum_node, n.Literal) and quantum_node.kind == "int"):
                self.d.error("E371", "a whole number divided by a whole number is rounded to "
                             "a whole number: the quantum is 1", quantum_node.span,
                             f"{call.function}(a / b, 1)")
                raise _Bad
            result = ir.IntT()
        if result is None:
            self.d.error("E379", f"cannot divide {_describe(lt)} by {_describe(rt)}", chain.span,
                         "an amount divides by an int, a rate or an amount (a ratio); a rate "
                         "or an int by an int or a rate")
            raise _Bad
        at = f"{PurePath(call.span.file).name}:{call.span.line}:{call.span.column}"
        return ir.Round(ir.RoundMode(ROUNDING[call.function]),
                        ir.Arith(ir.ArithOp.DIV, left, right, result), quantum, result, at)

    def _lookup(self, lookup: n.Lookup, ctx: _Context) -> ir.Expr:
        table = self.tables.get(lookup.table)
        if table is None:
            if lookup.table not in self.scope.tables and lookup.table not in self.scope.broken:
                self.d.error("E375", f"unknown table `{lookup.table}`", lookup.span,
                             did_you_mean(lookup.table, self.scope.tables))
            raise _Bad
        if table.columns or lookup.more:  # keyed by a bool or several values (or misread)
            return keyed_lookup(self, lookup, ctx, table)
        key = self._expr(lookup.key, ctx, table.key)
        if key.type != table.key:
            self.d.error("E376", f"table `{table.name}` is keyed by {table.key.name}, not by "
                         f"{_describe(key.type)}", lookup.key.span)
            raise _Bad
        return ir.TableRef(table.name, key, table.type)


# ---- type helpers ------------------------------------------------------------

def _looks_like_member(expr: n.Expr, checker: ExpressionChecker) -> bool:
    if isinstance(expr, n.Literal):
        return expr.kind in ("string", "name")
    if isinstance(expr, n.Ref) and len(expr.path) == 1:
        name = expr.path[0]
        return name not in checker.value_names and name not in checker.inputs
    return False
