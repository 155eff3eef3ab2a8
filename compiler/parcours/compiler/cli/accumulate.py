"""A run with accumulators (`decide`, `explain`): episodes in the ledger's order, the
ledger threaded through `decide`, a state to start from and a state to write.

Without accumulators nothing here runs: `decide` goes through `cli/jobs.py`; neither does
a run none of whose lines has a key.  With `--jobs N` the keys are split across N
worker processes (`cli/partition.py`).
"""

from __future__ import annotations

import io
import types
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import chain, islice
from typing import IO, TYPE_CHECKING, Any, cast

from parcours.runtime import (DEFAULT_BUFFER, AccumulatorSpec, Decision, DecisionWriter,
                              InputOrder, Ledger, Record, Rejection, StateError, blocks,
                              decide_block, decide_stream, ledger_lines, lines_in, specs_of,
                              state_line)

from .common import fail, open_out
from .partition import Partition, sorted_parts

if TYPE_CHECKING:
    from decimal import Decimal

    from parcours.runtime import Slot

    from ..tools.accumulate import Bound
    from .jobs import Pinned, Tally
    from .progress import Progress


class Run(Record):
    """One stream through one policy, with its ledger when the policy has accumulators."""

    __slots__ = ("lines", "decide", "ledger", "numbers", "retired", "buffer", "order", "sorted",
                 "keyless", "function", "keep_state")
    lines: Iterable[bytes]
    decide: Callable[[Mapping[str, object]], Decision]
    ledger: Ledger | None
    numbers: list[int]
    retired: list[tuple[Slot, Decimal]]  # dropped totals
    buffer: int
    order: InputOrder | None
    sorted: bool  # the run goes through a sort (its lines were not in key order)
    keyless: bool  # no line has a key: the ledger reads and records nothing
    function: Callable[[Mapping[str, object]], Decision] | None  # the policy's own
    keep_state: bool  # the state is written at the end (`--state-out`)

    def __init__(self, lines: Iterable[bytes], decide: Callable[[Mapping[str, object]], Decision],
                 ledger: Ledger | None = None, numbers: list[int] | None = None,
                 retired: list[tuple[Slot, Decimal]] | None = None,
                 buffer: int = DEFAULT_BUFFER, order: InputOrder | None = None,
                 sorted: bool = False, keyless: bool = False,
                 function: Callable[[Mapping[str, object]], Decision] | None = None,
                 keep_state: bool = False) -> None:
        self.lines = lines
        self.decide = decide
        self.ledger = ledger
        self.numbers = [0] if numbers is None else numbers
        self.retired = [] if retired is None else retired
        self.buffer = buffer
        self.order = order
        self.sorted = sorted
        self.keyless = keyless
        self.function = function
        self.keep_state = keep_state

    def reject(self, report: Callable[[Rejection], object]) -> Callable[[Rejection], object]:
        """Rejections name the line of the input, not the line's place in the sorted run."""
        if not self.sorted:
            return report
        return lambda r: report(Rejection(self.numbers[0], r.error))

    def writer(self, write: Callable[[str], object]) -> Callable[[str], object]:
        """Where decisions go: straight to `write`, or (with a ledger) kept by input line
        number until `finish`, so that they come out in input order."""
        if not self.sorted:
            return write
        self.order = InputOrder(self.buffer)
        order = self.order
        return lambda text: order.add(self.numbers[0], text)

    def finish(self, write: Callable[[str], object]) -> None:
        if self.order is not None:
            _write_all(self.order, write)

    def state(self) -> Iterator[str]:
        """The state file's lines: every total, dropped or held, sorted (accumulator, key,
        period), so that it is the same whatever the order or the split of the run."""
        held = self.ledger.used.items() if self.ledger is not None else ()
        for slot, amount in sorted(chain(self.retired, held)):
            yield state_line(slot, amount)


def _write_all(texts: Iterable[str], write: Callable[[str], object]) -> None:
    """`write` each of `texts`, a thousand at a time."""
    texts = iter(texts)
    while chunk := "".join(islice(texts, 1000)):
        write(chunk)


def phased(lines: Iterable[bytes], numbers: list[int],
           restart: Callable[[int], object] | None) -> Iterator[bytes]:
    """The sorted lines; before the first, `restart(how many)`: the progress line counts
    the second pass (deciding) after the first (reading and sorting)."""
    for raw in lines:
        if restart is not None:
            restart(numbers[1] if len(numbers) > 1 else 0)
            restart = None
        yield raw


def load_ledger(specs: tuple[AccumulatorSpec, ...], state_in: str | None) -> Ledger:
    """A ledger for `specs`, holding the totals of the state file `state_in` if one is
    given (a file that cannot be read, or breaks the format, exits 2 naming it)."""
    ledger = Ledger(specs)
    if state_in is not None:
        try:
            with open(state_in, encoding="utf-8") as handle:
                ledger.load_state(handle)
        except OSError as exc:
            fail(f"cannot read {state_in}: {exc.strerror}")
        except (StateError, UnicodeDecodeError) as exc:
            fail(f"{state_in}: {exc}")
    return ledger


def wrap(module: types.ModuleType, function: Callable[[Mapping[str, object]], Decision],
         source: Iterable[bytes], progress: Progress, state_in: str | None = None,
         buffer: int = DEFAULT_BUFFER, keep_state: bool = False) -> Run:
    """The run for `module`, which has accumulators: through a ledger, in its order.

    The lines come in the ledger's order (`ledger_lines`: as they come when each key's
    episodes already come in (date, id) order, else sorted, and then the decisions are
    written back in input order).  The input is read twice (a regular file from its start
    again, anything else from a temporary copy)."""
    specs = specs_of(module)
    ledger = load_ledger(specs, state_in)
    progress.first_pass()
    numbers, keyed = [0], [True]
    lines, sorted_ = ledger_lines(source, specs, buffer, numbers, None, keyed, progress.tick)
    if not keyed[0]:  # every episode a person of its own: the policy's function alone
        progress.restart(numbers[1] if len(numbers) > 1 else 0)
        return Run(lines, function, ledger, numbers, buffer=buffer, keyless=True)
    if sorted_:
        run = Run(lines, ledger.sorted_decider(function), ledger, numbers, buffer=buffer,
                  sorted=True)
        if keep_state:
            ledger.retired = lambda slot, amount: run.retired.append((slot, amount))
    else:  # decide as the lines come: the same decisions as in sorted order
        run = Run(lines, ledger.decider(function), ledger, numbers, buffer=buffer)
    run.function, run.keep_state = function, keep_state
    if run.sorted:  # in order, `decide_ordered` restarts the progress line
        run.lines = progress.counted(phased(run.lines, run.numbers, progress.restart))
    return run


BLOCK_LINES = 512  # the most lines a block holds, in a run with accumulators


def decide_ordered(run: Run, write: Callable[[str], object], progress: Progress,
                   observe: Callable[[Decision], object] | None, jobs: int = 1,
                   tally: Callable[[], Tally] | None = None,
                   merge: Callable[[object], object] | None = None) -> tuple[int, int]:
    """Decide `run` (see `wrap`), writing decisions in input order and reporting rejections
    on stderr in input order too; (decided, rejected).  In order, with `jobs` > 1 and one
    key for every accumulator, the keys are split across `jobs` worker processes
    (`Partition`): each block's `tally()` there, its state given to `merge` here."""
    def report(rejection: object) -> None:
        progress.reject((rejection,))

    split = None
    if jobs > 1 and run.ledger is not None and run.function is not None and \
            len({s.keys for s in run.ledger.specs}) == 1:
        split = Partition(run.function, run.ledger, tally if merge is not None else None,
                          run.keep_state)
    if not run.sorted:
        progress.restart(run.numbers[1] if len(run.numbers) > 1 else 0)
        return in_blocks(run.decide, run.lines, write, progress, observe, jobs, split, merge)
    if split is not None:
        return sorted_in_parts(run, split, jobs, write, report, observe, merge)
    kept: list[Rejection] = []  # decisions and rejections kept by input line to the end
    stats = decide_stream(run.decide, run.lines, run.writer(write), run.reject(kept.append),
                          observe)
    run.finish(write)
    for rejection in sorted(kept, key=lambda r: r.line):
        report(rejection)
    return stats.decided, stats.rejected


def in_blocks(decide: Callable[[Mapping[str, object]], Decision], lines: Iterable[bytes],
              write: Callable[[str], object], progress: Progress,
              observe: Callable[[Decision], object] | None, jobs: int = 1,
              split: Partition | None = None,
              merge: Callable[[object], object] | None = None) -> tuple[int, int]:
    """Decide `lines` in this process, in order, a block at a time (`decide_block`: the
    same reader and writer as a run without accumulators); (decided, rejected).  Blocks
    grow from a few lines, so that the first decisions come out at once.  With `split`,
    past the first `PARALLEL_BYTES` the rest goes to `jobs` worker processes, each deciding
    the episodes of its keys (`Partition`), forked then with the ledger as it stands."""
    from .jobs import PARALLEL_BYTES, Pinned, can_fork

    writer = DecisionWriter()
    decided = rejected = seen = 0
    first = 1
    chunks = blocks(cast(IO[bytes], lines)) if isinstance(lines, io.BufferedIOBase) else \
        (b"".join(chunk) for chunk in _chunks(iter(lines)))
    for data in chunks:
        count = lines_in(data)
        # an input of a few lines is read by the standard library: importing msgspec costs more
        fast = first > 1 or count >= 8
        block = decide_block(decide, writer, data, first, observe, fast)
        progress.reject(block.rejections)
        write(block.text)
        decided, rejected = decided + block.decided, rejected + block.rejected
        first += count
        progress.tick(count)
        seen += len(data)
        if split is not None and seen >= PARALLEL_BYTES and can_fork():
            counts = [decided, rejected]

            def emit(results: list[Any]) -> None:
                counts[0] += sum(r[3] for r in results)
                counts[1] += sum(r[4] for r in results)
                for result in results:
                    if result[5] is not None and merge is not None:
                        merge(result[5])
                rejections = sorted(chain.from_iterable(r[2] for r in results))
                progress.reject(text for _, text in rejections)
                write(_in_place(results))
                progress.tick(results[0][6])

            held = _pinned(Pinned(split.work, split.finish, jobs), _numbered(chunks, first), emit)
            if split.keep_state:
                split.restore(held)
            return counts[0], counts[1]
    return decided, rejected


def sorted_in_parts(run: Run, split: Partition, jobs: int, write: Callable[[str], object],
                    report: Callable[[object], object],
                    observe: Callable[[Decision], object] | None,
                    merge: Callable[[object], object] | None) -> tuple[int, int]:
    """A sorted run (see `wrap`) in blocks: the first `PARALLEL_BYTES` in this process, the
    rest split by key across `jobs` workers (`Partition`); decisions kept by input line
    (`InputOrder`) and written at the end, then the rejections, as in one process."""
    from .jobs import PARALLEL_BYTES, Pinned, can_fork

    order = InputOrder(run.buffer)
    kept: list[tuple[int, str]] = []
    counts = [0, 0]

    def emit(results: list[Any]) -> None:
        for texts, _, rejections, decided, rejected, state, _ in results:
            for number, text in texts:
                order.add(number, text + "\n")
            kept.extend(rejections)
            counts[0] += decided
            counts[1] += rejected
            if state is not None and merge is not None:
                merge(state)

    parts = sorted_parts(iter(run.lines), run.numbers, BLOCK_LINES)
    seen = 0
    for place, lines, numbers, length in parts:
        result = split.work_sorted(0, 1, (place, lines, numbers))
        emit([result])
        seen += length
        if seen >= PARALLEL_BYTES and can_fork():
            split.fork()
            held = _pinned(Pinned(split.work_sorted, split.finish, jobs),
                           ((p, l, n) for p, l, n, _ in parts), emit)
            split.restore(held)
            break
    _write_all(order, write)
    for _, text in sorted(kept):
        report(text)
    return counts[0], counts[1]


def _in_place(results: list[Any]) -> str:
    """The workers' decisions of one block in line order, each line followed by a
    newline: each text put at its place (C loops: `map`, `split`, `join`)."""
    out = [""] * results[0][6]
    for places, texts, _, decided, *_ in results:
        if decided:
            where = array("i")
            where.frombytes(places)
            deque(map(out.__setitem__, where.tolist(), texts.split("\n")), maxlen=0)
    text = "\n".join(filter(None, out))
    return text + "\n" if text else ""


def _pinned(pinned: Pinned, parts: Iterator[Any], emit: Callable[[list[Any]], object]
            ) -> list[Any]:
    """`pinned.run`; a worker that fails or ends early exits 2 with a message."""
    from .jobs import WorkerError

    try:
        return pinned.run(parts, emit)
    except WorkerError as exc:
        fail(str(exc))


def _chunks(lines: Iterator[bytes]) -> Iterator[list[bytes]]:
    size = 8
    while chunk := list(islice(lines, size)):
        size = min(2 * size, BLOCK_LINES)
        yield chunk


def _numbered(chunks: Iterator[bytes], first: int) -> Iterator[tuple[int, bytes]]:
    for data in chunks:
        yield first, data
        first += lines_in(data)


def write_state(run: Run, path: str | None) -> None:
    """The ledger's totals at the end of `run`, as a state file (`--state-out`)."""
    if path is None:
        return
    with open_out(path) as sink:
        for line in run.state():
            sink.write(line + "\n")


def explain_with_state(module: types.ModuleType,
                       function: Callable[[Mapping[str, object]], Decision],
                       episode: Mapping[str, object], state_in: str | None
                       ) -> tuple[Decision, list[Bound]]:
    """The decision of `episode` after the totals of `state_in` (else the episode's own
    `NAME_used`), and each accumulator before and after it (`tools.accumulate`)."""
    specs = specs_of(module)
    if not specs:
        if state_in is not None:
            fail("--state-in: the policy declares no accumulator")
        return function(episode), []
    from ..tools.accumulate import explain_one  # not at import: `decide` needs no tools

    ledger = load_ledger(specs, state_in) if state_in is not None else None
    return explain_one(module, function, episode, ledger)
