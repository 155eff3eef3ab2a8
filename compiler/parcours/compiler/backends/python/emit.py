"""IR → Python module text, through Jinja2 templates.

Safety by construction: every identifier in the output is a fixed prefix plus a
name the grammar already limited to ``[a-z_][a-z0-9_]*`` (or an index), or a
constant's name built by :class:`_Names` from ``[A-Z0-9_]`` only; every value
from the policy (strings, amounts, dates, citations, remarks) goes through
:func:`py_literal`, which emits ``repr`` of a Python value; the comments that map
the code back to the policy (``# france.parcours:73 not_a_physician``) hold only
a file name reduced to ``[A-Za-z0-9._-]``, a line number and such names.  The
text is parsed with ``ast.parse`` before it leaves, so a compiler bug cannot
ship a broken module.  Output is deterministic: same IR, same bytes, whatever
the current directory (a file is named by its base name only).

Constants are named after what they are: a parameter's value after the
parameter (``_NORMAL_RATE``; a dated one after the day it starts,
``_PARTICIPATION_FORFAITAIRE_2024_05_15``), a set after the rule, let or
output branch that first tests it (``_NOT_A_PHYSICIAN``), an amount in an
expression after its currency and value (``_EUR_0_00``); a clash takes a suffix.

Example: ``output rate: rate = case { when ald_care: full_rate  else: normal_rate }``
becomes::

    if l_ald_care:
        o_rate = params.p_full_rate
        b_rate = 0
    else:
        o_rate = params.p_normal_rate
        b_rate = 1
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import assert_never

import jinja2

from parcours.runtime import (ABI_VERSION, GENERATED_IMPORTS, MAX_AMOUNT, MINOR_UNITS, ROUNDING,
                              EpisodeError, to_money)

from ... import ir
from ...ir import ops
from ...ir.citations import Citations, branch_text, location
from . import chains, forms, known, lets, memo, shared
from ...meta import VERSION
from .spelling import (IDENT, CodegenError, _Names, episode_type, ident, py_literal, py_type,
                       source_file, type_name, where)

GENERATOR = f"parcours {VERSION}"
# The fast path for amounts in the generated module: at most this many integer digits,
# so that every amount it accepts is below the runtime's limit.
_AMOUNT_DIGITS = len(str(int(MAX_AMOUNT))) - 1
if MAX_AMOUNT != 10 ** _AMOUNT_DIGITS:  # pragma: no cover - a wrong edit of the runtime
    raise ImportError("MAX_AMOUNT must be a power of ten for the generated fast path")


def _python_arith(op: ir.ArithOp) -> tuple[str, int]:
    """The Python operator for an IR operator, and its precedence level (operators of one
    level chain flat).  Exhaustive: a new operator is a mypy error here until it has a
    Python spelling with the language's exact semantics (`/` on two ints would be a float)."""
    match op:
        case ir.ArithOp.ADD | ir.ArithOp.SUB:
            return ("+" if op is ir.ArithOp.ADD else "-"), 1
        case ir.ArithOp.MUL:
            return "*", 2
        case ir.ArithOp.DIV:  # only under a Round, which emits it (`_Emitter.divide`)
            raise CodegenError("a division outside its rounding")
        case _:
            assert_never(op)


# ---- view models ---------------------------------------------------------------


@dataclass(slots=True)
class FieldView:
    path: str
    key: str
    var: str
    kind: str
    default: str | None
    low: int | None = None
    high: int | None = None
    enum: str = ""
    annotation: str = ""  # its type in the episode's TypedDict
    default_ready: bool = False  # an amount's default is what checking it would give


@dataclass(slots=True)
class TypedView:
    """One `TypedDict` of the episode: its name and its fields (key, annotation, required)."""

    name: str
    fields: list[tuple[str, str, bool]]


@dataclass(slots=True)
class SectionView:
    name: str
    var: str
    keys: str
    fields: list[FieldView] = field(default_factory=list)
    type_name: str = ""


@dataclass(slots=True)
class ParamView:
    field: str
    annotation: str
    default: str
    spec: str


@dataclass(slots=True)
class StepView:
    kind: str  # "let" | "pathway" | "output"
    var: str = ""
    expr: str = ""
    name: str = ""
    branches: list[chains.BranchView] = field(default_factory=list)
    chain: list[chains.BranchView] = field(default_factory=list)  # as `decide` nests them
    has_else: bool = True
    rules: list[tuple[str, int, str]] = field(default_factory=list)  # (condition, index, where)
    default: int | None = None
    where: str = ""  # a let's or the default rule's place in the policy
    money: bool = False


class _Emitter:
    """Builds the view of one program: constants, fields, steps, metadata."""

    def __init__(self, program: ir.Program) -> None:
        self.p = program
        self.citations = Citations(program)
        self.constants: dict[str, str] = {}  # name → literal, in the order of first use
        self.keys: dict[tuple[str, str], str] = {}  # (group, literal) → name
        self.names = _Names({"_AMOUNT", "_BOUNDS", "_RULE_NAMES", "_RULE_PATHWAYS",
                             "_RULE_SOURCES", "_RULE_INFO"}
                            | {f"_{kind}_{o.name.upper()}" for o in program.outputs
                               for kind in ("SOURCES", "INFO")})
        self.context: tuple[object, ...] = ("K",)  # what sets found in expressions are named after
        self.temps = 0  # names for temporaries in expressions
        self.rounding_modes: set[str] = set()  # the decimal rounding constants the module uses
        self.helpers: set[str] = set()  # "divide", "years", "timedelta": emitted when used
        self.memos = memo.Memos(program)  # rounded products of few values, remembered
        self.moved = lets.used_once(program)  # lets written where they are read
        self.shared: dict[ir.Expr, str] = {}  # tests several steps make, made once first
        self.periods = (program.policy.valid_from,) + program.change_dates()
        self.inputs = {i.path: f"i{n}_{i.path.replace('.', '_')}" for n, i in
                       enumerate(program.inputs)}
        for var in self.inputs.values():
            if not IDENT.match(var):
                raise CodegenError(f"invalid input name {var!r}")
        self.enum_consts = {e.name: self.const(frozenset(e.members), e.name, "MEMBERS")
                            for e in program.enums}

    def const(self, value: object, *hint: object, group: str | None = None) -> str:
        """The module-level constant holding `value`, named after `hint`.  One constant per
        hint and value; with a `group`, one per value in the group, named at first use."""
        literal = py_literal(value)
        key = (group if group is not None else "/".join(map(str, hint)), literal)
        name = self.keys.get(key)
        if name is None:
            name = self.names.fresh(*hint)
            self.keys[key] = name
            self.constants[name] = literal
        return name

    def value_const(self, value: object, type_: ir.Type | None) -> str:
        """A constant named after its value: `_EUR_0_00`, `_RATE_0_70`, `_DATE_2024_01_01`."""
        if isinstance(value, date):
            return self.const(value, "DATE", value.isoformat())
        if isinstance(value, Decimal):
            kind_ = self.p.policy.currency if isinstance(type_, ir.MoneyT) else \
                "RATE" if isinstance(type_, ir.RateT) else "DECIMAL"
            return self.const(value, kind_, value)
        return self.const(value, *self.context, group="set")

    # ---- expressions ---------------------------------------------------------
    def expr(self, e: ir.Expr) -> str:
        """The Python text of an expression: a `match` over every IR node kind, so that mypy
        names this method when a node is added to `ir.Expr`."""
        if self.shared and shared.plain_test(e) and e in self.shared:
            return self.shared[e]
        match e:
            case ir.Const():
                if isinstance(e.value, (bool, int)):
                    return repr(e.value)
                if isinstance(e.value, str):
                    return py_literal(e.value)
                return self.value_const(e.value, e.type)
            case ir.Input():
                return self.inputs[e.path]
            case ir.ParamRef():
                access = f"params.{ident('p', e.name)}"
                return f"{access}[period]" if self.p.param(e.name).dated else access
            case ir.TableRef():
                return f"params.{ident('t', e.table)}[{self.expr(e.key)}][period]"
            case ir.LetRef():  # a let read once is evaluated where it is read
                moved = self.moved.get(e.name)
                return ident("l", e.name) if moved is None else self.expr(moved)
            case ir.OutputRef():
                return ident("o", e.name)
            case ir.PathwayRef():
                return "pathway"
            case ir.Not():
                return f"(not {self.expr(e.operand)})"
            case ir.BoolOp():
                return "(" + f" {e.op.value} ".join(self.expr(o) for o in e.operands) + ")"
            case ir.Compare():  # the IR's comparison operators are spelt as Python's
                return f"({self.expr(e.left)} {e.op.value} {self.expr(e.right)})"
            case ir.InSet():
                op = "not in" if e.negated else "in"
                members = self.const(e.members, *self.context, group="set")
                return f"({self.expr(e.operand)} {op} {members})"
            case ir.Arith():
                return self.arith(e)
            case ir.Round(operand=ir.Arith(op=ir.ArithOp.DIV) as quotient):
                quantum = "" if isinstance(e.type, ir.IntT) else \
                    self.const(e.quantum, "QUANTUM", e.quantum)
                return forms.divide(e, quotient, quantum, self.expr, self.helpers)
            case ir.Round():
                mode = ROUNDING[e.mode]  # decimal's constants are named by their values
                self.rounding_modes.add(mode)
                quantum = self.const(e.quantum, "QUANTUM", e.quantum)
                rounding = f".quantize({quantum}, {mode})"
                return self.memos.product(e.operand, rounding, self.expr, self.names.fresh) \
                    or f"{self.expr(e.operand)}{rounding}"
            case ir.MinMax():
                return self.min_max(e)
            case ir.Case() | ir.DateAdd() | ir.DateDiff():
                return forms.emit(e, self.expr, self.helpers)
            case ir.TableKey():
                return forms.table_key(e, self.expr)
            case _:
                assert_never(e)

    def arith(self, e: ir.Arith) -> str:
        """A chain `a + b - c` (left-nested Arith of one precedence level) emitted flat, in
        one pair of parentheses: Python evaluates it left to right, as the IR says."""
        symbol, level = _python_arith(e.op)
        rights: list[tuple[str, ir.Expr]] = []
        node: ir.Expr = e
        while isinstance(node, ir.Arith) and _python_arith(node.op)[1] == level:
            rights.append((_python_arith(node.op)[0], node.right))
            node = node.left
        text = self.expr(node)
        for op, right in reversed(rights):
            text += f" {op} {self.expr(right)}"
        return f"({text})"

    def min_max(self, e: ir.MinMax) -> str:
        nested = any(isinstance(node, ir.MinMax) for o in e.operands for node in ir.walk(o))
        if len(e.operands) == 2 and not nested:
            # Cheaper than the builtin; keeps its tie rule (the first operand wins); a constant
            # named as it is.  Not around another min/max: mypy's time doubles with each level.
            a, b = (self.expr(o) if isinstance(o, ir.Const) else f"_m{self.temps}{side}"
                    for o, side in zip(e.operands, "ab"))
            self.temps += 1
            first, second = (name if isinstance(o, ir.Const) else f"({name} := {self.expr(o)})"
                             for o, name in zip(e.operands, (a, b)))
            op = ">=" if e.function == ir.MinMaxFn.MAX else "<="
            return f"({a} if {first} {op} {second} else {b})"
        return f"{e.function.value}(" + ", ".join(self.expr(o) for o in e.operands) + ")"

    # ---- inputs --------------------------------------------------------------
    def sections(self) -> tuple[list[FieldView], list[SectionView]]:
        top: list[FieldView] = []
        sections: dict[str, SectionView] = {}
        for n, inp in enumerate(self.p.inputs):
            parts = inp.path.split(".")
            t = inp.type
            kind = ops.value_kind(t)
            view = FieldView(inp.path, parts[-1], self.inputs[inp.path], kind,
                             self.expr(inp.default) if inp.default is not None else None,
                             annotation=episode_type(t, kind))
            if isinstance(t, ir.IntT):
                view.low, view.high = t.low, t.high
            if isinstance(t, ir.EnumT):
                view.enum = self.enum_consts[t.name]
            if kind == "money" and inp.default is not None:
                view.default_ready = _amount_as_is(inp.default.value, self.p.policy.currency)
            if len(parts) == 1:
                top.append(view)
            else:
                section = sections.get(parts[0])
                if section is None:
                    section = SectionView(parts[0], ident("s", parts[0]), "")
                    sections[parts[0]] = section
                section.fields.append(view)
        for section in sections.values():
            section.keys = self.const(frozenset(f.key for f in section.fields), section.name,
                                      "FIELDS")
        return top, list(sections.values())

    # ---- parameters ----------------------------------------------------------
    def per_period(self, values: tuple[ir.Dated, ...], *hint: object) -> str:
        """The tuple of a dated value's constants, one per period, each constant named after
        `hint` and the day its value starts."""
        out = []
        for start in self.periods:
            found = ir.dated_at(values, start)
            if found is None:
                raise CodegenError("a dated value has a hole inside the validity")
            out.append(self.value(found.value.value, *hint, found.start.isoformat()))
        return "(" + ", ".join(out) + ",)"

    def params(self) -> list[ParamView]:
        views = []
        for prm in self.p.params:
            t = py_type(prm.type)
            name = ident("p", prm.name)
            if prm.dated:
                default = self.per_period(prm.values, prm.name)
                annotation = f"tuple[{t}, ...]"
            else:
                default = self.value(prm.values[0].value.value, prm.name)
                annotation = t
            views.append(ParamView(name, annotation, default, self.spec(prm.name, prm.type, name,
                                                                       prm.dated)))
        for table in self.p.tables:
            t = py_type(table.type)
            name = ident("t", table.name)
            by_key: dict[str, str] = {}
            for row in table.rows:
                tup = self.per_period(row.values, table.name, row.keys[0],
                                      *(("ETC",) if len(row.keys) > 1 else ()))
                by_key.update((k, f"{py_literal(k)}: {tup}") for k in row.keys)
            items = [by_key[k] for k in table.key.members if k in by_key]
            views.append(ParamView(name, f"Mapping[str, tuple[{t}, ...]]",
                                   "MappingProxyType({" + ", ".join(items) + "})",
                                   self.spec(table.name, table.type, name, True,
                                             table.key.members)))
        return views

    def value(self, v: object, *hint: object) -> str:
        if isinstance(v, (bool, int, str)):
            return py_literal(v)
        return self.const(v, *hint)

    def spec(self, name: str, type_: ir.Type, field_name: str, dated: bool,
             keys: tuple[str, ...] = ()) -> str:
        args = [py_literal(name), py_literal(ops.value_kind(type_)), py_literal(field_name),
                repr(dated)]
        if keys:
            args.append(f"keys={py_literal(keys)}")
        if isinstance(type_, ir.EnumT):
            args.append(f"members={py_literal(type_.members)}")
        if isinstance(type_, ir.IntT):
            args.append(f"low={type_.low!r}, high={type_.high!r}")
        if isinstance(type_, ir.MoneyT) and MINOR_UNITS[type_.currency] != 2:
            args.append(f"decimals={MINOR_UNITS[type_.currency]}")
        return "ParamSpec(" + ", ".join(args) + ")"

    # ---- evaluation steps ------------------------------------------------------
    def steps(self) -> list[StepView]:
        views = []
        for n, (test, hint) in enumerate(shared.shared_tests(self.p, self.moved)):
            self.context = hint
            views.append(StepView("let", var=f"c{n}", expr=self.expr(test), where="shared test"))
            self.shared[test] = f"c{n}"
        for entry in self.p.schedule:
            if isinstance(entry, ir.PathwayStep):
                rules = []
                for i, r in enumerate(self.p.rules):
                    if r.condition is not None:
                        self.context = (r.name,)
                        rules.append((self.expr(r.condition), i, where(r.span, r.name)))
                default = next((i for i, r in enumerate(self.p.rules) if r.condition is None), None)
                views.append(StepView("pathway", rules=rules, default=default, where="" if
                                      default is None else where(self.p.rules[default].span,
                                                                 self.p.rules[default].name)))
                continue
            if isinstance(entry, ir.LetStep):
                name = entry.name
                let = self.p.let(name)
                if isinstance(let.expr.type, ir.SetT) or name in self.moved:
                    continue  # sets are inlined where they are tested, lets read once too
                self.context = (name,)
                views.append(StepView("let", var=ident("l", name), expr=self.expr(let.expr),
                                      name=name, where=where(let.span, f"let {name}")))
            else:
                out = self.p.output(entry.name)
                branches = []
                for i, (b, value) in enumerate(zip(out.branches, known.branch_values(out))):
                    self.context = (out.name, "BRANCH", i)
                    branches.append(chains.BranchView(
                        None if b.condition is None else self.expr(b.condition),
                        self.expr(value),
                        where(b.span, f"{out.name} branch {i}"), i))
                chain = chains.nest(out, branches, self.expr)
                views.append(StepView("output", var=ident("o", entry.name), name=entry.name,
                                      branches=branches, chain=chain,
                                      has_else=out.branches[-1].condition is None,
                                      money=isinstance(out.type, ir.MoneyT)))
        self.shared = {}  # made as the steps begin: not for the constraints, checked before
        return views

    # ---- explanations and sources ------------------------------------------------
    def step_info(self, target: str, name: str, priority: int | None, outcome: str,
                  condition: str, cites: tuple[str, ...], notes: ir.Notes, span: object) -> str:
        args = [py_literal(target), py_literal(name), repr(priority), py_literal(outcome),
                py_literal(condition), py_literal(cites), py_literal(notes.remarks),
                py_literal(location(span))]
        return "StepInfo(" + ", ".join(args) + ")"

    def rule_infos(self) -> list[str]:
        return [self.step_info("pathway", r.name, r.priority, r.pathway, r.text,
                               self.citations.rule(r, self.periods[0]), r.notes, r.span)
                for r in self.p.rules]

    def branches(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """Per output, per branch: its explanation step, and the documents behind it per
        period (a decision's sources); the step cites the documents of every period."""
        infos: dict[str, list[str]] = {}
        sources: dict[str, list[str]] = {}
        for o in self.p.outputs:
            infos[o.name], sources[o.name] = [], []
            for b in o.branches:
                per_period = self.citations.branch(o, b, self.periods)
                label, text = branch_text(o, b)
                every_period = tuple(dict.fromkeys(c for cites in per_period for c in cites))
                infos[o.name].append(self.step_info(o.name, label, None, "", text, every_period,
                                                    b.notes, b.span))
                sources[o.name].append(py_literal(per_period))
        return infos, sources

    def constraints(self) -> list[tuple[str, str, str, str, str, str]]:
        """Per constraint: condition, requirement, the field to blame, name, text, place."""
        out = []
        for c in self.p.constraints:
            self.context = (c.name,)
            out.append((self.expr(c.condition), self.expr(c.requirement),
                        _first_input(c.requirement), c.name,
                        f"{ir.format_expr(c.condition)} requires {ir.format_expr(c.requirement)}",
                        where(c.span, f"constraint {c.name}")))
        return out

    def rule_sources(self) -> list[str]:
        return [py_literal(tuple(dict.fromkeys(self.citations.of(r.notes))))
                for r in self.p.rules]


def _import_lines(module: str, names: tuple[str, ...], renamed: dict[str, str],
                  width: int = 95) -> str:
    """`from module import (A, b, ...)`, sorted and wrapped under its parenthesis; a name
    of `renamed` is imported as it says (`Decision as _Decision`)."""
    head = f"from {module} import ("
    items = [renamed.get(name, name) for name in sorted(names)]
    pieces = [name + "," for name in items[:-1]] + [items[-1] + ")"]
    lines, line = [], head + pieces[0]
    for piece in pieces[1:]:
        if len(line) + 1 + len(piece) > width:
            lines.append(line)
            line = " " * len(head) + piece
        else:
            line += " " + piece
    return "\n".join(lines + [line])


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("parcours.compiler.backends.python", "templates"),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["py"] = py_literal
    return env


def generate(program: ir.Program) -> str:
    """The decision module for `program`, checked to parse."""
    text = render_module(program)
    try:
        ast.parse(text)
    except SyntaxError as exc:  # pragma: no cover - a compiler bug
        raise CodegenError(f"generated code does not parse: {exc}") from exc
    return text


def render_module(program: ir.Program) -> str:
    """The module text, unchecked (see `generate`).  Validation is rendered twice, inline
    in `decide` and in `explain`: a shared `_validate` made `decide` about 7% slower per
    call (docs/backends.md)."""
    emitter = _Emitter(program)
    top, sections = emitter.sections()
    params = emitter.params()
    steps = emitter.steps()
    branch_infos, branch_sources = emitter.branches()
    p = program.policy
    context = {
        "generator": GENERATOR,
        "policy": p,
        # Shown in the docstring: only characters that cannot end or escape it.
        "file": source_file(p.file),
        "abi": ABI_VERSION,
        "runtime_imports": _import_lines("parcours.runtime", GENERATED_IMPORTS,
                                         {"Decision": "Decision as _Decision",
                                          "Frozen": "Frozen as _Frozen"}),
        "amount_digits": _AMOUNT_DIGITS,
        "documents": {s.document: s.title or "" for s in program.sources},
        "top": top,
        "top_keys": emitter.const(frozenset(["id", "currency"] + [f.key for f in top]
                                            + [s.name for s in sections]), "EPISODE", "FIELDS"),
        "sections": sections,
        "episode_types": episode_types(program, top, sections),
        "pathway_names": tuple(dict.fromkeys(program.decision.pathways
                                             + tuple(r.pathway for r in program.rules))),
        "rule_names_typed": tuple(r.name for r in program.rules),
        "params": params,
        "steps": steps,
        "bounds": "(" + "".join(f"{emitter.const(d, 'PERIOD', d.isoformat())}, "
                                for d in emitter.periods[1:]) + ")",
        "n_periods": len(emitter.periods),
        "valid_from": emitter.const(p.valid_from, "VALID_FROM"),
        "valid_until": emitter.const(p.valid_until, "VALID_UNTIL") if p.valid_until else None,
        "constraints": emitter.constraints(),
        "pathways": [r.pathway for r in program.rules],
        "rounding_modes": sorted(emitter.rounding_modes),
        "helpers": sorted(emitter.helpers),
        "memos": emitter.memos.views,
        "has_tables": bool(program.tables),
        "has_money_input": any(f.kind == "money" for f in top + [f for s in sections
                                                                  for f in s.fields]),
        "rule_names": py_literal(tuple(r.name for r in program.rules)),
        "rule_pathways": py_literal(tuple(r.pathway for r in program.rules)),
        "rule_infos": emitter.rule_infos(),
        "rule_sources": emitter.rule_sources(),
        "branch_infos": branch_infos,
        "branch_sources": branch_sources,
        "outputs": [o.name for o in program.outputs],
        "contract": [o.name for o in program.decision.outputs],
        "declared_pathways": program.decision.pathways,
        "declared_outputs": [{"name": o.name, "kind": ops.value_kind(o.type), "note": o.note,
                              "role": o.role.value if o.role else ""}
                             for o in program.decision.outputs],
        "decimals": MINOR_UNITS[p.currency],
        "id_max": ir.ID_MAX_LENGTH,
    }
    body = _environment().get_template("module.py.jinja").render(context)
    # Constants are collected while rendering; put them in front, in a stable order.
    constants = "\n".join(f"{name} = {literal}" for name, literal in emitter.constants.items())
    return body.replace("# <constants>\n", constants + "\n", 1) + _accumulators(program)


def _accumulators(program: ir.Program) -> str:
    """What a run carries across episodes (`parcours.runtime.ledger`); nothing without."""
    if not program.accumulators:
        return ""
    rows = "".join(f"    {py_literal(spec)},\n" for spec in ir.accumulator_specs(program))
    return ("\n\n# What a run carries from one episode to the next (parcours.runtime.ledger):\n"
            "# (name, input field, keys, period, output added, ((from, cap), ...)).\n"
            "ACCUMULATORS: tuple[tuple[str, str, tuple[str, ...], str, str, "
            "tuple[tuple[str, str], ...]], ...] = (\n" + rows + ")\n")


def episode_types(program: ir.Program, top: list[FieldView],
                  sections: list[SectionView]) -> list[TypedView]:
    """The episode's `TypedDict`s: one per section (`EpisodePatient`), then `Episode`; a field
    with a default is `NotRequired`, as are `id` and `currency` (the policy's)."""
    taken = {"Episode", "EpisodeError"}  # the module's own names that a section's could take
    views = []
    for s in sections:
        s.type_name = type_name("Episode", s.name, taken)
        views.append(TypedView(s.type_name, [(f.key, f.annotation, f.default is None)
                                             for f in s.fields]))
    fields = [("id", "str", False), ("currency", f"Literal[{py_literal(program.policy.currency)}]",
                                     False)]
    fields += [(f.key, f.annotation, f.default is None) for f in top]
    fields += [(s.name, s.type_name, True) for s in sections]
    views.append(TypedView("Episode", fields))
    return views


def _amount_as_is(value: object, currency: str) -> bool:
    """Whether `value`, an amount input's default, is the very Decimal that checking it as
    an episode's amount gives (same digits, same exponent): then an absent field takes the
    default's constant as it is, without the check."""
    if not isinstance(value, Decimal):
        return False
    try:
        checked = to_money(value, None, "", MINOR_UNITS[currency], currency)
    except EpisodeError:
        return False
    return checked.as_tuple() == value.as_tuple()


def _first_input(e: ir.Expr) -> str:
    for node in ir.walk(e):
        if isinstance(node, ir.Input):
            return node.path
    return ""
