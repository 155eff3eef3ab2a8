#!/usr/bin/env python3
"""Benchmark: how long `parcours fmt` and the language server take on the shipped policies.

    .venv/bin/python bench/fmt_lsp.py [--repeat 5]

Prints, as a markdown table, per policy: its size, the median time to format its text
(`format.format_text`: parse with every token, lay out, check the tree), to format it
with the IR check (`tools.formatting.format_policy`), and, through one `parcours lsp`
process spoken to over stdio, the time from opening the file to its diagnostics (the
verifier included), from a change to its diagnostics (without the verifier), and the
time of a hover and of a formatting request.  A few seconds in all.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "compiler"), str(ROOT / "runtime"), str(ROOT / "grammar")]

from parcours.compiler.format import format_text  # noqa: E402
from parcours.compiler.tools.formatting import format_policy  # noqa: E402


def median_seconds(action: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


class Server:
    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "parcours.compiler.cli", "lsp"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)
        self.next_id = 0

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        stream: IO[bytes] | None = self.process.stdout
        assert stream is not None
        length = 0
        while (line := stream.readline()) not in (b"\r\n", b"\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return dict(json.loads(stream.read(length)))

    def until(self, want: Any) -> dict[str, Any]:
        while True:
            message = self.receive()
            if want(message):
                return message

    def request(self, method: str, params: dict[str, Any]) -> Any:
        self.next_id += 1
        ident = self.next_id
        self.send({"id": ident, "method": method, "params": params})
        return self.until(lambda m: m.get("id") == ident and "method" not in m).get("result")

    def diagnostics(self, uri: str) -> list[Any]:
        message = self.until(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                             and m["params"]["uri"] == uri)
        return list(message["params"]["diagnostics"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (median)")
    args = parser.parse_args()
    server = Server()
    server.request("initialize", {"processId": None, "capabilities": {}})
    server.send({"method": "initialized", "params": {}})
    print("| policy | lines | format | format + IR check | open → diagnostics (verified) "
          "| change → diagnostics | hover | formatting |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for version, path in enumerate(sorted((ROOT / "policies").glob("*.parcours")), 1):
        text = path.read_text(encoding="utf-8")
        plain = median_seconds(lambda: format_text(text), args.repeat)
        checked = median_seconds(lambda: format_policy(path, text + "\n"), args.repeat)
        uri = path.resolve().as_uri()
        started = time.perf_counter()
        server.send({"method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": uri, "languageId": "parcours", "version": 1, "text": text}}})
        server.diagnostics(uri)
        opened = time.perf_counter() - started
        started = time.perf_counter()
        server.send({"method": "textDocument/didChange", "params": {
            "textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": text}]}})
        server.diagnostics(uri)
        changed = time.perf_counter() - started
        line, word = next((i, l.split()[0]) for i, l in enumerate(text.split("\n"))
                          if l.startswith(("input ", "param ", "let ", "output ")))
        position = {"line": line, "character": len(word) + 1}  # on the declared name
        hover = median_seconds(lambda: server.request("textDocument/hover", {
            "textDocument": {"uri": uri}, "position": position}), args.repeat)
        formatting = median_seconds(lambda: server.request("textDocument/formatting", {
            "textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": True}}),
            args.repeat)
        print(f"| {path.name} | {text.count(chr(10))} | {plain * 1000:.0f} ms "
              f"| {checked * 1000:.0f} ms | {opened * 1000:.0f} ms | {changed * 1000:.0f} ms "
              f"| {hover * 1000:.1f} ms | {formatting * 1000:.0f} ms |")
    server.request("shutdown", {})
    server.send({"method": "exit", "params": {}})
    server.process.wait(timeout=30)


if __name__ == "__main__":
    main()
