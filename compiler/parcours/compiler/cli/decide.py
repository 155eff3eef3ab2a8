"""`parcours decide`: a stream of episodes through one policy, decisions as JSON Lines."""

from __future__ import annotations

from decimal import Decimal

import click

from parcours.runtime import Decision, PolicyMeta, specs_of

from .common import (ENGINES, EXIT_OK, EXIT_PROBLEMS, bind, buffer_option, fail,
                     import_path_option, jobs_option, load, parse_sets, quiet_option,
                     state_in_option, state_out_option)
from .decide_tables import columnar_lines, decide_tables, wants_tables
from .stream import decide_lines


def totalled(policy: PolicyMeta) -> tuple[tuple[str, str], ...]:
    """What a summary totals, as (output, label): see `PolicyMeta.totalled`."""
    return tuple((name, name.replace("_", " ")) for name, _ in policy.totalled())


class Summary:
    """Counts by pathway and money totals over a stream of decisions."""

    def __init__(self) -> None:
        self.by_pathway: dict[str, int] = {}
        self.totals: dict[str, Decimal] = {}
        self.outputs: tuple[tuple[str, str], ...] = ()
        self.indexes: tuple[int, ...] = ()
        self.policy: PolicyMeta | None = None

    def add(self, decision: Decision) -> None:
        self.by_pathway[decision.pathway] = self.by_pathway.get(decision.pathway, 0) + 1
        if decision.policy is not self.policy:
            self.policy = decision.policy
            self.outputs = totalled(decision.policy)
            self.indexes = tuple(decision.policy.index[name] for name, _ in self.outputs)
        totals = self.totals
        for (name, _), index in zip(self.outputs, self.indexes):
            totals[name] = totals.get(name, Decimal(0)) + decision.values[index]  # type: ignore[operator]

    def state(self) -> object:
        """What `merge` takes: the counts and totals, without the policy (a worker's)."""
        return self.by_pathway, self.totals

    def merge(self, state: object) -> None:
        """Add another summary's `state()` (a block decided by a worker)."""
        by_pathway: dict[str, int]
        totals: dict[str, Decimal]
        by_pathway, totals = state  # type: ignore[misc]
        for pathway, count in by_pathway.items():
            self.by_pathway[pathway] = self.by_pathway.get(pathway, 0) + count
        for name, amount in totals.items():
            self.totals[name] = self.totals.get(name, Decimal(0)) + amount

    def render(self, policy: str, currency: str, decided: int, rejected: int,
               sets: dict[str, str], decimals: int = 2,
               outputs: tuple[tuple[str, str], ...] | None = None) -> str:
        """One summary: the counts, the what-if overrides in effect, the pathways, the totals
        of the declared amounts (`totalled`), with the currency's number of decimals."""
        lines = [f"{policy}: {decided} decided, {rejected} rejected"]
        if sets:
            lines.append("  what-if: " + ", ".join(f"{k}={v.strip()}" for k, v in sets.items()))
        for pathway, count in sorted(self.by_pathway.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {pathway:<16} {count:>8}  {100 * count / max(decided, 1):5.1f}%")
        shown = self.outputs if outputs is None else outputs
        for name, label in shown:
            amount = self.totals.get(name, Decimal(0))
            lines.append(f"  {label:<12} {amount:>14.{decimals}f} {currency}")
        if not shown:
            lines.append("  no money output to total")
        return "\n".join(lines)


@click.command(name="decide", short_help="Decide a stream of episodes (JSON Lines).")
@import_path_option
@click.argument("policy")
@click.option("-i", "--input", "input_path", default="-", show_default=True, metavar="FILE",
              help="Episodes as JSON Lines ('-' for standard input).")
@click.option("-o", "--output", "output_path", default="-", show_default=True, metavar="FILE",
              help="Decisions as JSON Lines ('-' for standard output).")
@click.option("--explain", is_flag=True, help="Add each decision's trace.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a parameter for a what-if run (repeatable).")
@click.option("--engine", type=click.Choice(ENGINES + ("columnar",)), default="compiled",
              show_default=True,
              help="compiled: the generated module; interpreted: the reference interpreter "
                   "of the IR (same decisions, slower; a .parcours policy only); columnar: "
                   "whole batches over numpy columns (same decisions; the columnar extra).")
@click.option("--format", "fmt", type=click.Choice(("jsonl", "parquet", "arrow")), default=None,
              help="The format of the input and the output (default: by each file's "
                   "extension, .parquet, .arrow/.feather/.ipc, else JSON Lines).")
@click.option("--summary", is_flag=True,
              help="Print one summary on stderr: counts, what-if overrides, pathways, totals.")
@state_in_option
@state_out_option
@buffer_option
@jobs_option
@quiet_option
def decide(policy: str, input_path: str, output_path: str, explain: bool,
           sets: tuple[str, ...], engine: str, fmt: str | None, summary: bool,
           state_in: str | None, state_out: str | None, sort_buffer: int, jobs: int,
           quiet: bool) -> None:
    """Decide every episode; bad episodes are reported on stderr and skipped.

    Decisions are written one JSON line per episode, in input order, whatever --jobs
    is. On a terminal, a progress line on stderr shows the episodes done, the rate and
    the time left.

    A policy with accumulators (annual caps) decides its episodes in date order, then by
    id, whatever order the lines come in (sorted with --sort-buffer lines in memory, the
    rest spilled to disk), and still writes the decisions in input order; --state-in
    starts from known totals, --state-out writes the totals at the end. With --jobs N
    such a run splits the keys (the persons) across N processes, each holding the
    totals of its own; the output is the same whatever N is.

    \b
    Examples:
      parcours decide policies/france.parcours -i policies/samples/episodes.jsonl -o out/decisions.jsonl
      parcours decide out/france.py --summary < episodes.jsonl > decisions.jsonl
      parcours decide policies/france.parcours -i episodes.jsonl --set penalty_cap_enabled=true
      parcours decide policies/france.parcours --engine columnar -i episodes.parquet -o decisions.parquet

    \b
    Exit codes:
      0  every episode decided
      1  at least one episode rejected
      2  the policy does not load, the input cannot be read, the output cannot be
         written, or a --set is bad
    """
    plain = not (explain or sets or state_in or state_out)
    lines = columnar_lines(policy, input_path, output_path, fmt, plain,
                           Summary if summary else None) \
        if engine == "columnar" else None
    if lines is None and wants_tables(engine, input_path, output_path, fmt):
        decide_tables(policy, input_path, output_path, fmt, engine, parse_sets(sets), explain,
                      summary, quiet, Summary, totalled, state_in=state_in, state_out=state_out)
    module = load(policy, engine) if lines is None else lines[0].row
    overrides = parse_sets(sets)
    function = bind(module, overrides, explain)
    totals = Summary()
    if not specs_of(module) and (state_in is not None or state_out is not None):
        fail(f"{'--state-in' if state_in is not None else '--state-out'}: the policy declares "
             "no accumulator")
    decided, rejected = decide_lines(module, function, input_path, output_path, quiet, jobs,
                                     state_in, state_out, sort_buffer,
                                     totals if summary else None, Summary if summary else None,
                                     None if lines is None else lines[1])
    if summary:
        meta: PolicyMeta = module.POLICY
        click.echo(totals.render(meta.id, meta.currency, decided, rejected,
                                 overrides, meta.decimals, totalled(meta)), err=True)
    elif not quiet:
        click.echo(f"{decided} decided, {rejected} rejected", err=True)
    raise SystemExit(EXIT_PROBLEMS if rejected else EXIT_OK)
