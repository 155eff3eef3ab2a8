"""`parcours lsp`: the language server (pygls), over standard input and output.

- diagnostics as you type: each change is parsed, resolved and checked (`pipeline.analyse`
  without the verifier), and its diagnostics published with the codes, spans, hints and
  notes `parcours check` prints; on open and on save the verifier runs too, within
  `verify_budget` region evaluations (`check --verify-budget`), and its findings carry
  their counterexample episode (in the message, and as `data.counterexample`);
- hover on a name: its declaration (type, value or dated timeline, expression) and the
  sources it cites; go to definition, across imports; completion of names, enum members,
  functions, keywords and, after `patient.` or `visit.`, fields (`symbols`);
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
          "function": t.CompletionItemKind.Function, "keyword": t.CompletionItemKind.Keyword}


def _path(uri: str) -> Path:
    return Path(to_fs_path(uri) or uri)


def _uri(path: str | Path) -> str:
    return from_fs_path(str(Path(path).resolve())) or str(path)


def _range(span: Span) -> t.Range:
    end_line, end_col = span.end_line - 1, span.end_column - 1
    if (end_line, end_col) <= (span.line - 1, span.column - 1):
        end_line, end_col = span.line - 1, span.column
    return t.Range(t.Position(span.line - 1, max(0, span.column - 1)),
                   t.Position(end_line, max(0, end_col)))


def to_lsp(d: Diagnostic) -> t.Diagnostic:
    """One diagnostic as `check` reports it: code, span, message, hint, notes and, for a
    verifier's finding, the counterexample episode."""
    message = d.message
    if d.hint:
        message += f"\nhint: {d.hint}"
    data: dict[str, Any] | None = None
    if d.counterexample is not None:
        shown = json.dumps(d.counterexample, ensure_ascii=False, separators=(",", ":"))
        message += f"\ncounterexample (try it with `parcours explain POLICY --episode`): {shown}"
        data = {"counterexample": d.counterexample}
    related = [t.DiagnosticRelatedInformation(t.Location(_uri(span.file), _range(span)), text)
               for span, text in d.notes]
    severity = t.DiagnosticSeverity.Error if d.is_error else t.DiagnosticSeverity.Warning
    return t.Diagnostic(range=_range(d.span), message=message, severity=severity, code=d.code,
                        source="parcours", related_information=related or None, data=data)


class ParcoursServer(LanguageServer):
    def __init__(self, verify_budget: int = EDITOR_VERIFY_BUDGET) -> None:
        super().__init__("parcours", VERSION,
                         text_document_sync_kind=t.TextDocumentSyncKind.Full)
        self.verify_budget = verify_budget
        self.indexes: dict[str, symbols.Index] = {}

    def text(self, uri: str) -> str:
        return self.workspace.get_text_document(uri).source

    def refresh(self, uri: str, verify: bool) -> None:
        """Analyse the document as it is in the editor and publish its diagnostics."""
        path = _path(uri)
        text = self.text(uri)
        analysis = analyse(path, text.encode("utf-8"), verify=verify,
                           budget=self.verify_budget if verify else None)
        mine = str(path)
        found = [to_lsp(d) for d in analysis.diagnostics if d.span.file == mine]
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
        return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=symbol.hover),
                       range=t.Range(t.Position(line, start), t.Position(line, end)))

    @server.feature(t.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: ParcoursServer, params: t.DefinitionParams) -> t.Location | None:
        found = _symbol(ls, params.text_document.uri, params.position)
        if found is None:
            return None
        symbol = found[0]
        line, start, end = symbols.name_range(symbol)
        return t.Location(_uri(symbol.path),
                          t.Range(t.Position(line, start), t.Position(line, end)))

    @server.feature(t.TEXT_DOCUMENT_COMPLETION,
                    t.CompletionOptions(trigger_characters=["."]))
    def completion(ls: ParcoursServer, params: t.CompletionParams) -> t.CompletionList:
        uri = params.text_document.uri
        items = [t.CompletionItem(label=label, kind=_KINDS.get(kind), detail=kind)
                 for label, kind in symbols.completions(ls.index(uri), ls.text(uri),
                                                        params.position.line,
                                                        params.position.character)]
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
        whole = t.Range(t.Position(0, 0), t.Position(len(lines) - 1, len(lines[-1])))
        return [t.TextEdit(range=whole, new_text=formatted)]

    return server


def _symbol(ls: ParcoursServer, uri: str,
            position: t.Position) -> tuple[symbols.Symbol, int, int, int] | None:
    text = ls.text(uri)
    found = symbols.word_at(text, position.line, position.character)
    if found is None:
        return None
    whole, upto = found
    index = ls.index(uri)
    symbol = index.lookup(upto)
    if symbol is None:
        return None
    line = text.split("\n")[position.line]
    start = line.rfind(whole, 0, position.character + 1)
    start = start if start >= 0 else position.character
    return symbol, position.line, start, start + len(upto)
