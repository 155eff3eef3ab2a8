"""`parcours decide`: a stream of episodes through one policy, decisions as JSON Lines."""

from __future__ import annotations

import sys
from decimal import Decimal

import click

from parcours.runtime import Decision, PolicyMeta, decide_stream

from .common import (ENGINES, EXIT_OK, EXIT_PROBLEMS, bind, import_path_option, load_engine,
                     open_in, open_out, parse_sets)


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

    def render(self, policy: str, currency: str, decimals: int = 2,
               outputs: tuple[tuple[str, str], ...] | None = None) -> str:
        total = sum(self.by_pathway.values())
        lines = [f"{policy}: {total} decisions"]
        for pathway, count in sorted(self.by_pathway.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {pathway:<16} {count:>8}  {100 * count / max(total, 1):5.1f}%")
        shown = self.outputs if outputs is None else outputs
        for name, label in shown:
            amount = self.totals.get(name, Decimal(0))
            lines.append(f"  {label:<12} {amount:>14.{decimals}f} {currency}")
        if not shown:
            lines.append("  no money output to total")
        return "\n".join(lines)


@click.command(name="decide")
@import_path_option
@click.argument("policy")
@click.option("--input", "input_path", default="-", show_default=True,
              help="Episodes as JSON Lines ('-' for standard input).")
@click.option("--output", "output_path", default=None, help="Decisions as JSON Lines.")
@click.option("--explain", is_flag=True, help="Add each decision's trace.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a parameter for a what-if run (repeatable).")
@click.option("--engine", type=click.Choice(ENGINES), default="compiled", show_default=True,
              help="compiled: the generated module; interpreted: the reference interpreter "
                   "of the IR (same decisions, slower; a .parcours policy only).")
@click.option("--summary", is_flag=True, help="Print counts by pathway and totals on stderr.")
def decide(policy: str, input_path: str, output_path: str | None, explain: bool,
           sets: tuple[str, ...], summary: bool, engine: str) -> None:
    """Decide every episode; bad episodes are reported on stderr and skipped."""
    module = load_engine(policy, engine)
    function = bind(module, parse_sets(sets), explain)
    stderr = sys.stderr
    totals = Summary()

    def reject(rejection: object) -> None:
        stderr.write(f"rejected: {rejection}\n")

    with open_in(input_path) as source, open_out(output_path) as sink:
        stats = decide_stream(function, source, sink.write, reject,
                              totals.add if summary else None)
    click.echo(f"{stats.decided} decided, {stats.rejected} rejected", err=True)
    if summary:
        meta: PolicyMeta = module.POLICY
        click.echo(totals.render(meta.id, meta.currency, meta.decimals, totalled(meta)), err=True)
    raise SystemExit(EXIT_PROBLEMS if stats.rejected else EXIT_OK)
