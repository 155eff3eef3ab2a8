"""`parcours lsp`, driven by a real client: the server runs as a subprocess and the test
speaks JSON-RPC to it over stdio with Content-Length framing, as an editor does."""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pytest

from parcours.compiler.format import format_text
from parcours.compiler.pipeline import analyse

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
TIMEOUT = 60

pytest.importorskip("pygls")
pytestmark = pytest.mark.slow  # a server process per test: a few seconds each


class Client:
    """A minimal LSP client: requests wait for their response; notifications from the
    server are kept until asked for."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.next_id = 0
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.pending: list[dict[str, Any]] = []
        self.capabilities: dict[str, Any] = {}
        assert process.stdout is not None
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        while True:
            headers: dict[str, str] = {}
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                key, _, value = line.decode("ascii").partition(":")
                headers[key.strip().lower()] = value.strip()
            body = stream.read(int(headers["content-length"]))
            self.inbox.put(json.loads(body))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: dict[str, Any]) -> Any:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        while True:
            message = self.inbox.get(timeout=TIMEOUT)
            if message.get("id") == self.next_id and "method" not in message:
                assert "error" not in message, message
                return message.get("result")
            self.pending.append(message)

    def diagnostics(self, uri: str) -> list[dict[str, Any]]:
        """The next diagnostics published for `uri`."""
        while True:
            for message in self.pending:
                if (message.get("method") == "textDocument/publishDiagnostics"
                        and message["params"]["uri"] == uri):
                    self.pending.remove(message)
                    return list(message["params"]["diagnostics"])
            self.pending.append(self.inbox.get(timeout=TIMEOUT))


@contextmanager
def _server(tmp_path: Path, capabilities: dict[str, Any]) -> Iterator[Client]:
    process = subprocess.Popen([sys.executable, "-m", "parcours.compiler.cli", "lsp"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, cwd=tmp_path)
    lsp = Client(process)
    try:
        result = lsp.request("initialize", {"processId": None, "rootUri": tmp_path.as_uri(),
                                            "capabilities": capabilities})
        lsp.capabilities = result["capabilities"]
        lsp.notify("initialized", {})
        yield lsp
        assert lsp.request("shutdown", {}) is None
        lsp.notify("exit", {})
        assert process.wait(timeout=TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    with _server(tmp_path, {}) as lsp:
        for provider in ("hoverProvider", "definitionProvider", "completionProvider",
                         "documentFormattingProvider"):
            assert lsp.capabilities.get(provider), provider
        yield lsp


def _policy(tmp_path: Path, old: str = "", new: str = "") -> tuple[Path, str, str]:
    shutil.copy(POLICIES / "episode.parcours", tmp_path / "episode.parcours")
    text = (POLICIES / "nhs.parcours").read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new, 1)
    path = tmp_path / "nhs.parcours"
    path.write_text(text, encoding="utf-8")
    return path, path.resolve().as_uri(), text


def _open(lsp: Client, uri: str, text: str) -> None:
    lsp.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "parcours", "version": 1, "text": text}})


def _at(text: str, needle: str, occurrence: int = 0, offset: int = 0) -> dict[str, int]:
    """The position of the `occurrence`-th `needle` in `text`, `offset` characters in."""
    index = -1
    for _ in range(occurrence + 1):
        index = text.index(needle, index + 1)
    index += offset
    line = text.count("\n", 0, index)
    return {"line": line, "character": index - (text.rfind("\n", 0, index) + 1)}


def test_a_type_error_is_reported_with_its_code_and_range(client: Client,
                                                          tmp_path: Path) -> None:
    path, uri, text = _policy(tmp_path, "param covered_rate: rate = 1.00",
                              "param covered_rate: rate = 1.00 GBP")
    _open(client, uri, text)
    found = client.diagnostics(uri)
    errors = [d for d in found if d["code"] == "E304"]
    assert len(errors) == 1, found
    start = _at(text, "1.00 GBP")
    assert errors[0]["range"] == {"start": start,
                                  "end": {"line": start["line"],
                                          "character": start["character"] + len("1.00 GBP")}}
    assert errors[0]["severity"] == 1 and errors[0]["source"] == "parcours"
    assert "expected a rate" in errors[0]["message"]
    # the same code and span as `parcours check`
    checked = [d for d in analyse(path).diagnostics if d.code == "E304"]
    assert [(d.span.line - 1, d.span.column - 1) for d in checked] == [
        (start["line"], start["character"])]
    # fixed as you type: the diagnostic goes
    fixed = text.replace("1.00 GBP", "1.00", 1)
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": [{"text": fixed}]})
    assert client.diagnostics(uri) == []
    # a syntax error as you type: reported where it is; the names around still hover
    broken = fixed.replace("output base: money =", "output base: money ==", 1)
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3},
                                             "contentChanges": [{"text": broken}]})
    found = client.diagnostics(uri)
    assert [d["code"] for d in found] == ["E102"]
    assert found[0]["range"]["start"] == _at(broken, "= visit.fee")  # the second `=`
    hover = client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                  "position": _at(broken, "covered_rate",
                                                                  occurrence=1)})
    assert "param covered_rate: rate = 1.00" in hover["contents"]["value"]


def test_hover_and_definition_on_a_parameter(client: Client, tmp_path: Path) -> None:
    _, uri, text = _policy(tmp_path)
    _open(client, uri, text)
    assert client.diagnostics(uri) == []
    use = _at(text, "covered_rate", occurrence=1, offset=3)  # in `else: covered_rate`
    hover = client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                  "position": use})
    value = hover["contents"]["value"]
    assert "param covered_rate: rate = 1.00" in value
    assert "seed004" in value and "free at the point of use" in value
    location = client.request("textDocument/definition", {"textDocument": {"uri": uri},
                                                          "position": use})
    declared = _at(text, "param covered_rate", offset=len("param "))
    assert location["uri"] == uri
    assert location["range"]["start"] == declared
    # a dated parameter shows its timeline
    band = _at(text, "dental_band_1", occurrence=1)
    timeline = client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                     "position": band})["contents"]["value"]
    assert "from 2024-04-01: 26.80 GBP" in timeline and "from 2026-04-01: 27.90 GBP" in timeline


def test_definition_across_an_import_and_completion(client: Client, tmp_path: Path) -> None:
    _, uri, text = _policy(tmp_path)
    _open(client, uri, text)
    client.diagnostics(uri)
    fee = _at(text, "visit.fee", offset=7)
    location = client.request("textDocument/definition", {"textDocument": {"uri": uri},
                                                          "position": fee})
    schema = (tmp_path / "episode.parcours")
    assert location["uri"] == schema.resolve().as_uri()
    line = schema.read_text(encoding="utf-8").split("\n")[location["range"]["start"]["line"]]
    assert line.startswith("input visit.fee: money")
    typed = text + "\nlet probe = patient."
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": [{"text": typed}]})
    client.diagnostics(uri)
    end = {"line": typed.count("\n"), "character": len("let probe = patient.")}
    fields = client.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                        "position": end})
    labels = {item["label"] for item in fields["items"]}
    assert {"age", "declared_doctor", "low_income_cover"} <= labels
    assert "visit" not in labels
    names = client.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                       "position": {"line": end["line"],
                                                                    "character": 12}})
    kinds = {item["label"]: item["detail"] for item in names["items"]}
    assert kinds["covered_rate"] == "param" and kinds["dentistry"] == "member"
    assert kinds["round_half_up"] == "function"
    cited = typed + "\n  cite seed004, nh"
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3},
                                             "contentChanges": [{"text": cited}]})
    client.diagnostics(uri)
    sources = client.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                         "position": {
                                                             "line": cited.count("\n"),
                                                             "character": 17}})
    assert {item["label"] for item in sources["items"]} == {
        "seed004", "nhs_self_referral", "nhs_temporary", "nhsbsa_sight", "nhsbsa_dental"}


def test_hover_definition_and_completion_on_an_accumulator(client: Client,
                                                           tmp_path: Path) -> None:
    shutil.copy(POLICIES / "episode.parcours", tmp_path / "episode.parcours")
    text = (POLICIES / "france.parcours").read_text(encoding="utf-8")
    path = tmp_path / "france.parcours"
    path.write_text(text, encoding="utf-8")
    uri = path.resolve().as_uri()
    _open(client, uri, text)
    assert not [d for d in client.diagnostics(uri) if d["severity"] == 1]

    def hover(position: dict[str, int]) -> str:
        found = client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                      "position": position})
        assert found is not None, position
        return str(found["contents"]["value"])

    declared = _at(text, "accumulator participations", offset=len("accumulator "))
    said = hover(declared)
    for part in ("accumulator participations: money per patient.id over calendar_year",
                 "adds flat_fee cap participation_annual_cap", "from zero again on 1 January",
                 "from 2017-05-01: 50.00 EUR", "source `ameli_pf`", "source `css_l160_13`",
                 "participations_used"):
        assert part in said, part
    used = _at(text, "participations.used", offset=3)  # on the name, in a read
    assert hover(used) == said
    left = _at(text, "participations.left", offset=len("participations.") + 1)  # on `left`
    assert hover(left).startswith("`participations.left`: what is left under the cap")
    assert "source `ameli_pf`" in hover(left)
    for position in (used, left):
        location = client.request("textDocument/definition", {"textDocument": {"uri": uri},
                                                              "position": position})
        assert location["uri"] == uri and location["range"] == {
            "start": declared, "end": {"line": declared["line"],
                                       "character": declared["character"] + 14}}
    typed = text + "\nlet probe = participations."
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": [{"text": typed}]})
    client.diagnostics(uri)
    end = {"line": typed.count("\n"), "character": len("let probe = participations.")}
    items = client.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                       "position": end})["items"]
    assert sorted(item["label"] for item in items) == ["left", "used"]
    names = client.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                       "position": {"line": end["line"],
                                                                    "character": 12}})
    kinds = {item["label"]: item["detail"] for item in names["items"]}
    assert kinds["participations"] == "accumulator" and kinds["accumulator"] == "keyword"


def test_formatting_and_the_verifier_on_save(client: Client, tmp_path: Path) -> None:
    _, uri, text = _policy(tmp_path)
    mangled = text.replace("\n  rule ", "\n      rule   ").replace(": money =", ":money=")
    _open(client, uri, mangled)
    client.diagnostics(uri)
    edits = client.request("textDocument/formatting", {"textDocument": {"uri": uri},
                                                       "options": {"tabSize": 2,
                                                                   "insertSpaces": True}})
    assert len(edits) == 1 and edits[0]["newText"] == format_text(text) == text
    # a gap: found by the verifier on save (not while typing), with its counterexample
    gap = text.replace("  else: dental_band_1", "  when patient.age >= 30: dental_band_1", 1)
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": [{"text": gap}]})
    assert [d["code"] for d in client.diagnostics(uri)] == []
    client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    found = [d for d in client.diagnostics(uri) if d["code"] == "E401"]
    assert len(found) == 1
    assert "counterexample" in found[0]["message"]
    episode = found[0]["data"]["counterexample"]
    assert episode["patient"]["age"] < 30


@pytest.mark.parametrize(("encoding", "width"), [("utf-16", 6), ("utf-8", 11), ("utf-32", 5)])
def test_columns_in_the_units_the_client_chose(tmp_path: Path, encoding: str,
                                               width: int) -> None:
    """`"é—𝒳"` is 5 characters, 6 UTF-16 units, 11 UTF-8 bytes: the range of a diagnostic
    on it, and the position of a hover after it, are in the units client and server agreed."""
    _, uri, text = _policy(tmp_path)
    text += '\nlet probe = "é—𝒳" == "a" and patient.age > 1\n'
    with _server(tmp_path, {"general": {"positionEncodings": [encoding]}}) as lsp:
        assert lsp.capabilities.get("positionEncoding", "utf-16") == encoding
        _open(lsp, uri, text)
        found = [d for d in lsp.diagnostics(uri) if d["code"] == "E355"]
        line = text.count("\n") - 1
        assert [d["range"] for d in found] == [
            {"start": {"line": line, "character": 12},
             "end": {"line": line, "character": 12 + width}}]
        after = 12 + width + len(' == "a" and patient.')
        hover = lsp.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                   "position": {"line": line,
                                                                "character": after}})
        assert "input patient.age: int[0..130]" in hover["contents"]["value"]
        assert hover["range"]["start"]["character"] == after - len("patient.")
