"""`parcours diff OLD NEW`: where two policies decide differently (the logic is in diff.py).

Exit codes: 0 the policies decide every episode the same way; 1 they differ;
2 a policy does not compile (its diagnostics are printed) or cannot be read.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from .common import EXIT_USAGE, import_path_option

EXIT_SAME, EXIT_DIFFERENT = 0, 1  # `diff` reads 0 and 1 as identical and different


@click.command(name="diff", short_help="Show where two policies decide differently.")
@import_path_option
@click.argument("old")
@click.argument("new")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True,
              help="text: a readable list of regions; json: the regions on stdout.")
@click.option("--limit", default=50, show_default=True,
              help="Show at most this many regions.")
def diff_command(old: str, new: str, fmt: str, limit: int) -> None:
    """The regions of the input space where a decision field changes, each with the
    fields that change (old → new) and a counterexample episode.

    The comparison is exact over enums, bools, ages and dates (both policies'
    split points); amounts that depend on visit.fee are compared at
    representative fees of each region.

    \b
    Examples:
      parcours diff policies/morocco.parcours policies/morocco_proposal.parcours
      parcours diff --format json --limit 5 old.parcours new.parcours

    \b
    Exit codes:
      0  the policies decide every episode the same way
      1  they differ
      2  a policy does not compile or cannot be read, or the currencies differ
    """
    from ..analysis.diff import diff, to_json, to_text  # not at import: `decide` stays light
    from ..pipeline import analyse

    programs = []
    for path in (old, new):
        if not Path(path).is_file():
            click.echo(f"error: no such file: {path}", err=True)
            raise SystemExit(EXIT_USAGE)
        analysis = analyse(path, verify=False)  # verifying is `check`'s job
        if analysis.program is None:
            click.echo(analysis.render(), err=True)
            click.echo(f"error: {path} does not compile", err=True)
            raise SystemExit(EXIT_USAGE)
        programs.append(analysis.program)
    a, b = programs
    if a.policy.currency != b.policy.currency:
        click.echo(f"error: {old} is in {a.policy.currency}, {new} in {b.policy.currency}",
                   err=True)
        raise SystemExit(EXIT_USAGE)
    started = time.perf_counter()
    result = diff(a, b, limit=max(1, limit))
    seconds = time.perf_counter() - started
    if fmt == "json":
        data = to_json(a, b, result)
        data["seconds"] = round(seconds, 4)
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(to_text(a, b, result, old, new))
    raise SystemExit(EXIT_SAME if result.identical else EXIT_DIFFERENT)
