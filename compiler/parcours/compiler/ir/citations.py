"""Which documents stand behind an expression: its own citations and those of the
parameters, tables, dated values and lets it reads, in one period.

One definition for the Python backend (the `sources` a generated module attaches to each
decision and explanation step) and the reference interpreter, which must agree on them.
"""

from __future__ import annotations

from datetime import date

from pathlib import PurePath

from .nodes import (Branch, Expr, LetRef, Notes, Output, ParamRef, Program, Rule, TableRef,
                    dated_at, lets_in_order, walk)
from .printer import format_expr


def location(span: object) -> str:
    """`france.parcours:73:5`: where an explanation step comes from (the file's base name,
    so that it does not depend on the current directory)."""
    file = PurePath(getattr(span, "file")).name
    return f"{file}:{getattr(span, 'line')}:{getattr(span, 'column')}"


def branch_text(output: Output, branch: Branch) -> tuple[str, str]:
    """How an explanation shows an output branch: (`when`, `CONDITION: VALUE`), or
    (`else`, VALUE) for the last of several, (`always`, VALUE) for the only one."""
    value = format_expr(branch.value)
    if branch.condition is not None:
        return "when", f"{branch.text}: {value}"
    return ("else" if len(output.branches) > 1 else "always"), value


class Citations:
    """Documents by citation, for one program (memoised per period for lets)."""

    def __init__(self, program: Program) -> None:
        self.documents = {s.id: s.document for s in program.sources}
        self.params = {p.name: p for p in program.params}
        self.tables = {t.name: t for t in program.tables}
        self.lets = {x.name: x for x in program.lets}
        self._of_lets: dict[date, dict[str, list[str]]] = {}

    def of(self, notes: Notes) -> list[str]:
        """The documents a declaration cites itself."""
        return [self.documents[c] for c in notes.cites]

    def referenced(self, expr: Expr | None, start: date) -> list[str]:
        """The documents behind the parameters, tables and lets `expr` reads, in the period
        that starts on `start`."""
        out: list[str] = []
        for node in walk(expr):
            if isinstance(node, ParamRef):
                param = self.params[node.name]
                out += self.of(param.notes)
                value = dated_at(param.values, start)
                if value is not None:
                    out += self.of(value.notes)
            elif isinstance(node, TableRef):
                table = self.tables[node.table]
                out += self.of(table.notes)
                for row in table.rows:
                    out += self.of(row.notes)
                    value = dated_at(row.values, start)
                    if value is not None:
                        out += self.of(value.notes)
            elif isinstance(node, LetRef):
                out += self.let(node.name, start)
        return out

    def rule(self, rule: Rule, start: date) -> tuple[str, ...]:
        """A pathway rule's documents: its own, then those of what its condition reads."""
        return tuple(dict.fromkeys(self.of(rule.notes) + self.referenced(rule.condition, start)))

    def branch(self, output: Output, branch: Branch, starts: tuple[date, ...]
               ) -> tuple[tuple[str, ...], ...]:
        """An output branch's documents in each period (the sources of a decision that took
        it): the output's and the branch's own, then those of what its value reads."""
        own = self.of(output.notes) + self.of(branch.notes)
        return tuple(tuple(dict.fromkeys(own + self.referenced(branch.value, start)))
                     for start in starts)

    def let(self, name: str, start: date) -> list[str]:
        """A let's documents and those of what it reads, each once, first cited first; the
        lets it reads are done first, so that a chain of thousands of lets does not
        recurse."""
        memo = self._of_lets.setdefault(start, {})
        if name not in memo:
            for dep in lets_in_order(self.lets, [name]):
                if dep not in memo:
                    let = self.lets[dep]
                    memo[dep] = list(dict.fromkeys(self.of(let.notes)
                                                   + self.referenced(let.expr, start)))
        return memo[name]
