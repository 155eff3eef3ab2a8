"""What one policy's documentation page shows, computed from its IR.

Every rule with its condition in words, its priority, pathway, sources, notes and flags
(`unconfirmed`, `assumption`); every parameter and table row with its dated values as a
timeline; how each output is computed; the decision contract (inputs, outputs, pathways);
each accumulator (its keys, period, the output it adds and its cap); the open questions
(every `unconfirmed` and `assumption`, wherever it is written); the sources with what
cites them.  Plain data for the templates: no HTML here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import PurePath

from ...ir import nodes as n
from ...ir.citations import Citations, branch_text, location
from ...ir.printer import format_expr, format_value
from .words import words

FLAGS = ("unconfirmed", "assumption")  # remarks that are open questions
HORIZON = timedelta(days=365)  # how far an open-ended timeline is drawn past its last change


@dataclass(frozen=True, slots=True)
class Cite:
    id: str
    document: str
    title: str


@dataclass(frozen=True, slots=True)
class Remarks:
    """A declaration's citations, notes and flags, side by side."""

    cites: tuple[Cite, ...]
    notes: tuple[str, ...]
    flags: tuple[tuple[str, str], ...]  # (unconfirmed | assumption, text)


@dataclass(frozen=True, slots=True)
class Period:
    """One dated value on a timeline: from `start` to `until` (inclusive, "" when open)."""

    start: str
    until: str
    value: str
    remarks: Remarks
    left: str  # the bar's position and width on the timeline, in percent
    width: str


@dataclass(frozen=True, slots=True)
class RuleView:
    anchor: str
    name: str
    priority: str  # "1", … or "default"
    pathway: str
    words: str
    text: str  # the condition as written
    location: str
    remarks: Remarks
    read_sources: tuple[Cite, ...]  # documents behind the values the condition reads


@dataclass(frozen=True, slots=True)
class BranchView:
    label: str  # when | else | always
    words: str
    text: str
    value: str
    remarks: Remarks


@dataclass(frozen=True, slots=True)
class OutputView:
    anchor: str
    name: str
    type: str
    location: str
    remarks: Remarks
    branches: tuple[BranchView, ...]


@dataclass(frozen=True, slots=True)
class ValueView:
    """A parameter, or one row of a table, with its timeline."""

    anchor: str
    name: str
    type: str
    location: str
    remarks: Remarks
    periods: tuple[Period, ...]
    constant: bool = False  # declared `= value`: one value for the whole validity


@dataclass(frozen=True, slots=True)
class TableView:
    anchor: str
    name: str
    key: str
    type: str
    location: str
    remarks: Remarks
    rows: tuple[ValueView, ...]


@dataclass(frozen=True, slots=True)
class InputView:
    path: str
    type: str
    default: str  # "" when required
    notes: tuple[str, ...]
    declared_in: str  # the file's base name (the policy, or a schema it imports)


@dataclass(frozen=True, slots=True)
class ContractOutput:
    name: str
    type: str
    role: str
    note: str


@dataclass(frozen=True, slots=True)
class Question:
    kind: str  # unconfirmed | assumption
    text: str
    where: str  # "rule under_16", "table base_inside, row psychiatry, from 2017-05-01"
    anchor: str


@dataclass(frozen=True, slots=True)
class SourceView:
    id: str
    document: str
    title: str
    cited_by: tuple[tuple[str, str], ...]  # (what, anchor)


@dataclass(frozen=True, slots=True)
class NamedView:
    """A let or a constraint: a name, what it says in words and as written."""

    anchor: str
    name: str
    words: str
    text: str
    location: str
    remarks: Remarks


@dataclass(frozen=True, slots=True)
class AccumulatorView:
    """An accumulator: what it adds up, per what key, over what period, up to what cap.

    The cap is a parameter (`cap_periods`: its dated values, the timeline) or a let
    (`cap_text`: its expression, computed for each episode)."""

    anchor: str
    name: str
    type: str
    keys: tuple[str, ...]
    period: str  # as written: calendar_year
    period_words: str
    adds: str  # the output added
    field: str  # the input holding the amount used before the episode (NAME_used)
    cap: str
    cap_kind: str  # parameter | let
    cap_anchor: str
    cap_periods: tuple[Period, ...]
    cap_text: str
    location: str
    remarks: Remarks


PERIOD_WORDS = {"calendar_year": "a calendar year: from zero again on 1 January"}


@dataclass(slots=True)
class PolicyPage:
    id: str
    title: str
    status: str
    country: str
    currency: str
    valid: str
    version: str
    file: str
    remarks: Remarks
    rules: list[RuleView] = field(default_factory=list)
    outputs: list[OutputView] = field(default_factory=list)
    params: list[ValueView] = field(default_factory=list)
    tables: list[TableView] = field(default_factory=list)
    lets: list[NamedView] = field(default_factory=list)
    constraints: list[NamedView] = field(default_factory=list)
    accumulators: list[AccumulatorView] = field(default_factory=list)
    inputs: list[InputView] = field(default_factory=list)
    contract: list[ContractOutput] = field(default_factory=list)
    pathways: tuple[str, ...] = ()
    questions: list[Question] = field(default_factory=list)
    sources: list[SourceView] = field(default_factory=list)
    timeline: tuple[str, str] = ("", "")  # the dates at both ends of every timeline
    schemas: tuple[tuple[str, str], ...] = ()  # (schema name, file) this policy imports


class _Builder:
    def __init__(self, program: n.Program) -> None:
        self.program = program
        self.sources = {s.id: s for s in program.sources}
        self.citations = Citations(program)
        self.cited_by: dict[str, list[tuple[str, str]]] = {s.id: [] for s in program.sources}
        self.questions: list[Question] = []
        policy = program.policy
        changes = program.change_dates()
        self.start = policy.valid_from
        last = max((policy.valid_from, *changes))
        self.end = policy.valid_until or (last + HORIZON)
        self.open_ended = policy.valid_until is None

    def cite(self, source_id: str) -> Cite:
        source = self.sources[source_id]
        return Cite(source.id, source.document, source.title or "")

    def remarks(self, notes: n.Notes, what: str, anchor: str, record: bool = True) -> Remarks:
        """The remarks of one declaration; recorded (what cites each source, the open
        questions) unless `record` is false: a value shown a second time elsewhere."""
        flags = tuple((kind, text) for kind, text in notes.remarks if kind in FLAGS)
        if record:
            self._record(notes, flags, what, anchor)
        return Remarks(tuple(self.cite(c) for c in notes.cites),
                       tuple(text for kind, text in notes.remarks if kind not in FLAGS), flags)

    def _record(self, notes: n.Notes, flags: tuple[tuple[str, str], ...], what: str,
                anchor: str) -> None:
        for source_id in notes.cites:
            if (what, anchor) not in self.cited_by[source_id]:
                self.cited_by[source_id].append((what, anchor))
        self.questions += [Question(kind, text, what, anchor) for kind, text in flags]

    def _percent(self, day: date) -> float:
        total = max((self.end - self.start).days + 1, 1)
        return min(max((day - self.start).days / total, 0.0), 1.0) * 100

    def periods(self, values: tuple[n.Dated, ...], what: str, anchor: str, record: bool = True
                ) -> tuple[Period, ...]:
        out = []
        ordered = sorted(values, key=lambda d: d.start)
        for dated, later in zip(ordered, [*ordered[1:], None]):
            # a value is in force until its own end or the day before the next one starts
            until = dated.until if dated.until is not None and dated.until < date.max else None
            if later is not None and (until is None or until >= later.start):
                until = later.start - timedelta(days=1)
            start = max(dated.start, self.start)
            stop = min(until or self.end, self.end)
            left = self._percent(start)
            width = max(self._percent(stop + timedelta(days=1)) - left, 0.5)
            out.append(Period(str(dated.start), str(until) if until else "",
                              format_value(dated.value.value, dated.value.type),
                              self.remarks(dated.notes, f"{what}, from {dated.start}", anchor,
                                           record),
                              f"{left:.2f}", f"{width:.2f}"))
        return tuple(out)

    def read_sources(self, rule: n.Rule) -> tuple[Cite, ...]:
        """Documents behind the values a rule's condition reads, in any period."""
        documents = {s.document: s.id for s in self.program.sources}
        own = set(rule.notes.cites)
        found: dict[str, None] = {}
        for start in (self.start, *self.program.change_dates()):
            for document in self.citations.referenced(rule.condition, start):
                found[document] = None
        return tuple(self.cite(documents[d]) for d in found if documents[d] not in own)


def anchor(kind: str, name: str) -> str:
    return f"{kind}-{name}".replace(" ", "-").replace(",", "")


def build_page(program: n.Program, schemas: tuple[tuple[str, str], ...] = ()) -> PolicyPage:
    """The page of one checked policy; `schemas`: the (name, file) of the schemas it imports."""
    b = _Builder(program)
    p = program.policy
    valid = f"from {p.valid_from}" + (f" until {p.valid_until}" if p.valid_until else "")
    page = PolicyPage(p.id, p.title, p.status, p.country, p.currency, valid, p.version,
                      PurePath(p.file).name, b.remarks(p.notes, "the policy", "policy"))
    page.timeline = (str(b.start), str(b.end) + (" …" if b.open_ended else ""))
    page.schemas = schemas
    page.pathways = program.decision.pathways
    for rule in program.rules:
        a = anchor("rule", rule.name)
        page.rules.append(RuleView(
            a, rule.name, "default" if rule.priority is None else str(rule.priority),
            rule.pathway, words(rule.condition),
            rule.text if rule.condition is not None else "",
            location(rule.span), b.remarks(rule.notes, f"rule {rule.name}", a),
            b.read_sources(rule)))
    for output in program.outputs:
        a = anchor("output", output.name)
        own = b.remarks(output.notes, f"output {output.name}", a)
        branches = []
        for branch in output.branches:
            label, text = branch_text(output, branch)
            where = f"output {output.name}, {label}" + (
                f" {branch.text}" if branch.condition is not None else "")
            branches.append(BranchView(
                label, words(branch.condition) if branch.condition is not None else "",
                branch.text if branch.condition is not None else "",
                format_expr(branch.value), b.remarks(branch.notes, where, a)))
        page.outputs.append(OutputView(a, output.name, str(output.type), location(output.span),
                                       own, tuple(branches)))
    for param in program.params:
        a = anchor("param", param.name)
        page.params.append(ValueView(a, param.name, str(param.type), location(param.span),
                                     b.remarks(param.notes, f"parameter {param.name}", a),
                                     b.periods(param.values, f"parameter {param.name}", a),
                                     not param.dated and len(param.values) == 1))
    for table in program.tables:
        a = anchor("table", table.name)
        rows = []
        for row in table.rows:
            keys = ", ".join(row.keys)
            what = f"table {table.name}, row {keys}"
            rows.append(ValueView(a, keys, str(table.type), location(row.span),
                                  b.remarks(row.notes, what, a),
                                  b.periods(row.values, what, a)))
        page.tables.append(TableView(a, table.name, table.key.name, str(table.type),
                                     location(table.span),
                                     b.remarks(table.notes, f"table {table.name}", a),
                                     tuple(rows)))
    for let in program.lets:
        a = anchor("let", let.name)
        said = words(let.expr) if isinstance(let.expr.type, n.BoolT) else ""
        page.lets.append(NamedView(a, let.name, said, format_expr(let.expr), location(let.span),
                                   b.remarks(let.notes, f"let {let.name}", a)))
    for constraint in program.constraints:
        a = anchor("constraint", constraint.name)
        said = f"when {words(constraint.condition)}, required: {words(constraint.requirement)}"
        text = (f"{format_expr(constraint.condition)} requires "
                f"{format_expr(constraint.requirement)}")
        page.constraints.append(NamedView(a, constraint.name, said, text,
                                          location(constraint.span),
                                          b.remarks(constraint.notes,
                                                    f"constraint {constraint.name}", a)))
    page.accumulators = [_accumulator(b, acc) for acc in program.accumulators]
    for item in program.inputs:
        a = "contract"
        remarks = b.remarks(item.notes, f"input {item.path}", a)
        default = format_value(item.default.value, item.type) if item.default else ""
        page.inputs.append(InputView(item.path, str(item.type), default, remarks.notes,
                                     PurePath(item.span.file).name))
    page.contract = [ContractOutput(o.name, str(o.type), o.role.value if o.role else "", o.note)
                     for o in program.decision.outputs]
    page.questions = b.questions
    page.sources = [SourceView(s.id, s.document, s.title or "", tuple(b.cited_by[s.id]))
                    for s in program.sources]
    return page


def _accumulator(b: _Builder, acc: n.Accumulator) -> AccumulatorView:
    """An accumulator's view; its cap's dated values are the parameter's, shown again (their
    citations and flags are the parameter's own, recorded there)."""
    a = anchor("accumulator", acc.name)
    remarks = b.remarks(acc.notes, f"accumulator {acc.name}", a)
    param = next((p for p in b.program.params if p.name == acc.cap), None)
    let = next((x for x in b.program.lets if x.name == acc.cap), None)
    periods = (b.periods(param.values, f"parameter {param.name}", anchor("param", param.name),
                         record=False) if param is not None else ())
    return AccumulatorView(
        a, acc.name, str(acc.type), acc.keys, acc.period, PERIOD_WORDS.get(acc.period, acc.period),
        acc.adds, acc.field, acc.cap, "parameter" if param is not None else "let",
        anchor("param" if param is not None else "let", acc.cap), periods,
        format_expr(let.expr) if let is not None else "", location(acc.span), remarks)
