"""The output of the formatter: records (logical lines) written token by token.

A record is one logical line at an indentation: its text may hold continuation lines (a
long expression broken at its operators), an optional first annotation kept on the same
line (the *tail*, aligned with its neighbours' tails) and the comments that end it.  Every
token the layout writes is registered with the record that holds it, so that comments
(which the grammar ignores) can be put back beside the tokens they were written beside.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lark import Token

WIDTH = 100
"""The line width the layout breaks expressions and lists to fit (long strings may pass it)."""


class FormatError(Exception):
    """The formatter refuses a text: a construct it does not know, or an output that would
    not mean what the input means.  `str()` says where and why."""


@dataclass(slots=True)
class Record:
    indent: int
    text: str = ""
    tail: str | None = None
    comments: list[str] = field(default_factory=list)
    blank_before: bool = False
    leading: list[str] = field(default_factory=list)  # own-line comments before it
    first_pos: int | None = None


_NO_SPACE_BEFORE = frozenset({",", ")", "]", ":", ".", ".."})
_NO_SPACE_AFTER = frozenset({"(", "[", ".", ".."})


def _space(prev: Token | None, tok: Token) -> bool:
    if prev is None:
        return False
    if tok in _NO_SPACE_BEFORE or prev in _NO_SPACE_AFTER:
        return False
    if prev == "{" and prev.type != "NAME":
        return False
    if tok == "}":
        return False
    if tok in ("(", "[") and (prev.type == "NAME" or prev == "int"):
        return False
    return True


class Out:
    """Records being written; the current one grows token by token."""

    def __init__(self, text: str) -> None:
        self.source = text
        self.records: list[Record] = []
        self.owner: dict[int, int] = {}  # token start position → record index
        self._prev: Token | None = None

    @property
    def current(self) -> Record:
        return self.records[-1]

    def start(self, indent: int, blank: bool = False) -> None:
        """A new record; `blank`: keep a blank line before it if the source had one."""
        self.records.append(Record(indent, blank_before=blank))
        self._prev = None

    @property
    def col(self) -> int:
        """The column the next character goes to (0-based)."""
        record = self.current
        last = record.text.rsplit("\n", 1)
        return len(last[-1]) if len(last) > 1 else record.indent + len(record.text)

    def at(self, token: Token) -> int:
        """The column `token` would start at if written next."""
        return self.col + (1 if _space(self._prev, token) else 0)

    def tok(self, token: Token) -> None:
        record = self.current
        if record.first_pos is None and token.start_pos is not None:
            record.first_pos = token.start_pos
        if _space(self._prev, token):
            record.text += " "
        record.text += str(token)
        self._register(token)
        self._prev = token

    def drop(self, token: Token) -> None:
        """A token the layout leaves out on purpose (an optional trailing comma)."""
        self._register(token)

    def _register(self, token: Token) -> None:
        if token.start_pos is not None:
            self.owner[token.start_pos] = len(self.records) - 1

    def newline(self, col: int) -> None:
        """A continuation line of the current record, starting at column `col`."""
        self.current.text += "\n" + " " * col
        self._prev = None

    def write(self, text: str) -> None:
        """Text that is not a token of the source (the trailing comma of a block list)."""
        self.current.text += text

    # ---- comments and text ------------------------------------------------------------

    def place_comments(self, comments: list[Token], tokens: list[int]) -> None:
        """Attach each comment to the record of the token before it on its source line
        (a trailing comment) or before the record of the token after it (a comment of its
        own line); `tokens` are the start positions of every token, in order."""
        import bisect

        for comment in comments:
            assert comment.start_pos is not None
            text = str(comment).rstrip()
            index = bisect.bisect_left(tokens, comment.start_pos)
            line_start = self.source.rfind("\n", 0, comment.start_pos) + 1
            own_line = self.source[line_start:comment.start_pos].strip() == ""
            if not own_line and index > 0:
                self.records[self.owner[tokens[index - 1]]].comments.append(text)
            elif index < len(tokens):
                self.records[self.owner[tokens[index]]].leading.append(
                    ("\n" if self._blank_before(comment.start_pos) else "") + text)
            elif tokens:  # after the last token of the file
                blank = self._blank_before(comment.start_pos)
                self.records[-1].comments.append(("\n\n" if blank else "\n") + text)
            else:  # a file of comments only
                if not self.records:
                    self.start(0)
                self.current.leading.append(
                    ("\n" if self._blank_before(comment.start_pos) else "") + text)

    def _blank_before(self, pos: int) -> bool:
        before = self.source[:pos]
        gap = before[len(before.rstrip()):]
        return gap.count("\n") >= 2

    def render(self) -> str:
        lines: list[str] = []
        self._align()
        for record in self.records:
            opened = not lines or lines[-1].endswith("{")
            for comment in record.leading:
                blank = comment.startswith("\n")
                if blank and not opened and lines:
                    lines.append("")
                indent = record.indent + (2 if record.text.startswith("}") else 0)
                lines.append(" " * indent + comment.lstrip("\n"))
                opened = False
            if self._blank(record) and not opened and lines and lines[-1] != "":
                lines.append("")
            if record.text == "":
                continue
            text = " " * record.indent + record.text
            if record.tail is not None:
                text += record.tail
            for comment in record.comments:
                if comment.startswith("\n"):  # a comment after the last token of the file
                    text += comment
                else:
                    text += "  " + comment
            lines.extend(text.split("\n"))
        while lines and lines[-1] == "":
            lines.pop()
        return "\n".join(line.rstrip() for line in lines) + "\n"

    def _blank(self, record: Record) -> bool:
        return (record.blank_before and record.first_pos is not None
                and self._blank_before(record.first_pos))

    def _align(self) -> None:
        """Tails of neighbouring records at one indentation start at one column: a run
        ends at a blank line, a comment line or a record indented less."""
        run: list[Record] = []
        indent: int | None = None

        def flush() -> None:
            if run:
                column = max(len(r.text) for r in run) + 3
                for r in run:
                    assert r.tail is not None
                    r.tail = " " * (column - len(r.text)) + r.tail.lstrip()
            run.clear()

        for record in self.records:
            if record.leading or self._blank(record) or (indent is not None
                                                         and record.indent < indent):
                flush()
                indent = None
            if record.tail is not None:
                if indent is not None and record.indent != indent:
                    flush()
                run.append(record)
                indent = record.indent
        flush()
