"""Types, currencies and dated values: the resolved scope → the IR.

Checks, each a diagnostic with a code: names resolve (with did-you-mean), types
agree (a rate is not money, dates are dates, a bool is not an int), currencies
never mix, a product of money is rounded explicitly before it becomes an
output, dated values cover the policy's validity without holes or overlaps,
tables cover every key once, and values do not depend on themselves.
"""


from __future__ import annotations

from datetime import date
from graphlib import CycleError, TopologicalSorter

from .. import ir
from ..syntax import nodes as n
from ..diagnostics import Diagnostics, Span, did_you_mean
from .load import Scope
from .base import MINOR_UNITS, _Bad, _Context
from .accumulators import AccumulatorChecker
from .types import _assignable, _conversion_hint, _describe


# What every decision holds besides the declared outputs (its JSON keys).
DECISION_FIELDS = ("id", "policy", "policy_version", "pathway", "rule", "currency", "sources",
                   "overrides", "trace")


class Checker(AccumulatorChecker):
    """The whole check: declarations in order, then the evaluation order."""

    # ---- entry ------------------------------------------------------------
    def run(self) -> ir.Program | None:
        policy = self._policy()
        sources = tuple(ir.Source(s.name, s.document, s.title) for s in self.scope.sources.values())
        self._enums()
        self._decision_pathways()
        self._inputs()
        self._params()
        self._tables()
        self._accumulator_inputs()
        lets = self._lets()
        constraints = self._constraints()
        rules = self._rules()
        declared = self._decision_outputs()
        outputs = self._outputs()
        self._accumulator_adds()
        order = self._order(lets, rules, outputs)
        if policy is None or self.d.has_errors:
            return None
        lets_sorted = tuple(lets[name] for kind, name in order if kind == "let")
        outputs_sorted = tuple(outputs[name] for kind, name in order if kind == "output")
        schedule = tuple(ir.PathwayStep() if kind == "pathway" else
                         ir.LetStep(name) if kind == "let" else ir.OutputStep(name)
                         for kind, name in order)
        return ir.Program(policy, sources, tuple(self.enums.values()), tuple(self.inputs.values()),
                          constraints, tuple(self.params.values()), tuple(self.tables.values()),
                          lets_sorted, rules, outputs_sorted, schedule,
                          ir.Decision(self.pathway_t, declared),
                          tuple(self.accumulators.values()))

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
            decimals = MINOR_UNITS.get(self.currency)
            if decimals is None:
                self.d.error("E316", f"currency `{self.currency}` has no known minor unit",
                             values["currency"].span,
                             did_you_mean(self.currency, MINOR_UNITS)
                             or "an ISO 4217 code such as EUR, MAD, GBP, TND, JPY")
            else:
                self.decimals = decimals
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
                             "an input is a top-level field `NAME` (such as `date`) or a field "
                             "`SECTION.NAME` of a section (such as `patient.age`); `id` is "
                             "built in")
                continue
            type_ = self._type(decl.type)
            if type_ is None:
                continue
            if isinstance(type_, ir.DecimalT):
                self.d.error("E303", f"input `{path}` cannot be a decimal", decl.type.span,
                             "an episode's numbers are ints, amounts or rates; a decimal is "
                             "computed (an output, a parameter, a table value, a let)")
                continue
            default = None
            if isinstance(type_, ir.IdT):
                default = self._id_input(path, decl)
            elif decl.default is not None:
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

    # ---- the decision block -----------------------------------------------
    def _decision_block(self) -> n.DecisionDecl | None:
        """The one decision block of the policy and its imports (E346 none, E347 two)."""
        blocks = self.scope.decisions
        if not blocks:
            if self.scope.policy is not None:
                self.d.error("E346", "the policy declares no `decision { … }`",
                             self.scope.policy.span,
                             "declare the pathways and outputs of a decision: `decision { pathway "
                             "{ … } output NAME: TYPE … }`, here or in an imported schema")
            return None
        for extra in blocks[1:]:
            self.d.error("E347", "a second `decision` block", extra.span,
                         "a policy and its imports declare one decision",
                         notes=((blocks[0].span, "the first one"),))
        return blocks[0]

    def _decision_pathways(self) -> None:
        """The pathways: an enum named `pathway`, which rules target and values compare with."""
        block = self._decision_block()
        if block is None:
            return
        if not block.pathways:
            self.d.error("E346", "the decision declares no pathways", block.span,
                         "add `pathway { NAME, NAME, … }` inside `decision { … }`")
            return
        for extra in block.pathways[1:]:
            self.d.error("E347", "a second `pathway { … }` in the decision", extra.span,
                         notes=((block.pathways[0].span, "the first one"),))
        item = block.pathways[0]
        members: list[str] = []
        for lit in item.members:
            value = str(lit.value)
            if value in members:
                self.d.error("E311", f"`{value}` is listed twice in the pathways", lit.span)
            elif lit.kind != "name":
                self.d.error("E312", "a pathway is a name (letters, digits and `_`)", lit.span)
            else:
                members.append(value)
        self._notes(item.annotations)
        if "pathway" in self.enums:
            self.d.error("E204", "enum `pathway` is declared twice", item.span,
                         "the decision block declares the pathways; rename the other enum",
                         notes=((self.scope.enums["pathway"].span, "the other one"),))
        self.pathway_t = ir.EnumT("pathway", tuple(members))
        self.enums["pathway"] = self.pathway_t

    def _decision_outputs(self) -> tuple[ir.DeclaredOutput, ...]:
        """The declared outputs, in decision order: names once (E348), a type, a role at
        most once each and only on money (E349)."""
        block = self.scope.decisions[0] if self.scope.decisions else None
        if block is None:
            return ()
        out: list[ir.DeclaredOutput] = []
        roles: dict[ir.Role, n.DecisionOutput] = {}
        for decl in block.outputs:
            if decl.name in self.declared:
                self.d.error("E348", f"output `{decl.name}` is declared twice in the decision",
                             decl.span, notes=((self.declared[decl.name][0].span,
                                                "first declared here"),))
                continue
            if decl.name in DECISION_FIELDS:
                self.d.error("E348", f"`{decl.name}` is a field of every decision", decl.span,
                             "choose another name; a decision already holds "
                             + ", ".join(DECISION_FIELDS))
                continue
            type_ = self._type(decl.type)
            if type_ is None:
                continue
            role: ir.Role | None = None
            if decl.role is not None:
                span = decl.role_span or decl.span
                if decl.role not in set(ir.Role):
                    self.d.error("E349", f"`totals {decl.role}` is not a role", span,
                                 "write `totals insurer` or `totals patient`")
                elif not isinstance(type_, ir.MoneyT):
                    self.d.error("E349", f"`{decl.name}` is {_describe(type_)}; only money is "
                                 "totalled", span)
                elif ir.Role(decl.role) in roles:
                    self.d.error("E349", f"two outputs total `{decl.role}`", span,
                                 notes=((roles[ir.Role(decl.role)].span, "the first one"),))
                else:
                    role = ir.Role(decl.role)
                    roles[role] = decl
            notes = self._notes(decl.annotations)
            note = " ".join(text for kind, text in notes.remarks if kind == "note")
            self.declared[decl.name] = (decl, type_)
            out.append(ir.DeclaredOutput(decl.name, type_, role, note))
        return tuple(out)

    # ---- lets, constraints, rules, outputs -------------------------------
    def _lets(self) -> dict[str, ir.Let]:
        """Every let, typed after the lets it reads (so that typing never recurses from let
        to let, however long a chain of lets is); a cycle is E345."""
        typed: dict[str, ir.Let] = {}
        for name in self._let_order():
            if name in self._failed_lets:
                continue
            let = self._let(name)
            if let is not None:
                typed[name] = let
        return {name: typed[name] for name in self.scope.lets if name in typed}

    def _let_order(self) -> list[str]:
        """The lets, each after the lets it reads (an iterative depth-first search); a let
        reached again while its own reads are being followed closes a cycle: E345."""
        reads: dict[str, list[tuple[str, Span]]] = {}
        for name, decl in self.scope.lets.items():
            reads[name] = [(node.path[0], node.span) for node in n.walk(decl.expr)
                           if isinstance(node, n.Ref) and len(node.path) == 1
                           and node.path[0] in self.scope.lets and node.path[0] != "date"
                           and node.path[0] not in self.inputs]
        order: list[str] = []
        state: dict[str, int] = {}  # 1: being followed, 2: done
        for root in self.scope.lets:
            if root in state:
                continue
            state[root] = 1
            stack: list[tuple[str, int]] = [(root, 0)]
            while stack:
                name, index = stack[-1]
                if index == len(reads[name]):
                    stack.pop()
                    state[name] = 2
                    order.append(name)
                    continue
                stack[-1] = (name, index + 1)
                target, span = reads[name][index]
                if state.get(target) == 1:
                    self.d.error("E345", f"`{target}` depends on itself", span)
                    self._failed_lets.add(target)
                elif target not in state:
                    state[target] = 1
                    stack.append((target, 0))
        return order

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
            pathways = self.pathway_t.members
            if decl.outcome not in pathways and self.scope.decisions:
                self.d.error("E335", f"`{decl.outcome}` is not a pathway of the decision",
                             decl.outcome_span, did_you_mean(decl.outcome, pathways)
                             or "the decision's pathways: " + ", ".join(pathways))
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
            if name not in self.declared:
                if self.scope.decisions:
                    self.d.error("E340", f"`{name}` is not an output of the decision", decl.span,
                                 "the decision's outputs are " + ", ".join(self.declared)
                                 + "; declare it in `decision { … }`, or use `let` for an "
                                 "intermediate value")
                continue
            type_ = self._type(decl.type)
            if type_ is None:
                continue
            declared_type = self.declared[name][1]
            if type_ != declared_type:
                self.d.error("E341", f"output `{name}` is {type_}, the decision declares it "
                             f"{declared_type}", decl.type.span,
                             f"write `output {name}: {declared_type} = …`",
                             notes=((self.declared[name][0].span, "declared here"),))
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
            for name, (decision_output, declared_type) in self.declared.items():
                if name not in self.scope.outputs and name not in self.scope.broken:
                    self.d.error("E344", f"the policy does not define output `{name}`, which "
                                 "the decision declares", self.scope.policy.span,
                                 f"add `output {name}: {declared_type} = …`",
                                 notes=((decision_output.span, "declared here"),))
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


def check(scope: Scope, diagnostics: Diagnostics) -> ir.Program | None:
    return Checker(scope, diagnostics).run()
