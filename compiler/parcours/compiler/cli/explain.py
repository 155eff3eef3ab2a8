"""`parcours explain`: one decision with every rule in priority order and its sources."""

from __future__ import annotations

import json
from pathlib import Path

import click

from parcours.runtime import (Decision, EpisodeError, PolicyGap, Unreadable, json_safe, one_line,
                              parse_episode, render, shown)

from .common import (ENGINES, EXIT_PROBLEMS, bind, fail, import_path_option, load_engine,
                     parse_sets)


@click.command(name="explain")
@import_path_option
@click.argument("policy")
@click.option("--episode", required=True,
              help="The episode: JSON text, or the path of a file holding one.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--engine", type=click.Choice(ENGINES), default="compiled", show_default=True,
              help="compiled: the generated module; interpreted: the reference interpreter "
                   "of the IR (same decisions, slower; a .parcours policy only).")
def explain(policy: str, episode: str, sets: tuple[str, ...], fmt: str, engine: str) -> None:
    """Explain one decision: every rule in priority order, with its sources."""
    module = load_engine(policy, engine)
    # The argument's bytes as the shell gave them (undecodable ones come back as
    # surrogate escapes), or the file's: either way decoded as the batch decodes a line.
    raw = episode.encode("utf-8", "surrogateescape")
    if not episode.lstrip().startswith("{") and _is_file(episode):
        try:
            raw = Path(episode).read_bytes()
        except OSError as exc:
            fail(f"cannot read {episode}: {exc.strerror}")
    data = parse_episode(raw)
    if isinstance(data, Unreadable):
        fail(f"--episode: {data.message}")
    if isinstance(data, EpisodeError):  # a duplicate field: a bad episode, by name
        click.echo(f"rejected: {data}", err=True)
        raise SystemExit(EXIT_PROBLEMS)
    function = bind(module, parse_sets(sets), explain=True)
    try:
        decision = function(data)
    except EpisodeError as exc:
        click.echo(f"rejected: {exc}", err=True)
        raise SystemExit(EXIT_PROBLEMS) from None
    except PolicyGap as gap:
        click.echo(one_line(f"rejected: undecided: {gap}"), err=True)
        raise SystemExit(EXIT_PROBLEMS) from None
    if fmt == "json":
        click.echo(json_safe(json.dumps(decision.to_dict(), ensure_ascii=False, indent=2)))
        return
    click.echo(explanation(decision))


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # a name too long, or holding a NUL: not a file
        return False


def explanation(decision: Decision) -> str:
    """The decision's head line and amounts, then its trace."""
    d = decision.to_dict()
    policy = decision.policy
    values = []
    for spec in policy.outputs:  # the declared outputs, in order; amounts with their currency
        value = d[spec.name]
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        values.append(f"{spec.name} {text}" + (f" {policy.currency}" if spec.kind == "money"
                                                else ""))
    head = [
        f"{policy.title} ({policy.id}, {policy.status})",
        one_line(f"episode {shown(decision.id)}: {decision.pathway} by rule {decision.rule}"),
        one_line("  " + "; ".join(values)),
    ]
    if decision.overrides:
        head.append("  what-if: " + ", ".join(f"{k}={v}" for k, v in decision.overrides))
    assert decision.trace is not None
    return "\n".join(head) + "\n\n" + render(decision.trace)
