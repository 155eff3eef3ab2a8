"""A run with accumulators (`decide`, `explain`): episodes in the ledger's order, the
ledger threaded through `decide`, a state to start from and a state to write.

Without accumulators nothing here runs: `decide` goes through `cli/jobs.py`.
"""

from __future__ import annotations

import functools
import sys
import types
from typing import TYPE_CHECKING
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice
from dataclasses import dataclass, field

from parcours.runtime import (DEFAULT_BUFFER, AccumulatorSpec, Decision, DecisionWriter,
                              InputOrder, Ledger, Rejection, StateError, decide_block,
                              decide_stream, ledger_lines, specs_of, state_line)

from .common import buffer_option as buffer_option  # the options live in `common`, which
from .common import state_in_option as state_in_option  # imports click only when a command
from .common import state_out_option as state_out_option  # is built: this module needs none
from .common import fail, open_out

if TYPE_CHECKING:
    from ..tools.accumulate import Bound
from .progress import Progress

@dataclass(slots=True)
class Run:
    """One stream through one policy, with its ledger when the policy has accumulators."""

    lines: Iterable[bytes]
    decide: Callable[[Mapping[str, object]], Decision]
    ledger: Ledger | None = None
    numbers: list[int] = field(default_factory=lambda: [0])
    retired: list[str] = field(default_factory=list)
    buffer: int = DEFAULT_BUFFER
    order: InputOrder | None = None
    sorted: bool = False  # the run goes through a sort (its lines were not in key order)

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
            for text in self.order:
                write(text)

    def state(self) -> Iterator[str]:
        yield from self.retired
        if self.ledger is not None:
            yield from self.ledger.state_lines()


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
         source: Iterable[bytes], state_in: str | None = None, buffer: int = DEFAULT_BUFFER,
         keep_state: bool = False, progress: Progress | None = None) -> Run:
    """The run for `module`, which has accumulators: through a ledger, in its order.

    The lines come in the ledger's order (`ledger_lines`: as they come when each key's
    episodes already come in (date, id) order, else sorted, and then the decisions are
    written back in input order).  The input is read twice (a regular file from its start
    again, anything else from a temporary copy)."""
    specs = specs_of(module)
    ledger = load_ledger(specs, state_in)
    if progress is not None:
        progress.first_pass()
    numbers = [0]
    lines, sorted_ = ledger_lines(source, specs, buffer, numbers,
                                  progress.counted if progress is not None else None)
    if sorted_:
        run = Run(lines, ledger.sorted_decider(function), ledger, numbers, buffer=buffer,
                  sorted=True)
        if keep_state:
            ledger.retired = lambda slot, amount: run.retired.append(state_line(slot, amount))
    else:  # decide as the lines come: the same decisions as in sorted order
        run = Run(lines, functools.partial(ledger.decide, function, copy=False), ledger,
                  numbers, buffer=buffer)
    if progress is not None:  # in order, the caller ticks as it decides (`in_blocks`)
        phased_lines = phased(run.lines, run.numbers, progress.restart)
        run.lines = progress.counted(phased_lines) if run.sorted else phased_lines
    return run


BLOCK_LINES = 512  # the most lines a block holds, in a run with accumulators


def decide_ordered(run: Run, write: Callable[[str], object], progress: Progress,
                   observe: Callable[[Decision], object] | None) -> tuple[int, int]:
    """Decide `run` (see `wrap`), writing decisions in input order and reporting rejections
    on stderr in input order too; (decided, rejected)."""
    def report(rejection: object) -> None:
        progress.clear()
        sys.stderr.write(f"rejected: {rejection}\n")

    if not run.sorted:
        return in_blocks(run.decide, run.lines, write, progress, observe)
    kept: list[Rejection] = []  # decisions and rejections kept by input line to the end
    stats = decide_stream(run.decide, run.lines, run.writer(write), run.reject(kept.append),
                          observe)
    run.finish(write)
    for rejection in sorted(kept, key=lambda r: r.line):
        report(rejection)
    return stats.decided, stats.rejected


def in_blocks(decide: Callable[[Mapping[str, object]], Decision], lines: Iterable[bytes],
              write: Callable[[str], object], progress: Progress,
              observe: Callable[[Decision], object] | None) -> tuple[int, int]:
    """Decide `lines` in this process, in order, a block at a time (`decide_block`: the
    same reader and writer as a run without accumulators); (decided, rejected).  Blocks
    grow from a few lines, so that the first decisions come out at once."""
    writer = DecisionWriter()
    decided = rejected = 0
    first, size = 1, 8
    lines = iter(lines)
    while chunk := list(islice(lines, size)):
        fast = first > 1 or len(chunk) == size  # not for a whole input of a few lines:
        size = min(2 * size, BLOCK_LINES)  # the standard library reads it before msgspec imports
        block = decide_block(decide, writer, b"".join(chunk), first, observe, fast)
        if block.rejections:
            progress.clear()
            sys.stderr.write("".join(f"rejected: {text}\n" for text in block.rejections))
        write(block.text)
        decided, rejected = decided + block.decided, rejected + block.rejected
        first += len(chunk)
        progress.tick(len(chunk))
    return decided, rejected


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
