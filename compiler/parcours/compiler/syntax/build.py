"""Lark tree → AST nodes (construction only; no semantics).

The transform is non-recursive (Lark's ``Transformer_NonRecursive``), chains of one
operator level (`a and b and …`, `a + b - …`) become one flat :class:`nodes.Chain`, and
what nothing downstream could hold is refused here with a diagnostic naming the limit:
an expression nested more than :data:`MAX_DEPTH` levels deep (E105), a number with more
than :data:`MAX_DIGITS` digits (E104).  A declaration refused this way is left out and
its name is reported as broken, so that later stages stay quiet about it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from lark import Token, Tree, v_args
from lark.exceptions import VisitError
from lark.visitors import Transformer_NonRecursive

from . import nodes as n
from .parse import unquote
from ..diagnostics import Diagnostics, Span


MAX_DEPTH = 64
MAX_OPERANDS = 1000  # in one chain: CPython compiles ~2,900 `+` terms at most
"""How deeply an expression may nest: each operator chain, comparison, `not`, call and
lookup is a level (parentheses alone are not).  The generated Python nests about one or
two brackets per level, and Python refuses more than 200."""

MAX_DIGITS = 18
"""The most digits a number may be written with (a whole number, or both sides of a
decimal point together): every int fits in 64 bits, every amount and rate is exact."""

_ARITH_LEVEL = {"+": "+", "-": "+", "*": "*", "/": "*"}  # operators that chain with each other


class _BadLiteral(Exception):
    def __init__(self, message: str, span: Span, hint: str | None = None,
                 code: str = "E103") -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.code = code


def build(tree: Tree[Token], file: str, diagnostics: Diagnostics) -> n.Module:
    """Build the module; a literal that cannot be a value, or an expression too deep to
    compile, is a diagnostic, not a crash."""
    builder = _Builder(file, diagnostics)
    declarations: list[n.Decl] = []
    broken: set[str] = set()
    for child in tree.children:
        if not isinstance(child, Tree):
            continue
        builder.depth.clear()
        try:
            declarations.append(builder.transform(child))
        except VisitError as exc:
            inner = exc.orig_exc
            if isinstance(inner, _BadLiteral):
                diagnostics.error(inner.code, inner.message, inner.span, inner.hint)
                name = _declared_name(child)
                if name:
                    broken.add(name)
            else:
                raise
    builder.depth.clear()
    return n.Module(file, tuple(declarations), frozenset(broken))


def _declared_name(tree: Tree[Token]) -> str | None:
    """The name a top-level declaration declares (`patient.age` for an input), if any."""
    first = tree.children[0] if tree.children else None
    if isinstance(first, Token) and first.type == "NAME":
        return str(first)
    if isinstance(first, Tree) and first.data == "path":
        return ".".join(str(t) for t in first.children)
    return None


class _Builder(Transformer_NonRecursive[Token, Any]):
    def __init__(self, file: str, diagnostics: Diagnostics) -> None:
        super().__init__()
        self.file = file
        self.diagnostics = diagnostics
        # The nesting depth of the expression nodes built for the current declaration, by
        # id (hashing a deep frozen node would recurse); each entry holds its node so that
        # no id is reused while the entry lives.  Nodes not listed (literals) have depth 1.
        self.depth: dict[int, tuple[int, n.Expr]] = {}

    # ---- limits ----------------------------------------------------------
    def _nest(self, node: n.Expr, *kids: n.Expr, depth: int = 0) -> n.Expr:
        """Record `node`'s depth (one more than its deepest child, or `depth`)."""
        level = max([1, depth] + [self._depth_of(k) + 1 for k in kids])
        if level > MAX_DEPTH:
            raise _BadLiteral(f"this expression nests more than {MAX_DEPTH} levels deep "
                              f"(the limit)", node.span,
                              "name a part of it with `let` and use the name", code="E105")
        self.depth[id(node)] = (level, node)
        return node

    def _depth_of(self, node: n.Expr) -> int:
        entry = self.depth.get(id(node))
        return entry[0] if entry is not None else 1

    def _number(self, token: Token) -> str:
        text = str(token)
        if sum(c.isdigit() for c in text) > MAX_DIGITS:
            raise _BadLiteral(f"a number has at most {MAX_DIGITS} digits (the limit); this one "
                              f"has {sum(c.isdigit() for c in text)}", self._tspan(token),
                              "no int, amount or rate needs more", code="E104")
        return text

    def _chain(self, meta: Any, op: str, left: n.Expr, right: n.Expr) -> n.Expr:
        """`left op right`, extending `left` (or, for and/or, `right`) when it is a chain of
        the same level: evaluation stays left to right."""
        level = _ARITH_LEVEL.get(op, op)
        ops: list[str] = [op]
        operands: list[n.Expr] = [left, right]
        kids: list[n.Expr] = [right]
        depth = 0
        if isinstance(left, n.Chain) and _ARITH_LEVEL.get(left.ops[0], left.ops[0]) == level:
            ops[:0] = left.ops
            operands[:1] = left.operands
            depth = self._depth_of(left)
        else:
            kids.append(left)
        if op in ("and", "or") and isinstance(right, n.Chain) and right.ops[0] == op:
            ops[len(ops):] = right.ops
            operands[-1:] = right.operands
            kids = kids[1:]  # `right` is first
            depth = max(depth, self._depth_of(right))
        if len(operands) > MAX_OPERANDS:
            raise _BadLiteral(f"this chain has more than {MAX_OPERANDS} operands (the limit)",
                              self._span(meta), "sum parts of it in `let`s and chain the names",
                              code="E105")
        return self._nest(n.Chain(tuple(ops), tuple(operands), self._span(meta)), *kids,
                          depth=depth)

    # ---- spans -----------------------------------------------------------
    def _span(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.file, 1, 1, 1, 1)
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tspan(self, token: Token) -> Span:
        return Span(self.file, token.line or 1, token.column or 1, token.end_line or 1,
                    token.end_column or 1)

    def _date(self, token: Token) -> date:
        try:
            return date.fromisoformat(str(token))
        except ValueError:
            raise _BadLiteral(f"`{token}` is not a calendar date", self._tspan(token),
                              "dates are written YYYY-MM-DD") from None

    @staticmethod
    def _split(items: list[Any]) -> tuple[list[Any], tuple[n.Annotation, ...]]:
        plain = [i for i in items if not isinstance(i, (n.Cite, n.Remark))]
        notes = tuple(i for i in items if isinstance(i, (n.Cite, n.Remark)))
        return plain, notes

    # ---- annotations -----------------------------------------------------
    @v_args(meta=True)
    def cite(self, meta: Any, items: list[Token]) -> n.Cite:
        return n.Cite(tuple((str(t), self._tspan(t)) for t in items), self._span(meta))

    @v_args(meta=True)
    def unconfirmed(self, meta: Any, items: list[Token]) -> n.Remark:
        return n.Remark("unconfirmed", unquote(items[0]), self._span(meta))

    @v_args(meta=True)
    def assumption(self, meta: Any, items: list[Token]) -> n.Remark:
        return n.Remark("assumption", unquote(items[0]), self._span(meta))

    @v_args(meta=True)
    def note(self, meta: Any, items: list[Token]) -> n.Remark:
        return n.Remark("note", unquote(items[0]), self._span(meta))

    # ---- headers ---------------------------------------------------------
    @v_args(meta=True)
    def h_title(self, meta: Any, items: list[Token]) -> n.HeaderItem:
        return n.HeaderItem("title", (unquote(items[0]),), self._span(meta))

    @v_args(meta=True)
    def h_country(self, meta: Any, items: list[Token]) -> n.HeaderItem:
        return n.HeaderItem("country", (unquote(items[0]),), self._span(meta))

    @v_args(meta=True)
    def h_currency(self, meta: Any, items: list[Token]) -> n.HeaderItem:
        return n.HeaderItem("currency", (str(items[0]),), self._span(meta))

    @v_args(meta=True)
    def h_status(self, meta: Any, items: list[Token]) -> n.HeaderItem:
        return n.HeaderItem("status", (str(items[0]),), self._span(meta))

    @v_args(meta=True)
    def h_valid(self, meta: Any, items: list[Token | None]) -> n.HeaderItem:
        start, until = items
        assert start is not None
        return n.HeaderItem("valid", (self._date(start), self._date(until) if until else None),
                            self._span(meta))

    def h_annotation(self, items: list[n.Annotation]) -> n.Annotation:
        return items[0]

    @v_args(meta=True)
    def policy_decl(self, meta: Any, items: list[Any]) -> n.PolicyDecl:
        name, *rest = items
        headers = tuple(i for i in rest if isinstance(i, n.HeaderItem))
        notes = tuple(i for i in rest if isinstance(i, (n.Cite, n.Remark)))
        return n.PolicyDecl(str(name), headers, notes, self._span(meta))

    @v_args(meta=True)
    def schema_decl(self, meta: Any, items: list[Any]) -> n.SchemaDecl:
        name, *rest = items
        return n.SchemaDecl(str(name), tuple(rest), self._span(meta))

    @v_args(meta=True)
    def import_decl(self, meta: Any, items: list[Token]) -> n.ImportDecl:
        return n.ImportDecl(unquote(items[0]), self._span(meta))

    @v_args(meta=True)
    def source_decl(self, meta: Any, items: list[Token | None]) -> n.SourceDecl:
        name, document, title = items
        assert name is not None and document is not None
        return n.SourceDecl(str(name), unquote(document), unquote(title) if title else None,
                            self._span(meta))

    # ---- types and inputs -------------------------------------------------
    def _member(self, item: Token) -> n.Literal:
        if item.type == "STRING":
            return n.Literal("string", unquote(item), self._tspan(item))
        return n.Literal("name", str(item), self._tspan(item))

    @v_args(meta=True)
    def enum_decl(self, meta: Any, items: list[Any]) -> n.EnumDecl:
        name, *rest = items
        plain, notes = self._split([i for i in rest if i is not None])
        return n.EnumDecl(str(name), tuple(self._member(t) for t in plain), notes, self._span(meta))

    def path(self, items: list[Token]) -> tuple[tuple[str, ...], Span]:
        first, last = self._tspan(items[0]), self._tspan(items[-1])
        return tuple(str(t) for t in items), Span(self.file, first.line, first.column,
                                                   last.end_line, last.end_column)

    @v_args(meta=True)
    def t_bool(self, meta: Any, items: list[Any]) -> n.TypeRef:
        return n.TypeRef("bool", self._span(meta))

    @v_args(meta=True)
    def t_int(self, meta: Any, items: list[Token | None]) -> n.TypeRef:
        low, high = items
        return n.TypeRef("int", self._span(meta), low=int(self._number(low)) if low else None,
                         high=int(self._number(high)) if high else None)

    @v_args(meta=True)
    def t_date(self, meta: Any, items: list[Any]) -> n.TypeRef:
        return n.TypeRef("date", self._span(meta))

    @v_args(meta=True)
    def t_money(self, meta: Any, items: list[Any]) -> n.TypeRef:
        return n.TypeRef("money", self._span(meta))

    @v_args(meta=True)
    def t_rate(self, meta: Any, items: list[Any]) -> n.TypeRef:
        return n.TypeRef("rate", self._span(meta))

    @v_args(meta=True)
    def t_decimal(self, meta: Any, items: list[Any]) -> n.TypeRef:
        return n.TypeRef("decimal", self._span(meta))

    @v_args(meta=True)
    def t_id(self, meta: Any, items: list[Any]) -> n.TypeRef:
        return n.TypeRef("id", self._span(meta))

    @v_args(meta=True)
    def t_enum(self, meta: Any, items: list[Token]) -> n.TypeRef:
        return n.TypeRef("enum", self._span(meta), name=str(items[0]))

    @v_args(meta=True)
    def input_decl(self, meta: Any, items: list[Any]) -> n.InputDecl:
        (path, _), type_ref, default, *notes = items
        return n.InputDecl(path, type_ref, default, tuple(notes), self._span(meta))

    @v_args(meta=True)
    def constraint_decl(self, meta: Any, items: list[Any]) -> n.ConstraintDecl:
        name, condition, requirement, *notes = items
        return n.ConstraintDecl(str(name), condition, requirement, tuple(notes), self._span(meta))

    # ---- values ----------------------------------------------------------
    @v_args(meta=True)
    def dated_row(self, meta: Any, items: list[Any]) -> n.DatedRow:
        start, until, value, *notes = items
        return n.DatedRow(self._date(start), self._date(until) if until else None, value,
                          tuple(notes), self._span(meta))

    def scalar_value(self, items: list[Any]) -> tuple[str, Any, tuple[n.Annotation, ...]]:
        value, *notes = items
        return ("scalar", value, tuple(notes))

    def dated_value(self, items: list[Any]) -> tuple[str, Any, tuple[n.Annotation, ...]]:
        return ("dated", tuple(items), ())

    @v_args(meta=True)
    def param_decl(self, meta: Any, items: list[Any]) -> n.ParamDecl:
        name, type_ref, *rest = items
        kind, payload, tail_notes = rest[-1]
        notes = tuple(rest[:-1]) + tail_notes
        if kind == "scalar":
            return n.ParamDecl(str(name), type_ref, payload, (), notes, self._span(meta))
        return n.ParamDecl(str(name), type_ref, None, payload, notes, self._span(meta))

    def key_list(self, items: list[Any]) -> tuple[n.Literal | n.KeyTuple, ...]:
        return tuple(t if isinstance(t, (n.Literal, n.KeyTuple)) else self._member(t)
                     for t in items)

    @v_args(meta=True)
    def key_true(self, meta: Any, items: list[Any]) -> n.Literal:
        return n.Literal("bool", True, self._span(meta))

    @v_args(meta=True)
    def key_false(self, meta: Any, items: list[Any]) -> n.Literal:
        return n.Literal("bool", False, self._span(meta))

    @v_args(meta=True)
    def key_tuple(self, meta: Any, items: list[Any]) -> n.KeyTuple:
        return n.KeyTuple(tuple(t if isinstance(t, n.Literal) else self._member(t)
                                for t in items), self._span(meta))

    def key_enum(self, items: list[Token]) -> tuple[str, Span]:
        return str(items[0]), self._tspan(items[0])

    @v_args(meta=True)
    def key_bool(self, meta: Any, items: list[Any]) -> tuple[str, Span]:
        return "bool", self._span(meta)

    def key_columns(self, items: list[tuple[str, Span]]) -> tuple[tuple[str, Span], ...]:
        return tuple(items)

    def key_else(self, items: list[Any]) -> tuple[n.Literal, ...]:
        return ()

    @v_args(meta=True)
    def table_scalar(self, meta: Any, items: list[Any]) -> n.TableRow:
        keys, value, *notes = items
        return n.TableRow(keys, value, (), tuple(notes), self._span(meta))

    @v_args(meta=True)
    def table_dated(self, meta: Any, items: list[Any]) -> n.TableRow:
        keys, *rest = items
        rows = tuple(i for i in rest if isinstance(i, n.DatedRow))
        notes = tuple(i for i in rest if isinstance(i, (n.Cite, n.Remark)))
        return n.TableRow(keys, None, rows, notes, self._span(meta))

    @v_args(meta=True)
    def table_decl(self, meta: Any, items: list[Any]) -> n.TableDecl:
        name, key, type_ref, *rest = items
        rows = tuple(i for i in rest if isinstance(i, n.TableRow))
        notes = tuple(i for i in rest if isinstance(i, (n.Cite, n.Remark)))
        if isinstance(key[0], tuple):  # several columns
            columns: tuple[tuple[str, Span], ...] = key
            key_type = "(" + ", ".join(c for c, _ in columns) + ")"
            first, last = columns[0][1], columns[-1][1]
            return n.TableDecl(str(name), key_type, Span(first.file, first.line, first.column,
                                                         last.end_line, last.end_column),
                               type_ref, rows, notes, self._span(meta), columns)
        key_type, key_span = key
        return n.TableDecl(str(name), key_type, key_span, type_ref, rows, notes,
                           self._span(meta), (key,) if key_type == "bool" else ())

    @v_args(meta=True)
    def let_decl(self, meta: Any, items: list[Any]) -> n.LetDecl:
        name, expr, *notes = items
        return n.LetDecl(str(name), expr, tuple(notes), self._span(meta))

    @v_args(meta=True)
    def accumulator_decl(self, meta: Any, items: list[Any]) -> n.AccumulatorDecl:
        name, type_, *rest = items
        keys = []
        while rest and isinstance(rest[0], tuple):
            keys.append(rest.pop(0))
        period, adds, cap, *notes = rest
        return n.AccumulatorDecl(str(name), type_, tuple(keys), str(period), self._tspan(period),
                                 str(adds), self._tspan(adds), str(cap), self._tspan(cap),
                                 tuple(notes), self._span(meta))

    # ---- decisions -------------------------------------------------------
    @v_args(meta=True)
    def exception_rule(self, meta: Any, items: list[Any]) -> n.RuleDecl:
        name, priority, outcome, condition, *notes = items
        return n.RuleDecl(str(name), int(self._number(priority)), str(outcome), self._tspan(outcome), condition,
                          tuple(notes), self._span(meta))

    @v_args(meta=True)
    def default_rule(self, meta: Any, items: list[Any]) -> n.RuleDecl:
        name, outcome, *notes = items
        return n.RuleDecl(str(name), None, str(outcome), self._tspan(outcome), None, tuple(notes),
                          self._span(meta))

    @v_args(meta=True)
    def rules_decl(self, meta: Any, items: list[Any]) -> n.RulesDecl:
        target, *rest = items
        rules = tuple(i for i in rest if isinstance(i, n.RuleDecl))
        notes = tuple(i for i in rest if isinstance(i, (n.Cite, n.Remark)))
        return n.RulesDecl(str(target), rules, notes, self._span(meta))

    @v_args(meta=True)
    def when_branch(self, meta: Any, items: list[Any]) -> n.Branch:
        condition, value, *notes = items
        return n.Branch(condition, value, tuple(notes), self._span(meta))

    @v_args(meta=True)
    def else_branch(self, meta: Any, items: list[Any]) -> n.Branch:
        value, *notes = items
        return n.Branch(None, value, tuple(notes), self._span(meta))

    def plain_body(self, items: list[Any]) -> tuple[bool, tuple[n.Branch, ...],
                                                      tuple[n.Annotation, ...]]:
        """An output's value; a `case` expression's arms become the output's branches (and
        what annotates the whole `case` annotates the output)."""
        value, *notes = items
        if isinstance(value, n.CaseExpr):
            return True, value.branches, tuple(notes)
        return False, (n.Branch(None, value, tuple(notes), _expr_span(value)),), ()

    @v_args(meta=True)
    def output_decl(self, meta: Any, items: list[Any]) -> n.OutputDecl:
        name, type_ref, *rest = items
        is_case, branches, notes = rest[-1]
        return n.OutputDecl(str(name), type_ref, branches, is_case, tuple(rest[:-1]) + notes,
                            self._span(meta))

    @v_args(meta=True)
    def d_pathway(self, meta: Any, items: list[Any]) -> n.DecisionPathways:
        members = tuple(self._member(i) for i in items if isinstance(i, Token))
        notes = tuple(i for i in items if isinstance(i, (n.Cite, n.Remark)))
        return n.DecisionPathways(members, notes, self._span(meta))

    @v_args(meta=True)
    def d_output(self, meta: Any, items: list[Any]) -> n.DecisionOutput:
        name, type_ref, role, *notes = items
        return n.DecisionOutput(str(name), type_ref, str(role) if role is not None else None,
                                self._tspan(role) if role is not None else None, tuple(notes),
                                self._span(meta))

    @v_args(meta=True)
    def decision_decl(self, meta: Any, items: list[Any]) -> n.DecisionDecl:
        return n.DecisionDecl(tuple(i for i in items if isinstance(i, n.DecisionPathways)),
                              tuple(i for i in items if isinstance(i, n.DecisionOutput)),
                              tuple(i for i in items if isinstance(i, (n.Cite, n.Remark))),
                              self._span(meta))

    # ---- expressions -----------------------------------------------------
    @v_args(meta=True)
    def or_(self, meta: Any, items: list[n.Expr]) -> n.Expr:
        return self._chain(meta, "or", items[0], items[1])

    @v_args(meta=True)
    def and_(self, meta: Any, items: list[n.Expr]) -> n.Expr:
        return self._chain(meta, "and", items[0], items[1])

    @v_args(meta=True)
    def not_(self, meta: Any, items: list[n.Expr]) -> n.Expr:
        return self._nest(n.Unary("not", items[0], self._span(meta)), items[0])

    @v_args(meta=True)
    def compare(self, meta: Any, items: list[Any]) -> n.Expr:
        return self._nest(n.Binary(str(items[1]), items[0], items[2], self._span(meta)),
                          items[0], items[2])

    @v_args(meta=True)
    def in_(self, meta: Any, items: list[n.Expr]) -> n.Expr:
        return self._nest(n.Binary("in", items[0], items[1], self._span(meta)), *items)

    @v_args(meta=True)
    def not_in(self, meta: Any, items: list[n.Expr]) -> n.Expr:
        return self._nest(n.Binary("not in", items[0], items[1], self._span(meta)), *items)

    @v_args(meta=True)
    def in_range(self, meta: Any, items: list[n.Expr]) -> n.Expr:
        return self._nest(n.InRange(items[0], items[1], items[2], False, self._span(meta)),
                          *items)

    @v_args(meta=True)
    def not_in_range(self, meta: Any, items: list[n.Expr]) -> n.Expr:
        return self._nest(n.InRange(items[0], items[1], items[2], True, self._span(meta)),
                          *items)

    @v_args(meta=True)
    def case_expr(self, meta: Any, items: list[n.Branch]) -> n.Expr:
        case = n.CaseExpr(tuple(items), self._span(meta))
        return self._nest(case, *n.children(case))

    @v_args(meta=True)
    def if_expr(self, meta: Any, items: list[n.Expr]) -> n.Expr:
        condition, then, other = items
        case = n.CaseExpr((n.Branch(condition, then, (), then.span),
                           n.Branch(None, other, (), other.span)), self._span(meta))
        return self._nest(case, *items)

    @v_args(meta=True)
    def div(self, meta: Any, items: list[n.Expr]) -> n.Expr:
        return self._chain(meta, "/", items[0], items[1])

    @v_args(meta=True)
    def binop(self, meta: Any, items: list[Any]) -> n.Expr:
        return self._chain(meta, str(items[1]), items[0], items[2])

    @v_args(meta=True)
    def mul(self, meta: Any, items: list[n.Expr]) -> n.Expr:
        return self._chain(meta, "*", items[0], items[1])

    @v_args(meta=True)
    def ref(self, meta: Any, items: list[Any]) -> n.Expr:
        path, span = items[0]
        return self._nest(n.Ref(path, span))

    @v_args(meta=True)
    def call(self, meta: Any, items: list[Any]) -> n.Expr:
        name, *args = items
        return self._nest(n.Call(str(name), tuple(args), self._span(meta)), *args)

    @v_args(meta=True)
    def lookup(self, meta: Any, items: list[Any]) -> n.Expr:
        return self._nest(n.Lookup(str(items[0]), items[1], self._span(meta), tuple(items[2:])),
                          *items[1:])

    @v_args(meta=True)
    def value_set(self, meta: Any, items: list[Any]) -> n.Expr:
        values = tuple(i if isinstance(i, tuple) else (i, None) for i in items if i is not None)
        if len(values) > MAX_OPERANDS:  # each value is an operand of the `or` it stands for
            raise _BadLiteral(f"this set has more than {MAX_OPERANDS} values (the limit)",
                              self._span(meta), "join values into ranges `LOW..HIGH`",
                              code="E105")
        return self._nest(n.ValueSet(values, self._span(meta)))

    def set_range(self, items: list[n.Literal]) -> tuple[n.Literal, n.Literal]:
        return items[0], items[1]

    @v_args(meta=True)
    def set_literal(self, meta: Any, items: list[Token | None]) -> n.Expr:
        return self._nest(n.SetLiteral(tuple(self._member(t) for t in items if t is not None),
                                       self._span(meta)))

    # ---- literals --------------------------------------------------------
    @v_args(meta=True)
    def lit_true(self, meta: Any, items: list[Any]) -> n.Literal:
        return n.Literal("bool", True, self._span(meta))

    @v_args(meta=True)
    def lit_false(self, meta: Any, items: list[Any]) -> n.Literal:
        return n.Literal("bool", False, self._span(meta))

    def lit_int(self, items: list[Token]) -> n.Literal:
        return n.Literal("int", int(self._number(items[0])), self._tspan(items[0]))

    def lit_decimal(self, items: list[Token]) -> n.Literal:
        return n.Literal("decimal", Decimal(self._number(items[0])), self._tspan(items[0]))

    def lit_percent(self, items: list[Token]) -> n.Literal:
        """`70%` is the rate 0.70, `12.5%` is 0.125: the number scaled by 100, exactly."""
        number = Decimal(self._number(items[0])[:-1])
        return n.Literal("percent", number.scaleb(-2), self._tspan(items[0]))

    @v_args(meta=True)
    def lit_days(self, meta: Any, items: list[Token]) -> n.Literal:
        return n.Literal("days", int(self._number(items[0])), self._span(meta))

    @v_args(meta=True)
    def lit_money(self, meta: Any, items: list[Token]) -> n.Literal:
        amount, currency = items
        return n.Literal("money", Decimal(self._number(amount)), self._span(meta),
                         currency=str(currency))

    def lit_date(self, items: list[Token]) -> n.Literal:
        return n.Literal("date", self._date(items[0]), self._tspan(items[0]))

    def lit_string(self, items: list[Token]) -> n.Literal:
        return n.Literal("string", unquote(items[0]), self._tspan(items[0]))

    def lit_name(self, items: list[Token]) -> n.Literal:
        return n.Literal("name", str(items[0]), self._tspan(items[0]))


def _expr_span(expr: n.Expr) -> Span:
    return expr.span
