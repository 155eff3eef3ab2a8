"""`parcours test`: run policy tests and report rule coverage (the logic is in policytest.py)."""

from __future__ import annotations

import json

import click

from ..tools.policytest import PolicyTestError, below, render_text, run, to_json

from .common import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE


@click.command(name="test", short_help="Run policy tests and report rule coverage.")
@click.argument("paths", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True,
              help="text: a readable report; json: results and coverage on stdout.")
@click.option("--min-coverage", type=click.FloatRange(0, 100), default=None, metavar="P",
              help="Fail when a policy's tests exercise fewer than P% of its pathway rules.")
def test_command(paths: tuple[str, ...], fmt: str, min_coverage: float | None) -> None:
    """Run policy tests (*.tests.toml files, or the directories holding them; default
    `policies`) and report which pathway rules and output branches they exercise.

    \b
    Examples:
      parcours test
      parcours test --min-coverage 100 policies/france.tests.toml

    \b
    Exit codes:
      0  every test passes and coverage is enough
      1  a test fails, or a policy is below --min-coverage
      2  a test file or its policy cannot be run
    """
    try:
        results = run(paths or ("policies",))
    except PolicyTestError as exc:
        if exc.details:
            click.echo(exc.details, err=True)
        click.echo(f"error: {exc.message}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    if fmt == "json":
        click.echo(json.dumps(to_json(results, min_coverage), ensure_ascii=False, indent=2))
    else:
        click.echo(render_text(results, min_coverage))
    failed = any(r.failed for r in results) or below(results, min_coverage)
    raise SystemExit(EXIT_PROBLEMS if failed else EXIT_OK)
