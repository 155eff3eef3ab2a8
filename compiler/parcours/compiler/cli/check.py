"""`parcours check`: syntax, names, types, dated values and the verifier's findings."""

from __future__ import annotations

import click

from .common import import_path_option


@click.command(name="check")
@import_path_option
@click.argument("files", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]),
              default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--timing", is_flag=True,
              help="Report how long each policy took to check (text: in ms; json: 'seconds'). "
                   "Off by default, so that the output is the same on every run.")
def check(files: tuple[str, ...], fmt: str, strict: bool, timing: bool) -> None:
    """Check policy files: syntax, names, types, dated values, completeness."""
    from .check_report import report

    code = report(files, fmt, strict, timing)
    raise SystemExit(code)
