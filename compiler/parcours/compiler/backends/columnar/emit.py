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

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import assert_never

from parcours.runtime import MINOR_UNITS

from ... import ir
from ...ir import ops
from ..python.spelling import CodegenError, _Names, ident, py_literal, source_file, where
from .keyed import branch_lookup, output_exponent, table_key
from .values import (FALSE, MAX_AMOUNT_DIGITS, MAX_SCALE, TRUE, Lut, Unsupported, Val, combine,
                     corners, day_number, dtype_of, index_type, is_literal, literal, lut_of,
                     numeric, scale_of, scaled, span)

_UFUNC = {ir.CompareOp.EQ: "equal", ir.CompareOp.NE: "not_equal", ir.CompareOp.LT: "less",
          ir.CompareOp.LE: "less_equal", ir.CompareOp.GT: "greater",
          ir.CompareOp.GE: "greater_equal"}


# What `expr` binds to a temporary: the nodes that cost a pass over the batch.
_COMPUTED = (ir.TableRef, ir.InSet, ir.Compare, ir.Arith, ir.Round, ir.MinMax, ir.Case,
             ir.DateDiff, ir.DateAdd, ir.Not, ir.BoolOp)


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
        self.cache: dict[str, str] = {}  # text → the temporary that holds it
        self.known: dict[str, Val] = {}  # a let or output name → its value's Val
        self.dtypes: dict[str, str] = {}  # a result's name → its dtype in a whole batch
        self.exponents: dict[str, str] = {}  # "NAME:exponent" → a decimal output's exponent

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

    def array(self, values: Sequence[ir.Value], type_: ir.Type, scale: int) -> str:
        # an enum's codes in the smallest integer (a lookup's result is then a quarter of
        # the memory to write and read again); every index sum starts from np.intp
        dtype = "np.bool_" if isinstance(type_, ir.BoolT) else \
            index_type(len(type_.members)) if isinstance(type_, ir.EnumT) else "np.int64"
        inner = ", ".join(self.scalar(v, type_, scale) for v in values)
        return f"np.array([{inner}], dtype={dtype})"

    def per_period(self, dated: tuple[ir.Dated, ...]) -> list[ir.Value]:
        out: list[ir.Value] = []
        for start in self.periods:
            found = ir.dated_at(dated, start)
            if found is None:
                raise CodegenError("a dated value has a hole inside the validity")
            out.append(found.value.value)
        return out

    def values_scale(self, values: list[ir.Value], type_: ir.Type) -> int:
        if not numeric(type_):
            return 0
        scale = max(scale_of(v) for v in values if isinstance(v, (int, Decimal)))
        return self.check_scale(scale)

    def bind(self, text: str, scale: int = 0, low: int | None = None,
             high: int | None = None, lut: Lut | None = None) -> Val:
        """A temporary holding `text` (the same one for the same text)."""
        name = self.cache.get(text)
        if name is None:
            name = self.cache[text] = f"t{len(self.cache)}"
            self.line(f"{name} = {text}")
        return Val(name, scale, low, high, lut)

    def check_scale(self, scale: int) -> int:
        if scale > MAX_SCALE:
            raise self.refuse(f"a value with more than {MAX_SCALE} decimals")
        return scale

    # ---- expressions ---------------------------------------------------------
    def expr(self, e: ir.Expr) -> Val:
        """The value of `e`.  A computed array (a lookup, a comparison, a product...) is
        bound to a temporary the first time and read from it after: a policy tests the same
        thing in several places, and each test is a pass over the batch."""
        value = self.node(e)
        if not isinstance(e, _COMPUTED) or value in (TRUE, FALSE) or \
                value.text.isidentifier() or is_literal(value.text):
            return value
        if value.low is not None and value.low == value.high:
            return literal(value.low, value.scale)
        return self.bind(value.text, value.scale, value.low, value.high, value.lut)

    def node(self, e: ir.Expr) -> Val:
        match e:
            case ir.Const():
                if isinstance(e.value, bool):
                    return TRUE if e.value else FALSE
                if isinstance(e.value, (int, Decimal)):
                    scale = self.check_scale(scale_of(e.value))
                    return literal(scaled(e.value, scale), scale)
                if isinstance(e.value, (date, str)):
                    return Val(self.scalar(e.value, e.type, 0))
                raise self.refuse(f"a set used as a value ({e.type})")
            case ir.Input():  # the decoder leaves negative amounts to the row engine
                if numeric(e.type):
                    return Val(self.inputs[e.path], self.decimals, 0,
                               10 ** (MAX_AMOUNT_DIGITS + self.decimals) - 1)
                if isinstance(e.type, ir.IntT):
                    return Val(self.inputs[e.path], 0, e.type.low, e.type.high)
                return Val(self.inputs[e.path])
            case ir.ParamRef():
                return self.param(self.p.param(e.name))
            case ir.TableRef():
                return self.table(self.p.table(e.table), self.expr(e.key))
            case ir.LetRef():
                return self.known[ident("l", e.name)]
            case ir.OutputRef():
                return self.known[ident("o", e.name)]
            case ir.PathwayRef():
                return Val("pathway")
            case ir.Not():
                operand = self.expr(e.operand)
                if operand in (TRUE, FALSE):
                    return TRUE if operand is FALSE or operand == FALSE else FALSE
                return Val(f"np.logical_not({operand.text})")
            case ir.BoolOp():
                return self.bool_op(e)
            case ir.Compare():
                (left, right), _, values = self.aligned([e.left, e.right])
                if all(v.low is not None and v.low == v.high for v in values):
                    return TRUE if ops.compare(e.op, values[0].low, values[1].low) else FALSE
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
                texts, scale, values = self.aligned(list(e.operands))
                text = texts[0]
                for other in texts[1:]:
                    text = f"{function}({text}, {other})"
                lows, highs = [v.low for v in values], [v.high for v in values]
                pick = min if e.function is ir.MinMaxFn.MIN else max
                known_lows = [x for x in lows if x is not None]
                known_highs = [x for x in highs if x is not None]
                if e.function is ir.MinMaxFn.MIN:
                    low = None if None in lows else pick(known_lows)
                    high = pick(known_highs) if known_highs else None
                else:
                    low = pick(known_lows) if known_lows else None
                    high = None if None in highs else pick(known_highs)
                return Val(text, scale, low, high)
            case ir.Case():
                conditions = [self.expr(condition) for condition, _ in e.arms]
                arms = [value for _, value in e.arms] + [e.default]
                texts, scale, vals = self.aligned(arms)
                text = texts[-1]
                for condition, value in reversed(list(zip(conditions, texts))):
                    if condition == TRUE:
                        text = value
                    elif condition != FALSE:
                        text = f"np.where({condition.text}, {value}, {text})"
                return Val(text, scale, *span(vals))
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
            case ir.TableKey():
                return table_key(self, e)
            case _:
                assert_never(e)

    def bool_op(self, e: ir.BoolOp) -> Val:
        """`a and b and ...` (or `or`), folded where an operand is a constant: what comes
        after a `False` of `and` (a `True` of `or`) is not evaluated, as in the row engine."""
        stop, skip = (FALSE, TRUE) if e.op is ir.BoolOpKind.AND else (TRUE, FALSE)
        function = "np.logical_and" if e.op is ir.BoolOpKind.AND else "np.logical_or"
        text = ""
        for operand in e.operands:
            value = self.expr(operand)
            if value == stop:
                return stop
            if value == skip:
                continue
            text = f"{function}({text}, {value.text})" if text else value.text
        return Val(text) if text else skip

    def aligned(self, exprs: list[ir.Expr]) -> tuple[list[str], int, list[Val]]:
        """The texts of `exprs`, numbers brought to their common scale; the scale; the
        values at that scale."""
        found = [self.expr(x) for x in exprs]
        scale = max(v.scale for v in found)
        values = [v.at(scale) for v in found]
        return [v.text for v in values], scale, values

    def arith(self, e: ir.Arith) -> Val:
        left, right = self.expr(e.left), self.expr(e.right)
        match e.op:
            case ir.ArithOp.ADD | ir.ArithOp.SUB:
                scale = max(left.scale, right.scale)
                a, b = left.at(scale), right.at(scale)
                if e.op is ir.ArithOp.ADD:
                    low = None if a.low is None or b.low is None else a.low + b.low
                    high = None if a.high is None or b.high is None else a.high + b.high
                else:
                    low = None if a.low is None or b.high is None else a.low - b.high
                    high = None if a.high is None or b.low is None else a.high - b.low
                if low is not None and low == high:
                    return literal(low, scale)
                n = len(self.periods)
                lut = combine(lut_of(a, n), lut_of(b, n), n,
                              (lambda x, y: x + y) if e.op is ir.ArithOp.ADD else
                              (lambda x, y: x - y))
                return Val(f"({a.text} {e.op.value} {b.text})", scale, low, high, lut)
            case ir.ArithOp.MUL:
                scale = self.check_scale(left.scale + right.scale)
                low, high = corners(left, right)
                if low is not None and low == high:
                    return literal(low, scale)
                n = len(self.periods)
                lut = combine(lut_of(left, n), lut_of(right, n), n, lambda x, y: x * y)
                if not (left.nonneg and right.nonneg) and numeric(e.type):
                    # a zero with a negative factor is a negative zero for the row engine
                    return Val(f"_product({left.text}, {right.text}, bad)", scale, low, high, lut)
                return Val(f"({left.text} * {right.text})", scale, low, high, lut)
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
        return Val(count if q == 1 else f"({count} * {q})", sq,
                   0 if left.nonneg and right.nonneg else None)

    def round(self, e: ir.Round) -> Val:
        operand = self.expr(e.operand)
        sq = self.check_scale(scale_of(e.quantum))
        scale = max(operand.scale, sq)
        step = scaled(e.quantum, scale)
        if step == 1:  # already a multiple of the quantum
            return operand.at(scale)
        q = scaled(e.quantum, sq)
        # a negative value rounded to zero is a negative zero for the row engine ("-0.00"),
        # which an integer cannot hold: `_round` marks such rows for it
        count = f"_round_magnitude({operand.at(scale).text}, {step}, {e.mode.value!r})" \
            if operand.nonneg else f"_round({operand.at(scale).text}, {step}, {e.mode.value!r}, bad)"
        # bounds: the operand's, widened by one quantum either way
        low = None if operand.low is None else \
            (operand.at(scale).low // step - 1) * q  # type: ignore[operator]
        high = None if operand.high is None else \
            (-(-operand.at(scale).high // step) + 1) * q  # type: ignore[operator]
        if operand.nonneg:
            low = max(0, low if low is not None else 0)
        return Val(count if q == 1 else f"({count} * {q})", sq, low, high)

    def param(self, prm: ir.Param) -> Val:
        values = self.per_period(prm.values) if prm.dated else [prm.values[0].value.value]
        if all(type(v) is type(values[0]) and v == values[0] for v in values):
            values = values[:1]  # the same in every period: one constant, no lookup
        scale = self.values_scale(values, prm.type)
        low, high = self.bounds(values, scale)
        if len(values) > 1:
            name = self.const(self.array(values, prm.type, scale), prm.name)
            lut = ("", 1, tuple(scaled(v, scale) for v in values
                                if isinstance(v, (int, Decimal)))) if numeric(prm.type) else None
            return self.bind(f"{name}[period]", scale, low, high, lut)
        if isinstance(values[0], bool):
            return TRUE if values[0] else FALSE
        return Val(self.const(self.scalar(values[0], prm.type, scale), prm.name), scale, low, high)

    def bounds(self, values: list[ir.Value], scale: int) -> tuple[int | None, int | None]:
        numbers = [scaled(v, scale) for v in values
                   if isinstance(v, (int, Decimal)) and not isinstance(v, bool)]
        if len(numbers) != len(values):
            return None, None
        return min(numbers), max(numbers)

    def table(self, table: ir.Table, key: Val) -> Val:
        rows: dict[str, list[ir.Value]] = {}
        for row in table.rows:
            for k in row.keys:
                rows[k] = self.per_period(row.values)
        missing = [m for m in table.key.members if m not in rows]
        if missing:
            raise self.refuse(f"table {table.name} without a value for {missing[0]}")
        grid = [rows[m] for m in table.key.members]
        values = [v for r in grid for v in r]
        scale = self.values_scale(values, table.type)
        low, high = self.bounds(values, scale)
        lut = (key.text, len(grid), tuple(scaled(v, scale) for v in values
                                          if isinstance(v, (int, Decimal)))) \
            if numeric(table.type) and key.text.isidentifier() else None
        if len(self.periods) == 1:
            name = self.const(self.array([r[0] for r in grid], table.type, scale), table.name)
            return Val(f"{name}[{key.text}]", scale, low, high, lut)
        # one row per period, one column per key: a lookup is one take on the flat array
        name = self.const(self.array(values, table.type, scale), table.name)
        return Val(f"{name}[np.intp({len(self.periods)}) * {key.text} + period]", scale, low,
                   high, lut)

    # ---- the function body ----------------------------------------------------
    def line(self, text: str) -> None:
        self.body.append(text)

    def fields(self) -> list[str]:
        out = []
        for inp in self.p.inputs:
            kind = ops.value_kind(inp.type)
            self.at = str(inp.span)
            if kind not in ("money", "int", "bool", "enum", "date", "id"):
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
            if kind != "id":  # an id is an accumulator's key: the caller reads it
                self.line(f"{self.inputs[inp.path]} = columns[{inp.path!r}]")
        return out

    def steps(self) -> None:
        p = self.p
        for c in p.constraints:
            self.at = str(c.span)
            self.line(f"bad.append(np.logical_and({self.expr(c.condition).text}, "
                      f"np.logical_not({self.expr(c.requirement).text})))"
                      f"  # {where(c.span, 'constraint ' + c.name)}")
        if len(self.periods) > 1:
            self.line(f'period = _period({self.inputs["date"]}, n)')
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
                    var = ident("l", name)
                    if value in (TRUE, FALSE):  # a constant, folded where it is used
                        self.known[var] = value
                        self.line(f"# {where(let.span, 'let ' + name)}: always {value.text}")
                        continue
                    self.known[var] = value if is_literal(value.text) else \
                        Val(var, value.scale, value.low, value.high)
                    self.line(f"{var} = {value.text}  # {where(let.span, 'let ' + name)}")
                case ir.PathwayStep():
                    self.pathway_step()
                case ir.OutputStep(name=name):
                    self.output_step(p.output(name))
                case _:
                    assert_never(step)

    def first(self, var: str, entries: list[tuple[int, Val | None]], count: int,
              what: str) -> int | None:
        """`var` = the index of the first entry (index, condition) whose condition holds,
        None standing for one that always holds (it ends the list).  Returns the index
        when that is the same on every row, else None after emitting the choice: the
        conditions' bits as one integer per row, looked up in a table of its lowest set
        bit (`_first_table`), one pass instead of one masked copy per entry."""
        if entries and entries[0][1] is None:
            self.line(f"{var} = {entries[0][0]}  # {what}")
            return entries[0][0]
        always = entries[-1][0] if entries and entries[-1][1] is None else -1
        conditional = [(i, holds) for i, holds in entries if holds is not None]
        if not conditional:
            self.line(f"{var} = {always}")
            return always
        dtype = index_type(count)
        groups = [conditional[k:k + 16] for k in range(0, len(conditional), 16)]
        none = str(always)
        for group in reversed(groups):
            positions = py_literal(tuple(i for i, _ in group))
            table = self.const(f"_first_table({positions}, {none}, {dtype})", "FIRST", var)
            conditions = ", ".join(holds.text for _, holds in group if holds is not None)
            self.line(f"{var} = _first([{conditions}], n, {table}, {none})  # {what}")
            none = var
        if always < 0:
            self.line(f"bad.append({var} < 0)")
        return None

    def pathway_step(self) -> None:
        entries: list[tuple[int, Val | None]] = []
        for i, r in enumerate(self.p.rules):
            self.at = str(r.span)
            holds = None if r.condition is None else self.expr(r.condition)
            if holds == FALSE:
                continue
            entries.append((i, None if holds == TRUE else holds))
            if entries[-1][1] is None:
                break
        self.first("rule", entries, len(self.p.rules), "the pathway's rules")
        self.dtypes["rule"] = index_type(len(self.p.rules))
        self.line("pathway = _RULE_PATHWAY[rule]")

    def output_step(self, out: ir.Output) -> None:
        """The index of the first branch whose condition holds (`first`), then the value:
        the constants of the branches through one lookup by index, each computed value
        where its branch's index is; a branch after one that always holds, or whose
        condition never does, is left out (the row engine never evaluates it either)."""
        var, branch = ident("o", out.name), ident("b", out.name)
        live: list[tuple[int, Val | None]] = []  # (index, condition; None: always)
        for i, b in enumerate(out.branches):
            self.at = str(b.span)
            holds = None if b.condition is None else self.expr(b.condition)
            if holds == FALSE:
                continue
            live.append((i, None if holds == TRUE else holds))
            if live[-1][1] is None:
                break
        values = {}
        for i, _ in live:
            self.at = str(out.branches[i].span)
            values[i] = self.expr(out.branches[i].value)
        scale = self.check_scale(max((v.scale for v in values.values()), default=0))
        self.scales[out.name] = scale
        self.known[var] = Val(var, scale, *span([v.at(scale) for v in values.values()]))
        texts = {i: v.at(scale).text for i, v in values.items()}
        for i, _ in live:
            self.line(f"# {where(out.branches[i].span, f'{out.name} branch {i}')}")
        single = self.first(branch, live, len(out.branches), f"the branches of {out.name}")
        self.dtypes[branch] = index_type(len(out.branches))
        if single is not None:
            self.line(f"{var} = {texts[single] if single >= 0 else 0}")
            return
        if branch_lookup(self, out, var, branch, {i: v.at(scale) for i, v in values.items()}):
            return
        constant = {i: t for i, t in texts.items() if is_literal(t)}
        computed: dict[str, list[int]] = {}
        for i, t in texts.items():
            if i not in constant:
                computed.setdefault(t, []).append(i)
        if constant and computed and len(set(constant.values())) == 1:
            # one constant for every other branch (a zero, often): no lookup by branch
            current = next(iter(constant.values()))
        elif constant:
            table = [constant.get(i, "0") for i in range(len(out.branches))]
            dtype = dtype_of(out.type)
            lookup = self.const(f"np.array([{', '.join(table)}], dtype={dtype})", out.name,
                                "VALUES")
            current = f"{lookup}[{branch}]"
        else:  # every value computed: start from the last one's
            current = computed.popitem()[0]
        if not computed:
            self.line(f"{var} = {current}")
        for t, indexes in computed.items():
            mask = " | ".join(f"({branch} == {i})" for i in indexes)
            self.line(f"{var} = np.where({mask}, {t}, {current})")
            current = var

    def outputs(self) -> tuple[list[str], list[str]]:
        """The declared outputs' specs and the texts of their final values (money at the
        currency's minor unit); `self.dtypes`, each result's dtype in a whole batch."""
        specs, texts = [], []
        for declared in self.p.decision.outputs:
            kind = ops.value_kind(declared.type)
            var = ident("o", declared.name)
            scale = self.scales[declared.name]
            known = self.known.get(var, Val(var))
            low, high = known.low, known.high
            if kind == "money":
                if scale > self.decimals:
                    var = f"_exact({var}, {10 ** (scale - self.decimals)}, bad)"
                    factor = 10 ** (scale - self.decimals)
                    low = None if low is None else low // factor
                    high = None if high is None else -(-high // factor)
                elif scale < self.decimals:
                    var = f"({var} * {10 ** (self.decimals - scale)})"
                    factor = 10 ** (self.decimals - scale)
                    low = None if low is None else low * factor
                    high = None if high is None else high * factor
                scale = self.decimals
            small = low is not None and high is not None and -(1 << 31) < low and \
                high < (1 << 31)
            self.dtypes[declared.name] = "np.bool_" if kind == "bool" else \
                "np.int32" if small else "np.int64"
            if kind == "decimal":
                self.at = str(self.p.output(declared.name).span)
                exp = output_exponent(self, self.p.output(declared.name))
                if exp is None:
                    raise self.refuse(f"the decimal output {declared.name}, whose digits "
                                      "depend on an input's or on a min or max")
                self.exponents[declared.name + ":exponent"] = exp
            members = declared.type.members if isinstance(declared.type, ir.EnumT) else ()
            specs.append("Output(" + ", ".join([py_literal(declared.name), py_literal(kind),
                                                repr(scale), py_literal(members)]) + ")")
            texts.append(var)
        return specs, texts
