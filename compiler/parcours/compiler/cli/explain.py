"""`parcours explain`: one decision with every rule in priority order and its sources."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from parcours.runtime import Decision, EpisodeError, render

from .common import EXIT_PROBLEMS, bind, fail, import_path_option, load, parse_sets


@click.command(name="explain")
@import_path_option
@click.argument("policy")
@click.option("--episode", required=True,
              help="The episode: JSON text, or the path of a file holding one.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def explain(policy: str, episode: str, sets: tuple[str, ...], fmt: str) -> None:
    """Explain one decision: every rule in priority order, with its sources."""
    module = load(policy)
    text = episode
    if not episode.lstrip().startswith("{") and Path(episode).exists():
        text = Path(episode).read_text(encoding="utf-8")
    try:
        data: Any = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        fail(f"--episode is not JSON: {exc}")
    if not isinstance(data, dict):
        fail("--episode must be a JSON object")
    function = bind(module, parse_sets(sets), explain=True)
    try:
        decision = function(data)
    except EpisodeError as exc:
        click.echo(f"rejected: {exc}", err=True)
        raise SystemExit(EXIT_PROBLEMS) from None
    if fmt == "json":
        click.echo(json.dumps(decision.to_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(explanation(decision))


def explanation(decision: Decision) -> str:
    """The decision's head line and amounts, then its trace."""
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
