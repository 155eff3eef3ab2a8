"""Lark tree → AST nodes (construction only; no semantics)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from lark import Token, Transformer, Tree, v_args
from lark.exceptions import VisitError

from . import nodes as n
from ..diagnostics import Diagnostics, Span


class _BadLiteral(Exception):
    def __init__(self, message: str, span: Span, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint


def build(tree: Tree[Token], file: str, diagnostics: Diagnostics) -> n.Module:
    """Build the module; a literal that cannot be a value is a diagnostic, not a crash."""
    builder = _Builder(file, diagnostics)
    declarations: list[n.Decl] = []
    for child in tree.children:
        if not isinstance(child, Tree):
            continue
        try:
            declarations.append(builder.transform(child))
        except VisitError as exc:
            inner = exc.orig_exc
            if isinstance(inner, _BadLiteral):
                diagnostics.error("E103", inner.message, inner.span, inner.hint)
            else:
                raise
    return n.Module(file, tuple(declarations))


def _unquote(token: Token) -> str:
    body = str(token)[1:-1]
    out: list[str] = []
    escapes = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
    i = 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(escapes[body[i + 1]])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


class _Builder(Transformer[Token, Any]):
    def __init__(self, file: str, diagnostics: Diagnostics) -> None:
        super().__init__()
        self.file = file
        self.diagnostics = diagnostics

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
        return n.Remark("unconfirmed", _unquote(items[0]), self._span(meta))

    @v_args(meta=True)
    def assumption(self, meta: Any, items: list[Token]) -> n.Remark:
        return n.Remark("assumption", _unquote(items[0]), self._span(meta))

    @v_args(meta=True)
    def note(self, meta: Any, items: list[Token]) -> n.Remark:
        return n.Remark("note", _unquote(items[0]), self._span(meta))

    # ---- headers ---------------------------------------------------------
    @v_args(meta=True)
    def h_title(self, meta: Any, items: list[Token]) -> n.HeaderItem:
        return n.HeaderItem("title", (_unquote(items[0]),), self._span(meta))

    @v_args(meta=True)
    def h_country(self, meta: Any, items: list[Token]) -> n.HeaderItem:
        return n.HeaderItem("country", (_unquote(items[0]),), self._span(meta))

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
        return n.ImportDecl(_unquote(items[0]), self._span(meta))

    @v_args(meta=True)
    def source_decl(self, meta: Any, items: list[Token | None]) -> n.SourceDecl:
        name, document, title = items
        assert name is not None and document is not None
        return n.SourceDecl(str(name), _unquote(document), _unquote(title) if title else None,
                            self._span(meta))

    # ---- types and inputs -------------------------------------------------
    def _member(self, item: Token) -> n.Literal:
        if item.type == "STRING":
            return n.Literal("string", _unquote(item), self._tspan(item))
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
        return n.TypeRef("int", self._span(meta), low=int(low) if low else None,
                         high=int(high) if high else None)

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

    def key_list(self, items: list[Token]) -> tuple[n.Literal, ...]:
        return tuple(self._member(t) for t in items)

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
        name, key_type, type_ref, *rest = items
        rows = tuple(i for i in rest if isinstance(i, n.TableRow))
        notes = tuple(i for i in rest if isinstance(i, (n.Cite, n.Remark)))
        return n.TableDecl(str(name), str(key_type), self._tspan(key_type), type_ref, rows, notes,
                           self._span(meta))

    @v_args(meta=True)
    def let_decl(self, meta: Any, items: list[Any]) -> n.LetDecl:
        name, expr, *notes = items
        return n.LetDecl(str(name), expr, tuple(notes), self._span(meta))

    # ---- decisions -------------------------------------------------------
    @v_args(meta=True)
    def exception_rule(self, meta: Any, items: list[Any]) -> n.RuleDecl:
        name, priority, outcome, condition, *notes = items
        return n.RuleDecl(str(name), int(priority), str(outcome), self._tspan(outcome), condition,
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

    def plain_body(self, items: list[Any]) -> tuple[bool, tuple[n.Branch, ...]]:
        value, *notes = items
        return False, (n.Branch(None, value, tuple(notes), _expr_span(value)),)

    def case_body(self, items: list[n.Branch]) -> tuple[bool, tuple[n.Branch, ...]]:
        return True, tuple(items)

    @v_args(meta=True)
    def output_decl(self, meta: Any, items: list[Any]) -> n.OutputDecl:
        name, type_ref, *rest = items
        is_case, branches = rest[-1]
        return n.OutputDecl(str(name), type_ref, branches, is_case, tuple(rest[:-1]),
                            self._span(meta))

    # ---- expressions -----------------------------------------------------
    @v_args(meta=True)
    def or_(self, meta: Any, items: list[n.Expr]) -> n.Expr:
        return n.Binary("or", items[0], items[1], self._span(meta))

    @v_args(meta=True)
    def and_(self, meta: Any, items: list[n.Expr]) -> n.Expr:
        return n.Binary("and", items[0], items[1], self._span(meta))

    @v_args(meta=True)
    def not_(self, meta: Any, items: list[n.Expr]) -> n.Expr:
        return n.Unary("not", items[0], self._span(meta))

    @v_args(meta=True)
    def compare(self, meta: Any, items: list[Any]) -> n.Expr:
        return n.Binary(str(items[1]), items[0], items[2], self._span(meta))

    @v_args(meta=True)
    def in_(self, meta: Any, items: list[n.Expr]) -> n.Expr:
        return n.Binary("in", items[0], items[1], self._span(meta))

    @v_args(meta=True)
    def not_in(self, meta: Any, items: list[n.Expr]) -> n.Expr:
        return n.Binary("not in", items[0], items[1], self._span(meta))

    @v_args(meta=True)
    def binop(self, meta: Any, items: list[Any]) -> n.Expr:
        return n.Binary(str(items[1]), items[0], items[2], self._span(meta))

    @v_args(meta=True)
    def mul(self, meta: Any, items: list[n.Expr]) -> n.Expr:
        return n.Binary("*", items[0], items[1], self._span(meta))

    @v_args(meta=True)
    def ref(self, meta: Any, items: list[Any]) -> n.Expr:
        path, span = items[0]
        return n.Ref(path, span)

    @v_args(meta=True)
    def call(self, meta: Any, items: list[Any]) -> n.Expr:
        name, *args = items
        return n.Call(str(name), tuple(args), self._span(meta))

    @v_args(meta=True)
    def lookup(self, meta: Any, items: list[Any]) -> n.Expr:
        return n.Lookup(str(items[0]), items[1], self._span(meta))

    @v_args(meta=True)
    def set_literal(self, meta: Any, items: list[Token | None]) -> n.Expr:
        return n.SetLiteral(tuple(self._member(t) for t in items if t is not None), self._span(meta))

    # ---- literals --------------------------------------------------------
    @v_args(meta=True)
    def lit_true(self, meta: Any, items: list[Any]) -> n.Literal:
        return n.Literal("bool", True, self._span(meta))

    @v_args(meta=True)
    def lit_false(self, meta: Any, items: list[Any]) -> n.Literal:
        return n.Literal("bool", False, self._span(meta))

    def lit_int(self, items: list[Token]) -> n.Literal:
        return n.Literal("int", int(items[0]), self._tspan(items[0]))

    def lit_decimal(self, items: list[Token]) -> n.Literal:
        return n.Literal("decimal", Decimal(str(items[0])), self._tspan(items[0]))

    @v_args(meta=True)
    def lit_money(self, meta: Any, items: list[Token]) -> n.Literal:
        amount, currency = items
        return n.Literal("money", Decimal(str(amount)), self._span(meta), currency=str(currency))

    def lit_date(self, items: list[Token]) -> n.Literal:
        return n.Literal("date", self._date(items[0]), self._tspan(items[0]))

    def lit_string(self, items: list[Token]) -> n.Literal:
        return n.Literal("string", _unquote(items[0]), self._tspan(items[0]))

    def lit_name(self, items: list[Token]) -> n.Literal:
        return n.Literal("name", str(items[0]), self._tspan(items[0]))


def _expr_span(expr: n.Expr) -> Span:
    return expr.span
