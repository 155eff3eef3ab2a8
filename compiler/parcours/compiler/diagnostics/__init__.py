"""Diagnostics: every problem the compiler finds, with a code, a span and a hint.

A stage never raises on a user's mistake; it adds a :class:`Diagnostic` to a
:class:`Diagnostics` bag and goes on, so that one run reports everything.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from .codes import CODES


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file; lines and columns count from 1."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    severity: str  # "error" | "warning"
    message: str
    span: Span
    hint: str | None = None
    notes: tuple[tuple[Span, str], ...] = ()
    counterexample: dict[str, object] | None = field(default=None, compare=False)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def headline(self) -> str:
        return f"{self.span}: {self.severity}[{self.code}]: {self.message}"


class Diagnostics:
    """An ordered bag of diagnostics; deduplicates exact repeats."""

    def __init__(self) -> None:
        self._items: list[Diagnostic] = []
        self._seen: set[tuple[str, str, Span]] = set()

    def add(self, diagnostic: Diagnostic) -> None:
        if diagnostic.code not in CODES:
            raise ValueError(f"unregistered diagnostic code {diagnostic.code}: add it to codes.py")
        if not diagnostic.message.isprintable():
            # A message quotes policy text: keep its headline one line (a string with a
            # newline must not start a line that reads like another diagnostic).
            message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in diagnostic.message)
            diagnostic = replace(diagnostic, message=message)
        key = (diagnostic.code, diagnostic.message, diagnostic.span)
        if key not in self._seen:
            self._seen.add(key)
            self._items.append(diagnostic)

    def error(self, code: str, message: str, span: Span, hint: str | None = None,
              notes: tuple[tuple[Span, str], ...] = (),
              counterexample: dict[str, object] | None = None) -> None:
        self.add(Diagnostic(code, "error", message, span, hint, notes, counterexample))

    def warning(self, code: str, message: str, span: Span, hint: str | None = None,
                notes: tuple[tuple[Span, str], ...] = ()) -> None:
        self.add(Diagnostic(code, "warning", message, span, hint, notes))

    def extend(self, items: Iterable[Diagnostic]) -> None:
        for item in items:
            self.add(item)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self._items)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(sorted(self._items, key=_order))

    def __len__(self) -> int:
        return len(self._items)


def _order(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.span.file, d.span.line, d.span.column, d.code)


class CompileError(Exception):
    """Raised at the pipeline boundary when a policy has errors; it renders them itself."""

    def __init__(self, diagnostics: list[Diagnostic], sources: dict[str, str]) -> None:
        super().__init__(f"{sum(d.is_error for d in diagnostics)} error(s)")
        self.diagnostics = diagnostics
        self.sources = sources

    def render(self) -> str:
        return "\n".join(render(d, self.sources) for d in self.diagnostics)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest known name, if one is close enough."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def render(diagnostic: Diagnostic, sources: dict[str, str]) -> str:
    """``FILE:LINE:COL: error[CODE]: message`` with an excerpt, a caret and a hint."""
    lines = [diagnostic.headline()]
    lines.extend(_excerpt(diagnostic.span, sources))
    for span, text in diagnostic.notes:
        lines.append(f"  note: {span}: {text}")
    if diagnostic.hint:
        lines.append(f"  = help: {diagnostic.hint}")
    if diagnostic.counterexample is not None:
        shown = json.dumps(diagnostic.counterexample, ensure_ascii=False, separators=(",", ":"))
        lines.append(f"  = counterexample (try it with `parcours explain POLICY --episode`): {shown}")
    return "\n".join(lines)


def _excerpt(span: Span, sources: dict[str, str]) -> list[str]:
    text = sources.get(span.file)
    if text is None:
        return []
    all_lines = text.splitlines()
    if not 1 <= span.line <= len(all_lines):
        return []
    source_line = all_lines[span.line - 1].expandtabs(1)
    gutter = str(span.line)
    width = 1
    if span.end_line == span.line and span.end_column > span.column:
        width = span.end_column - span.column
    width = max(1, min(width, len(source_line) - span.column + 1))
    pad = " " * len(gutter)
    return [
        f"{pad} |",
        f"{gutter} | {source_line}",
        f"{pad} | {' ' * (span.column - 1)}{'^' * width}",
    ]
