"""`parcours lsp`: the language server (pygls), over standard input and output.

- diagnostics as you type: each change is parsed, resolved and checked (`pipeline.analyse`
  without the verifier), and its diagnostics published with the codes, spans, hints and
  notes `parcours check` prints; on open and on save the verifier runs too, within
  `verify_budget` region evaluations (`check --verify-budget`), and its findings carry
  their counterexample episode (in the message, and as `data.counterexample`);
- hover on a name: its declaration (type, value or dated timeline, expression) and the
  sources it cites (an accumulator, on its name or a read `NAME.used` / `NAME.left`: its
  keys, period, the output it adds, its cap's declaration, its sources); go to
  definition, across imports; completion of names, enum members, functions, keywords
  and, after `patient.` or `visit.`, fields, after an accumulator's `NAME.`, `used` and
  `left` (`symbols`);
- formatting: `parcours fmt`'s layout (`tools.formatting`), as one edit of the document.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from ..diagnostics import Diagnostic, Span
from ..format import FormatError
from ..meta import VERSION
from ..pipeline import analyse
from ..tools.formatting import format_policy
from . import symbols

EDITOR_VERIFY_BUDGET = 200_000
"""Region evaluations the verifier may spend on a save (the command line's default is ten
times more): past it, W405 says what was not verified, and the editor stays responsive."""

_KINDS = {"param": t.CompletionItemKind.Constant, "table": t.CompletionItemKind.Struct,
          "let": t.CompletionItemKind.Variable, "output": t.CompletionItemKind.Field,
          "input": t.CompletionItemKind.Field, "enum": t.CompletionItemKind.Enum,
          "member": t.CompletionItemKind.EnumMember, "source": t.CompletionItemKind.Reference,
          "constraint": t.CompletionItemKind.Interface, "field": t.CompletionItemKind.Field,
          "function": t.CompletionItemKind.Function, "keyword": t.CompletionItemKind.Keyword,
          "accumulator": t.CompletionItemKind.Variable, "read": t.CompletionItemKind.Property}


def _path(uri: str) -> Path:
    return Path(to_fs_path(uri) or uri)


def _uri(path: str | Path) -> str:
    return from_fs_path(str(Path(path).resolve())) or str(path)


class Codec:
    """Columns as the client counts them: the compiler counts characters (code points);
    the protocol counts UTF-16 units unless client and server agreed on UTF-8 or UTF-32."""

    def __init__(self, encoding: str = "utf-16") -> None:
        self.encoding = encoding

    def _units(self, char: str) -> int:
        if self.encoding == "utf-8":
            return len(char.encode("utf-8"))
        if self.encoding == "utf-32":
            return 1
        return 2 if ord(char) > 0xFFFF else 1

    def to_client(self, line: str, column: int) -> int:
        """A 0-based column in characters → in the client's units."""
        return sum(self._units(c) for c in line[:column]) + max(0, column - len(line))

    def from_client(self, line: str, units: int) -> int:
        """A 0-based column in the client's units → in characters."""
        count = 0
        for index, char in enumerate(line):
            if count >= units:
                return index
            count += self._units(char)
        return len(line) + max(0, units - count)


def _line(texts: dict[str, str], file: str, line: int) -> str:
    lines = texts.get(file, "").split("\n")
    return lines[line] if 0 <= line < len(lines) else ""


def _range(span: Span, texts: dict[str, str] | None = None, codec: Codec | None = None) -> t.Range:
    end_line, end_col = span.end_line - 1, span.end_column - 1
    if (end_line, end_col) <= (span.line - 1, span.column - 1):
        end_line, end_col = span.line - 1, span.column
    start_line, start_col = span.line - 1, max(0, span.column - 1)
    end_col = max(0, end_col)
    if texts is not None and codec is not None:
        start_col = codec.to_client(_line(texts, span.file, start_line), start_col)
        end_col = codec.to_client(_line(texts, span.file, end_line), end_col)
    return t.Range(t.Position(start_line, start_col), t.Position(end_line, end_col))


def to_lsp(d: Diagnostic, texts: dict[str, str] | None = None,
           codec: Codec | None = None) -> t.Diagnostic:
    """One diagnostic as `check` reports it: code, span, message, hint, notes and, for a
    verifier's finding, the counterexample episode; `texts` (the analysed files' texts)
    turn its columns into the client's units."""
    message = d.message
    if d.hint:
        message += f"\nhint: {d.hint}"
    data: dict[str, Any] | None = None
    if d.counterexample is not None:
        shown = json.dumps(d.counterexample, ensure_ascii=False, separators=(",", ":"))
        message += f"\ncounterexample (try it with `parcours explain POLICY --episode`): {shown}"
        data = {"counterexample": d.counterexample}
    related = [t.DiagnosticRelatedInformation(t.Location(_uri(span.file),
                                                         _range(span, texts, codec)), text)
               for span, text in d.notes]
    severity = t.DiagnosticSeverity.Error if d.is_error else t.DiagnosticSeverity.Warning
    return t.Diagnostic(range=_range(d.span, texts, codec), message=message, severity=severity, code=d.code,
                        source="parcours", related_information=related or None, data=data)


class ParcoursServer(LanguageServer):
    def __init__(self, verify_budget: int = EDITOR_VERIFY_BUDGET) -> None:
        super().__init__("parcours", VERSION,
                         text_document_sync_kind=t.TextDocumentSyncKind.Full)
        self.verify_budget = verify_budget
        self.indexes: dict[str, symbols.Index] = {}

    def text(self, uri: str) -> str:
        return self.workspace.get_text_document(uri).source

    @property
    def codec(self) -> Codec:
        encoding = self.server_capabilities.position_encoding
        return Codec(str(getattr(encoding, "value", encoding) or "utf-16"))

    def column(self, uri: str, position: t.Position) -> int:
        """The client's position on the document, as a column in characters."""
        lines = self.text(uri).split("\n")
        line = lines[position.line] if position.line < len(lines) else ""
        return self.codec.from_client(line, position.character)

    def refresh(self, uri: str, verify: bool) -> None:
        """Analyse the document as it is in the editor and publish its diagnostics."""
        path = _path(uri)
        text = self.text(uri)
        analysis = analyse(path, text.encode("utf-8"), verify=verify,
                           budget=self.verify_budget if verify else None)
        mine = str(path)
        texts = {**analysis.sources, mine: text}
        found = [to_lsp(d, texts, self.codec) for d in analysis.diagnostics
                 if d.span.file == mine]
        self.text_document_publish_diagnostics(
            t.PublishDiagnosticsParams(uri=uri, diagnostics=found))
        try:
            self.indexes[uri] = symbols.build(path, text, analysis.program)
        except Exception:  # noqa: BLE001 - a half-typed file: keep the last good index
            self.indexes.setdefault(uri, symbols.Index())

    def index(self, uri: str) -> symbols.Index:
        if uri not in self.indexes:
            self.indexes[uri] = symbols.build(_path(uri), self.text(uri))
        return self.indexes[uri]


def create(verify_budget: int = EDITOR_VERIFY_BUDGET) -> ParcoursServer:
    server = ParcoursServer(verify_budget)

    @server.feature(t.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: ParcoursServer, params: t.DidOpenTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri, verify=True)

    @server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: ParcoursServer, params: t.DidChangeTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri, verify=False)

    @server.feature(t.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: ParcoursServer, params: t.DidSaveTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri, verify=True)

    @server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ParcoursServer, params: t.DidCloseTextDocumentParams) -> None:
        ls.indexes.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(
            t.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))

    @server.feature(t.TEXT_DOCUMENT_HOVER)
    def hover(ls: ParcoursServer, params: t.HoverParams) -> t.Hover | None:
        uri = params.text_document.uri
        found = _symbol(ls, uri, params.position)
        if found is None:
            return None
        symbol, line, start, end = found
        text = ls.text(uri).split("\n")[line]
        return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=symbol.hover),
                       range=t.Range(t.Position(line, ls.codec.to_client(text, start)),
                                     t.Position(line, ls.codec.to_client(text, end))))

    @server.feature(t.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: ParcoursServer, params: t.DefinitionParams) -> t.Location | None:
        found = _symbol(ls, params.text_document.uri, params.position)
        if found is None:
            return None
        symbol = found[0]
        line, start, end = symbols.name_range(symbol)
        target = _uri(symbol.path)
        try:
            text = (ls.text(target) if target in ls.workspace.text_documents
                    else Path(symbol.path).read_text(encoding="utf-8")).split("\n")[line]
        except (OSError, UnicodeDecodeError, IndexError):
            text = ""
        return t.Location(target, t.Range(t.Position(line, ls.codec.to_client(text, start)),
                                          t.Position(line, ls.codec.to_client(text, end))))

    @server.feature(t.TEXT_DOCUMENT_COMPLETION,
                    t.CompletionOptions(trigger_characters=["."]))
    def completion(ls: ParcoursServer, params: t.CompletionParams) -> t.CompletionList:
        uri = params.text_document.uri
        items = [t.CompletionItem(label=label, kind=_KINDS.get(kind), detail=kind)
                 for label, kind in symbols.completions(ls.index(uri), ls.text(uri),
                                                        params.position.line,
                                                        ls.column(uri, params.position))]
        return t.CompletionList(is_incomplete=False, items=items)

    @server.feature(t.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: ParcoursServer,
                   params: t.DocumentFormattingParams) -> list[t.TextEdit] | None:
        uri = params.text_document.uri
        text = ls.text(uri)
        try:
            formatted = format_policy(_path(uri), text)
        except FormatError as exc:
            ls.window_show_message(t.ShowMessageParams(t.MessageType.Warning,
                                                       f"parcours fmt: {exc}"))
            return None
        if formatted == text:
            return []
        lines = text.split("\n")
        whole = t.Range(t.Position(0, 0), t.Position(len(lines) - 1,
                                                    ls.codec.to_client(lines[-1], len(lines[-1]))))
        return [t.TextEdit(range=whole, new_text=formatted)]

    return server


def _symbol(ls: ParcoursServer, uri: str,
            position: t.Position) -> tuple[symbols.Symbol, int, int, int] | None:
    text = ls.text(uri)
    character = ls.column(uri, position)
    found = symbols.word_at(text, position.line, character)
    if found is None:
        return None
    name, start = found
    symbol = ls.index(uri).lookup(name)
    if symbol is None:
        return None
    return symbol, position.line, start, start + len(name)
