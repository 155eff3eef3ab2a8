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
from typing import IO, NamedTuple

from json.encoder import encode_basestring

from .decision import Decision, PolicyMeta
from .money import format_money, format_rate
from .episode import episode_id
from .errors import EpisodeError, PolicyGap, one_line, shown
from .lines import _keys, fast_decoder, json_safe, read_episodes
from .record import Frozen, Record

Decide = Callable[[Mapping[str, object]], Decision]


class BatchStats(Record):
    __slots__ = ("decided", "rejected")
    decided: int
    rejected: int

    def __init__(self, decided: int = 0, rejected: int = 0) -> None:
        self.decided = decided
        self.rejected = rejected


class Rejection(Frozen):
    __slots__ = ("line", "error")
    line: int
    error: EpisodeError

    def __init__(self, line: int, error: EpisodeError) -> None:
        self._fill(line, error)

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
BLOCK_BYTES = 1 << 18  # the lines of about this many bytes make one block (`blocks`)
FIRST_BLOCK_BYTES = 1 << 13  # the first block: its decisions come out first
MAX_CACHED_TAILS = 1 << 14  # decision texts (after the id) a writer keeps, and paths per policy


_Parts = tuple[tuple[str, int, Callable[[object], str] | None], ...]
# per policy: the policy, its parts, the places of an amount, whether every output is an
# amount or a rate, and per path the texts around the values and the tails by values' texts
_Around = tuple[str, str, dict[tuple[str, ...], str]]
_Cached = tuple[PolicyMeta, _Parts, int, bool, dict[tuple[object, ...], _Around]]


class DecisionWriter:
    """`decision_json`, byte for byte, with the parts that repeat across decisions cached.

    Per instance (one stream), never global: per policy, each declared output's
    `,"name":` prefix and kind; per path (the rule's and the branches' indexes, with the
    pathway and the rule), the text before the first output and the text after the last
    (the sources).  An amount or a rate is written from `str` of its Decimal when that
    already has the places it is written with (the usual case), else formatted.  When
    every output is an amount or a rate, the whole text after the id is kept per path
    and per `str` of the values (up to `MAX_CACHED_TAILS` texts): equal texts of the
    values write alike, and unlike equal values (`0.00` and `-0.00`), they never write
    apart; a Decimal is never hashed, which costs several times its `str`.  Decisions
    with a trace or overrides take the plain route.
    """

    def __init__(self) -> None:
        self._policies: dict[int, _Cached] = {}  # by id, the policy kept to check it
        self._tails = 0  # how many tails are kept, for every policy and path

    def _policy(self, policy: PolicyMeta) -> _Cached:
        parts: list[tuple[str, int, Callable[[object], str] | None]] = []
        for spec in policy.outputs:
            prefix = json_safe("," + encode_basestring(spec.name) + ":")
            if spec.kind == "money":
                parts.append((prefix + '"', _MONEY, None))
            elif spec.kind == "rate":
                parts.append((prefix + '"', _RATE, None))
            else:
                parts.append((prefix, _OTHER, _other_text(policy, spec.kind)))
        plain = all(kind != _OTHER for _, kind, _ in parts)
        found: _Cached = (policy, tuple(parts), policy.decimals, plain, {})
        self._policies[id(policy)] = found
        return found

    @staticmethod
    def _around(decision: Decision) -> _Around:
        """The text between the id and the first output, the text after the last, and
        an empty memo of tails."""
        policy = decision.policy
        before = json_safe(',"policy":' + encode_basestring(policy.id) + ',"policy_version":'
                           + encode_basestring(policy.version) + ',"pathway":'
                           + encode_basestring(decision.pathway) + ',"rule":'
                           + encode_basestring(decision.rule) + ',"currency":'
                           + encode_basestring(policy.currency))
        after = ',"sources":' + json_safe(json.dumps(list(decision.sources), ensure_ascii=False,
                                                     separators=(",", ":"))) + "}"
        return before, after, {}

    def __call__(self, decision: Decision) -> str:
        if decision.trace is not None or decision.overrides:
            return decision_json(decision)
        ident = decision.id
        head = ('{"id":' + json_safe(encode_basestring(ident)) if type(ident) is str
                else '{"id":' + json_safe(json.dumps(ident, ensure_ascii=False)))
        policy = decision.policy
        cached = self._policies.get(id(policy))
        if cached is None or cached[0] is not policy:
            cached = self._policy(policy)
        _, parts, decimals, plain, paths = cached
        key = (decision._path, decision.pathway, decision.rule)
        around = paths.get(key)
        if around is None:
            around = self._around(decision)
            if len(paths) < MAX_CACHED_TAILS:
                paths[key] = around
        values = decision.values
        if not plain:
            return head + self._tail(around, parts, decimals, values)
        texts = tuple(map(str, values))
        tail = around[2].get(texts)
        if tail is None:
            tail = self._tail(around, parts, decimals, values)
            if self._tails < MAX_CACHED_TAILS:
                around[2][texts] = tail
                self._tails += 1
        return head + tail

    @staticmethod
    def _tail(around: _Around, parts: _Parts, decimals: int, values: tuple[object, ...]) -> str:
        """Everything after the id."""
        out = around[0]
        for (prefix, kind, other), value in zip(parts, values):
            if kind == _OTHER:
                assert other is not None
                out += prefix + other(value)
                continue
            # `str` has the places when the character before the last `decimals` (two for
            # a rate) is the point: plain notation with exactly that many decimals, which is
            # what formatting gives (`-0.00` included); an exponent form never has it.
            text = str(value)
            if kind == _MONEY:
                if not decimals or text[-decimals - 1:-decimals] != ".":
                    text = format_money(value, decimals)  # type: ignore[arg-type]
            elif text[-3:-2] != ".":
                text = format_rate(value)  # type: ignore[arg-type]
            out += prefix + text + '"'
        return out + around[1]


def decided(decide: Decide, lines: Iterable[bytes | str], first: int = 1, fast: bool = True
            ) -> Iterator[tuple[int, Decision | EpisodeError]]:
    """(line number, decision or the error that rejects the episode) for each episode of
    `lines`, the first numbered `first`; what an episode's decision raises costs only it."""
    for number, item in read_episodes(lines, fast, first):
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
                item = next((item for _, item in read_episodes((raw,), False, number)), BLANK)
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


class Encoded(NamedTuple):
    """A `Block` with its decisions' text as UTF-8 bytes (the work of a worker process, or
    of the columnar engine): written to a binary output as it is, never decoded again."""

    text: bytes
    rejections: list[str]
    decided: int
    rejected: int


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
