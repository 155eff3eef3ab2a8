"""`parcours compare`: one population through several policies (the logic is in compare.py)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import click

from parcours.runtime import specs_of

from ..tools.compare import (CompareError, CompareResult, compare, prepare, render_csv,
                             render_report, render_table)
from ..files import OutputError, write_output
from .common import (EXIT_OK, fail as _fail, import_path_option, input_name, jobs_option,
                     load as _load, open_in, open_out, parse_sets, quiet_option)
from .jobs import Run
from .progress import progress_for

def _sha256(path: str) -> str | None:
    """The input file's hash for the report's footer (None for standard input)."""
    if path == "-":
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@click.command(name="compare", short_help="Compare several policies on one population.")
@import_path_option
@click.argument("policies", nargs=-1, required=True)
@click.option("-i", "--input", "input_path", required=True, metavar="FILE",
              help="Episodes as JSON Lines ('-' for standard input).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]),
              default="table", show_default=True,
              help="How to print the comparison on stdout (json and csv: exact decimals).")
@click.option("--report", "report_path", default=None, metavar="FILE.html",
              help="Also write a self-contained HTML report: who pays more, per visit and by "
                   "group, with SVG charts and the versions and input in a footer.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a parameter in every compared policy that declares it.")
@jobs_option
@quiet_option
def compare_command(policies: tuple[str, ...], input_path: str, fmt: str,
                    report_path: str | None, sets: tuple[str, ...], jobs: int,
                    quiet: bool) -> None:
    """Run one population of episodes through several policies and compare the totals.

    Per policy: episodes decided and rejected, counts by pathway, total and mean of the
    amounts its decision marks `totals insurer` / `totals patient` (else of every money
    output).  For two policies of the same currency that mark both: episodes that change
    pathway, and the net transfer to patients by specialty and age band.
    On a terminal, a progress line on stderr shows the episodes done, the rate and the
    time left. With --jobs N, blocks of the input are compared in N processes and their
    totals added up in input order: the result is the same whatever N is. When a policy
    has accumulators (annual caps), the comparison runs in one process, each person's
    episodes in date order.

    \b
    Examples:
      parcours compare policies/morocco.parcours policies/morocco_proposal.parcours -i policies/samples/episodes-ma.jsonl
      parcours compare policies/morocco.parcours policies/morocco_proposal.parcours -i ma.jsonl --report out/compare.html
      parcours population --size 1000 --seed 7 --profile ma | parcours compare policies/morocco.parcours policies/morocco_proposal.parcours -i -

    \b
    Exit codes:
      0  compared (rejected episodes are counted, not failures)
      2  bad usage: a policy that does not load, an unreadable input, a bad --set,
         an output that cannot be written
    """
    overrides = parse_sets(sets)
    modules = [_load(policy) for policy in policies]
    try:
        compared = prepare(modules, overrides)
    except CompareError as exc:
        _fail(str(exc))
        raise
    if input_path != "-" and not Path(input_path).is_file():
        _fail(f"cannot read {input_path}: no such file")
    # Bytes, decoded line by line: a line that is not UTF-8 is a rejected episode.
    name = input_name(input_path)
    results: list[CompareResult] = []

    def block(data: bytes, first: int, fast: bool) -> CompareResult:
        return compare(compared, io.BytesIO(data), None, overrides, name, None, first, fast)

    def add(part: CompareResult, ticked: bool = False) -> None:
        if results:
            results[0].merge(part)
        else:
            results.append(part)
        if not ticked:
            progress.tick(part.episodes)

    with open_in(input_path) as source:
        progress = progress_for("comparing", quiet, source=source)
        try:
            if any(specs_of(module) for module in modules):  # one process, a key in order
                progress.first_pass()
                add(compare(compared, source, progress.tick if progress.active else None,
                            overrides, name, progress.restart if progress.active else None),
                    ticked=True)
            else:
                with Run(block, jobs) as run:
                    run.run(source, add)
        finally:
            progress.clear()
    result = results[0] if results else compare(compared, [], None, overrides, name)
    with open_out(None) as out:  # a write error exits 2, a closed pipe quietly
        if fmt == "json":
            out.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n")
        elif fmt == "csv":
            out.write(render_csv(result))
        else:
            out.write(render_table(result) + "\n")
    if report_path is not None:
        try:
            write_output(report_path, render_report(result, _sha256(input_path)))
        except OutputError as exc:
            _fail(str(exc))
        if not quiet:
            click.echo(f"wrote {report_path}", err=True)
    raise SystemExit(EXIT_OK)
