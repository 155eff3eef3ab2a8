"""`parcours check`: syntax, names, types, dated values and the verifier's findings."""

from __future__ import annotations

import click


@click.command(name="check")
@click.argument("files", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]),
              default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--timing", is_flag=True, help="Report how long each policy and each stage took.")
@click.option("--verify-budget", type=click.IntRange(min=1), default=None, metavar="N",
              help="Region evaluations the verifier may spend per policy (default 2,000,000); "
                   "past it, W405 says what was not verified.")
def check(files: tuple[str, ...], fmt: str, strict: bool, timing: bool,
          verify_budget: int | None) -> None:
    """Check policy files: syntax, names, types, dated values, completeness."""
    from .check_report import report

    code = report(files, fmt, strict, timing, verify_budget)
    raise SystemExit(code)
