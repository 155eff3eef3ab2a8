"""A batch on every core (`--jobs N`): blocks of whole lines to worker processes, their
decisions written back in input order, with a bounded number of blocks in flight.

The command decides the first `PARALLEL_BYTES` of the input itself (blocks that grow
from a few lines to `BLOCK_BYTES`, so that the first decisions come out at once); a
longer input's other blocks go to workers forked from the command then, so that each
holds the compiled module without loading it again and keeps one `DecisionWriter`.  At
most `WINDOW_PER_JOB` blocks a worker are read ahead, so that memory stays bounded
whatever the input's size; a worker leaves its block's decisions in memory shared with
the command (`_Arena`), and sends back only where they are.  `--jobs 1` and a system
without `fork` decide every block in the command's own process, through the same code; an
input of one block is read by the standard library's JSON decoder alone (importing
msgspec would cost more than it saves).
The output is the same byte for byte whatever the number of jobs.
"""

from __future__ import annotations

import gc
import io
import os
import stat
import sys
from collections import deque
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, NamedTuple, Protocol, Self

from parcours.runtime import (BLOCK_BYTES, Block, Decision, DecisionWriter, Encoded, blocks,
                              decide_block)

from ..files import OutputError

if TYPE_CHECKING:
    from concurrent.futures import Future

WINDOW_PER_JOB = 3  # blocks read ahead per worker
GC_THRESHOLD = 50_000  # allocations between two young collections during a batch
PARALLEL_BYTES = 1 << 20  # the input read before the workers start (a shorter one: no fork)


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


def _work(block: bytes | tuple[int, int], first: int, fast: bool, slot: int = -1) -> object:
    function: Callable[[bytes, int, bool], object] = _WORK["function"]
    if type(block) is tuple:  # (offset, length) in the input file: read here
        block = _pread(_WORK["fd"], *block)
    result = function(block, first, fast)  # type: ignore[arg-type]
    arena: _Arena | None = _WORK.get("arena")
    return result if arena is None or slot < 0 else arena.park(result, slot)


class _Parked(NamedTuple):
    """A worker's result whose decisions' bytes are in the arena's slot `slot`."""

    slot: int
    length: int
    result: tuple[Any, ...]  # with the Encoded's text left empty


class _Arena:
    """Memory shared with the workers (mapped before they are forked), a slot for each
    block in flight: a worker leaves its block's decisions' bytes there and the command
    reads them back, rather than their being pickled, sent through a pipe in pieces and
    unpickled (a copy fewer on each side, and no pipe's system calls for them)."""

    def __init__(self, slots: int, size: int) -> None:
        import mmap

        self.size = size
        self.memory = mmap.mmap(-1, slots * size)  # anonymous and shared
        self.free = deque(range(slots))

    def park(self, result: object, slot: int) -> object:
        """A result `(Encoded, ...)` with its bytes moved to `slot` (one that does not
        fit, or another kind of result, is sent as it is)."""
        if type(result) is not tuple or not result or type(result[0]) is not Encoded or \
                len(result[0].text) > self.size:
            return result
        text = result[0].text
        self.memory[slot * self.size:slot * self.size + len(text)] = text
        return _Parked(slot, len(text), (result[0]._replace(text=b""), *result[1:]))

    def unpark(self, result: object) -> object:
        """A worker's result as it was made, its bytes read back from their slot."""
        if type(result) is not _Parked:
            return result
        start = result.slot * self.size
        encoded = result.result[0]._replace(text=self.memory[start:start + result.length])
        return (encoded, *result.result[1:])


def _pread(fd: int, offset: int, length: int) -> bytes:
    """`length` bytes of the file `fd` from `offset` (a descriptor inherited by the fork;
    `os.pread` leaves the command's position in it alone)."""
    data = os.pread(fd, length, offset)
    if len(data) == length:
        return data
    parts = [data]
    got = len(data)
    while got < length:
        more = os.pread(fd, length - got, offset + got)
        if not more:
            raise OSError(f"the input file shrank while it was read ({got} of {length} "
                          f"bytes at offset {offset})")
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def regular_fd(stream: IO[bytes] | IO[str]) -> int | None:
    """The descriptor of `stream` when it is a regular file (blocks of an input can be read
    by offset in the workers; a file can be read or written again from its start), else
    None (a pipe, a terminal: an input's blocks' bytes are sent)."""
    try:
        fd = stream.fileno()
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None


def decide_blocks(decide: Callable[..., Decision], tally: Callable[[], Tally] | None,
                  encoded: bool = False
                  ) -> Callable[[bytes, int, bool], tuple[Block | Encoded, object]]:
    """The work on one block for `parcours decide`: its decisions (one `DecisionWriter`
    a process) and, when a tally is kept, the block's tally's state.  `encoded`: the
    decisions as UTF-8 bytes (an `Encoded`), the work of a worker process."""
    writers: list[DecisionWriter] = []

    def work(block: bytes, first: int, fast: bool) -> tuple[Block | Encoded, object]:
        if not writers:
            writers.append(DecisionWriter())
        counted = tally() if tally is not None else None
        result = decide_block(decide, writers[0], block, first,
                              counted.add if counted is not None else None, fast)
        state = counted.state() if counted is not None else None
        if encoded:
            return Encoded(result.text.encode(), *result[1:]), state
        return result, state

    return work


class BinaryOut:
    """Writes text, or UTF-8 bytes (a worker's `Encoded` decisions), to `sink` in order:
    bytes go to the binary layer under it (its text flushed first), so that the command
    never decodes them: an output file's own, or that of `stream` (standard output, whose
    write errors are then `OutputError`s naming `name`); without one, their text."""

    def __init__(self, sink: Any, stream: Any = None, name: str = "standard output") -> None:
        self.sink, self.name, self.flushed = sink, name, False
        self.buffer = getattr(sink, "buffer", None)
        if self.buffer is None and stream is not None:
            self.buffer = getattr(stream, "buffer", None)

    def write(self, text: str | bytes) -> None:
        if type(text) is str:
            self.sink.write(text)
            self.flushed = False
        elif self.buffer is None:
            self.sink.write(text.decode())  # type: ignore[union-attr]
        else:
            if not self.flushed:
                self.sink.flush()
                self.flushed = True
            try:
                self.buffer.write(text)
            except OutputError:
                raise
            except OSError as exc:
                raise OutputError(self.name, exc.strerror or str(exc), exc.errno) from None


class Run:
    """`function(block, first line number, fast)` on each block of `source` (JSON Lines,
    bytes), in `jobs` processes; `emit` gets each block's result, in input order."""

    def __init__(self, function: Callable[[bytes, int, bool], Any], jobs: int,
                 remote: Callable[[bytes, int, bool], Any] | None = None,
                 size: int = BLOCK_BYTES,
                 newlines: Callable[[bytes], int] | None = None) -> None:
        """`remote`: the function workers run (by default `function`), e.g. one whose
        results are cheaper to send back; `size`: the bytes of a full block; `newlines`:
        how to count a block's newlines, which numbers the next block's lines (by
        default `bytes.count`)."""
        self.function, self.jobs, self.size = function, max(1, jobs), size
        self.newlines = newlines or _newlines
        self.remote = remote if remote is not None else function

    def __enter__(self) -> Self:
        _WORK.clear()
        _WORK["function"] = self.remote
        self._threshold = _batch_gc()
        return self

    def __exit__(self, *exc: object) -> None:
        _WORK.clear()
        _restore_gc(self._threshold)

    def run(self, source: IO[bytes], emit: Callable[[Any], object]) -> None:
        parts = blocks(source, self.size)
        block = next(parts, None)
        if block is None:
            return
        following = next(parts, None)
        # An input of one block (a few lines) is read faster by the standard library than
        # msgspec takes to import: the C reader is for longer inputs.
        emit(self.function(block, 1, following is not None))
        start, seen = 1 + self.newlines(block), len(block)
        rest = _chain(following, parts) if following is not None else parts
        for block in rest:
            if self.jobs > 1 and seen >= PARALLEL_BYTES and can_fork():
                fd = regular_fd(source)
                offset = source.tell() - len(block) if fd is not None else 0
                self._parallel(_chain(block, rest), start, emit, fd, offset)
                return
            emit(self.function(block, start, True))
            start += self.newlines(block)
            seen += len(block)

    def _parallel(self, parts: Iterator[bytes], start: int, emit: Callable[[Any], object],
                  fd: int | None = None, offset: int = 0) -> None:
        """The blocks of `parts` in worker processes; from a regular file (`fd`, the
        first block at `offset`) each worker reads its block itself, by offset and
        length, rather than receive its bytes through a pipe."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        sys.stdout.flush()
        sys.stderr.flush()
        window = WINDOW_PER_JOB * self.jobs
        _WORK["fd"] = fd
        # four times a block: what the decisions of a full block take, with room to spare
        arena = _WORK["arena"] = _Arena(window, 4 * self.size + (64 << 10))
        pending: deque[tuple[Future[Any], int]] = deque()
        with ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_quiet_worker) as pool:
            try:
                _wide(pool._call_queue._writer.fileno(),  # type: ignore[attr-defined]
                      pool._result_queue._writer.fileno())  # type: ignore[attr-defined]
            except AttributeError:  # another implementation of the pool: its own pipes
                pass

            def done() -> None:
                future, slot = pending.popleft()
                emit(arena.unpark(future.result()))
                arena.free.append(slot)

            try:
                for block in parts:
                    size = len(block)
                    slot = arena.free.popleft()
                    pending.append((pool.submit(_work, block if fd is None else (offset, size),
                                                start, True, slot), slot))
                    start += self.newlines(block)
                    offset += size
                    if len(pending) >= window:
                        done()
                while pending:
                    done()
            finally:
                for future, _ in pending:
                    future.cancel()


def _newlines(block: bytes) -> int:
    return block.count(b"\n")


def _batch_gc() -> tuple[int, ...]:
    """A batch makes many short-lived objects and no cycles of its own: the cycle
    collector runs less often, and never again over what is loaded by now (the policy,
    the command), which forked workers then share without copying.  The thresholds
    before, for `_restore_gc`."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], GC_THRESHOLD), *threshold[1:])
    return threshold


def _restore_gc(threshold: tuple[int, ...]) -> None:
    gc.set_threshold(*threshold)
    gc.unfreeze()


def can_fork() -> bool:
    """Whether workers can be forked here (they are not on every system)."""
    import multiprocessing  # only for a run long enough to fork: start-up stays short

    return "fork" in multiprocessing.get_all_start_methods()


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


class Pinned:
    """Work that keeps state across blocks in each worker (a run with accumulators: each
    worker holds the ledgers of its keys): every block goes to every one of `jobs` worker
    processes, forked once, which reads it in input order; `work(index, jobs, block)`
    decides the part of the block that worker `index` owns; `emit` gets the list of the
    workers' results for each block, in input order.  At the end `finish(index, jobs)` in
    each worker gives what it holds (its ledgers' totals), returned in worker order.

    The workers are forked when `run` starts, from the command's state then (a ledger that
    holds the totals so far: each worker goes on from it).  Blocks go through a queue per
    worker (written by a thread, so that the command never waits on a worker that waits on
    it) and at most `WINDOW_PER_JOB` blocks a worker are in flight."""

    def __init__(self, work: Callable[[int, int, Any], Any],
                 finish: Callable[[int, int], Any], jobs: int) -> None:
        self.work, self.finish, self.jobs = work, finish, max(1, jobs)

    def run(self, parts: Iterator[Any], emit: Callable[[list[Any]], object]) -> list[Any]:
        import multiprocessing

        sys.stdout.flush()
        sys.stderr.flush()
        _WORK.clear()
        _WORK["pinned"] = (self.work, self.finish)
        threshold = _batch_gc()
        context = multiprocessing.get_context("fork")
        queues, replies, workers = [], [], []
        try:
            for index in range(self.jobs):
                queue = context.Queue()
                receive, send = context.Pipe(duplex=False)
                _wide(queue._writer.fileno(), send.fileno())  # type: ignore[attr-defined]
                worker = context.Process(target=_pinned, args=(index, self.jobs, queue, send),
                                         daemon=True)
                worker.start()
                send.close()
                queues.append(queue)
                replies.append(receive)
                workers.append(worker)
            in_flight = 0
            for part in parts:
                for queue in queues:
                    queue.put(part)
                in_flight += 1
                if in_flight >= WINDOW_PER_JOB * self.jobs:
                    emit([_reply(r) for r in replies])
                    in_flight -= 1
            for _ in range(in_flight):
                emit([_reply(r) for r in replies])
            for queue in queues:
                queue.put(None)
            held = [_reply(r) for r in replies]
            for worker in workers:
                worker.join()
            return held
        finally:
            for worker in workers:
                if worker.is_alive():
                    worker.terminate()
            for queue in queues:
                queue.close()
                queue.cancel_join_thread()
            _WORK.clear()
            _restore_gc(threshold)


def _wide(*pipes: int) -> None:
    """Pipes that hold a whole block (Linux: 64 KiB by default), so that a block goes in
    one write rather than in turns with the reader."""
    try:
        import fcntl

        for fd in pipes:
            fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


class _Failed:
    """What a pinned worker sends back when its work raised."""

    def __init__(self, text: str) -> None:
        self.text = text


def _pinned(index: int, jobs: int, queue: Any, reply: Any) -> None:
    _quiet_worker()
    work, finish = _WORK["pinned"]
    try:
        while (part := queue.get()) is not None:
            reply.send(work(index, jobs, part))
        reply.send(finish(index, jobs))
    except BaseException as exc:  # the command reports it
        reply.send(_Failed(f"{type(exc).__name__}: {exc}"))
    finally:
        reply.close()


def _reply(receive: Any) -> Any:
    try:
        result = receive.recv()
    except EOFError:
        raise WorkerError("a worker process ended before its work was done") from None
    if isinstance(result, _Failed):
        raise WorkerError(f"a worker process failed: {result.text}")
    return result


class WorkerError(RuntimeError):
    """A pinned worker that failed or ended: the command exits 2 with this message."""
