"""Streaming batches: JSON Lines in, decisions out, in constant memory.

A line that is not UTF-8 or not JSON, or an episode that breaks the contract, is
reported (by id, or by line number) and skipped; the rest of the batch is decided.
Every record written, decision or rejection, is one line of valid UTF-8.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal

from json.encoder import encode_basestring

from .decision import Decision, PolicyMeta
from .money import format_money, format_rate
from .episode import episode_id
from .errors import EpisodeError, PolicyGap, one_line, shown
from .lines import json_safe, read_episodes

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
        """One line of text, whatever the episode held (ids and values cut and escaped)."""
        e = self.error
        who = f"episode {shown(e.episode_id)} (line {self.line})" if e.episode_id is not None \
            else f"line {self.line}"
        return one_line(f"{who}: field {e.field}: {e.message}" if e.field
                        else f"{who}: {e.message}")

    def to_dict(self) -> dict[str, object]:
        return {"line": self.line, **self.error.to_dict()}


def decision_json(decision: Decision) -> str:
    """The decision as one compact JSON line (without the newline)."""
    return json_safe(json.dumps(decision.to_dict(), ensure_ascii=False, separators=(",", ":")))


def _other_text(policy: PolicyMeta, kind: str) -> Callable[[object], str]:
    """The JSON text of an output that is neither money nor a rate."""
    if kind == "bool":
        return lambda value: "true" if value else "false"
    if kind == "int":
        return lambda value: str(int(value))  # type: ignore[call-overload]
    return lambda value: json_safe(json.dumps(policy.json_value(kind, value), ensure_ascii=False))


_MONEY, _RATE, _OTHER = 0, 1, 2
MAX_CACHED_AMOUNTS = 1 << 16  # amounts whose text a writer keeps, per number of decimals


def _money_text(amount: object, decimals: int) -> str:
    """An amount's text with `decimals` places and the closing quote: `str` when it
    already has them (the usual case), else formatted."""
    text = str(amount)
    if decimals == 0 or len(text) <= decimals or text[-decimals - 1] != ".":
        text = format_money(amount, decimals)  # type: ignore[arg-type]
    return text + '"'


_Parts = tuple[tuple[str, int, Callable[[object], str] | None], ...]


class DecisionWriter:
    """`decision_json`, byte for byte, with the parts that repeat across decisions cached.

    Per instance (one stream), never global: the head of each policy, the
    pathway/rule fragment, each declared output's `,"name":` prefix and kind, formatted
    rates and each path's sources.  Money is formatted inline (no call per amount when
    its text already has the currency's decimals).  Decisions with a trace or overrides
    take the plain route.
    """

    def __init__(self) -> None:
        self._policies: dict[int, tuple[PolicyMeta, str, str, _Parts]] = {}
        self._middles: dict[tuple[str, str, str], str] = {}
        self._rates: dict[object, str] = {}
        # per number of decimals: an amount's text, by value (equal non-zero amounts format
        # alike; a zero is never cached, since -0.00 and 0.00 are equal but written apart)
        self._amounts: dict[int, dict[object, str]] = {}
        self._sources: dict[tuple[int, tuple[int, ...]], str] = {}

    def _policy(self, policy: PolicyMeta) -> tuple[PolicyMeta, str, str, _Parts]:
        head = json_safe(',"policy":' + encode_basestring(policy.id) + ',"policy_version":'
                         + encode_basestring(policy.version) + ",")
        parts: list[tuple[str, int, Callable[[object], str] | None]] = []
        for spec in policy.outputs:
            prefix = json_safe("," + encode_basestring(spec.name) + ":")
            if spec.kind == "money":
                parts.append((prefix + '"', _MONEY, None))
            elif spec.kind == "rate":
                parts.append((prefix + '"', _RATE, None))
            else:
                parts.append((prefix, _OTHER, _other_text(policy, spec.kind)))
        return (policy, head, policy.currency, tuple(parts))

    def __call__(self, decision: Decision) -> str:
        if decision.trace is not None or decision.overrides:
            return decision_json(decision)
        policy = decision.policy
        cached = self._policies.get(id(policy))
        if cached is None or cached[0] is not policy:
            cached = self._policies[id(policy)] = self._policy(policy)
        _, head, currency, parts = cached
        key = (decision.pathway, decision.rule, currency)
        middle = self._middles.get(key)
        if middle is None:
            middle = json_safe('"pathway":' + encode_basestring(decision.pathway) + ',"rule":'
                               + encode_basestring(decision.rule) + ',"currency":'
                               + encode_basestring(currency))
            self._middles[key] = middle
        source_key = (id(policy), decision._path)
        sources = self._sources.get(source_key)
        if sources is None:
            sources = json_safe(json.dumps(list(decision.sources), ensure_ascii=False,
                                           separators=(",", ":")))
            self._sources[source_key] = sources
        ident = decision.id
        out = ('{"id":' + (json_safe(encode_basestring(ident)) if type(ident) is str
                           else json_safe(json.dumps(ident, ensure_ascii=False))) + head + middle)
        amounts = self._amounts.get(policy.decimals)
        if amounts is None:
            amounts = self._amounts[policy.decimals] = {}
        rates = self._rates
        for (prefix, kind, other), value in zip(parts, decision.values):
            if kind == _MONEY:
                text = amounts.get(value) if value else None  # never a zero: "-0.00"
                if text is None:
                    text = _money_text(value, policy.decimals)
                    if value and len(amounts) < MAX_CACHED_AMOUNTS:
                        amounts[value] = text
                out += prefix + text
            elif kind == _RATE:
                rate = rates.get(value)
                if rate is None:
                    rate = rates[value] = format_rate(value) + '"'  # type: ignore[arg-type]
                out += prefix + rate
            else:
                assert other is not None
                out += prefix + other(value)
        return out + ',"sources":' + sources + "}"


def decide_stream(decide: Decide, lines: Iterable[bytes | str], write: Callable[[str], object],
                  reject: Callable[[Rejection], object],
                  observe: Callable[[Decision], object] | None = None) -> BatchStats:
    """Decide every episode of `lines`, writing one JSON line per decision."""
    stats = BatchStats()
    encode = DecisionWriter()
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
        except (ArithmeticError, TypeError, KeyError, AttributeError, ValueError,
                RecursionError) as exc:
            stats.rejected += 1
            reject(Rejection(number, EpisodeError(episode_id(item), "",
                                                  f"cannot be decided: {shown(str(exc), 200)}")))
            continue
        stats.decided += 1
        if observe is not None:
            observe(decision)
        write(encode(decision) + "\n")
    return stats
