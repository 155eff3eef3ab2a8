"""Streaming batches: JSON Lines in, decisions out, in constant memory.

A line that is not JSON, or an episode that breaks the contract, is reported
(by id, or by line number) and skipped; the rest of the batch is decided.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal

from .decision import Decision
from .episode import episode_id
from .errors import EpisodeError, PolicyGap

Decide = Callable[[Mapping[str, object]], Decision]


@dataclass(slots=True)
class BatchStats:
    decided: int = 0
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    error: EpisodeError

    def __str__(self) -> str:
        e = self.error
        who = f"episode {e.episode_id} (line {self.line})" if e.episode_id is not None \
            else f"line {self.line}"
        return f"{who}: field {e.field}: {e.message}" if e.field else f"{who}: {e.message}"

    def to_dict(self) -> dict[str, object]:
        return {"line": self.line, **self.error.to_dict()}


def read_episodes(lines: Iterable[str]) -> Iterator[tuple[int, Mapping[str, object] | EpisodeError]]:
    """(line number, episode or error) for each non-blank line; decimals stay exact."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line, parse_float=Decimal)
        except (ValueError, RecursionError) as exc:
            yield number, EpisodeError(None, "", f"not valid JSON ({str(exc).split(':')[0]})")
            continue
        if not isinstance(value, dict):
            yield number, EpisodeError(None, "", "an episode is a JSON object")
            continue
        yield number, value


def decision_json(decision: Decision) -> str:
    return json.dumps(decision.to_dict(), ensure_ascii=False, separators=(",", ":"))


def decide_stream(decide: Decide, lines: Iterable[str], write: Callable[[str], object],
                  reject: Callable[[Rejection], object],
                  observe: Callable[[Decision], object] | None = None) -> BatchStats:
    """Decide every episode of `lines`, writing one JSON line per decision."""
    stats = BatchStats()
    for number, item in read_episodes(lines):
        if isinstance(item, EpisodeError):
            stats.rejected += 1
            reject(Rejection(number, item))
            continue
        try:
            decision = decide(item)
        except EpisodeError as error:
            stats.rejected += 1
            reject(Rejection(number, error))
            continue
        except PolicyGap as gap:
            stats.rejected += 1
            reject(Rejection(number, EpisodeError(episode_id(item), "", f"undecided: {gap}")))
            continue
        except (ArithmeticError, TypeError, KeyError, AttributeError) as exc:
            stats.rejected += 1
            reject(Rejection(number, EpisodeError(episode_id(item), "", f"cannot be decided: {exc}")))
            continue
        stats.decided += 1
        if observe is not None:
            observe(decision)
        write(decision_json(decision) + "\n")
    return stats
