"""`parcours explain`: one decision with every rule in priority order and its sources."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from parcours.runtime import (Decision, EpisodeError, PolicyGap, Unreadable, json_safe, one_line,
                              parse_episode, render, shown, specs_of)

from ..tools.accumulate import Bound
from .accumulate import explain_with_state
from .common import (ENGINES, EXIT_PROBLEMS, bind, fail, import_path_option, load, parse_sets,
                     state_in_option)


@click.command(name="explain", short_help="Explain one decision, rule by rule, with sources.")
@import_path_option
@click.argument("policy")
@click.option("--episode", required=True, metavar="JSON|FILE|-",
              help="The episode: JSON text (starting with '{'), the path of a file holding "
                   "one, or '-' for standard input.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a parameter for a what-if explanation (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True,
              help="text: a readable explanation; json: the decision with its trace.")
@click.option("--engine", type=click.Choice(ENGINES), default="compiled", show_default=True,
              help="compiled: the generated module; interpreted: the reference interpreter "
                   "of the IR (same decisions, slower; a .parcours policy only).")
@state_in_option
def explain(policy: str, episode: str, sets: tuple[str, ...], fmt: str, engine: str,
            state_in: str | None) -> None:
    """Explain one decision: every rule in priority order, with its sources.

    For a policy with accumulators it also shows each one before and after the episode
    and whether its cap bound; the totals before come from --state-in (or the episode's
    own NAME_used field, zero when absent).

    \b
    Examples:
      parcours explain policies/france.parcours --episode "$(head -1 policies/samples/episodes.jsonl)"
      parcours explain policies/france.parcours --episode ep.json --format json
      head -1 policies/samples/episodes.jsonl | parcours explain policies/france.parcours --episode -

    \b
    Exit codes:
      0  explained
      1  the episode is rejected (the reason is printed on stderr)
      2  the policy does not load, the episode cannot be read or is not a JSON
         object, or a --set is bad
    """
    module = load(policy, engine)
    raw = _episode_bytes(episode)
    data = parse_episode(raw)
    if isinstance(data, Unreadable):
        fail(f"--episode: {data.message}")
    if isinstance(data, EpisodeError):  # a duplicate field: a bad episode, by name
        click.echo(f"rejected: {data}", err=True)
        raise SystemExit(EXIT_PROBLEMS)
    function = bind(module, parse_sets(sets), explain=True)
    try:
        decision, bounds = explain_with_state(module, function, data, state_in)
    except EpisodeError as exc:
        click.echo(f"rejected: {exc}", err=True)
        raise SystemExit(EXIT_PROBLEMS) from None
    except PolicyGap as gap:
        click.echo(one_line(f"rejected: undecided: {gap}"), err=True)
        raise SystemExit(EXIT_PROBLEMS) from None
    if fmt == "json":
        out = decision.to_dict()
        if bounds:
            out["accumulators"] = [b.to_dict() for b in bounds]
        click.echo(json_safe(json.dumps(out, ensure_ascii=False, indent=2)))
        return
    click.echo(explanation(decision, bounds, module))


def _episode_bytes(episode: str) -> bytes:
    """`--episode` as bytes: '-' is standard input; text starting with '{' (after spaces or
    a byte order mark) is the JSON itself; anything else is the path of a file."""
    if episode == "-":
        return sys.stdin.buffer.read()
    if episode.lstrip().lstrip("\ufeff").lstrip().startswith("{"):
        # The argument's bytes as the shell gave them (undecodable ones come back as
        # surrogate escapes): decoded below as the batch decodes a line.
        return episode.encode("utf-8", "surrogateescape")
    shown_name = one_line(shown(episode, 300))
    try:
        path = Path(episode)
        if path.is_dir():
            fail(f"--episode: {shown_name} is a folder (give JSON text starting with '{{', "
                 "a file, or - for standard input)")
        if not path.is_file():
            fail(f"--episode: no such file: {shown_name} (give JSON text starting with "
                 "'{', a file, or - for standard input)")
        return path.read_bytes()
    except (OSError, ValueError) as exc:  # unreadable, a name too long or holding a NUL
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a file"
        fail(f"--episode: cannot read {shown_name}: {reason}")


def explanation(decision: Decision, bounds: list[Bound] | None = None,
                module: object = None) -> str:
    """The decision's head line and amounts, each accumulator before and after, then its
    trace."""
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
    if bounds:
        keys = {spec.name: spec.keys for spec in specs_of(module)}
        head.append("accumulators:")
        head += [one_line(b.text(policy.currency, policy.decimals, keys[b.name])) for b in bounds]
    assert decision.trace is not None
    return "\n".join(head) + "\n\n" + render(decision.trace)
