"""The AST: frozen, slotted dataclasses, every node with a span, no behaviour."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ..diagnostics import Span

# ---- annotations -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cite:
    sources: tuple[tuple[str, Span], ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Remark:
    kind: str  # "unconfirmed" | "assumption" | "note"
    text: str
    span: Span


Annotation = Cite | Remark

# ---- types -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TypeRef:
    kind: str  # "bool" | "int" | "date" | "money" | "rate" | "decimal" | "enum"
    span: Span
    name: str = ""  # enum name
    low: int | None = None
    high: int | None = None


# ---- expressions -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    kind: str  # "bool" | "int" | "decimal" | "percent" | "money" | "date" | "days" | "string"
    #            | "name"  ("percent": the rate, 70% is 0.70; "days": `30 days`, an int)
    value: bool | int | Decimal | date | str
    span: Span
    currency: str = ""


@dataclass(frozen=True, slots=True)
class Ref:
    path: tuple[str, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Lookup:
    table: str
    key: Expr
    span: Span
    more: tuple[Expr, ...] = ()  # the other keys of a table keyed by several: `t[a, b]`


@dataclass(frozen=True, slots=True)
class SetLiteral:
    members: tuple[Literal, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ValueSet:
    """`{1, 3..5, 12}`: values and ranges (low, high; high None for a single value), the
    right of `in` / `not in`."""

    items: tuple[tuple[Literal, Literal | None], ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "not"
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # "and" "or" "==" "!=" "<" "<=" ">" ">=" "in" "not in" "+" "-" "*"
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Chain:
    """Operands joined left to right by operators of one precedence level: `a and b and c`,
    `a or b`, `a + b - c`, `a * b * c`.  The builder keeps such a chain flat, however long,
    so that nothing downstream recurses once per operand; `ops[i]` joins `operands[i]` and
    `operands[i + 1]`."""

    ops: tuple[str, ...]  # all "and", all "or", "+"/"-" mixed, or all "*"
    operands: tuple[Expr, ...]  # len(ops) + 1 of them
    span: Span

    def prefix_span(self, end: int) -> Span:
        """The span of `operands[0] … operands[end]`: the sub-chain a left-to-right
        evaluation has computed after `end` operators."""
        first, last = self.operands[0].span, self.operands[end].span
        return Span(first.file, first.line, first.column, last.end_line, last.end_column)


@dataclass(frozen=True, slots=True)
class InRange:
    """`operand in low..high` (inclusive), or `not in`."""

    operand: Expr
    low: Expr
    high: Expr
    negated: bool
    span: Span


@dataclass(frozen=True, slots=True)
class CaseExpr:
    """`case { when C: V … else: V }` as a value; `if C then A else B` is written as one."""

    branches: tuple[Branch, ...]
    span: Span


Expr = (Literal | Ref | Call | Lookup | SetLiteral | Unary | Binary | Chain | InRange | CaseExpr
        | ValueSet)


def children(expr: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of a node, left to right."""
    if isinstance(expr, (Literal, Ref, SetLiteral, ValueSet)):
        return ()
    if isinstance(expr, Unary):
        return (expr.operand,)
    if isinstance(expr, Binary):
        return (expr.left, expr.right)
    if isinstance(expr, Chain):
        return expr.operands
    if isinstance(expr, Call):
        return expr.args
    if isinstance(expr, InRange):
        return (expr.operand, expr.low, expr.high)
    if isinstance(expr, CaseExpr):
        out: list[Expr] = []
        for branch in expr.branches:
            out += [branch.value] if branch.condition is None else [branch.condition, branch.value]
        return tuple(out)
    return (expr.key,) + expr.more


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of an expression, the node itself first; iterative, so that no
    expression can exhaust the stack."""
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))

# ---- declarations ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeaderItem:
    key: str  # "title" | "country" | "currency" | "status" | "valid"
    values: tuple[str | date | None, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class PolicyDecl:
    name: str
    items: tuple[HeaderItem, ...]
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class SchemaDecl:
    name: str
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ImportDecl:
    path: str
    span: Span


@dataclass(frozen=True, slots=True)
class SourceDecl:
    name: str
    document: str
    title: str | None
    span: Span


@dataclass(frozen=True, slots=True)
class EnumDecl:
    name: str
    members: tuple[Literal, ...]
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class InputDecl:
    path: tuple[str, ...]
    type: TypeRef
    default: Literal | None
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ConstraintDecl:
    name: str
    condition: Expr
    requirement: Expr
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class DatedRow:
    start: date
    until: date | None
    value: Literal
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ParamDecl:
    name: str
    type: TypeRef
    value: Literal | None  # a constant, or
    rows: tuple[DatedRow, ...]  # values that change on dates
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class KeyTuple:
    """A row key of a table keyed by several values: `(cardiology, "2")`."""

    parts: tuple[Literal, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class TableRow:
    keys: tuple[Literal | KeyTuple, ...]  # empty means `else`
    value: Literal | None
    rows: tuple[DatedRow, ...]
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class TableDecl:
    name: str
    key_type: str
    key_span: Span
    type: TypeRef
    rows: tuple[TableRow, ...]
    annotations: tuple[Annotation, ...]
    span: Span
    # a table keyed by a bool or by several values: each column's type name ("bool" or an
    # enum) and place; () for a table keyed by one enum (`key_type`)
    columns: tuple[tuple[str, Span], ...] = ()


@dataclass(frozen=True, slots=True)
class LetDecl:
    name: str
    expr: Expr
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class RuleDecl:
    name: str
    priority: int | None  # None for the default
    outcome: str
    outcome_span: Span
    condition: Expr | None
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class RulesDecl:
    target: str
    rules: tuple[RuleDecl, ...]
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Branch:
    condition: Expr | None  # None for `else` and for a plain body
    value: Expr
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class OutputDecl:
    name: str
    type: TypeRef
    branches: tuple[Branch, ...]
    is_case: bool
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class DecisionPathways:
    """`pathway { a, b, … }` inside a decision block."""

    members: tuple[Literal, ...]
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class DecisionOutput:
    """`output NAME: TYPE [totals ROLE]` inside a decision block."""

    name: str
    type: TypeRef
    role: str | None
    role_span: Span | None
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class DecisionDecl:
    """`decision { pathway { … } output … }`: the shape of every decision."""

    pathways: tuple[DecisionPathways, ...]
    outputs: tuple[DecisionOutput, ...]
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class AccumulatorDecl:
    """`accumulator NAME: TYPE per KEY, … over PERIOD adds OUTPUT cap PARAM`."""

    name: str
    type: TypeRef
    keys: tuple[tuple[tuple[str, ...], Span], ...]
    period: str
    period_span: Span
    adds: str
    adds_span: Span
    cap: str
    cap_span: Span
    annotations: tuple[Annotation, ...]
    span: Span


Decl = (PolicyDecl | SchemaDecl | ImportDecl | SourceDecl | EnumDecl | InputDecl | ConstraintDecl
        | ParamDecl | TableDecl | LetDecl | RulesDecl | OutputDecl | DecisionDecl | AccumulatorDecl)


@dataclass(frozen=True, slots=True)
class Module:
    """One parsed `.parcours` file."""

    file: str
    declarations: tuple[Decl, ...]
    broken: frozenset[str] = frozenset()  # names of declarations left out (a bad literal, …)
