"""A run with accumulators across worker processes (`decide --jobs N` on France): the
keys split by a hash of their bytes (`key_owner`), each worker holding the ledgers of
its own keys.

Every worker reads every block (`jobs.Pinned`) and decides, in order, the episodes whose
key it owns; an episode without a key (a person of its own) is decided by the worker its
place in the block gives.  Each returns its decisions and rejections by input line
number, which the command merges back into input order, and at the end the totals it
holds.  In a sorted run (lines out of (date, id) order) a worker drops the totals of past
years as one process does, and keeps them for the state file when one is written.  The
state file lists its totals sorted (accumulator, key, period), so the output, the
rejections, the summary and the state file are the same byte for byte whatever the
number of processes.
"""

from __future__ import annotations

import io
from array import array
from collections.abc import Callable, Iterator, Mapping
from itertools import chain, islice
from typing import TYPE_CHECKING, Any

from parcours.runtime import (Decision, DecisionWriter, EpisodeError, Ledger, Rejection,
                              key_owner, key_reader, slot_owner)
from parcours.runtime import decided as outcomes

if TYPE_CHECKING:
    from .jobs import Tally

# What a worker gives back for a block: its decisions (in key order: their places in the
# block as an array of ints, their texts joined by newlines; sorted: (input line, text)
# pairs), its rejections as (input line, text), the counts decided and rejected, the
# block's tally state, the lines the block holds.
Result = tuple[Any, Any, list[tuple[int, str]], int, int, object, int]


class Partition:
    """The work of each worker on one run (see the module's docstring)."""

    def __init__(self, function: Callable[[Mapping[str, object]], Decision], ledger: Ledger,
                 tally: Callable[[], Tally] | None, keep_state: bool = False) -> None:
        self.ledger, self.tally = ledger, tally
        self.keep_state = keep_state  # the totals go back to the command (`--state-out`)
        self.decide = ledger.decider(function)
        self.key = key_reader(ledger.specs[0].keys)
        self.writer: DecisionWriter | None = None
        self.sorted_decide = ledger.sorted_decider(function)
        self.dropped: list[tuple[Any, Any]] = []  # a sorted run: the totals this worker dropped

    def _mine(self, index: int, jobs: int, lines: list[bytes]) -> list[bool]:
        count, key, owner = len(lines), self.key, key_owner
        return [index == (owner(k, jobs) if (k := key(raw)) is not None else p * jobs // count)
                for p, raw in enumerate(lines)]

    def _decide(self, decide: Callable[[Mapping[str, object]], Decision], index: int,
                jobs: int, lines: list[bytes], first: int, numbers: list[int] | None
                ) -> tuple[list[int], list[str], list[tuple[int, str]], object, int]:
        """`decide` on the lines of the block that worker `index` owns, runs of them at a
        time: (the places in the block of the decisions, their texts, the rejections by
        input line, the tally's state, the lines); `numbers`: the input line of each line
        (a sorted run), else `first` onwards."""
        mine = self._mine(index, jobs, lines) if jobs > 1 else [True] * len(lines)
        if self.writer is None:
            self.writer = DecisionWriter()
        encode, count = self.writer, len(lines)
        counted = self.tally() if self.tally is not None else None
        places: list[int] = []
        texts: list[str] = []
        rejections: list[tuple[int, str]] = []
        start = 0
        while start < count:
            if not mine[start]:
                start += 1
                continue
            end = start + 1
            while end < count and mine[end]:
                end += 1
            for number, outcome in outcomes(decide, lines[start:end], first + start):
                if isinstance(outcome, EpisodeError):
                    if numbers is not None:
                        number = numbers[number - first]
                    rejections.append((number, str(Rejection(number, outcome))))
                    continue
                if counted is not None:
                    counted.add(outcome)
                places.append(number - first)
                texts.append(encode(outcome))
            start = end
        return places, texts, rejections, counted.state() if counted is not None else None, \
            count

    # ---- lines in key order --------------------------------------------------------
    def work(self, index: int, jobs: int, part: tuple[int, bytes]) -> Result:
        """The block `part` (its first line number, its lines) in key order."""
        first, data = part
        places, texts, rejections, state, count = self._decide(
            self.decide, index, jobs, io.BytesIO(data).readlines(), first, None)
        return (array("i", places).tobytes(), "\n".join(texts), rejections, len(texts),
                len(rejections), state, count)

    def finish(self, index: int, jobs: int) -> list[tuple[Any, Any]]:
        """The totals of the slots this worker owns, dropped (a sorted run, see `fork`) or
        held (every worker holds the ones loaded before the fork; each gives back its
        own), when the state is written."""
        if not self.keep_state:
            return []
        return [(slot, amount) for slot, amount in chain(self.dropped, self.ledger.used.items())
                if slot_owner(slot, jobs) == index]

    # ---- sorted lines --------------------------------------------------------------
    def work_sorted(self, index: int, jobs: int,
                    part: tuple[int, list[bytes], list[int]]) -> Result:
        """The block `part` (its place in the sorted run, its lines, their input line
        numbers) of a sorted run."""
        first, lines, numbers = part
        places, texts, rejections, state, count = self._decide(
            self.sorted_decide, index, jobs, lines, first, numbers)
        return ([(numbers[p], text) for p, text in zip(places, texts)], None, rejections,
                len(texts), len(rejections), state, count)

    def fork(self) -> None:
        """Before the workers are forked: a worker keeps what it drops when the state is
        written."""
        self.ledger.retired = (lambda slot, amount: self.dropped.append((slot, amount))) \
            if self.keep_state else None

    def restore(self, held: list[list[tuple[Any, Any]]]) -> None:
        """The workers' totals back in this process's ledger (for the state file)."""
        self.ledger.used = {slot: amount for part in held for slot, amount in part}


def sorted_parts(lines: Iterator[bytes], numbers: list[int], size: int
                 ) -> Iterator[tuple[int, list[bytes], list[int], int]]:
    """The sorted lines in blocks of `size`: (place of the first, lines, their input line
    numbers (`numbers[0]` as each line comes), their bytes)."""
    place = 1
    while True:
        chunk: list[bytes] = []
        where: list[int] = []
        length = 0
        for raw in islice(lines, size):
            chunk.append(raw)
            where.append(numbers[0])
            length += len(raw)
        if not chunk:
            return
        yield place, chunk, where, length
        place += len(chunk)
