"""A batch on every core (`--jobs N`): blocks of whole lines to worker processes, their
decisions written back in input order, with a bounded number of blocks in flight.

The workers are forked from the command once the policy is loaded, so that each holds
the compiled module without loading it again; each keeps one `DecisionWriter`.  A block
is about `BLOCK_BYTES` of input; at most `WINDOW_PER_JOB` blocks a worker are read ahead,
so that memory stays bounded whatever the input's size.  An input that fits in one block,
`--jobs 1`, and a system without `fork` run in the command's own process, through the
same code; an input of one block is read by the standard library's JSON decoder alone
(importing msgspec would cost more than it saves).  The output is the same byte for byte whatever the number of jobs.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, Protocol, Self

from parcours.runtime import Block, Decision, DecisionWriter, blocks, decide_block

if TYPE_CHECKING:
    from concurrent.futures import Future

WINDOW_PER_JOB = 3  # blocks read ahead per worker


class Tally(Protocol):
    """What a run totals besides the decisions (the `--summary`): built afresh for each
    block in the worker, its `state()` sent back and merged in input order."""

    def add(self, decision: Decision) -> None: ...

    def state(self) -> object: ...

    def merge(self, state: object) -> None: ...


def cores() -> int:
    """The cores this process may run on (the default of `--jobs`)."""
    count = getattr(os, "process_cpu_count", None)
    if count is not None:
        return int(count() or 1)
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on every system
        return os.cpu_count() or 1


# What a worker works with: set in the command's process before the workers are forked.
_WORK: dict[str, Any] = {}


def _quiet_worker() -> None:
    """A worker never writes to the command's standard streams (a buffer copied by the fork
    would otherwise be written twice when the worker exits)."""
    devnull = open(os.devnull, "w")
    sys.stdout = sys.stderr = devnull


def _decide(block: bytes, first: int, fast: bool = True) -> tuple[Block, object]:
    work = _WORK
    encode = work.get("encode")
    if encode is None:
        encode = work["encode"] = DecisionWriter()
    make: Callable[[], Tally] | None = work["tally"]
    tally = make() if make is not None else None
    result = decide_block(work["decide"], encode, block, first,
                          tally.add if tally is not None else None, fast)
    return result, (tally.state() if tally is not None else None)


class Run:
    """Decide `source` (JSON Lines, bytes) block by block; `emit` gets each block's result
    in input order (and the tally's state, when a tally is kept)."""

    def __init__(self, decide: Callable[..., Decision], tally: Callable[[], Tally] | None,
                 jobs: int) -> None:
        self.decide, self.tally, self.jobs = decide, tally, max(1, jobs)

    def __enter__(self) -> Self:
        _WORK.clear()
        _WORK.update(decide=self.decide, tally=self.tally)
        return self

    def __exit__(self, *exc: object) -> None:
        _WORK.clear()

    def run(self, source: IO[bytes], emit: Callable[[Block, object], object]) -> None:
        parts = blocks(source)
        first_block = next(parts, None)
        if first_block is None:
            return
        second = next(parts, None)
        if self.jobs > 1 and second is not None:
            import multiprocessing  # only for a run that forks: start-up stays short

            parallel = "fork" in multiprocessing.get_all_start_methods()
        else:
            parallel = False
        if not parallel:
            # One block (a few hundred episodes) is read faster by the standard library
            # than msgspec takes to import: the C reader is for longer inputs.
            emit(*_decide(first_block, 1, second is not None))
            if second is not None:
                emit(*_decide(second, 1 + first_block.count(b"\n")))
                start = 1 + first_block.count(b"\n") + second.count(b"\n")
                for block in parts:
                    emit(*_decide(block, start))
                    start += block.count(b"\n")
            return
        self._parallel(_chain(first_block, second, parts), emit)

    def _parallel(self, parts: Iterator[bytes], emit: Callable[[Block, object], object]) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        sys.stdout.flush()
        sys.stderr.flush()
        window = WINDOW_PER_JOB * self.jobs
        pending: deque[Future[tuple[Block, object]]] = deque()
        with ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_quiet_worker) as pool:
            start = 1
            try:
                for block in parts:
                    pending.append(pool.submit(_decide, block, start))
                    start += block.count(b"\n")
                    if len(pending) >= window:
                        emit(*pending.popleft().result())
                while pending:
                    emit(*pending.popleft().result())
            finally:
                for future in pending:
                    future.cancel()


def _chain(first: bytes, second: bytes | None, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    if second is not None:
        yield second
    yield from rest
