"""Text → Lark tree, with every syntax error of a file reported in one pass.

The parser is one LALR(1) Lark parser built once per process and cached on disk
between processes (in the user's cache folder, keyed by the grammar and Lark's
version), so that a command does not spend a quarter of a second rebuilding it;
``tests/test_grammar.py`` builds it with ``strict=True`` so that any conflict in the
grammar fails the tests.  Recovery is by declaration: when a
declaration fails to parse, its lines are blanked (newlines kept, so every
position stays true) and the file is parsed again, until it parses.  The names
the broken declarations would have declared are returned, so later stages can
stay quiet about them instead of reporting a cascade.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import lark
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from parcours.grammar import grammar_text

from ..diagnostics import Diagnostics, Span

TOP_KEYWORDS = ("policy", "schema", "import", "source", "enum", "input", "constraint", "param",
                "table", "let", "rules", "output")
_DECL_START = re.compile(r"^(?:%s)\b" % "|".join(TOP_KEYWORDS))
_DECL_NAME = re.compile(r"^(?:%s)\s+([a-z_][a-z0-9_.]*)" % "|".join(TOP_KEYWORDS))
MAX_SYNTAX_ERRORS = 50

_TOKEN_NAMES = {
    "NAME": "a name", "CURRENCY": "a currency code", "DATE": "a date (YYYY-MM-DD)",
    "DECIMAL": "a decimal number", "INT": "a whole number", "STRING": 'a string ("…")',
    "COMP_OP": "a comparison", "ADD_OP": "`+` or `-`", "$END": "the end of the file",
    "LBRACE": "`{`", "RBRACE": "`}`", "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`",
    "COLON": "`:`", "PERCENT": "a percentage (70%)", "DAY_UNIT": "`days`",
    "SLASH": "`/`", "COMMA": "`,`", "EQUAL": "`=`", "DOT": "`.`", "STAR": "`*`",
}


@dataclass(frozen=True, slots=True)
class ParseResult:
    tree: Tree[Token] | None
    text: str
    broken_names: frozenset[str]


PARSER_OPTIONS: dict[str, object] = {"parser": "lalr", "propagate_positions": True,
                                      "maybe_placeholders": True}


@lru_cache(maxsize=1)
def parser() -> Lark:
    return Lark(grammar_text(), cache=_cache_file(), **PARSER_OPTIONS)


def _cache_file() -> str | bool:
    """Where Lark keeps the built parser: a file of this user's own (Lark's cache is a
    pickle, so never a shared temporary folder), or no cache when there is none."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "parcours"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return False
    if not os.access(folder, os.W_OK):
        return False
    key = hashlib.sha256(f"{lark.__version__}\n{grammar_text()}".encode()).hexdigest()[:20]
    return str(folder / f"grammar-{key}.lark")


def decode(data: bytes, file: str, diagnostics: Diagnostics) -> str | None:
    """Bytes → text, or a diagnostic saying why the file is not a policy text."""
    nul = data.find(b"\x00")
    if nul >= 0:
        line, col = _position(data[:nul])
        diagnostics.error("E001", "this is a binary file, not a policy text (it holds a NUL byte)",
                          Span(file, line, col, line, col + 1),
                          "a .parcours file is UTF-8 text")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _position(data[:exc.start])
        diagnostics.error("E001", f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x})",
                          Span(file, line, col, line, col + 1), "save the file as UTF-8")
        return None
    return text.removeprefix("\ufeff")


def _position(prefix: bytes) -> tuple[int, int]:
    line = prefix.count(b"\n") + 1
    col = len(prefix) - (prefix.rfind(b"\n") + 1) + 1
    return line, col


def parse(text: str, file: str, diagnostics: Diagnostics) -> ParseResult:
    lines = text.split("\n")
    broken: set[str] = set()
    current = text
    for _ in range(MAX_SYNTAX_ERRORS):
        try:
            tree = parser().parse(current)
        except UnexpectedInput as exc:
            line = max(1, getattr(exc, "line", 1) or 1)
            _report(exc, current, file, diagnostics)
            first, last = _chunk(lines, line, exc)
            for index in range(first, last):
                match = _DECL_NAME.match(lines[index])
                if match:
                    broken.add(match.group(1))
                lines[index] = ""
            current = "\n".join(lines)
            continue
        return ParseResult(tree, text, frozenset(broken))
    return ParseResult(None, text, frozenset(broken))


def _chunk(lines: list[str], line: int, exc: UnexpectedInput) -> tuple[int, int]:
    """The 0-based line range of the declaration(s) to blank for an error at `line`."""
    index = min(line, len(lines)) - 1
    first = index
    while first > 0 and not _DECL_START.match(lines[first]):
        first -= 1
    at_keyword = (isinstance(exc, UnexpectedToken) and getattr(exc, "column", 0) == 1
                  and _DECL_START.match(lines[index]) is not None)
    if at_keyword and first > 0:
        # A declaration keyword was unexpected: the one before it is unclosed.
        first -= 1
        while first > 0 and not _DECL_START.match(lines[first]):
            first -= 1
    last = index + 1
    while last < len(lines) and not _DECL_START.match(lines[last]):
        last += 1
    return first, last


def _report(exc: UnexpectedInput, text: str, file: str, diagnostics: Diagnostics) -> None:
    line = max(1, getattr(exc, "line", 1) or 1)
    column = max(1, getattr(exc, "column", 1) or 1)
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        char = text[pos] if pos < len(text) else ""
        span = Span(file, line, column, line, column + 1)
        hint = _character_hint(text, pos)
        diagnostics.error("E100", f"unexpected character {char!r}", span, hint)
        return
    if isinstance(exc, UnexpectedEOF):
        last_line = text.rstrip().count("\n") + 1
        span = Span(file, last_line, 1, last_line, 1)
        diagnostics.error("E101", "the file ends in the middle of a declaration", span,
                          "a block opened with `{` is not closed, or a value is missing")
        return
    assert isinstance(exc, UnexpectedToken)
    token = exc.token
    width = max(1, len(str(token))) if token.type != "$END" else 1
    span = Span(file, line, column, line, column + width)
    shown = "the end of the file" if token.type == "$END" else f"`{token}`"
    expected = sorted({_TOKEN_NAMES.get(t, f"`{_keyword(t)}`") for t in exc.expected})
    message = f"unexpected {shown}"
    if token.type == "$END":
        diagnostics.error("E101", "the file ends in the middle of a declaration", span,
                          "a block opened with `{` is not closed, or a value is missing")
        return
    hint = _token_hint(token, exc.expected, column)
    if hint is None:
        hint = "expected " + (", ".join(expected[:8]) + (", …" if len(expected) > 8 else ""))
    diagnostics.error("E102", message, span, hint)


def _keyword(terminal: str) -> str:
    """How a terminal is written: Lark names anonymous keyword terminals by their text in
    upper case, and other literal ones `__ANON_n` (`->`): show the text itself."""
    try:
        pattern = parser().get_terminal(terminal).pattern
    except KeyError:
        return terminal.lower()
    return pattern.value if pattern.type == "str" else terminal.lower()


def _token_hint(token: Token, expected: set[str], column: int) -> str | None:
    if token.type == "EQUAL" and "COMP_OP" in expected:
        return "`=` is not a comparison; write `==`"
    if token.type == "NAME" and column == 1 and str(token) not in TOP_KEYWORDS:
        return ("a declaration starts with one of: " + ", ".join(TOP_KEYWORDS))
    if str(token) in TOP_KEYWORDS and column == 1:
        return "the declaration before this one is not finished (a missing `}` or value?)"
    if token.type == "CURRENCY":
        return "a currency code follows an amount, as in `2.00 EUR`"
    if token.type in ("DOT", "COMMA") and any(_keyword(t) == "->" for t in expected):
        return ("a table is keyed by one enum or bool, named by its type: `table NAME: ENUM -> "
                "TYPE`; for several keys, put them in parentheses: `table NAME: (ENUM, ENUM) -> "
                "TYPE`")
    if "PRIORITY" in expected:
        return "an exception reads `rule NAME priority N: PATHWAY when CONDITION`"
    return None


def _character_hint(text: str, pos: int) -> str | None:
    rest = text[pos:pos + 40]
    if rest[:1].isalpha() and rest[:1].isupper():
        return "names are lower_snake_case; currency codes (EUR) follow an amount"
    if rest[:1] == "'":
        return 'strings use double quotes: "…"'
    if rest[:1] == "=":
        return "write `==` to compare, or `=` only after a declaration's name"
    if rest[:1] in "&|!":
        return "write `and`, `or`, `not`"
    if rest[:1] == "%":
        return "a percentage follows its number without a space: `70%` is the rate 0.70"
    if rest[:1] in "/":
        return "a division is rounded by name: round_half_up(a / b, 0.01)"
    return None


def unquote(token: Token) -> str:
    """A STRING token's text: the quotes removed, `\\"`, `\\\\`, `\\n` and `\\t` read."""
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
