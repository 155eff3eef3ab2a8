"""Expressions: written flat when they fit the line, else broken at their weakest operator
(`or`, then `and`, then `+`/`-`), each operand on a line of its own aligned under the
first, and call arguments and set members filled line by line; a `case` is always a block.
"""

from __future__ import annotations

from collections.abc import Callable

from lark import Token, Tree

from .layout import WIDTH, FormatError, Out

Node = Tree[Token] | Token

# Expression forms written token by token, as one line, with their subexpressions laid out
# by `expr`.  A new expression form of the grammar is written by adding its rule name here
# (or, when it needs breaking of its own, to `_BREAKERS`); an unknown one is refused.
FLAT = frozenset({
    "compare", "in_", "not_in", "in_range", "not_in_range", "mul", "div", "not_", "ref",
    "path", "lookup", "lit_days", "lit_true", "lit_false", "lit_int", "lit_decimal",
    "lit_money", "lit_percent", "lit_date", "lit_string", "lit_name", "atom", "value_set",
    "set_range",
})
CHAINS = frozenset({"or_", "and_", "binop"})


def where(node: Node) -> str:
    meta = node if isinstance(node, Token) else node.meta
    line = getattr(meta, "line", None)
    column = getattr(meta, "column", None)
    return f"{line}:{column}" if line is not None else "?"


def refuse(node: Tree[Token]) -> FormatError:
    return FormatError(f"{where(node)}: the formatter does not know the construct "
                       f"`{node.data}`; the file is left as it is")


def tokens(node: Node) -> list[Token]:
    """The tokens of a tree, in order (iteratively: an expression may nest deep)."""
    found: list[Token] = []
    stack: list[Node] = [node]
    while stack:
        top = stack.pop()
        if isinstance(top, Token):
            found.append(top)
        else:
            stack.extend(c for c in reversed(top.children) if c is not None)
    return found


def flat_width(node: Node) -> int | None:
    """How wide the expression is on one line; None when it holds a block (`case`)."""
    if isinstance(node, Tree) and _holds_case(node):
        return None
    probe = Out("")
    probe.start(0)
    for token in tokens(node):
        probe.tok(token)
    return len(probe.current.text)


def _holds_case(node: Tree[Token]) -> bool:
    return any(isinstance(t, Tree) and t.data == "case_expr" for t in node.iter_subtrees())


def fits(out: Out, node: Node, extra: int = 0) -> bool:
    width = flat_width(node)
    return width is not None and out.at(tokens(node)[0]) + width + extra <= WIDTH


def expr(node: Node, out: Out, indent: int, branch: Callable[[Tree[Token], Out, int], None],
         extra: int = 0) -> None:
    """Write an expression at the current position; `indent` is the statement's (a `case`
    block's arms go two further); `branch` writes one arm; `extra` is what follows on the
    line (a closing parenthesis)."""
    if isinstance(node, Token):
        out.tok(node)
        return
    data = str(node.data)
    if data not in FLAT and data not in CHAINS and data not in _BREAKERS:
        raise refuse(node)
    if fits(out, node, extra) and data != "case_expr":
        for token in tokens(node):
            out.tok(token)
        return
    if data in CHAINS:
        _chain(node, out, indent, branch, extra)
    elif data in _BREAKERS:
        _BREAKERS[data](node, out, indent, branch, extra)
    else:
        children = [c for c in node.children if c is not None]
        for i, child in enumerate(children):
            expr(child, out, indent, branch, extra if i == len(children) - 1 else 0)


def _chain(node: Tree[Token], out: Out, indent: int,
           branch: Callable[[Tree[Token], Out, int], None], extra: int) -> None:
    """`a or b or c` filling its lines, broken before an operator when the next operand
    does not fit, the continuation lines aligned under the first operand."""
    operands: list[Node] = []
    operators: list[Token] = []
    current: Node = node
    while isinstance(current, Tree) and current.data == node.data:
        left, op, right = current.children
        assert isinstance(op, Token) and left is not None and right is not None
        operands.insert(0, right)
        operators.insert(0, op)
        current = left
    column = out.at(tokens(current)[0])
    expr(current, out, indent, branch)
    for op, operand in zip(operators, operands):
        last = operand is operands[-1]
        width = flat_width(operand)
        if width is None or "\n" in out.current.text.rsplit("\n", 1)[-1] or (
                out.col + 1 + len(op) + 1 + width + (extra if last else 0) > WIDTH):
            out.newline(column)
        out.tok(op)
        expr(operand, out, indent, branch, extra if operand is operands[-1] else 0)


def _listing(node: Tree[Token], out: Out, indent: int,
             branch: Callable[[Tree[Token], Out, int], None], extra: int) -> None:
    """A call or a set: the items fill lines aligned after the opening bracket."""
    children = [c for c in node.children if c is not None]
    column = -1
    for i, child in enumerate(children):
        if isinstance(child, Token) and child in ("(", "{"):
            out.tok(child)
            column = out.col
            continue
        if isinstance(child, Token) and child == "," and i + 1 < len(children) and (
                children[i + 1] in (")", "}")):
            out.drop(child)  # an optional trailing comma
            continue
        if isinstance(child, Token) and child in (",", ")", "}", "["):
            out.tok(child)
            continue
        if column >= 0 and not (isinstance(children[i - 1], Token) and children[i - 1] in ("(", "{")):
            after = 1 if i + 1 < len(children) else 0
            if flat_width(child) is not None and not fits(
                    out, child, after + (extra if i + 2 == len(children) else 0)):
                out.newline(column)
        expr(child, out, indent, branch, 1)


def _case(node: Tree[Token], out: Out, indent: int,
          branch: Callable[[Tree[Token], Out, int], None], extra: int) -> None:
    for child in node.children:
        if isinstance(child, Token):
            if child == "}":
                out.start(indent)
            out.tok(child)
        elif child is not None:
            branch(child, out, indent + 2)


def _if(node: Tree[Token], out: Out, indent: int,
        branch: Callable[[Tree[Token], Out, int], None], extra: int) -> None:
    column = out.at(tokens(node)[0])
    for child in node.children:
        assert child is not None
        if isinstance(child, Token) and child in ("then", "else"):
            out.newline(column)
        expr(child, out, indent, branch)


_BREAKERS: dict[str, Callable[[Tree[Token], Out, int,
                               Callable[[Tree[Token], Out, int], None], int], None]] = {
    "call": _listing, "set_literal": _listing, "case_expr": _case, "if_expr": _if,
}
