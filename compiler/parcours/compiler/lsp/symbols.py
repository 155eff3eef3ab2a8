"""What the editor asks about names, answered from a policy's loaded scope (its file and
its imports, parsed and merged by `sema.load`), so that hover, go-to-definition and
completion keep working while the policy has type errors elsewhere.

Positions here are 0-based lines and characters (code points), as the protocol counts
them for text without astral characters; `server` converts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import ir
from ..diagnostics import Diagnostics, Span
from ..sema.base import ROUNDING
from ..sema.load import Scope, load
from ..syntax import nodes as n

FUNCTIONS = (*sorted(ROUNDING), "min", "max", "years_between", "days_between", "add_days")
KEYWORDS = ("policy", "schema", "import", "source", "enum", "input", "constraint", "param",
            "table", "let", "rules", "output", "decision", "rule", "default", "priority",
            "when", "else", "case", "if", "then", "from", "until", "requires", "cite", "note",
            "assumption", "unconfirmed", "and", "or", "not", "in", "true", "false", "totals",
            "accumulator", "per", "over", "adds", "cap", "calendar_year")
READS = {"used": "the amount the key's earlier episodes of the same period added",
         "left": "what is left under the cap: `max(0, cap - used)`"}  # `NAME.used`, `NAME.left`
_WORD = re.compile(r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*")


@dataclass(frozen=True, slots=True)
class Symbol:
    name: str
    kind: str  # param | table | let | output | input | enum | member | source | constraint
    #            | accumulator
    span: Span  # where it is declared (the member itself, for an enum member)
    path: Path  # the file that declares it
    hover: str  # Markdown


@dataclass(slots=True)
class Index:
    """Every declared name of a policy and its imports."""

    symbols: dict[str, Symbol] = field(default_factory=dict)
    members: dict[str, list[Symbol]] = field(default_factory=dict)

    def lookup(self, word: str) -> Symbol | None:
        if word in self.symbols:
            return self.symbols[word]
        head, _, tail = word.rpartition(".")
        owner = self.symbols.get(head)
        if owner is not None and owner.kind == "accumulator" and tail in READS:
            # a read, `NAME.used` or `NAME.left`: what it is, then the accumulator
            return Symbol(owner.name, owner.kind, owner.span, owner.path,
                          f"`{word}`: {READS[tail]}\n\n{owner.hover}")
        found = self.members.get(word)
        return found[0] if found else None

    def fields(self, prefix: str) -> list[str]:
        """The next segments of the inputs under `prefix` (`patient` → `age`, …)."""
        start = prefix + "."
        return sorted({name[len(start):].split(".")[0] for name, s in self.symbols.items()
                       if s.kind == "input" and name.startswith(start)})


def build(path: Path, text: str, program: ir.Program | None = None) -> Index:
    """The index of the policy at `path` whose text (perhaps unsaved) is `text`; `program`
    (when the policy checks) adds the types the checker inferred."""
    scope = load(path, str(path), Diagnostics(), text.encode("utf-8"))
    return _Builder(scope, program).index


class _Builder:
    def __init__(self, scope: Scope, program: ir.Program | None) -> None:
        self.scope = scope
        self.texts = scope.texts
        self.index = Index()
        self.let_types = {let.name: str(let.expr.type) for let in program.lets} if program else {}
        accumulators: list[tuple[n.AccumulatorDecl, Path]] = []
        for unit in scope.units:
            if unit.module is not None:
                for decl in unit.module.declarations:
                    if isinstance(decl, n.AccumulatorDecl):
                        accumulators.append((decl, unit.path))
                    else:
                        self.add(decl, unit.path)
        for decl, path in accumulators:  # after the rest: a hover shows its cap's values
            self.accumulator(decl, path)

    def snippet(self, span: Span) -> str:
        lines = self.texts.get(span.file, "").split("\n")
        if span.line > len(lines):
            return ""
        if span.end_line == span.line:
            return lines[span.line - 1][span.column - 1:span.end_column - 1]
        first = lines[span.line - 1][span.column - 1:]
        rest = lines[span.line:span.end_line - 1] + [lines[span.end_line - 1][:span.end_column - 1]]
        return "\n".join([first, *rest])

    def notes(self, annotations: tuple[n.Annotation, ...]) -> str:
        parts: list[str] = []
        for a in annotations:
            if isinstance(a, n.Cite):
                for name, _ in a.sources:
                    source = self.scope.sources.get(name)
                    if source is None:
                        parts.append(f"- source `{name}` (not declared)")
                    else:
                        title = f": {source.title}" if source.title else ""
                        parts.append(f"- source `{name}` — {source.document}{title}")
            else:
                parts.append(f"- {a.kind}: {a.text}")
        return ("\n\n" + "\n".join(parts)) if parts else ""

    def put(self, name: str, kind: str, span: Span, path: Path, hover: str) -> None:
        self.index.symbols.setdefault(name, Symbol(name, kind, span, path, hover))

    def add(self, decl: n.Decl, path: Path) -> None:
        code = "```parcours\n{}\n```"
        if isinstance(decl, n.ParamDecl):
            head = f"param {decl.name}: {self.snippet(decl.type.span)}"
            if decl.value is not None:
                body = code.format(f"{head} = {self.snippet(decl.value.span)}")
            else:
                rows = [f"  from {r.start}" + (f" until {r.until}" if r.until else "")
                        + f": {self.snippet(r.value.span)}" for r in decl.rows]
                body = code.format("\n".join([head + " {", *rows, "}"]))
                for r, row in zip(decl.rows, rows):  # each value's own sources and remarks
                    if r.annotations:
                        body += f"\n\n`{row.strip()}`" + self.notes(r.annotations)
            self.put(decl.name, "param", decl.span, path, body + self.notes(decl.annotations))
        elif isinstance(decl, n.TableDecl):
            head = f"table {decl.name}: {decl.key_type} -> {self.snippet(decl.type.span)}"
            self.put(decl.name, "table", decl.span, path,
                     code.format(head) + f"\n\n{len(decl.rows)} row(s)"
                     + self.notes(decl.annotations))
        elif isinstance(decl, n.LetDecl):
            typed = f": {self.let_types[decl.name]}" if decl.name in self.let_types else ""
            self.put(decl.name, "let", decl.span, path,
                     code.format(f"let {decl.name}{typed} = {self.snippet(decl.expr.span)}")
                     + self.notes(decl.annotations))
        elif isinstance(decl, n.OutputDecl):
            self.put(decl.name, "output", decl.span, path,
                     code.format(f"output {decl.name}: {self.snippet(decl.type.span)}")
                     + f"\n\n{len(decl.branches)} branch(es)" + self.notes(decl.annotations))
        elif isinstance(decl, n.InputDecl):
            name = ".".join(decl.path)
            default = f" = {self.snippet(decl.default.span)}" if decl.default else ""
            self.put(name, "input", decl.span, path,
                     code.format(f"input {name}: {self.snippet(decl.type.span)}{default}")
                     + self.notes(decl.annotations))
        elif isinstance(decl, n.EnumDecl):
            members = ", ".join(self.snippet(m.span) for m in decl.members)
            self.put(decl.name, "enum", decl.span, path,
                     code.format(f"enum {decl.name} {{{members}}}") + self.notes(decl.annotations))
            for member in decl.members:
                self.index.members.setdefault(str(member.value), []).append(Symbol(
                    str(member.value), "member", member.span, path,
                    f"member of enum `{decl.name}`\n\n" + code.format(
                        f"enum {decl.name} {{{members}}}")))
        elif isinstance(decl, n.DecisionDecl):
            for pathways in decl.pathways:
                listed = ", ".join(self.snippet(m.span) for m in pathways.members)
                for member in pathways.members:
                    self.index.members.setdefault(str(member.value), []).append(Symbol(
                        str(member.value), "member", member.span, path,
                        "a pathway of the decision\n\n" + code.format(
                            f"pathway {{{listed}}}")))
        elif isinstance(decl, n.SourceDecl):
            title = f"\n\n{decl.title}" if decl.title else ""
            self.put(decl.name, "source", decl.span, path,
                     code.format(f'source {decl.name} = "{decl.document}"') + title)
        elif isinstance(decl, n.ConstraintDecl):
            self.put(decl.name, "constraint", decl.span, path,
                     code.format(self.snippet(decl.span).split("\n")[0])
                     + self.notes(decl.annotations))

    def accumulator(self, decl: n.AccumulatorDecl, path: Path) -> None:
        """An accumulator's hover: its declaration (keys, period, the output it adds, the
        cap), what its reads mean, the cap's own declaration, its sources and remarks."""
        keys = ", ".join(".".join(parts) for parts, _ in decl.keys)
        head = (f"accumulator {decl.name}: {self.snippet(decl.type.span)} per {keys} "
                f"over {decl.period}\n  adds {decl.adds} cap {decl.cap}")
        cap = self.index.symbols.get(decl.cap)
        capped = ""
        if cap is not None and cap.kind in ("param", "let"):
            block = cap.hover.split("\n```", 1)[0] + "\n```"  # its declaration, not its notes
            capped = f"\n\ncap, {'a parameter' if cap.kind == 'param' else 'a let'}:\n{block}"
        body = ("```parcours\n" + head + "\n```"
                + f"\n\n- per {keys}; over {decl.period}"
                + (": from zero again on 1 January" if decl.period == "calendar_year" else "")
                + f"\n- adds the output `{decl.adds}` of each episode to its key's total"
                + f"\n- `{decl.name}.used`: {READS['used']} (the episode's field "
                f"`{decl.name}_used`, which a run's ledger fills in)"
                + f"\n- `{decl.name}.left`: {READS['left']}" + capped)
        self.put(decl.name, "accumulator", decl.span, path, body + self.notes(decl.annotations))


def word_at(text: str, line: int, character: int) -> tuple[str, int] | None:
    """The dotted name under the cursor, up to the end of the segment the cursor is on
    (`patient` on `patient` of `patient.age`), and the column it starts at."""
    lines = text.split("\n")
    if line >= len(lines):
        return None
    for match in _WORD.finditer(lines[line]):
        if match.start() <= character <= match.end():
            word = match.group()
            cut = word.find(".", character - match.start())
            return (word if cut < 0 else word[:cut]), match.start()
    return None


def name_range(symbol: Symbol, texts: dict[str, str] | None = None) -> tuple[int, int, int]:
    """(line, start, end), 0-based, of the declared name in its declaration's first line,
    or the declaration's start when the name is not on it."""
    span = symbol.span
    try:
        line = Path(symbol.path).read_text(encoding="utf-8").split("\n")[span.line - 1] \
            if texts is None else texts[span.file].split("\n")[span.line - 1]
    except (OSError, KeyError, IndexError, UnicodeDecodeError):
        return span.line - 1, span.column - 1, span.column - 1
    if symbol.kind == "member":
        return span.line - 1, span.column - 1, span.end_column - 1
    at = line.find(symbol.name, span.column - 1)
    if at < 0:
        return span.line - 1, span.column - 1, span.column - 1
    return span.line - 1, at, at + len(symbol.name)


def completions(index: Index, text: str, line: int, character: int) -> list[tuple[str, str]]:
    """(label, kind) pairs for the cursor: the fields after `a.b.` (`used` and `left` after
    an accumulator's name), the sources after `cite`, else every name, enum member,
    function and keyword."""
    lines = text.split("\n")
    before = lines[line][:character] if line < len(lines) else ""
    dotted = re.search(r"([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)\.[a-z0-9_]*$", before)
    if dotted:
        owner = index.symbols.get(dotted.group(1))
        if owner is not None and owner.kind == "accumulator":
            return [(name, "read") for name in READS]
        return [(name, "field") for name in index.fields(dotted.group(1))]
    if re.search(r"\bcite\s+(?:[a-z_][a-z0-9_]*\s*,\s*)*[a-z0-9_]*$", before):
        return sorted((name, "source") for name, s in index.symbols.items()
                      if s.kind == "source")
    found: dict[str, str] = {}
    for name, symbol in index.symbols.items():
        found.setdefault(name, symbol.kind)
    for member in index.members:
        found.setdefault(member, "member")
    for function in FUNCTIONS:
        found.setdefault(function, "function")
    for keyword in KEYWORDS:
        found.setdefault(keyword, "keyword")
    return sorted(found.items())
