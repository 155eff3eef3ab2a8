"""`parcours check`: syntax, names, types, dated values and the verifier's findings."""

from __future__ import annotations

from pathlib import Path

import click

from .common import fail, import_path_option

SUFFIX = ".parcours"


def collect(paths: tuple[str, ...]) -> tuple[str, ...]:
    """The files named, and every `*.parcours` under the folders named (recursively, in
    sorted order), each once. A folder without policies is a usage error; a missing file
    is left to the analysis, which reports it as E002."""
    found: list[str] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            inside = sorted(str(p) for p in path.rglob(f"*{SUFFIX}") if p.is_file())
            if not inside:
                fail(f"no {SUFFIX} files in {text}")
            found.extend(inside)
        else:
            found.append(text)
    return tuple(dict.fromkeys(found))


@click.command(name="check", short_help="Check policies: syntax, types, completeness.")
@import_path_option
@click.argument("files", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]),
              default="text", show_default=True,
              help="text: diagnostics and a line per file on stderr; json, sarif (code "
                   "scanning) or github (workflow commands): on stdout.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--timing", is_flag=True,
              help="Report how long each policy and each stage took (text: in ms; json: "
                   "'seconds' and 'stages'). Off by default, so that the output is the same "
                   "on every run.")
@click.option("--verify-budget", type=click.IntRange(min=1), default=None, metavar="N",
              help="Region evaluations the verifier may spend per policy (default 2,000,000); "
                   "past it, W405 says what was not verified.")
def check(files: tuple[str, ...], fmt: str, strict: bool, timing: bool,
          verify_budget: int | None) -> None:
    """Check policy files: syntax, names, types, dated values, completeness.

    FILES are policy files or folders; a folder is searched recursively for *.parcours
    files.

    \b
    Examples:
      parcours check policies/france.parcours
      parcours check policies
      parcours check --format sarif policies > check.sarif

    \b
    Exit codes:
      0  no file has an error (nor, with --strict, a warning)
      1  a file has errors, or cannot be read
      2  bad usage (a folder without policies)
    """
    from .check_report import report

    code = report(collect(files), fmt, strict, timing, verify_budget)
    raise SystemExit(code)
