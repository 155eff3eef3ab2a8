"""The IR: a checked policy as data, ready for code generation and analysis.

Everything here is resolved and typed: a reference names what it refers to,
every expression carries its type, dated values are total over the policy's
validity.  Rules are kept in priority order.  ``print_program`` renders the IR
as text for golden tests and for ``parcours compile --emit ir``.

Example: ``rule under_16 priority 2: exempt when patient.age < 16`` lowers to
``Rule(name="under_16", priority=2, pathway="exempt",
condition=Compare("<", Input("patient.age", IntT(0, 130)), Const(16, IntT())))``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from datetime import date
from decimal import Decimal
from typing import assert_never

from ..diagnostics import Span

# the types and operators, re-exported: `nodes.MoneyT` is `types.MoneyT`
from .types import (
    BoolT as BoolT,
    IntT as IntT,
    DateT as DateT,
    MoneyT as MoneyT,
    RateT as RateT,
    DecimalT as DecimalT,
    EnumT as EnumT,
    IdT as IdT,
    ID_MAX_LENGTH as ID_MAX_LENGTH,
    SetT as SetT,
    Type as Type,
    Value as Value,
    BoolOpKind as BoolOpKind,
    CompareOp as CompareOp,
    ArithOp as ArithOp,
    DateUnit as DateUnit,
    RoundMode as RoundMode,
    MinMaxFn as MinMaxFn,
)

STATUSES = ("in_force", "proposal", "variant")

# ---- expressions -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Const:
    value: Value
    type: Type


@dataclass(frozen=True, slots=True)
class Input:
    path: str  # "patient.age"
    type: Type


@dataclass(frozen=True, slots=True)
class ParamRef:
    name: str
    type: Type


@dataclass(frozen=True, slots=True)
class TableRef:
    table: str
    key: Expr
    type: Type


@dataclass(frozen=True, slots=True)
class TableKey:
    """The key of a table keyed by a bool or by several values (`t[a, b]`): the parts'
    spellings joined (`ops.table_key`), a member of the table's `key` enum, whose members
    are every combination of the `columns` (each an enum or bool)."""

    parts: tuple[Expr, ...]
    columns: tuple[EnumT | BoolT, ...]
    type: EnumT


@dataclass(frozen=True, slots=True)
class LetRef:
    name: str
    type: Type


@dataclass(frozen=True, slots=True)
class OutputRef:
    name: str
    type: Type


@dataclass(frozen=True, slots=True)
class PathwayRef:
    """The pathway the rules settled (the `pathway` enum of the decision block)."""

    type: Type


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    type: Type = BoolT()


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: BoolOpKind
    operands: tuple[Expr, ...]
    type: Type = BoolT()


@dataclass(frozen=True, slots=True)
class Compare:
    op: CompareOp
    left: Expr
    right: Expr
    type: Type = BoolT()


@dataclass(frozen=True, slots=True)
class InSet:
    operand: Expr
    members: frozenset[str]
    negated: bool
    type: Type = BoolT()


@dataclass(frozen=True, slots=True)
class Arith:
    op: ArithOp
    left: Expr
    right: Expr
    type: Type


@dataclass(frozen=True, slots=True)
class Round:
    """`operand` rounded to a multiple of `quantum`.  When `operand` is a division
    (`Arith` DIV) the exact quotient is rounded, and `at` (`file:line:col`, the file's
    base name) says where, for the rejection of an episode that divides by zero."""

    mode: RoundMode
    operand: Expr
    quantum: Decimal
    type: Type
    at: str = ""


@dataclass(frozen=True, slots=True)
class Case:
    """`case { when C: V … else: V }` as a value: the value of the first arm whose
    condition holds, else `default` (`if C then A else B` is a case of one arm)."""

    arms: tuple[tuple[Expr, Expr], ...]  # (condition, value)
    default: Expr
    type: Type


@dataclass(frozen=True, slots=True)
class DateAdd:
    """`operand + days` (a date; `d - 3 days` adds -3)."""

    operand: Expr
    days: Expr  # an int
    type: Type = DateT()


@dataclass(frozen=True, slots=True)
class DateDiff:
    """`years_between(start, end)` or `days_between(start, end)`: an int, negative when
    `end` is before `start` (see `ir.ops.date_diff`)."""

    unit: DateUnit
    start: Expr
    end: Expr
    type: Type = IntT()


@dataclass(frozen=True, slots=True)
class MinMax:
    function: MinMaxFn
    operands: tuple[Expr, ...]
    type: Type


Expr = (Const | Input | ParamRef | TableRef | LetRef | OutputRef | PathwayRef | Not | BoolOp
        | Compare | InSet | Arith | Round | MinMax | Case | DateAdd | DateDiff | TableKey)

# ---- declarations ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notes:
    """What a rule or value says about itself: citations (source ids) and remarks."""

    cites: tuple[str, ...] = ()
    remarks: tuple[tuple[str, str], ...] = ()  # (kind, text): unconfirmed | assumption | note

    def merged(self, other: Notes) -> Notes:
        cites = self.cites + tuple(c for c in other.cites if c not in self.cites)
        return Notes(cites, self.remarks + other.remarks)


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    document: str
    title: str | None


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    id: str
    title: str
    country: str
    currency: str
    status: str
    valid_from: date
    valid_until: date | None
    version: str  # "sha256:…" over the policy's source files
    file: str
    notes: Notes


@dataclass(frozen=True, slots=True)
class InputDef:
    path: str
    type: Type
    default: Const | None
    notes: Notes
    span: Span


@dataclass(frozen=True, slots=True)
class Constraint:
    name: str
    condition: Expr
    requirement: Expr
    notes: Notes
    span: Span


@dataclass(frozen=True, slots=True)
class Dated:
    """One value in force from `start` to `until` (inclusive; None: open-ended)."""

    start: date
    until: date | None
    value: Const
    notes: Notes
    span: Span


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: Type
    values: tuple[Dated, ...]  # sorted by start; one open-ended entry for a constant
    dated: bool  # False when declared with `= value`
    notes: Notes
    span: Span


@dataclass(frozen=True, slots=True)
class TableRow:
    keys: tuple[str, ...]  # the enum members this row covers (an `else` row is expanded)
    values: tuple[Dated, ...]
    notes: Notes
    span: Span


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    key: EnumT  # keyed by a bool or several values: every combination (see `TableKey`)
    type: Type
    rows: tuple[TableRow, ...]
    notes: Notes
    span: Span
    columns: tuple[EnumT | BoolT, ...] = ()  # keyed by a bool or several values: their types


@dataclass(frozen=True, slots=True)
class Let:
    name: str
    expr: Expr
    notes: Notes
    span: Span


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    priority: int | None  # 1 is the highest; None for the default, below every exception
    pathway: str
    condition: Expr | None  # None for the default
    notes: Notes
    span: Span
    text: str  # the condition as written, for explanations


@dataclass(frozen=True, slots=True)
class Branch:
    condition: Expr | None  # None: `else`, or an output with a single value
    value: Expr
    notes: Notes
    span: Span
    text: str


@dataclass(frozen=True, slots=True)
class Output:
    name: str
    type: Type
    branches: tuple[Branch, ...]
    notes: Notes
    span: Span


class Role(StrEnum):
    """What a declared output stands for, for the tools that total decisions."""

    INSURER = "insurer"  # what the insurer pays
    PATIENT = "patient"  # what the patient pays


@dataclass(frozen=True, slots=True)
class DeclaredOutput:
    """One output of the decision contract, as the decision block declares it."""

    name: str
    type: Type
    role: Role | None
    note: str  # "" when none


@dataclass(frozen=True, slots=True)
class Decision:
    """The shape of every decision: the pathways (an enum named `pathway`) and the
    outputs, in the order a decision lists them."""

    pathway: EnumT
    outputs: tuple[DeclaredOutput, ...]

    @property
    def pathways(self) -> tuple[str, ...]:
        return self.pathway.members

    def total(self, role: Role) -> DeclaredOutput | None:
        return next((o for o in self.outputs if o.role is role), None)


@dataclass(frozen=True, slots=True)
class LetStep:
    """Evaluate a let."""

    name: str


@dataclass(frozen=True, slots=True)
class PathwayStep:
    """Settle the pathway: the first rule, in priority order, whose condition holds."""


@dataclass(frozen=True, slots=True)
class OutputStep:
    """Evaluate an output: its first branch whose condition holds."""

    name: str


Step = LetStep | PathwayStep | OutputStep


@dataclass(frozen=True, slots=True)
class Accumulator:
    """An amount added up across a key's episodes (`ir.accumulators` says how)."""

    name: str
    type: MoneyT
    keys: tuple[str, ...]  # id inputs
    period: str  # an `ir.Period`
    adds: str  # a declared money output
    cap: str  # a money parameter
    field: str  # the input that holds the amount used before the episode
    notes: Notes
    span: Span
    decimals: int = 2  # the currency's minor unit


@dataclass(frozen=True, slots=True)
class Program:
    policy: PolicyInfo
    sources: tuple[Source, ...]
    enums: tuple[EnumT, ...]
    inputs: tuple[InputDef, ...]
    constraints: tuple[Constraint, ...]
    params: tuple[Param, ...]
    tables: tuple[Table, ...]
    lets: tuple[Let, ...]  # in dependency order
    rules: tuple[Rule, ...]  # in priority order; the default last
    outputs: tuple[Output, ...]  # in dependency order
    schedule: tuple[Step, ...]  # evaluation order: each value after what it reads
    decision: Decision  # the declared shape of a decision
    accumulators: tuple[Accumulator, ...] = ()  # what a run carries across episodes

    def input(self, path: str) -> InputDef:
        return next(i for i in self.inputs if i.path == path)

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)

    def let(self, name: str) -> Let:
        return next(x for x in self.lets if x.name == name)

    def output(self, name: str) -> Output:
        return next(o for o in self.outputs if o.name == name)

    def change_dates(self) -> tuple[date, ...]:
        """Every day on which some dated value changes, within the validity."""
        days: set[date] = set()
        for dated in _all_dated(self):
            days.add(dated.start)
            if dated.until is not None and dated.until < date.max:
                days.add(date.fromordinal(dated.until.toordinal() + 1))
        start, end = self.policy.valid_from, self.policy.valid_until
        return tuple(sorted(d for d in days if d > start and (end is None or d <= end)))


def _all_dated(program: Program) -> list[Dated]:
    out = [v for p in program.params for v in p.values]
    out += [v for t in program.tables for row in t.rows for v in row.values]
    return out


def dated_at(values: tuple[Dated, ...], day: date) -> Dated | None:
    """The dated value in force on `day` (the latest start on or before it), or None."""
    found: Dated | None = None
    for dated in values:
        if dated.start <= day and (dated.until is None or day <= dated.until):
            found = dated
    return found


def value_at(values: tuple[Dated, ...], day: date) -> Const | None:
    found = dated_at(values, day)
    return found.value if found is not None else None


def walk(expr: Expr | None) -> Iterator[Expr]:
    """Every node of an expression, the node itself first (lets are not followed);
    iterative, so that a deep expression cannot exhaust the stack."""
    stack: list[Expr] = [] if expr is None else [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))


def lets_in_order(lets: dict[str, Let], names: Iterable[str]) -> list[str]:
    """`names` and every let they read, transitively, each after the lets it reads: the
    order in which to evaluate them so that no evaluation has to follow a let into another
    (iterative, so that a chain of thousands of lets does not recurse)."""
    order: list[str] = []
    done: set[str] = set()
    started: set[str] = set()  # met again before it is done: a cycle (E345), not followed
    for root in names:
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                done.add(name)
                order.append(name)
                continue
            if name in started:
                continue
            started.add(name)
            stack.append((name, True))
            stack.extend((node.name, False) for node in walk(lets[name].expr)
                         if isinstance(node, LetRef) and node.name not in done)
    return order


def children(expr: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of a node, in evaluation order."""
    match expr:
        case Const() | Input() | ParamRef() | LetRef() | OutputRef() | PathwayRef():
            return ()
        case Not(operand=operand) | InSet(operand=operand) | Round(operand=operand):
            return (operand,)
        case BoolOp(operands=operands) | MinMax(operands=operands):
            return operands
        case Compare(left=left, right=right) | Arith(left=left, right=right):
            return (left, right)
        case TableRef(key=key):
            return (key,)
        case TableKey(parts=parts):
            return parts
        case Case(arms=arms, default=default):
            return tuple(part for arm in arms for part in arm) + (default,)
        case DateAdd(operand=operand, days=days):
            return (operand, days)
        case DateDiff(start=start, end=end):
            return (start, end)
        case _:
            assert_never(expr)
