"""`parcours compare`: one population through several policies (the logic is in compare.py)."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import click

from ..tools.compare import CompareError, compare, prepare, render_csv, render_report, render_table
from ..files import OutputError, write_output
from .common import EXIT_OK, fail as _fail, import_path_option, load as _load, open_out, parse_sets

def _count_lines(path: str) -> int:
    """A cheap first pass for the progress bar's length."""
    count = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
    return count


def _sha256(path: str) -> str | None:
    """The input file's hash for the report's footer (None for standard input)."""
    if path == "-":
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@click.command(name="compare")
@import_path_option
@click.argument("policies", nargs=-1, required=True)
@click.option("--input", "input_path", required=True,
              help="Episodes as JSON Lines ('-' for standard input).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]),
              default="table", show_default=True)
@click.option("--report", "report_path", default=None, metavar="FILE.html",
              help="Also write a self-contained HTML report: who pays more, per visit and by "
                   "group, with SVG charts and the versions and input in a footer.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a parameter in every compared policy that declares it.")
def compare_command(policies: tuple[str, ...], input_path: str, fmt: str,
                    report_path: str | None, sets: tuple[str, ...]) -> None:
    """Run one population of episodes through several policies and compare the totals.

    Per policy: episodes decided and rejected, counts by pathway, total and mean
    reimbursed and patient share.  For two policies of the same currency: episodes that
    change pathway, and the net transfer to patients by specialty and age band.
    Rejected episodes are counted, not treated as failure (exit 0); usage errors exit 2.
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
    show_progress = input_path != "-" and sys.stderr.isatty()
    # Bytes, decoded line by line: a line that is not UTF-8 is a rejected episode.
    try:
        source = sys.stdin.buffer if input_path == "-" else open(input_path, "rb",
                                                                  buffering=1 << 20)
    except OSError as exc:
        _fail(f"cannot read {input_path}: {exc.strerror}")
        raise
    try:
        if show_progress:
            length = _count_lines(input_path)
            with click.progressbar(length=length, label="comparing", file=sys.stderr) as bar:
                update: Callable[[int], object] = bar.update
                result = compare(compared, source, update, overrides, input_path)
        else:
            result = compare(compared, source, None, overrides, input_path)
    finally:
        if source is not sys.stdin.buffer:
            source.close()
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
        click.echo(f"wrote {report_path}", err=True)
    raise SystemExit(EXIT_OK)
