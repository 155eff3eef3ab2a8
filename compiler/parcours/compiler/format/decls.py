"""Declarations: one layout per construct of the grammar.

Each top-level declaration starts a line at column 0; a block (`{ … }`) holds one item a
line, indented by two; the first annotation of a one-line item stays on its line when it
fits (aligned with its neighbours'), the others go on lines of their own, indented by two
under the item; a rule's condition goes on its own line (`when …`).  Blank lines between
items are kept (one at most); comments are put back by `Out.place_comments`.

A construct of the grammar that is not in `DECLS`, `ITEMS` or `exprs.FLAT` is refused
(`FormatError`), never written half: a new construct needs its entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lark import Token, Tree

from .exprs import FLAT, expr, fits, refuse, tokens
from .layout import WIDTH, Out

Node = Tree[Token] | Token
ANNOTATIONS = frozenset({"cite", "unconfirmed", "assumption", "note"})
# small trees written on one line, token by token
INLINE = frozenset({"t_bool", "t_int", "t_date", "t_money", "t_rate", "t_decimal", "t_id", "t_enum",
                    "path", "key_enum", "key_bool", "key_columns", "key_true", "key_false",
                    "key_tuple",
                    "key_list", "key_else", "h_title", "h_country", "h_currency", "h_status",
                    "h_valid", "h_annotation"}) | ANNOTATIONS
BODIES = frozenset({"scalar_value", "plain_body", "dated_value"})


def parts(node: Tree[Token]) -> list[Node]:
    return [c for c in node.children if c is not None]


def find(items: list[Node], word: str) -> int:
    """Where the token `word` is among a node's children (the first, or the last `}`)."""
    found = [i for i, item in enumerate(items) if isinstance(item, Token) and item == word]
    if not found:
        raise ValueError(word)
    return found[-1] if word == "}" else found[0]


def is_annotation(node: Node) -> bool:
    return isinstance(node, Tree) and node.data in ANNOTATIONS


def inline(node: Node, out: Out) -> None:
    if isinstance(node, Tree) and node.data not in INLINE and node.data not in FLAT:
        raise refuse(node)
    for token in tokens(node):
        out.tok(token)


def value(node: Node, out: Out, indent: int) -> None:
    """An expression or a constant, where a `case` may open a block."""
    expr(node, out, indent, branch)


def fill(items: Sequence[Node], out: Out) -> None:
    """Tokens separated by commas, filling lines aligned under the first."""
    column = -1
    for item in items:
        assert isinstance(item, Token)
        if column < 0:
            column = out.at(item)
        elif item != "," and out.at(item) + len(item) + 1 > WIDTH:
            out.newline(column)
        out.tok(item)


def annotate(items: Sequence[Node], out: Out, indent: int, trailing: bool = True) -> None:
    """The annotations of the item just written: the first on its line when it fits."""
    notes = [n for n in items if is_annotation(n)]
    if not notes:
        return
    record = out.current
    first = notes[0]
    probe = Out("")
    probe.start(0)
    inline(first, probe)
    if (trailing and "\n" not in record.text and not record.text.endswith("}")
            and out.col + 3 + len(probe.current.text) <= WIDTH):
        record.tail = "   " + probe.current.text
        for token in tokens(first):
            out.drop(token)
        notes = notes[1:]
    for note in notes:
        out.start(indent + 2)
        inline(note, out)


def head(items: list[Node], out: Out, indent: int, stop: Callable[[Node], bool]) -> int:
    """Write items up to the first one `stop` accepts; its index."""
    for i, item in enumerate(items):
        if stop(item):
            return i
        if isinstance(item, Token):
            out.tok(item)
        elif item.data == "key_list":
            fill(tokens(item), out)
        elif item.data in INLINE and item.data not in FLAT:
            inline(item, out)
        else:
            value(item, out, indent)
    return len(items)


def block(items: list[Node], out: Out, indent: int, opener: object = None) -> None:
    """`{ item… }`: the items one a line, two further in; `{` ends the line of the record
    `opener` (else it takes a line of its own)."""
    for item in items:
        if isinstance(item, Token) and item == "{":
            if out.current is not opener or "\n" in out.current.text:
                out.start(indent)
            out.tok(item)
        elif isinstance(item, Token) and item == "}":
            out.start(indent)
            out.tok(item)
        elif isinstance(item, Tree) and item.data in ITEMS:
            ITEMS[str(item.data)](item, out, indent + 2)
        elif is_annotation(item):
            annotate([item], out, indent, trailing=False)
        else:
            raise refuse(item) if isinstance(item, Tree) else AssertionError(item)


def declaration(node: Tree[Token], out: Out, indent: int, blank: bool = True) -> None:
    """The common shape: a head, annotations, then a value or a block."""
    items = parts(node)
    out.start(indent, blank)
    opener = out.current
    at = head(items, out, indent, lambda n: is_annotation(n) or n in ("{", "=")
              or (isinstance(n, Tree) and (n.data in ITEMS or n.data in BODIES)))
    rest = items[at:]
    notes = []
    while rest and is_annotation(rest[0]):
        notes.append(rest.pop(0))
    annotate(notes, out, indent, trailing=not rest)
    if notes and rest and (rest[0] == "=" or (isinstance(rest[0], Tree)
                                              and rest[0].data in ("scalar_value", "plain_body"))):
        out.start(indent + 2)  # annotations before the value: the value on a line of its own
        opener = out.current
    if rest and isinstance(rest[0], Token) and rest[0] == "=":
        out.tok(rest.pop(0))  # type: ignore[arg-type]
    if rest and isinstance(rest[0], Tree) and rest[0].data in BODIES:
        body = rest.pop(0)
        assert isinstance(body, Tree)
        if body.data == "dated_value":
            block(parts(body), out, indent, opener)
        else:
            _valued(body, out, indent)
    if rest:
        block(rest, out, indent, opener)


def _valued(node: Tree[Token], out: Out, indent: int) -> None:
    """`= VALUE annotation*` or `EXPR annotation*` continuing the current line."""
    items = parts(node)
    at = head(items, out, indent, is_annotation)
    annotate(items[at:], out, indent)


def _one_line(node: Tree[Token], out: Out, indent: int) -> None:
    """An item on one line with its annotations (a header item, a dated row, a branch)."""
    items = parts(node)
    out.start(indent, blank=True)
    at = head(items, out, indent, is_annotation)
    annotate(items[at:], out, indent)


def _own_lines(node: Tree[Token], out: Out, indent: int) -> None:
    """A declaration whose annotations each take a line (a schema)."""
    items = parts(node)
    out.start(indent, blank=True)
    at = head(items, out, indent, is_annotation)
    annotate(items[at:], out, indent, trailing=False)


def _members(node: Tree[Token], out: Out, indent: int) -> None:
    """`enum NAME { a, b }` and `pathway { a, b }`: on one line when it fits, else a
    block that fills its lines, each member followed by a comma."""
    items = parts(node)
    out.start(indent, blank=True)
    opening = find(items, "{")
    closing = find(items, "}")
    for item in items[:opening + 1]:
        assert isinstance(item, Token)
        out.tok(item)
    members = [m for m in items[opening + 1:closing] if not (isinstance(m, Token) and m == ",")]
    commas = [m for m in items[opening + 1:closing] if isinstance(m, Token) and m == ","]
    one_line = ", ".join(str(m) for m in members) + "}"
    if out.col + len(one_line) <= WIDTH:
        for item in items[opening + 1:closing + 1]:
            if isinstance(item, Token) and item == "," and item is commas[-1] and (
                    len(commas) == len(members)):
                out.drop(item)
            else:
                assert isinstance(item, Token)
                out.tok(item)
    else:
        out.start(indent + 2)
        for i, member in enumerate(members):
            assert isinstance(member, Token)
            if out.col + len(member) + 1 > WIDTH and i:
                out.start(indent + 2)
            out.tok(member)
            if i < len(commas):
                out.tok(commas[i])
            else:
                out.write(",")
        out.start(indent)
        last = items[closing]
        assert isinstance(last, Token)
        out.tok(last)
    annotate(items[closing + 1:], out, indent, trailing=False)


def _constraint(node: Tree[Token], out: Out, indent: int) -> None:
    """`constraint NAME:` then `CONDITION requires REQUIREMENT` on the next line."""
    items = parts(node)
    out.start(indent, blank=True)
    colon = find(items, ":")
    head(items[:colon + 1], out, indent, lambda n: False)
    out.start(indent + 2)
    requires = find(items, "requires")
    condition, requirement = items[colon + 1], items[requires + 1]
    value(condition, out, indent + 2)
    column = indent + 2
    word = items[requires]
    assert isinstance(word, Token)
    if not fits(out, requirement, len(" requires ")):
        out.newline(column)
    out.tok(word)
    value(requirement, out, indent + 2)
    annotate(items[requires + 2:], out, indent, trailing=False)


def _accumulator(node: Tree[Token], out: Out, indent: int) -> None:
    """`accumulator NAME: TYPE per KEY… over PERIOD`, then `adds OUTPUT cap CAP` on the next
    line, then the annotations, each on a line of its own."""
    items = parts(node)
    out.start(indent, blank=True)
    adds = find(items, "adds")
    head(items[:adds], out, indent, lambda n: False)
    out.start(indent + 2)
    at = head(items[adds:], out, indent, is_annotation)
    annotate(items[adds + at:], out, indent, trailing=False)


def _rule(node: Tree[Token], out: Out, indent: int) -> None:
    """`rule NAME priority N: PATHWAY`, then `when CONDITION`, then the annotations."""
    items = parts(node)
    out.start(indent, blank=True)
    if any(isinstance(item, Token) and item == "when" for item in items):
        when = find(items, "when")
        head(items[:when], out, indent, lambda n: False)
        out.start(indent + 2)
        out.tok(items[when])  # type: ignore[arg-type]
        value(items[when + 1], out, indent + 2)
        rest = items[when + 2:]
    else:
        at = head(items, out, indent, is_annotation)
        rest = items[at:]
    annotate(rest, out, indent, trailing=False)


def branch(node: Tree[Token], out: Out, indent: int) -> None:
    """An arm of a `case`: `when CONDITION: VALUE` or `else: VALUE`; a value that does not
    fit after its condition goes on the next line, two further in."""
    if node.data not in ("when_branch", "else_branch"):
        raise refuse(node)
    items = parts(node)
    out.start(indent, blank=True)
    colon = find(items, ":")
    head(items[:colon + 1], out, indent, lambda n: False)
    result = items[colon + 1]
    if not fits(out, result):
        out.newline(indent + 2)
    value(result, out, indent)
    annotate(items[colon + 2:], out, indent)


def _whole(node: Tree[Token], out: Out, indent: int) -> None:
    """An item written as it is on one line (an annotation of the policy's header)."""
    out.start(indent, blank=True)
    inline(node, out)


def _table_row(node: Tree[Token], out: Out, indent: int) -> None:
    if node.data == "table_scalar":
        _one_line(node, out, indent)
    else:
        declaration(node, out, indent)


ITEMS: dict[str, Callable[[Tree[Token], Out, int], None]] = {
    "h_title": _one_line, "h_country": _one_line, "h_currency": _one_line,
    "h_status": _one_line, "h_valid": _one_line, "h_annotation": _whole,
    "dated_row": _one_line, "table_scalar": _table_row, "table_dated": _table_row,
    "exception_rule": _rule, "default_rule": _rule, "d_pathway": _members,
    "d_output": _one_line,
}

DECLS: dict[str, Callable[[Tree[Token], Out, int], None]] = {
    "policy_decl": declaration, "schema_decl": _own_lines, "import_decl": _one_line,
    "source_decl": _one_line, "enum_decl": _members, "input_decl": _one_line,
    "constraint_decl": _constraint, "param_decl": declaration, "table_decl": declaration,
    "let_decl": _one_line, "rules_decl": declaration, "output_decl": declaration,
    "decision_decl": declaration, "accumulator_decl": _accumulator,
}
