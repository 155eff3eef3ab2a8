"""Streaming batches: JSON Lines in, decisions out, in constant memory.

A line that is not UTF-8 or not JSON, or an episode that breaks the contract, is
reported (by id, or by line number) and skipped; the rest of the batch is decided.
Every record written, decision or rejection, is one line of valid UTF-8.
"""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, NamedTuple

from json.encoder import encode_basestring

from .decision import Decision, PolicyMeta
from .money import format_money, format_rate
from .episode import episode_id
from .errors import EpisodeError, PolicyGap, one_line, shown
from .lines import _keys, _read, fast_decoder, json_safe

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
BLOCK_BYTES = 1 << 18  # the lines of about this many bytes make one block (`blocks`)
FIRST_BLOCK_BYTES = 1 << 13  # the first block: its decisions come out first
MAX_CACHED_TAILS = 1 << 14  # whole decision texts (after the id) a writer keeps, per policy


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
        # per policy: the text after the id, by (path, values, pathway, rule)
        self._tails: dict[int, tuple[PolicyMeta, dict[object, tuple[str, tuple[int, ...]]]]] = {}

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
        ident = decision.id
        head = ('{"id":' + json_safe(encode_basestring(ident)) if type(ident) is str
                else '{"id":' + json_safe(json.dumps(ident, ensure_ascii=False)))
        values = decision.values
        key = (decision._path, values, decision.pathway, decision.rule)
        policy = decision.policy
        tails = self._tails.get(id(policy))
        if tails is not None and tails[0] is policy:
            hit = tails[1].get(key)
            if hit is not None:
                tail, zeros = hit
                if not zeros:
                    return head + tail
                for index in zeros:  # written "0.00": this decision's zero must be too
                    if values[index].is_signed():  # type: ignore[attr-defined]
                        break
                else:
                    return head + tail
        else:
            tails = self._tails[id(policy)] = (policy, {})
        tail, zeros, reusable = self._tail(decision)
        if reusable and len(tails[1]) < MAX_CACHED_TAILS:
            tails[1][key] = (tail, zeros)
        return head + tail

    def _tail(self, decision: Decision) -> tuple[str, tuple[int, ...], bool]:
        """Everything after the id; where an amount or a rate is zero; and whether the text
        may be reused for an equal decision: not when a zero is negative, since -0.00 and
        0.00 are equal but written apart (a reused text holds "0.00" at each zero)."""
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
        out = head + middle
        amounts = self._amounts.get(policy.decimals)
        if amounts is None:
            amounts = self._amounts[policy.decimals] = {}
        rates = self._rates
        reusable = True
        zeros: list[int] = []
        for index, ((prefix, kind, other), value) in enumerate(zip(parts, decision.values)):
            if kind == _MONEY:
                if not value:  # a zero is never in `amounts`: "-0.00"
                    zeros.append(index)
                    reusable = reusable and not value.is_signed()  # type: ignore[attr-defined]
                    text = None
                else:
                    text = amounts.get(value)
                if text is None:
                    text = _money_text(value, policy.decimals)
                    if value and len(amounts) < MAX_CACHED_AMOUNTS:
                        amounts[value] = text
                out += prefix + text
            elif kind == _RATE:
                if not value:
                    zeros.append(index)
                    reusable = reusable and not value.is_signed()  # type: ignore[attr-defined]
                    rate = format_rate(value) + '"'  # type: ignore[arg-type]
                else:
                    found = rates.get(value)
                    if found is None:
                        found = rates[value] = format_rate(value) + '"'  # type: ignore[arg-type]
                    rate = found
                out += prefix + rate
            else:
                assert other is not None
                out += prefix + other(value)
        return out + ',"sources":' + sources + "}", tuple(zeros), reusable


def decided(decide: Decide, lines: Iterable[bytes | str], first: int = 1, fast: bool = True
            ) -> Iterator[tuple[int, Decision | EpisodeError]]:
    """(line number, decision or the error that rejects the episode) for each episode of
    `lines`, the first numbered `first`; what an episode's decision raises costs only it."""
    for number, item in _read(lines, first, fast_decoder() if fast else None):
        if isinstance(item, EpisodeError):
            yield number, item
            continue
        try:
            yield number, decide(item)
        except UNDECIDED as exc:
            yield number, undecided(item, exc)


# What a decision may raise that costs only its episode (see `undecided`).
UNDECIDED = (EpisodeError, PolicyGap, ArithmeticError, TypeError, KeyError, AttributeError,
             ValueError, RecursionError)


def undecided(episode: Mapping[str, object], exc: BaseException) -> EpisodeError:
    """The error that rejects an episode whose decision raised `exc` (one of `UNDECIDED`)."""
    if isinstance(exc, EpisodeError):
        return exc
    if isinstance(exc, PolicyGap):
        return EpisodeError(episode_id(episode), "", f"undecided: {exc}")
    return EpisodeError(episode_id(episode), "", f"cannot be decided: {shown(str(exc), 200)}")


def decide_stream(decide: Decide, lines: Iterable[bytes | str], write: Callable[[str], object],
                  reject: Callable[[Rejection], object],
                  observe: Callable[[Decision], object] | None = None) -> BatchStats:
    """Decide every episode of `lines`, writing one JSON line per decision."""
    stats = BatchStats()
    encode = DecisionWriter()
    for number, outcome in decided(decide, lines):
        if isinstance(outcome, EpisodeError):
            stats.rejected += 1
            reject(Rejection(number, outcome))
            continue
        stats.decided += 1
        if observe is not None:
            observe(outcome)
        write(encode(outcome) + "\n")
    return stats


class Block(NamedTuple):
    """What `decide_block` made of a block of lines: the decisions' text (one line each),
    the rejections as text, in line order, and the counts."""

    text: str
    rejections: list[str]
    decided: int
    rejected: int


def decide_block(decide: Decide, encode: DecisionWriter, block: bytes, first: int = 1,
                 observe: Callable[[Decision], object] | None = None,
                 fast: bool = True) -> Block:
    """The decisions of a block of whole JSON lines (bytes, the first numbered `first`),
    as `decide_stream` would write them, in one string: the unit of work of a batch
    split across processes (`parcours decide --jobs`) and of the one-process batch."""
    out: list[str] = []
    rejections: list[str] = []
    decoder = fast_decoder() if fast else None
    if decoder is None:
        for number, outcome in decided(decide, io.BytesIO(block), first, False):
            if isinstance(outcome, EpisodeError):
                rejections.append(str(Rejection(number, outcome)))
                continue
            if observe is not None:
                observe(outcome)
            out.append(encode(outcome))
    else:  # `decided` unrolled: this loop is most of a batch's time
        number = first - 1
        for raw in io.BytesIO(block):
            number += 1
            try:
                value = decoder(raw)
            except Exception:
                value = None
            if type(value) is dict:  # `fast_keys`, inline: its keys against the colons
                if raw.find(b"[") >= 0:  # (find: cheaper than `in` on bytes)
                    count = _keys(value, 0)
                else:
                    count = len(value)
                    for inner in value.values():
                        if type(inner) is dict:
                            count += len(inner)
            else:
                count = -1
            if count == raw.count(b":"):
                episode: Mapping[str, object] = value  # type: ignore[assignment]
            else:  # the standard library path words the error (or reads a BOM, a blank)
                item = next((item for _, item in _read((raw,), number, None)), BLANK)
                if item is BLANK:
                    continue
                if isinstance(item, EpisodeError):
                    rejections.append(str(Rejection(number, item)))
                    continue
                episode = item
            try:
                decision = decide(episode)
            except UNDECIDED as exc:
                rejections.append(str(Rejection(number, undecided(episode, exc))))
                continue
            if observe is not None:
                observe(decision)
            out.append(encode(decision))
    if out:
        out.append("")
    return Block("\n".join(out), rejections, len(out) - 1 if out else 0, len(rejections))


BLANK: Mapping[str, object] = {}  # what `decide_block` reads a blank line as (never decided)


def blocks(source: IO[bytes], size: int = BLOCK_BYTES,
           first: int = FIRST_BLOCK_BYTES) -> Iterator[bytes]:
    """`source` in blocks of whole lines (the last line of the input may lack its newline):
    the first of about `first` bytes, each next one twice as large up to `size`, so that
    the first decisions come out after a few lines.  From a pipe or a terminal, a block
    holds what is already there (at least one line) rather than wait for more, so that
    the decisions of a slow producer's lines are not held back."""
    waiting = _waiting(source)
    readline = source.readline
    want = min(first, size)
    while True:
        if waiting is None:
            block = source.read(want)
        else:
            parts = [source.read1(want)]  # type: ignore[attr-defined]
            got = len(parts[0])
            while 0 < got < want and waiting():
                more = source.read1(want - got)  # type: ignore[attr-defined]
                if not more:
                    break
                parts.append(more)
                got += len(more)
            block = b"".join(parts)
        if not block:
            return
        if not block.endswith(b"\n"):
            block += readline()
        yield block
        want = min(want * 2, size)


def _waiting(source: IO[bytes]) -> Callable[[], bool] | None:
    """For a pipe, a socket or a terminal: whether more input is there to be read without
    waiting; None for a regular file (or anything without a descriptor), read whole."""
    try:
        fd = source.fileno()
        if stat.S_ISREG(os.fstat(fd).st_mode) or not hasattr(source, "read1"):
            return None
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None
    import select

    return lambda: bool(select.select([fd], [], [], 0)[0])
