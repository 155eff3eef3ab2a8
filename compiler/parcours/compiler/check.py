"""Types, currencies and dated values: the resolved scope → the IR.

Checks, each a diagnostic with a code: names resolve (with did-you-mean), types
agree (a rate is not money, dates are dates, a bool is not an int), currencies
never mix, a product of money is rounded explicitly before it becomes an
output, dated values cover the policy's validity without holes or overlaps,
tables cover every key once, and values do not depend on themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from graphlib import CycleError, TopologicalSorter

from . import ir
from . import nodes as n
from .diagnostics import Diagnostics, Span, did_you_mean
from .resolve import Scope

ROUNDING = {"round_half_up": "half_up", "round_half_even": "half_even", "round_down": "down",
            "round_up": "up"}
OUTPUT_TYPES = {"base": "money", "rate": "rate", "flat_fee": "money", "reimbursed": "money",
                "patient_pays": "money"}
PATHWAY_T = ir.EnumT("pathway", ir.PATHWAYS)
MAX_MONEY = Decimal("1000000000")


class _Bad(Exception):
    """An expression that could not be typed; already reported."""


@dataclass(slots=True)
class _Context:
    """Where an expression sits: what it may refer to."""

    where: str  # "rule" | "let" | "output" | "constraint"
    deps: set[str]  # collected "let:x", "output:y", "pathway"


class Checker:
    def __init__(self, scope: Scope, diagnostics: Diagnostics) -> None:
        self.scope = scope
        self.d = diagnostics
        self.currency = "???"
        self.enums: dict[str, ir.EnumT] = {}
        self.inputs: dict[str, ir.InputDef] = {}
        self.params: dict[str, ir.Param] = {}
        self.tables: dict[str, ir.Table] = {}
        self.let_types: dict[str, ir.Type] = {}
        self.valid_from = date(1900, 1, 1)
        self.valid_until: date | None = None
        # What each let, the rules and each output read: "let:x", "output:y", "pathway".
        self._let_deps: dict[str, set[str]] = {}
        self._rule_deps: set[str] = set()
        self._output_deps: dict[str, set[str]] = {}
        self._checking: list[str] = []  # lets being typed, to catch a let that reads itself
        self.value_names = scope.value_names()  # the scope is complete: compute once

    # ---- entry ------------------------------------------------------------
    def run(self) -> ir.Program | None:
        policy = self._policy()
        sources = tuple(ir.Source(s.name, s.document, s.title) for s in self.scope.sources.values())
        self._enums()
        self._inputs()
        self._params()
        self._tables()
        lets = self._lets()
        constraints = self._constraints()
        rules = self._rules()
        outputs = self._outputs()
        order = self._order(lets, rules, outputs)
        if policy is None or self.d.has_errors:
            return None
        lets_sorted = tuple(lets[name] for kind, name in order if kind == "let")
        outputs_sorted = tuple(outputs[name] for kind, name in order if kind == "output")
        schedule = tuple(name if kind == "pathway" else f"{kind}:{name}" for kind, name in order)
        return ir.Program(policy, sources, tuple(self.enums.values()), tuple(self.inputs.values()),
                          constraints, tuple(self.params.values()), tuple(self.tables.values()),
                          lets_sorted, rules, outputs_sorted, schedule)

    # ---- helpers ----------------------------------------------------------
    def _notes(self, annotations: tuple[n.Annotation, ...]) -> ir.Notes:
        cites: list[str] = []
        remarks: list[tuple[str, str]] = []
        for a in annotations:
            if isinstance(a, n.Cite):
                for name, span in a.sources:
                    if name not in self.scope.sources:
                        if name not in self.scope.broken:
                            self.d.error("E301", f"unknown source `{name}`", span,
                                         did_you_mean(name, self.scope.sources)
                                         or "declare it: source NAME = \"document\"")
                    elif name not in cites:
                        cites.append(name)
            else:
                remarks.append((a.kind, a.text))
        return ir.Notes(tuple(cites), tuple(remarks))

    def _type(self, ref: n.TypeRef) -> ir.Type | None:
        if ref.kind == "bool":
            return ir.BoolT()
        if ref.kind == "int":
            if ref.low is not None and ref.high is not None and ref.low > ref.high:
                self.d.error("E302", f"empty range {ref.low}..{ref.high}", ref.span,
                             "write the lower bound first")
            return ir.IntT(ref.low, ref.high)
        if ref.kind == "date":
            return ir.DateT()
        if ref.kind == "money":
            return ir.MoneyT(self.currency)
        if ref.kind == "rate":
            return ir.RateT()
        enum = self.enums.get(ref.name)
        if enum is None:
            if ref.name not in self.scope.broken:
                self.d.error("E303", f"unknown type `{ref.name}`", ref.span,
                             did_you_mean(ref.name, list(self.enums) + ["bool", "int", "date",
                                                                        "money", "rate"])
                             or "types are bool, int, date, money, rate or a declared enum")
            return None
        return enum

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

    # ---- header -----------------------------------------------------------
    def _policy(self) -> ir.PolicyInfo | None:
        decl = self.scope.policy
        if decl is None:
            self.currency = "XXX"  # a schema alone: amounts take the importing policy's currency
            return None
        values: dict[str, n.HeaderItem] = {}
        for item in decl.items:
            if item.key in values:
                self.d.error("E306", f"`{item.key}` is given twice in the header", item.span,
                             notes=((values[item.key].span, "first given here"),))
            values[item.key] = item
        for key in ("title", "country", "currency", "status", "valid"):
            if key not in values:
                shown = "valid from" if key == "valid" else key
                self.d.error("E307", f"the policy header has no `{shown}`", decl.span,
                             f"add `{shown} …` inside `policy {decl.name} {{ … }}`")
        if "currency" in values:
            self.currency = str(values["currency"].values[0])
        country = str(values["country"].values[0]) if "country" in values else ""
        if "country" in values and not (len(country) == 2 and country.isupper()):
            self.d.error("E308", f"country `{country}` is not an ISO 3166 alpha-2 code",
                         values["country"].span, 'write it as two capital letters, e.g. "FR"')
        status = str(values["status"].values[0]) if "status" in values else ""
        if "status" in values and status not in ir.STATUSES:
            self.d.error("E309", f"unknown status `{status}`", values["status"].span,
                         "status is one of: " + ", ".join(ir.STATUSES))
        if "valid" in values:
            start, until = values["valid"].values
            assert isinstance(start, date)
            self.valid_from = start
            self.valid_until = until if isinstance(until, date) else None
            if self.valid_until is not None and self.valid_until < start:
                self.d.error("E310", "the validity ends before it starts", values["valid"].span)
        title = str(values["title"].values[0]) if "title" in values else decl.name
        file = self.scope.units[0].display if self.scope.units else ""
        return ir.PolicyInfo(decl.name, title, country, self.currency, status, self.valid_from,
                             self.valid_until, self.scope.version(), file,
                             self._notes(decl.annotations))

    # ---- types and inputs -------------------------------------------------
    def _enums(self) -> None:
        for decl in self.scope.enums.values():
            members: list[str] = []
            for lit in decl.members:
                value = str(lit.value)
                if value in members:
                    self.d.error("E311", f"`{value}` is listed twice in enum `{decl.name}`", lit.span)
                elif not value or not value.isprintable():
                    self.d.error("E312", "an enum member must be a non-empty printable string",
                                 lit.span)
                else:
                    members.append(value)
            self._notes(decl.annotations)
            self.enums[decl.name] = ir.EnumT(decl.name, tuple(members))

    def _inputs(self) -> None:
        for path, (decl, from_schema) in self.scope.inputs.items():
            if len(decl.path) > 2 or path == "id":
                self.d.error("E313", f"input `{path}` is not a field of the episode", decl.span,
                             "inputs are `date`, `patient.NAME` or `visit.NAME`; `id` is built in")
                continue
            type_ = self._type(decl.type)
            if type_ is None:
                continue
            default = None
            if decl.default is not None:
                default = self._constant(decl.default, type_, f"the default of `{path}`")
            elif not from_schema and self.scope.schema_names:
                self.d.error("E314", f"input `{path}` is not in the shared schema, so it needs a "
                             "default", decl.span,
                             "add `= VALUE`: episodes that follow the shared schema must stay valid")
            self.inputs[path] = ir.InputDef(path, type_, default, self._notes(decl.annotations),
                                            decl.span)
        date_input = self.inputs.get("date")
        if date_input is None and "date" not in self.scope.broken and self.scope.policy:
            self.d.error("E315", "no `input date: date`: dated values need the episode's date",
                         self.scope.policy.span, 'import the shared schema or declare `input date: date`')
        elif date_input is not None and not isinstance(date_input.type, ir.DateT):
            self.d.error("E315", "`date` must be an input of type date", date_input.span)

    # ---- dated values -----------------------------------------------------
    def _dated_rows(self, rows: tuple[n.DatedRow, ...], type_: ir.Type, what: str,
                    span: Span) -> tuple[ir.Dated, ...]:
        out: list[ir.Dated] = []
        for row in rows:
            value = self._constant(row.value, type_, f"a value of `{what}`")
            if row.until is not None and row.until < row.start:
                self.d.error("E320", f"a value of `{what}` ends before it starts", row.span)
                continue
            if value is not None:
                out.append(ir.Dated(row.start, row.until, value, self._notes(row.annotations),
                                    row.span))
        out.sort(key=lambda v: v.start)
        self._coverage(out, what, span)
        return tuple(out)

    def _coverage(self, values: list[ir.Dated], what: str, span: Span) -> None:
        """(d) dated values cover the validity with no hole and no overlap."""
        if not values:
            return
        for prev, cur in zip(values, values[1:]):
            if prev.start == cur.start or (prev.until is not None and prev.until >= cur.start):
                self.d.error("E321", f"two values of `{what}` are in force on {cur.start}", cur.span,
                             "make the earlier one end the day before, or remove one",
                             notes=((prev.span, "the other value"),))
        first = values[0]
        if first.start > self.valid_from:
            self._hole(what, self.valid_from, first.start - timedelta(days=1), first.span)
        for prev, cur in zip(values, values[1:]):
            if prev.until is not None and prev.until + timedelta(days=1) < cur.start:
                self._hole(what, prev.until + timedelta(days=1), cur.start - timedelta(days=1),
                           cur.span)
        last = values[-1]
        if last.until is not None and (self.valid_until is None or last.until < self.valid_until):
            start = last.until + timedelta(days=1)
            self._hole(what, start, self.valid_until, last.span)

    def _hole(self, what: str, start: date, end: date | None, span: Span) -> None:
        if self.valid_until is not None and start > self.valid_until:
            return
        upto = f" to {end}" if end else " onwards"
        self.d.error("E322", f"`{what}` has no value from {start}{upto}, inside the policy's "
                     f"validity", span, "add a `from` line that covers these days",
                     counterexample=self._episode_on(start))

    def _episode_on(self, day: date) -> dict[str, object]:
        """A contract episode dated `day`: defaults, else false / the lowest value / the first member."""
        episode: dict[str, object] = {"id": f"counterexample-{day.isoformat()}"}
        for path, spec in self.inputs.items():
            value: object
            if path == "date":
                value = day.isoformat()
            elif spec.default is not None:
                value = spec.default.value
            elif isinstance(spec.type, ir.IntT):
                value = spec.type.low or 0
            elif isinstance(spec.type, ir.EnumT):
                value = spec.type.members[0] if spec.type.members else ""
            elif isinstance(spec.type, ir.MoneyT):
                value = "0.00"
            elif isinstance(spec.type, ir.DateT):
                value = day.isoformat()
            else:
                value = False
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, date):
                value = value.isoformat()
            *sections, key = path.split(".")
            target = episode
            for section in sections:
                inner = target.setdefault(section, {})
                assert isinstance(inner, dict)
                target = inner
            target[key] = value
        return episode

    def _params(self) -> None:
        for decl in self.scope.params.values():
            type_ = self._type(decl.type)
            if type_ is None:
                continue
            notes = self._notes(decl.annotations)
            if decl.value is not None:
                const = self._constant(decl.value, type_, f"the value of `{decl.name}`")
                if const is None:
                    continue
                values: tuple[ir.Dated, ...] = (
                    ir.Dated(self.valid_from, None, const, ir.Notes(), decl.value.span),)
                dated = False
            else:
                values = self._dated_rows(decl.rows, type_, decl.name, decl.span)
                dated = True
            self.params[decl.name] = ir.Param(decl.name, type_, values, dated, notes, decl.span)

    def _tables(self) -> None:
        for decl in self.scope.tables.values():
            key = self.enums.get(decl.key_type)
            type_ = self._type(decl.type)
            if key is None:
                self.d.error("E323", f"a table is keyed by an enum; `{decl.key_type}` is not one",
                             decl.key_span, did_you_mean(decl.key_type, self.enums))
                continue
            if type_ is None:
                continue
            seen: dict[str, Span] = {}
            rows: list[tuple[n.TableRow, tuple[str, ...]]] = []
            keys: list[str]
            else_row: n.TableRow | None = None
            for row in decl.rows:
                if not row.keys:
                    if else_row is not None:
                        self.d.error("E324", "two `else` rows", row.span)
                    else_row = row
                    continue
                keys = []
                for lit in row.keys:
                    member = str(lit.value)
                    if member not in key.members:
                        self.d.error("E325", f"`{member}` is not a member of `{key.name}`", lit.span,
                                     did_you_mean(member, key.members))
                    elif member in seen:
                        self.d.error("E326", f"`{member}` has two rows in table `{decl.name}`",
                                     lit.span, notes=((seen[member], "first row"),))
                    else:
                        seen[member] = lit.span
                        keys.append(member)
                rows.append((row, tuple(keys)))
            missing = tuple(m for m in key.members if m not in seen)
            if else_row is not None:
                if missing:
                    rows.append((else_row, missing))
                else:
                    self.d.warning("W327", f"the `else` row of `{decl.name}` covers no key",
                                   else_row.span)
            elif missing:
                self.d.error("E327", f"table `{decl.name}` has no row for "
                             + ", ".join(f"`{m}`" for m in missing), decl.span,
                             "add rows for them, or an `else` row")
            out: list[ir.TableRow] = []
            for row, row_keys in rows:
                if row.value is not None:
                    const = self._constant(row.value, type_, f"a value of `{decl.name}`")
                    if const is None:
                        continue
                    values: tuple[ir.Dated, ...] = (
                        ir.Dated(self.valid_from, None, const, ir.Notes(), row.value.span),)
                else:
                    label = f"{decl.name}[{', '.join(row_keys) or 'else'}]"
                    values = self._dated_rows(row.rows, type_, label, row.span)
                out.append(ir.TableRow(row_keys, values, self._notes(row.annotations), row.span))
            self.tables[decl.name] = ir.Table(decl.name, key, type_, tuple(out),
                                              self._notes(decl.annotations), decl.span)

    # ---- lets, constraints, rules, outputs -------------------------------
    def _lets(self) -> dict[str, ir.Let]:
        out: dict[str, ir.Let] = {}
        for name in self.scope.lets:
            let = self._let(name)
            if let is not None:
                out[name] = let
        return out

    def _let(self, name: str) -> ir.Let | None:
        decl = self.scope.lets[name]
        ctx = _Context("let", set())
        try:
            expr = self._expr(decl.expr, ctx, None)
        except _Bad:
            return None
        self.let_types[name] = expr.type
        self._let_deps[name] = ctx.deps
        return ir.Let(name, expr, self._notes(decl.annotations), decl.span)

    def _constraints(self) -> tuple[ir.Constraint, ...]:
        out = []
        for decl in self.scope.constraints.values():
            ctx = _Context("constraint", set())
            try:
                cond = self._condition(decl.condition, ctx)
                req = self._condition(decl.requirement, ctx)
            except _Bad:
                continue
            if ctx.deps:
                self.d.error("E330", "a constraint may only read inputs and parameters", decl.span,
                             "constraints are checked before anything is decided")
                continue
            out.append(ir.Constraint(decl.name, cond, req, self._notes(decl.annotations),
                                     decl.span))
        return tuple(out)

    def _rules(self) -> tuple[ir.Rule, ...]:
        decls = self.scope.rules
        if not decls:
            if self.scope.policy is not None and "pathway" not in self.scope.broken:
                self.d.error("E331", "the policy has no `rules pathway { … }`",
                             self.scope.policy.span, "every policy decides a pathway")
            return ()
        for extra_block in decls[1:]:
            self.d.error("E332", "a second `rules` block", extra_block.span,
                         notes=((decls[0].span, "the first one"),))
        block = decls[0]
        if block.target != "pathway":
            self.d.error("E333", f"rules decide `pathway`, not `{block.target}`", block.span,
                         "write `rules pathway { … }`; other outputs are `output NAME: TYPE = …`")
        block_notes = self._notes(block.annotations)
        seen: dict[str, Span] = {}
        rules: list[ir.Rule] = []
        defaults: list[n.RuleDecl] = []
        for decl in block.rules:
            if decl.name in seen:
                self.d.error("E334", f"rule `{decl.name}` is declared twice", decl.span,
                             notes=((seen[decl.name], "first declared here"),))
            seen[decl.name] = decl.span
            if decl.outcome not in ir.PATHWAYS:
                self.d.error("E335", f"`{decl.outcome}` is not a pathway", decl.outcome_span,
                             did_you_mean(decl.outcome, ir.PATHWAYS)
                             or "pathways: " + ", ".join(ir.PATHWAYS))
            if decl.priority is not None and decl.priority < 1:
                self.d.error("E336", "priorities start at 1 (the highest)", decl.span)
            condition = None
            if decl.condition is not None:
                ctx = _Context("rule", set())
                try:
                    condition = self._condition(decl.condition, ctx)
                except _Bad:
                    continue
                self._rule_deps |= ctx.deps
            else:
                defaults.append(decl)
            notes = self._notes(decl.annotations)
            if not notes.cites and not block_notes.cites:
                self.d.error("E337", f"rule `{decl.name}` cites no source", decl.span,
                             "add `cite SOURCE`: every rule says where it comes from")
            text = ir.format_expr(condition) if condition is not None else "otherwise"
            rules.append(ir.Rule(decl.name, decl.priority, decl.outcome, condition, notes,
                                 decl.span, text))
        for extra in defaults[1:]:
            self.d.error("E338", "a second default rule", extra.span,
                         notes=((defaults[0].span, "the first default"),))
        order = sorted(range(len(rules)), key=lambda i: (
            rules[i].priority is None, rules[i].priority or 0, i))
        return tuple(rules[i] for i in order)

    def _outputs(self) -> dict[str, ir.Output]:
        out: dict[str, ir.Output] = {}
        for name, decl in self.scope.outputs.items():
            if name not in OUTPUT_TYPES:
                self.d.error("E340", f"`{name}` is not an output of the decision contract", decl.span,
                             "outputs are " + ", ".join(OUTPUT_TYPES)
                             + "; use `let` for an intermediate value")
                continue
            type_ = self._type(decl.type)
            if type_ is None:
                continue
            if decl.type.kind != OUTPUT_TYPES[name]:
                self.d.error("E341", f"output `{name}` has type {OUTPUT_TYPES[name]}", decl.type.span)
                continue
            ctx = _Context("output", set())
            branches: list[ir.Branch] = []
            for branch in decl.branches:
                try:
                    cond = self._condition(branch.condition, ctx) if branch.condition else None
                    value = self._expr(branch.value, ctx, type_)
                except _Bad:
                    continue
                if not _assignable(value.type, type_):
                    self.d.error("E342", f"output `{name}` needs {_describe(type_)}, this is "
                                 f"{_describe(value.type)}", branch.value.span,
                                 _conversion_hint(value.type, type_))
                    continue
                text = ir.format_expr(cond) if cond is not None else (
                    "otherwise" if decl.is_case else "always")
                branches.append(ir.Branch(cond, value, self._notes(branch.annotations),
                                          branch.span, text))
            if decl.is_case:
                elses = [i for i, b in enumerate(decl.branches) if b.condition is None]
                if elses and elses[0] != len(decl.branches) - 1:
                    self.d.error("E343", "`else` must be the last branch",
                                 decl.branches[elses[0]].span)
            self._output_deps[name] = ctx.deps
            out[name] = ir.Output(name, type_, tuple(branches), self._notes(decl.annotations),
                                  decl.span)
        if self.scope.policy is not None:
            for name in OUTPUT_TYPES:
                if name not in self.scope.outputs and name not in self.scope.broken:
                    self.d.error("E344", f"the policy does not define output `{name}`",
                                 self.scope.policy.span,
                                 f"add `output {name}: {OUTPUT_TYPES[name]} = …`")
        return out

    def _order(self, lets: dict[str, ir.Let], rules: tuple[ir.Rule, ...],
               outputs: dict[str, ir.Output]) -> list[tuple[str, str]]:
        """A dependency order over lets, the pathway and outputs; a cycle is an error."""
        graph: dict[str, set[str]] = {"pathway": set(self._rule_deps)}
        for name in lets:
            graph[f"let:{name}"] = set(self._let_deps.get(name, set()))
        for name in outputs:
            graph[f"output:{name}"] = set(self._output_deps.get(name, set()))
        order = _stable_order(graph)
        if order is None:
            try:
                TopologicalSorter(graph).prepare()
                cycle: list[str] = list(graph)
            except CycleError as exc:
                cycle = [str(c) for c in exc.args[1]]
            names = " → ".join(c.split(":")[-1] for c in cycle)
            first = cycle[0]
            span = (self.scope.lets[first[4:]].span if first.startswith("let:")
                    else self.scope.outputs[first[7:]].span if first.startswith("output:")
                    else self.scope.rules[0].span)
            self.d.error("E345", f"these values depend on each other: {names}", span,
                         "a value cannot depend on itself, even through others")
            return []
        return [tuple(node.split(":", 1)) if ":" in node else ("pathway", "pathway")  # type: ignore[misc]
                for node in order]

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
            return self._binary(expr, ctx, expected)
        if isinstance(expr, n.Call):
            return self._call(expr, ctx, expected)
        if isinstance(expr, n.Lookup):
            return self._lookup(expr, ctx)
        assert isinstance(expr, n.SetLiteral)
        return self._set(expr, expected)

    def _literal(self, lit: n.Literal, expected: ir.Type | None) -> ir.Expr:
        if lit.kind == "bool":
            return ir.Const(lit.value, ir.BoolT())
        if lit.kind == "int":
            if isinstance(expected, ir.RateT) and lit.value in (0, 1):
                return ir.Const(Decimal(int(lit.value)), ir.RateT())  # type: ignore[arg-type]
            return ir.Const(lit.value, ir.IntT())
        if lit.kind == "decimal":
            assert isinstance(lit.value, Decimal)
            if not Decimal(0) <= lit.value <= Decimal(1):
                self.d.error("E351", f"{lit.value} is not a rate: rates are between 0 and 1",
                             lit.span, f"an amount of money carries its currency: `{lit.value} "
                             f"{self.currency}`")
                raise _Bad
            return ir.Const(lit.value, ir.RateT())
        if lit.kind == "money":
            assert isinstance(lit.value, Decimal)
            if lit.currency != self.currency:
                self.d.error("E352", f"an amount in {lit.currency} in a policy in {self.currency}",
                             lit.span, "currencies never mix: write every amount in "
                             f"{self.currency}")
                raise _Bad
            if lit.value.as_tuple().exponent < -2:  # type: ignore[operator]
                self.d.error("E353", f"{lit.value} {lit.currency} has fractions of a cent", lit.span,
                             "amounts are exact to the cent")
                raise _Bad
            if lit.value >= MAX_MONEY:
                self.d.error("E353", f"{lit.value} {lit.currency} is out of range", lit.span)
                raise _Bad
            return ir.Const(lit.value.quantize(Decimal("0.01")), ir.MoneyT(self.currency))
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
        if len(ref.path) > 1 or ref.path[0] in self.inputs or ref.path[0] == "date":
            path = ".".join(ref.path)
            found = self.inputs.get(path)
            if found is None:
                if path not in self.scope.inputs and path not in self.scope.broken:
                    self.d.error("E356", f"unknown input `{path}`", ref.span,
                                 did_you_mean(path, self.inputs) or "declare it with `input`")
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
            return ir.PathwayRef(PATHWAY_T)
        if name in self.params:
            return ir.ParamRef(name, self.params[name].type)
        if name in self.scope.lets:
            if name not in self.let_types:
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

    def _binary(self, expr: n.Binary, ctx: _Context, expected: ir.Type | None) -> ir.Expr:
        op = expr.op
        if op in ("and", "or"):
            left = self._condition(expr.left, ctx)
            right = self._condition(expr.right, ctx)
            operands: list[ir.Expr] = []
            for side in (left, right):
                if isinstance(side, ir.BoolOp) and side.op == op:
                    operands.extend(side.operands)
                else:
                    operands.append(side)
            return ir.BoolOp(op, tuple(operands))
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
        if op in ("==", "!=", "<", "<=", ">", ">="):
            return self._compare(expr, ctx)
        return self._arith(expr, ctx, expected)

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
        return ir.Compare(expr.op, left, right)

    def _arith(self, expr: n.Binary, ctx: _Context, expected: ir.Type | None) -> ir.Expr:
        left = self._expr(expr.left, ctx, expected)
        right = self._expr(expr.right, ctx, expected)
        lt, rt = left.type, right.type
        op = expr.op
        if op == "*":
            if isinstance(lt, ir.RateT) and isinstance(rt, ir.MoneyT):
                left, right, lt, rt = right, left, rt, lt
            if isinstance(lt, ir.MoneyT) and isinstance(rt, ir.RateT):
                return ir.Arith("*", left, right, ir.MoneyT(lt.currency, exact=False))
            if isinstance(lt, ir.MoneyT) and isinstance(rt, ir.IntT):
                return ir.Arith("*", left, right, lt)
            if isinstance(lt, ir.RateT) and isinstance(rt, ir.RateT):
                return ir.Arith("*", left, right, ir.RateT())
            if isinstance(lt, ir.IntT) and isinstance(rt, ir.IntT):
                return ir.Arith("*", left, right, ir.IntT())
            if isinstance(lt, ir.MoneyT) and isinstance(rt, ir.MoneyT):
                self.d.error("E368", "money times money means nothing", expr.span,
                             "multiply an amount by a rate")
                raise _Bad
            self.d.error("E368", f"cannot multiply {_describe(lt)} by {_describe(rt)}", expr.span)
            raise _Bad
        if isinstance(lt, ir.MoneyT) and isinstance(rt, ir.MoneyT):
            if lt.currency != rt.currency:
                self.d.error("E352", f"{lt.currency} {op} {rt.currency}", expr.span,
                             "currencies never mix")
                raise _Bad
            return ir.Arith(op, left, right, ir.MoneyT(lt.currency, lt.exact and rt.exact))
        if isinstance(lt, ir.RateT) and isinstance(rt, ir.RateT):
            return ir.Arith(op, left, right, ir.RateT())
        if isinstance(lt, ir.IntT) and isinstance(rt, ir.IntT):
            return ir.Arith(op, left, right, ir.IntT())
        self.d.error("E369", f"cannot compute {_describe(lt)} {op} {_describe(rt)}", expr.span,
                     _arith_hint(lt, rt))
        raise _Bad

    def _call(self, call: n.Call, ctx: _Context, expected: ir.Type | None) -> ir.Expr:
        if call.function in ROUNDING:
            if len(call.args) != 2:
                self.d.error("E370", f"{call.function}(AMOUNT, QUANTUM) takes two arguments",
                             call.span, f"for example {call.function}(base * rate, 0.01)")
                raise _Bad
            operand = self._expr(call.args[0], ctx, None)
            quantum_node = call.args[1]
            if not (isinstance(quantum_node, n.Literal) and quantum_node.kind == "decimal"
                    and isinstance(quantum_node.value, Decimal) and quantum_node.value > 0):
                self.d.error("E371", "the rounding quantum is a positive decimal such as 0.01",
                             quantum_node.span)
                raise _Bad
            quantum = quantum_node.value
            if isinstance(operand.type, ir.MoneyT):
                if quantum.as_tuple().exponent < -2:  # type: ignore[operator]
                    self.d.error("E371", "money is rounded to 0.01 or coarser", quantum_node.span)
                    raise _Bad
                return ir.Round(ROUNDING[call.function], operand, quantum,
                                ir.MoneyT(operand.type.currency))
            if isinstance(operand.type, ir.RateT):
                return ir.Round(ROUNDING[call.function], operand, quantum, ir.RateT())
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
            return ir.MinMax(call.function, args, result)
        self.d.error("E374", f"unknown function `{call.function}`", call.span,
                     did_you_mean(call.function, list(ROUNDING) + ["min", "max"])
                     or "functions: " + ", ".join(list(ROUNDING) + ["min", "max"]))
        raise _Bad

    def _lookup(self, lookup: n.Lookup, ctx: _Context) -> ir.Expr:
        table = self.tables.get(lookup.table)
        if table is None:
            if lookup.table not in self.scope.tables and lookup.table not in self.scope.broken:
                self.d.error("E375", f"unknown table `{lookup.table}`", lookup.span,
                             did_you_mean(lookup.table, self.scope.tables))
            raise _Bad
        key = self._expr(lookup.key, ctx, table.key)
        if key.type != table.key:
            self.d.error("E376", f"table `{table.name}` is keyed by {table.key.name}, not by "
                         f"{_describe(key.type)}", lookup.key.span)
            raise _Bad
        return ir.TableRef(table.name, key, table.type)


# ---- type helpers ------------------------------------------------------------


def _stable_order(graph: dict[str, set[str]]) -> list[str] | None:
    """A topological order that keeps declaration order where it can (deterministic)."""
    done: list[str] = []
    placed: set[str] = set()
    pending = list(graph)
    while pending:
        ready = next((node for node in pending if graph[node] & graph.keys() <= placed), None)
        if ready is None:
            return None
        pending.remove(ready)
        placed.add(ready)
        done.append(ready)
    return done


def _same_kind(a: ir.Type, b: ir.Type) -> bool:
    if isinstance(a, ir.MoneyT) and isinstance(b, ir.MoneyT):
        return True
    if isinstance(a, ir.IntT) and isinstance(b, ir.IntT):
        return True
    return a == b


def _assignable(actual: ir.Type, expected: ir.Type) -> bool:
    if isinstance(expected, ir.MoneyT):
        return isinstance(actual, ir.MoneyT) and actual.currency == expected.currency \
            and actual.exact
    if isinstance(expected, ir.IntT):
        return isinstance(actual, ir.IntT)
    return actual == expected


def _describe(type_: ir.Type) -> str:
    if isinstance(type_, ir.MoneyT):
        return f"an amount in {type_.currency}" if type_.exact else \
            f"an unrounded amount in {type_.currency}"
    if isinstance(type_, ir.EnumT):
        return f"a {type_.name}"
    if isinstance(type_, ir.IntT):
        return "a whole number"
    return {"bool": "true/false", "date": "a date", "rate": "a rate"}.get(str(type_), str(type_))


def _conversion_hint(actual: ir.Type, expected: ir.Type) -> str | None:
    if isinstance(actual, ir.MoneyT) and not actual.exact and isinstance(expected, ir.MoneyT):
        return "round it explicitly, e.g. round_half_up(base * rate, 0.01)"
    if isinstance(actual, ir.RateT) and isinstance(expected, ir.MoneyT):
        return f"a rate is not money; write an amount with its currency, e.g. 2.00 {expected.currency}"
    if isinstance(actual, ir.MoneyT) and isinstance(expected, ir.RateT):
        return "money is not a rate; a rate is a plain decimal between 0 and 1, e.g. 0.70"
    if isinstance(actual, ir.IntT) and isinstance(expected, ir.MoneyT):
        return f"an amount carries its currency, e.g. 25.00 {expected.currency}"
    return None


def _condition_hint(type_: ir.Type) -> str | None:
    if isinstance(type_, ir.EnumT):
        return f"compare it: `… == MEMBER` or `… in {{A, B}}`"
    return "compare it with a value, e.g. `patient.age < 16`"


def _compare_hint(a: ir.Type, b: ir.Type) -> str | None:
    if isinstance(a, ir.DateT) or isinstance(b, ir.DateT):
        return "dates compare with dates written YYYY-MM-DD"
    if isinstance(a, ir.RateT) and isinstance(b, ir.MoneyT) or \
            isinstance(a, ir.MoneyT) and isinstance(b, ir.RateT):
        return "a rate is not money"
    if isinstance(a, ir.BoolT) or isinstance(b, ir.BoolT):
        return "a bool is not a number: use it directly, or `not …`"
    return None


def _arith_hint(a: ir.Type, b: ir.Type) -> str | None:
    if isinstance(a, ir.MoneyT) and isinstance(b, ir.RateT) or \
            isinstance(a, ir.RateT) and isinstance(b, ir.MoneyT):
        return "money and rates are multiplied, not added: base * rate"
    return None


def _looks_like_member(expr: n.Expr, checker: Checker) -> bool:
    if isinstance(expr, n.Literal):
        return expr.kind in ("string", "name")
    if isinstance(expr, n.Ref) and len(expr.path) == 1:
        name = expr.path[0]
        return name not in checker.value_names and name not in checker.inputs
    return False


def check(scope: Scope, diagnostics: Diagnostics) -> ir.Program | None:
    return Checker(scope, diagnostics).run()
