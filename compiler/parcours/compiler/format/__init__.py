"""`parcours fmt`: one canonical layout of a policy text (docs/cli.md, "parcours fmt").

The text is parsed with every token kept and its comments collected; the layout is
written from the tree alone (`decls`, `exprs`), so that any spacing, indentation or line
breaking of the input gives the same output; only blank lines between items (one at
most) and comments come from the input.  The output is checked before it is returned:
it must parse to the same tree, token for token, with the same comments in the same
order, or `FormatError` is raised and the caller writes nothing.  (`parcours fmt` checks
the IR too: see `cli/fmt.py`.)
"""

from __future__ import annotations

import threading
from functools import lru_cache

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from parcours.grammar import grammar_text

from ..syntax.parse import PARSER_OPTIONS, _cache_file
from .decls import DECLS
from .exprs import CHAINS, refuse, tokens, where
from .layout import WIDTH, FormatError, Out

__all__ = ["WIDTH", "FormatError", "format_text"]

_LOCK = threading.Lock()
_COMMENTS: list[Token] = []


@lru_cache(maxsize=1)
def _full_parser() -> Lark:
    """The grammar's parser keeping every token (keywords, punctuation) and collecting the
    comments it ignores."""
    cache = _cache_file()  # the parser's own cache folder, a file of its own
    return Lark(grammar_text(), keep_all_tokens=True,
                cache=cache.replace(".lark", "-all-tokens.lark") if isinstance(cache, str)
                else cache,
                lexer_callbacks={"COMMENT": _COMMENTS.append}, **PARSER_OPTIONS)


def _parse(text: str) -> tuple[Tree[Token], list[Token]]:
    with _LOCK:
        _COMMENTS.clear()
        try:
            tree = _full_parser().parse(text)
        except UnexpectedInput as exc:
            raise FormatError(f"{exc.line}:{exc.column}: a syntax error (run `parcours check`); "
                              "the file is left as it is") from None
        comments = list(_COMMENTS)
        _COMMENTS.clear()
    return tree, comments


def format_text(text: str) -> str:
    """The canonical layout of a policy text; FormatError when it does not parse, holds a
    construct the formatter does not know, or would not give back the same tree."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    tree, comments = _parse(text)
    out = Out(text)
    for decl in tree.children:
        if not isinstance(decl, Tree):
            raise FormatError(f"unexpected token {decl!r}")
        layout = DECLS.get(str(decl.data))
        if layout is None:
            raise refuse(decl)
        if _depth(decl) > MAX_DEPTH:
            raise FormatError(f"{where(decl)}: `{decl.data}` nests too deep to lay out (more "
                              f"than {MAX_DEPTH} levels); the file is left as it is")
        try:
            layout(decl, out, 0)
        except FormatError:
            raise
        except RecursionError:
            raise FormatError(f"{where(decl)}: `{decl.data}` nests too deep to lay out; the "
                              "file is left as it is") from None
        except (AssertionError, ValueError, KeyError, IndexError, TypeError) as exc:
            # a known construct in a shape its layout does not expect (the grammar grew)
            why = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise FormatError(f"{where(decl)}: the formatter does not know this form of "
                              f"`{decl.data}` ({why}); the file is left as it is") from None
    positions = sorted(t.start_pos for t in tokens(tree) if t.start_pos is not None)
    missing = [p for p in positions if p not in out.owner]
    if missing:
        line = text.count("\n", 0, missing[0]) + 1
        raise FormatError(f"line {line}: the layout would leave a token out; the file is left "
                          "as it is")
    out.place_comments(comments, positions)
    result = out.render() if out.records else ""
    if result == "\n":
        result = ""
    _same_meaning(tree, result, comments)
    return result


MAX_DEPTH = 200
"""How deep the layout follows nested constructs (a chain of one operator is one level)."""


def _depth(tree: Tree[Token]) -> int:
    deepest = 0
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        for child in node.children:
            if isinstance(child, Tree):
                same_chain = child.data == node.data and node.data in CHAINS
                stack.append((child, depth if same_chain else depth + 1))
    return deepest


def _shape(tree: Tree[Token]) -> list[object]:
    """A tree as data, in pre-order with each node's count of children (iteratively), every
    token kept but the commas (the layout drops an optional trailing comma of a one-line
    list and adds one to each line of a block list) and the placeholders of absent
    optional ones."""
    shape: list[object] = []
    stack: list[Tree[Token] | Token] = [tree]
    while stack:
        top = stack.pop()
        if isinstance(top, Token):
            shape.append((top.type, str(top)))
            continue
        children = [c for c in top.children
                    if c is not None and not (isinstance(c, Token) and c == ",")]
        shape.append((str(top.data), len(children)))
        stack.extend(reversed(children))
    return shape


def _same_meaning(before: Tree[Token], after: str, comments: list[Token]) -> None:
    """The output parses to the input's tree (keywords, names, literals, operators and
    parentheses, token for token) with the input's comments, in their order."""
    try:
        new, kept = _parse(after)
    except FormatError:
        raise FormatError("the formatted text would not parse; the file is left as it "
                          "is") from None
    if _shape(before) != _shape(new):
        raise FormatError("the formatted text would not parse to the same tree; the file is "
                          "left as it is")
    if [str(c).rstrip() for c in kept] != [str(c).rstrip() for c in comments]:
        raise FormatError("the formatted text would lose or reorder a comment; the file is "
                          "left as it is")
