"""The `parcours` command line: thin wrappers over the pipeline and the runtime.

Exit codes: 0 success; 1 the run found problems (errors in a policy, rejected
episodes, failing tests, differing policies); 2 the command could not run
(bad usage, unreadable input, a policy that does not compile).
"""

from __future__ import annotations

import functools
import json
import sys
import types
from decimal import Decimal
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TextIO

import click

from parcours.runtime import Decision, EpisodeError, OverrideError, decide_stream, render

from . import ir
from .diagnostics import CompileError, render as render_diagnostic
from .pipeline import atomic_output, compile_policy, load_policy, write_atomically

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(EXIT_USAGE)


def _load(policy: str) -> types.ModuleType:
    """A policy file compiled in memory, or a generated module; compile errors exit 2."""
    if not Path(policy).exists():
        _fail(f"no such file: {policy}")
    try:
        return load_policy(policy)
    except CompileError as exc:
        click.echo(exc.render(), err=True)
        click.echo(f"error: {policy} does not compile ({exc})", err=True)
        raise SystemExit(EXIT_USAGE) from None
    except (OSError, SyntaxError, ImportError) as exc:
        _fail(f"cannot load {policy}: {exc}")
        raise


def parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        if "=" not in item:
            _fail(f"--set {item}: write NAME=VALUE")
        name, value = item.split("=", 1)
        out[name.strip()] = value
    return out


def bind(module: types.ModuleType, sets: Mapping[str, str],
         explain: bool = False) -> Callable[[Mapping[str, object]], Decision]:
    """The module's decide (or explain) with what-if parameters bound."""
    function = module.explain if explain else module.decide
    if not sets:
        return function  # type: ignore[no-any-return]
    try:
        params = module.with_overrides(sets)
    except OverrideError as exc:
        _fail(str(exc))
    return functools.partial(function, params=params)


@contextmanager
def _open_out(path: str | None) -> Iterator[TextIO]:
    if path is None or path == "-":
        yield sys.stdout
        return
    with atomic_output(path) as handle:
        yield handle


@contextmanager
def _open_in(path: str) -> Iterator[IO[str]]:
    if path == "-":
        yield sys.stdin
        return
    try:
        handle = open(path, encoding="utf-8", buffering=1 << 20)
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror}")
        raise
    with handle:
        yield handle


class Summary:
    """Counts by pathway and money totals over a stream of decisions."""

    def __init__(self) -> None:
        self.by_pathway: dict[str, int] = {}
        self.reimbursed = Decimal(0)
        self.patient_pays = Decimal(0)

    def add(self, decision: Decision) -> None:
        self.by_pathway[decision.pathway] = self.by_pathway.get(decision.pathway, 0) + 1
        self.reimbursed += decision.reimbursed
        self.patient_pays += decision.patient_pays

    def render(self, policy: str, currency: str) -> str:
        total = sum(self.by_pathway.values())
        lines = [f"{policy}: {total} decisions"]
        for pathway, count in sorted(self.by_pathway.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {pathway:<16} {count:>8}  {100 * count / max(total, 1):5.1f}%")
        lines.append(f"  reimbursed   {self.reimbursed:>14.2f} {currency}")
        lines.append(f"  patient pays {self.patient_pays:>14.2f} {currency}")
        return "\n".join(lines)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="parcours")
def main() -> None:
    """parcours: check, compile and run care-pathway policies."""


@main.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]),
              default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--timing", is_flag=True, help="Report how long each policy took to check.")
def check(files: tuple[str, ...], fmt: str, strict: bool, timing: bool) -> None:
    """Check policy files: syntax, names, types, dated values, completeness."""
    from .report_check import report

    code = report(files, fmt, strict, timing)
    raise SystemExit(code)


@main.command(name="compile")
@click.argument("file")
@click.option("-o", "--output", required=True, help="The module to write (MODULE.py).")
@click.option("--emit", type=click.Choice(["module", "ir"]), default="module", show_default=True)
def compile_command(file: str, output: str, emit: str) -> None:
    """Compile a policy into a typed Python decision module (written atomically)."""
    if not Path(file).exists():
        _fail(f"no such file: {file}")
    try:
        analysis, text = compile_policy(file)
    except CompileError as exc:
        click.echo(exc.render(), err=True)
        raise SystemExit(EXIT_PROBLEMS) from None
    for warning in analysis.diagnostics:
        click.echo(render_diagnostic(warning, analysis.sources), err=True)
    assert analysis.program is not None
    if emit == "ir":
        text = ir.print_program(analysis.program)
    try:
        write_atomically(output, text)
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror}")
    click.echo(f"wrote {output} ({analysis.program.policy.id}, "
               f"{analysis.program.policy.version[:19]}…)", err=True)


@main.command()
@click.argument("policy")
@click.option("--input", "input_path", default="-", show_default=True,
              help="Episodes as JSON Lines ('-' for standard input).")
@click.option("--output", "output_path", default=None, help="Decisions as JSON Lines.")
@click.option("--explain", is_flag=True, help="Add each decision's trace.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a parameter for a what-if run (repeatable).")
@click.option("--summary", is_flag=True, help="Print counts by pathway and totals on stderr.")
def decide(policy: str, input_path: str, output_path: str | None, explain: bool,
           sets: tuple[str, ...], summary: bool) -> None:
    """Decide every episode; bad episodes are reported on stderr and skipped."""
    module = _load(policy)
    function = bind(module, parse_sets(sets), explain)
    stderr = sys.stderr
    totals = Summary()

    def reject(rejection: object) -> None:
        stderr.write(f"rejected: {rejection}\n")

    with _open_in(input_path) as source, _open_out(output_path) as sink:
        stats = decide_stream(function, source, sink.write, reject,
                              totals.add if summary else None)
    click.echo(f"{stats.decided} decided, {stats.rejected} rejected", err=True)
    if summary:
        click.echo(totals.render(module.POLICY.id, module.POLICY.currency), err=True)
    raise SystemExit(EXIT_PROBLEMS if stats.rejected else EXIT_OK)


@main.command()
@click.argument("policy")
@click.option("--episode", required=True,
              help="The episode: JSON text, or the path of a file holding one.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def explain(policy: str, episode: str, sets: tuple[str, ...], fmt: str) -> None:
    """Explain one decision: every rule in priority order, with its sources."""
    module = _load(policy)
    text = episode
    if not episode.lstrip().startswith("{") and Path(episode).exists():
        text = Path(episode).read_text(encoding="utf-8")
    try:
        from decimal import Decimal

        data: Any = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        _fail(f"--episode is not JSON: {exc}")
    if not isinstance(data, dict):
        _fail("--episode must be a JSON object")
    function = bind(module, parse_sets(sets), explain=True)
    try:
        decision = function(data)
    except EpisodeError as exc:
        click.echo(f"rejected: {exc}", err=True)
        raise SystemExit(EXIT_PROBLEMS) from None
    if fmt == "json":
        click.echo(json.dumps(decision.to_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(_explanation(decision))


def _explanation(decision: Decision) -> str:
    d = decision.to_dict()
    head = [
        f"{decision.policy.title} ({decision.policy.id}, {decision.policy.status})",
        f"episode {decision.id}: {decision.pathway} by rule {decision.rule}",
        f"  base {d['base']} {decision.policy.currency} × rate {d['rate']}"
        f" − flat fee {d['flat_fee']} = reimbursed {d['reimbursed']};"
        f" patient pays {d['patient_pays']}",
    ]
    if decision.overrides:
        head.append("  what-if: " + ", ".join(f"{k}={v}" for k, v in decision.overrides))
    assert decision.trace is not None
    return "\n".join(head) + "\n\n" + render(decision.trace)


def _register_commands() -> None:
    """Commands that live in their own modules (compare, population, test)."""
    from . import cli_compare, cli_population, cli_test

    for module in (cli_compare, cli_population, cli_test):
        module.register(main)
    from . import cli_diff

    cli_diff.register(main)


_register_commands()
__all__ = ["main"]

if __name__ == "__main__":
    main()
