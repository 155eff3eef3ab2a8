"""`parcours check`: run the analysis on files and report diagnostics in a chosen format."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ..diagnostics import Diagnostic
from ..diagnostics.codes import CODES
from ..meta import VERSION
from ..pipeline import Analysis, analyse


def _diagnostic_dict(d: Diagnostic) -> dict[str, object]:
    out: dict[str, object] = {
        "code": d.code, "severity": d.severity, "message": d.message,
        "file": d.span.file, "line": d.span.line, "column": d.span.column,
        "end_line": d.span.end_line, "end_column": d.span.end_column,
    }
    if d.hint:
        out["hint"] = d.hint
    if d.notes:
        out["notes"] = [{"file": s.file, "line": s.line, "column": s.column, "message": m}
                        for s, m in d.notes]
    if d.counterexample is not None:
        out["counterexample"] = d.counterexample
    return out


# Where every code is explained, relative to the repository (SARIF wants absolute URIs in
# `informationUri` and `helpUri`, both optional: the pointer goes in the rule's help text).
CODES_DOC = "docs/language.md#error-codes"



def _rule(code: str) -> dict[str, object]:
    """A SARIF reportingDescriptor: the code, its one-line meaning from the registry."""
    meaning = CODES.get(code, code)
    return {
        "id": code,
        "shortDescription": {"text": meaning},
        "help": {"text": f"{code}: {meaning}. Every code is explained in {CODES_DOC}."},
        "defaultConfiguration": {"level": "warning" if code.startswith("W") else "error"},
    }


def _sarif(results: list[tuple[Analysis, float]]) -> dict[str, object]:
    rules: dict[str, dict[str, object]] = {}
    items = []
    for analysis, _ in results:
        for d in analysis.diagnostics:
            if d.code not in rules:
                rules[d.code] = _rule(d.code)
            result: dict[str, object] = {
                "ruleId": d.code,
                "level": "error" if d.is_error else "warning",
                "message": {"text": d.message + (f" (help: {d.hint})" if d.hint else "")},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": Path(d.span.file).as_posix()},
                    "region": {"startLine": d.span.line, "startColumn": d.span.column,
                               "endLine": d.span.end_line, "endColumn": d.span.end_column},
                }}],
            }
            if d.counterexample is not None:
                result["properties"] = {"counterexample": d.counterexample}
            items.append(result)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "parcours", "version": VERSION,
                                      "rules": [rules[k] for k in sorted(rules)]}},
                  "results": items}],
    }


def _github(d: Diagnostic) -> str:
    def escape(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    kind = "error" if d.is_error else "warning"
    message = escape(d.message + (f" — help: {d.hint}" if d.hint else ""))
    return (f"::{kind} file={Path(d.span.file).as_posix()},line={d.span.line},col={d.span.column},"
            f"endLine={d.span.end_line},endColumn={d.span.end_column},title={d.code}::{message}")


def report(files: tuple[str, ...], fmt: str, strict: bool, timing: bool,
           budget: int | None = None) -> int:
    results: list[tuple[Analysis, float]] = []
    for file in files:
        started = time.perf_counter()
        analysis = analyse(file, budget=budget)
        results.append((analysis, time.perf_counter() - started))
    failed = False
    for analysis, _ in results:
        if any(d.is_error or (strict and d.severity == "warning") for d in analysis.diagnostics):
            failed = True
    if fmt == "json":
        click.echo(json.dumps({"files": [{
            "file": a.path, "ok": a.ok and not (strict and a.diagnostics),
            "policy": a.program.policy.id if a.program else None,
            **({"seconds": round(seconds, 4),  # only on demand: stable output
                "stages": {k: round(v, 4) for k, v in a.timings.items()}} if timing else {}),
            "diagnostics": [_diagnostic_dict(d) for d in a.diagnostics]}
            for a, seconds in results]}, indent=2, ensure_ascii=False))
    elif fmt == "sarif":
        click.echo(json.dumps(_sarif(results), indent=2, ensure_ascii=False))
    elif fmt == "github":
        for analysis, _ in results:
            for d in analysis.diagnostics:
                click.echo(_github(d))
    else:
        for analysis, seconds in results:
            if analysis.diagnostics:
                click.echo(analysis.render(), err=True)
            errors = sum(d.is_error for d in analysis.diagnostics)
            warnings = len(analysis.diagnostics) - errors
            status = "ok" if errors == 0 and not (strict and warnings) else "failed"
            extra = f" in {seconds * 1000:.0f} ms" if timing else ""
            click.echo(f"{analysis.path}: {status} ({errors} error(s), {warnings} warning(s))"
                       f"{extra}", err=True)
    if timing:
        for analysis, _ in results:
            click.echo(f"timing: {analysis.path}: " + ", ".join(
                f"{stage} {seconds * 1000:.0f} ms" for stage, seconds in analysis.timings.items()),
                err=True)
    return 1 if failed else 0
