"""IR → columnar module text: one function that decides a whole batch over numpy arrays.

Values are arrays (or numpy scalars, which broadcast) of one dtype per IR type: a bool
is `bool`; an int, `int64`; a date, `int64` days since 1970-01-01; an enum member, its
index in the enum; money and rates are `int64` counts of a power of ten fixed at compile
time, the value's *scale* (`2750` at scale 2 is 27.50 EUR; the rate 0.70 is `70` at
scale 2, and their product `192500` at scale 4).  Sums align scales by multiplying,
products add them, a rounding divides by the quantum in integers with the named mode
(`_round`, the same rule as the Python backend's `_divide`), so no binary float ever
holds an amount.  Conditions choose with `np.where`, the first arm that holds winning.

A row the batch cannot decide on its own (a broken constraint, a date outside the
validity, a division by zero, a date out of range, no rule or no branch that applies,
an amount that is not a whole number of minor units) is marked in `bad`; the caller
decides those rows with the Python backend, which gives them the decision or the
rejection of the row engine.  Every policy value reaches the text as an integer
literal or through `spelling.py_literal`; identifiers are built as in the Python
backend, so no policy text can inject code.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import assert_never

import jinja2

from parcours.runtime import MINOR_UNITS

from ... import ir
from ...ir import ops
from ...meta import VERSION
from ..python.spelling import CodegenError, _Names, ident, py_literal, source_file, where

GENERATOR = f"parcours {VERSION}"
EPOCH = date(1970, 1, 1).toordinal()
MAX_SCALE = 9  # decimals a value may carry: an amount below 10**9 times 10**9 fits in int64

_UFUNC = {ir.CompareOp.EQ: "equal", ir.CompareOp.NE: "not_equal", ir.CompareOp.LT: "less",
          ir.CompareOp.LE: "less_equal", ir.CompareOp.GT: "greater",
          ir.CompareOp.GE: "greater_equal"}


class Unsupported(CodegenError):
    """A construct the columnar backend does not decide yet; refused at compile time, with
    the place in the policy, rather than decided wrongly."""


def day_number(day: date) -> int:
    """Days since 1970-01-01, the columnar representation of a date."""
    return day.toordinal() - EPOCH


def scale_of(value: Decimal | int) -> int:
    if isinstance(value, int):
        return 0
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def scaled(value: Decimal | int, scale: int) -> int:
    """`value * 10**scale`, which must be a whole number."""
    shifted = Decimal(value).scaleb(scale)
    if shifted != shifted.to_integral_value():  # pragma: no cover - scales are maxima
        raise CodegenError(f"{value} is not a multiple of 10**-{scale}")
    return int(shifted)


@dataclass(frozen=True, slots=True)
class Val:
    """The text of an expression and, for money and rates, its scale."""

    text: str
    scale: int = 0


def _numeric(type_: ir.Type) -> bool:
    return isinstance(type_, (ir.MoneyT, ir.RateT))


def _align(value: Val, scale: int) -> str:
    return value.text if value.scale == scale else f"({value.text} * {10 ** (scale - value.scale)})"


class _Emitter:
    def __init__(self, program: ir.Program) -> None:
        self.p = program
        self.decimals = MINOR_UNITS[program.policy.currency]
        self.names = _Names({"_BOUNDS", "_RULE_PATHWAY", "_MIN_DAY", "_MAX_DAY"})
        self.constants: dict[str, str] = {}
        self.keys: dict[str, str] = {}
        self.at = source_file(program.policy.file)
        self.periods = (program.policy.valid_from,) + program.change_dates()
        self.inputs = {i.path: f"i{n}_" + ident("x", i.path.replace(".", "_"))[2:]
                       for n, i in enumerate(program.inputs)}
        self.scales: dict[str, int] = {}  # let or output name → scale
        self.body: list[str] = []
        self.pathway = program.decision.pathway

    def refuse(self, what: str) -> Unsupported:
        return Unsupported(f"{self.at}: the columnar backend does not support {what} yet; "
                           "decide this policy with --engine compiled")

    def const(self, literal: str, *hint: object) -> str:
        key = "/".join(map(str, hint)) + "=" + literal
        name = self.keys.get(key)
        if name is None:
            name = self.keys[key] = self.names.fresh(*hint)
            self.constants[name] = literal
        return name

    # ---- values --------------------------------------------------------------
    def code(self, value: str, type_: ir.Type) -> int:
        if not isinstance(type_, ir.EnumT) or value not in type_.members:
            raise self.refuse(f"the value {value!r} of type {type_}")
        return type_.members.index(value)

    def scalar(self, value: ir.Value, type_: ir.Type, scale: int) -> str:
        """A literal for one value of `type_` (numbers at `scale`)."""
        if isinstance(value, bool):
            return "True" if value else "False"
        if isinstance(value, (int, Decimal)):
            return repr(scaled(value, scale))
        if isinstance(value, date):
            return repr(day_number(value))
        if isinstance(value, str):
            return repr(self.code(value, type_))
        raise self.refuse(f"a value of type {type_}")

    def array(self, values: list[ir.Value] | list[list[ir.Value]], type_: ir.Type,
              scale: int) -> str:
        dtype = "np.bool_" if isinstance(type_, ir.BoolT) else "np.int64"

        def row(items: list[ir.Value]) -> str:
            return "[" + ", ".join(self.scalar(v, type_, scale) for v in items) + "]"

        inner = "[" + ", ".join(row(v) for v in values) + "]" if values and \
            isinstance(values[0], list) else row(values)  # type: ignore[arg-type]
        return f"np.array({inner}, dtype={dtype})"

    def per_period(self, dated: tuple[ir.Dated, ...]) -> list[ir.Value]:
        out: list[ir.Value] = []
        for start in self.periods:
            found = ir.dated_at(dated, start)
            if found is None:
                raise CodegenError("a dated value has a hole inside the validity")
            out.append(found.value.value)
        return out

    def values_scale(self, values: list[ir.Value], type_: ir.Type) -> int:
        if not _numeric(type_):
            return 0
        scale = max(scale_of(v) for v in values if isinstance(v, (int, Decimal)))
        return self.check_scale(scale)

    def check_scale(self, scale: int) -> int:
        if scale > MAX_SCALE:
            raise self.refuse(f"a value with more than {MAX_SCALE} decimals")
        return scale

    # ---- expressions ---------------------------------------------------------
    def expr(self, e: ir.Expr) -> Val:
        match e:
            case ir.Const():
                if isinstance(e.value, bool):
                    return Val("np.True_" if e.value else "np.False_")
                if isinstance(e.value, (int, Decimal)):
                    scale = self.check_scale(scale_of(e.value))
                    return Val(repr(scaled(e.value, scale)), scale)
                if isinstance(e.value, (date, str)):
                    return Val(self.scalar(e.value, e.type, 0))
                raise self.refuse(f"a set used as a value ({e.type})")
            case ir.Input():
                return Val(self.inputs[e.path], self.decimals if _numeric(e.type) else 0)
            case ir.ParamRef():
                return self.param(self.p.param(e.name))
            case ir.TableRef():
                return self.table(self.p.table(e.table), self.expr(e.key))
            case ir.LetRef():
                return Val(ident("l", e.name), self.scales[e.name])
            case ir.OutputRef():
                return Val(ident("o", e.name), self.scales[e.name])
            case ir.PathwayRef():
                return Val("pathway")
            case ir.Not():
                return Val(f"np.logical_not({self.expr(e.operand).text})")
            case ir.BoolOp():
                function = "np.logical_and" if e.op is ir.BoolOpKind.AND else "np.logical_or"
                text = self.expr(e.operands[0]).text
                for operand in e.operands[1:]:
                    text = f"{function}({text}, {self.expr(operand).text})"
                return Val(text)
            case ir.Compare():
                left, right = self.aligned([e.left, e.right])
                return Val(f"np.{_UFUNC[e.op]}({left}, {right})")
            case ir.InSet():
                enum = e.operand.type
                if not isinstance(enum, ir.EnumT):
                    raise self.refuse(f"`in` over {enum}")
                table = [(m in e.members) != e.negated for m in enum.members]
                name = self.const(self.array(list(table), ir.BoolT(), 0), "IN",
                                  *sorted(e.members)[:2], "NOT" if e.negated else "")
                return Val(f"{name}[{self.expr(e.operand).text}]")
            case ir.Arith():
                return self.arith(e)
            case ir.Round(operand=ir.Arith(op=ir.ArithOp.DIV) as quotient):
                return self.divide(e, quotient)
            case ir.Round():
                return self.round(e)
            case ir.MinMax():
                function = "np.minimum" if e.function is ir.MinMaxFn.MIN else "np.maximum"
                texts = self.aligned(list(e.operands))
                text = texts[0]
                for other in texts[1:]:
                    text = f"{function}({text}, {other})"
                return Val(text, self.scale_of_all(list(e.operands)))
            case ir.Case():
                values = [value for _, value in e.arms] + [e.default]
                texts = self.aligned(values)
                text = texts[-1]
                for (condition, _), value in reversed(list(zip(e.arms, texts))):
                    text = f"np.where({self.expr(condition).text}, {value}, {text})"
                return Val(text, self.scale_of_all(values))
            case ir.DateAdd():
                return Val(f"_add_days({self.expr(e.operand).text}, "
                           f"{self.expr(e.days).text}, bad)")
            case ir.DateDiff():
                start, end = self.expr(e.start).text, self.expr(e.end).text
                match e.unit:
                    case ir.DateUnit.DAYS:
                        return Val(f"({end} - {start})")
                    case ir.DateUnit.YEARS:
                        return Val(f"_years_between({start}, {end})")
                    case _:
                        assert_never(e.unit)
            case _:
                assert_never(e)

    def scale_of_all(self, exprs: list[ir.Expr]) -> int:
        return max(self.expr(x).scale for x in exprs) if any(_numeric(x.type) for x in exprs) \
            else 0

    def aligned(self, exprs: list[ir.Expr]) -> list[str]:
        """The texts of `exprs`, numbers brought to their common scale."""
        values = [self.expr(x) for x in exprs]
        scale = max(v.scale for v in values)
        return [_align(v, scale) for v in values]

    def arith(self, e: ir.Arith) -> Val:
        left, right = self.expr(e.left), self.expr(e.right)
        match e.op:
            case ir.ArithOp.ADD | ir.ArithOp.SUB:
                scale = max(left.scale, right.scale)
                return Val(f"({_align(left, scale)} {e.op.value} {_align(right, scale)})", scale)
            case ir.ArithOp.MUL:
                scale = self.check_scale(left.scale + right.scale)
                return Val(f"({left.text} * {right.text})", scale)
            case ir.ArithOp.DIV:
                raise CodegenError("a division outside its rounding")
            case _:
                assert_never(e.op)

    def divide(self, e: ir.Round, quotient: ir.Arith) -> Val:
        """`round(a / b, q)`: the count of quanta nearest `a / (b q)` by the mode, in
        integers: with a = A/10^sa, b = B/10^sb, q = Q/10^sq it is A 10^(sb+sq) / (B Q 10^sa)."""
        left, right = self.expr(quotient.left), self.expr(quotient.right)
        quantum = Decimal(1) if isinstance(e.type, ir.IntT) else e.quantum
        sq = self.check_scale(scale_of(quantum))
        q = scaled(quantum, sq)
        shift = right.scale + sq - left.scale
        num = f"({left.text} * {10 ** shift})" if shift > 0 else left.text
        den = f"({right.text} * {q * 10 ** max(0, -shift)})"
        count = f"_divide({num}, {den}, {e.mode.value!r}, bad)"
        return Val(count if q == 1 else f"({count} * {q})", sq)

    def round(self, e: ir.Round) -> Val:
        operand = self.expr(e.operand)
        sq = self.check_scale(scale_of(e.quantum))
        scale = max(operand.scale, sq)
        step = scaled(e.quantum, scale)
        if step == 1:  # already a multiple of the quantum
            return Val(_align(operand, scale), scale)
        q = scaled(e.quantum, sq)
        count = f"_round({_align(operand, scale)}, {step}, {e.mode.value!r})"
        return Val(count if q == 1 else f"({count} * {q})", sq)

    def param(self, prm: ir.Param) -> Val:
        values = self.per_period(prm.values) if prm.dated else [prm.values[0].value.value]
        scale = self.values_scale(values, prm.type)
        if prm.dated:
            name = self.const(self.array(values, prm.type, scale), prm.name)
            return Val(f"{name}[period]", scale)
        if isinstance(values[0], bool):
            return Val("np.True_" if values[0] else "np.False_")
        return Val(self.const(self.scalar(values[0], prm.type, scale), prm.name), scale)

    def table(self, table: ir.Table, key: Val) -> Val:
        rows: dict[str, list[ir.Value]] = {}
        for row in table.rows:
            for k in row.keys:
                rows[k] = self.per_period(row.values)
        missing = [m for m in table.key.members if m not in rows]
        if missing:
            raise self.refuse(f"table {table.name} without a value for {missing[0]}")
        grid = [rows[m] for m in table.key.members]
        scale = self.values_scale([v for r in grid for v in r], table.type)
        name = self.const(self.array(grid, table.type, scale), table.name)
        return Val(f"{name}[{key.text}, period]", scale)

    # ---- the function body ----------------------------------------------------
    def line(self, text: str) -> None:
        self.body.append(text)

    def fields(self) -> list[str]:
        out = []
        for inp in self.p.inputs:
            kind = ops.value_kind(inp.type)
            self.at = str(inp.span)
            if kind not in ("money", "int", "bool", "enum", "date"):
                raise self.refuse(f"an input of kind {kind} ({inp.path})")
            default = None if inp.default is None else inp.default.value
            if isinstance(default, date):
                default = default.isoformat()
            elif isinstance(default, Decimal):
                default = str(default)
            t = inp.type
            members = t.members if isinstance(t, ir.EnumT) else ()
            low, high = (t.low, t.high) if isinstance(t, ir.IntT) else (None, None)
            out.append("Field(" + ", ".join([py_literal(inp.path), py_literal(kind),
                                             py_literal(default), py_literal(members),
                                             repr(low), repr(high)]) + ")")
            var = self.inputs[inp.path]
            self.line(f"{var} = columns[{inp.path!r}]")
            checks = []
            if low is not None:
                checks.append(f"({var} < {low})")
            if high is not None:
                checks.append(f"({var} > {high})")
            if checks:
                self.line(f"bad.append({' | '.join(checks)})")
        return out

    def steps(self) -> None:
        p = self.p
        day = self.inputs["date"]
        valid = [f"({day} < {day_number(p.policy.valid_from)})"]
        if p.policy.valid_until is not None:
            valid.append(f"({day} > {day_number(p.policy.valid_until)})")
        self.line(f"bad.append({' | '.join(valid)})")
        for c in p.constraints:
            self.at = str(c.span)
            self.line(f"bad.append(np.logical_and({self.expr(c.condition).text}, "
                      f"np.logical_not({self.expr(c.requirement).text})))"
                      f"  # {where(c.span, 'constraint ' + c.name)}")
        if len(self.periods) > 1:
            self.line(f'period = np.searchsorted(_BOUNDS, {day}, side="right")')
        else:
            self.line("period = 0")
        for step in p.schedule:
            match step:
                case ir.LetStep(name=name):
                    let = p.let(name)
                    if isinstance(let.expr.type, ir.SetT):
                        continue  # sets are inlined where they are tested
                    self.at = str(let.span)
                    value = self.expr(let.expr)
                    self.scales[name] = value.scale
                    self.line(f"{ident('l', name)} = {value.text}  # {where(let.span, 'let ' + name)}")
                case ir.PathwayStep():
                    self.pathway_step()
                case ir.OutputStep(name=name):
                    self.output_step(p.output(name))
                case _:
                    assert_never(step)

    def pathway_step(self) -> None:
        rules = self.p.rules
        default = next((i for i, r in enumerate(rules) if r.condition is None), -1)
        self.line(f"rule: Any = {default}")
        for i in reversed(range(len(rules))):
            r = rules[i]
            if r.condition is not None:
                self.at = str(r.span)
                self.line(f"rule = np.where({self.expr(r.condition).text}, {i}, rule)"
                          f"  # {where(r.span, r.name)}")
        if default < 0:
            self.line("bad.append(rule < 0)")
        self.line("pathway = _RULE_PATHWAY[rule]")

    def output_step(self, out: ir.Output) -> None:
        var, branch = ident("o", out.name), ident("b", out.name)
        values = [self.expr(b.value) for b in out.branches]
        scale = self.check_scale(max(v.scale for v in values))
        self.scales[out.name] = scale
        last = out.branches[-1]
        if last.condition is None:
            self.line(f"{branch}: Any = {len(out.branches) - 1}")
            self.line(f"{var}: Any = {_align(values[-1], scale)}  # "
                      f"{where(last.span, out.name + ' branch ' + str(len(out.branches) - 1))}")
        else:
            self.line(f"{branch}: Any = -1")
            self.line(f"{var}: Any = 0")
        for i in reversed(range(len(out.branches))):
            b = out.branches[i]
            if b.condition is None:
                continue
            self.at = str(b.span)
            self.line(f"holds = {self.expr(b.condition).text}  # "
                      f"{where(b.span, out.name + ' branch ' + str(i))}")
            self.line(f"{branch} = np.where(holds, {i}, {branch})")
            self.line(f"{var} = np.where(holds, {_align(values[i], scale)}, {var})")
        if last.condition is not None:
            self.line(f"bad.append({branch} < 0)")

    def outputs(self) -> tuple[list[str], list[str]]:
        """The declared outputs' specs and the texts of their final values (money at the
        currency's minor unit)."""
        specs, texts = [], []
        for declared in self.p.decision.outputs:
            kind = ops.value_kind(declared.type)
            var = ident("o", declared.name)
            scale = self.scales[declared.name]
            if kind == "money":
                if scale > self.decimals:
                    var = f"_exact({var}, {10 ** (scale - self.decimals)}, bad)"
                elif scale < self.decimals:
                    var = f"({var} * {10 ** (self.decimals - scale)})"
                scale = self.decimals
            members = declared.type.members if isinstance(declared.type, ir.EnumT) else ()
            specs.append("Output(" + ", ".join([py_literal(declared.name), py_literal(kind),
                                                repr(scale), py_literal(members)]) + ")")
            texts.append(var)
        return specs, texts


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("parcours.compiler.backends.columnar", "templates"),
        autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
        trim_blocks=True, lstrip_blocks=True)


def generate(program: ir.Program) -> str:
    """The columnar module for `program`, checked to parse; Unsupported for a construct it
    cannot decide yet."""
    e = _Emitter(program)
    fields = e.fields()
    e.steps()
    output_specs, output_texts = e.outputs()
    pathways = program.decision.pathway.members
    rule_pathway = e.array([r.pathway for r in program.rules], program.decision.pathway, 0)
    p = program.policy
    text = _environment().get_template("module.py.jinja").render(
        generator=GENERATOR, file=source_file(p.file), policy_id=py_literal(p.id),
        policy_name=p.id if p.id.isidentifier() else "", version=py_literal(p.version),
        currency=py_literal(p.currency), decimals=e.decimals, fields=fields,
        outputs=output_specs, output_texts=output_texts,
        output_names=[o.name for o in program.decision.outputs],
        branched=py_literal(tuple(o.name for o in program.outputs)),
        branch_vars=[ident("b", o.name) for o in program.outputs],
        rule_names=py_literal(tuple(r.name for r in program.rules)),
        rule_pathways=py_literal(tuple(r.pathway for r in program.rules)),
        pathways=py_literal(pathways), rule_pathway=rule_pathway,
        bounds="np.array([" + ", ".join(str(day_number(d)) for d in e.periods[1:])
               + "], dtype=np.int64)",
        n_periods=len(e.periods), min_day=day_number(date.min), max_day=day_number(date.max),
        body=e.body)
    constants = "\n".join(f"{name} = {literal}" for name, literal in e.constants.items())
    text = text.replace("# <constants>\n", constants + "\n", 1)
    try:
        ast.parse(text)
    except SyntaxError as exc:  # pragma: no cover - a compiler bug
        raise CodegenError(f"generated code does not parse: {exc}") from exc
    return text
