"""The run of `parcours decide` on JSON Lines, shared by the click command (cli/decide.py)
and the console script's click-free short path (cli/entry.py): a stream through one
policy, in blocks on `jobs` cores, or through the ledgers of its accumulators."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, NamedTuple, cast

from parcours.runtime import DEFAULT_BUFFER, Block, Decision, Encoded, specs_of

from .accumulate import Run as Ordered
from .accumulate import decide_ordered, wrap, write_state
from .common import open_in, open_out
from .jobs import BinaryOut, Run, decide_blocks, regular_fd
from .progress import progress_for

if TYPE_CHECKING:
    import types

    from .jobs import Tally


class _Keyed(Exception):
    """A block decided as if no line had a key holds one (see `decide_lines`)."""


class Columnar(NamedTuple):
    """The columnar engine's run over JSON Lines (`--engine columnar`)."""

    # the work on a block (bytes, its first line's number, fast): its decisions, and
    # whether a line of it has an accumulator's key with the block's tally's state
    work: Callable[[bytes, int, bool], tuple[Encoded, tuple[bool, object]]]
    size: int  # the bytes of a full block
    newlines: Callable[[bytes], int]  # how it counts a block's newlines

    def run(self, jobs: int) -> Run:
        return Run(self.work, jobs, size=self.size, newlines=self.newlines)


def decide_lines(module: types.ModuleType, function: Callable[[Mapping[str, object]], Decision],
                 input_path: str, output_path: str, quiet: bool, jobs: int,
                 state_in: str | None = None, state_out: str | None = None,
                 sort_buffer: int = DEFAULT_BUFFER, totals: Tally | None = None,
                 tally: Callable[[], Tally] | None = None,
                 columnar: Columnar | None = None) -> tuple[int, int]:
    """Decide every episode of `input_path` into `output_path`, rejections on stderr, a
    progress line unless `quiet`; `totals` (with `tally`, its kind) sums the decisions for
    `--summary`.  With `columnar` (`--engine columnar`: its work on a block, and the
    blocks' size), the blocks are decided by the columnar engine; a run through the ledgers of
    accumulators still goes episode by episode (`function`), and between two regular
    files a policy with accumulators is first decided as if no line had a key (see
    below).  (decided, rejected)."""
    ordered: Ordered | None = None
    decided = rejected = 0
    with open_in(input_path) as source, open_out(output_path) as sink:
        progress = progress_for("deciding", quiet, source=source)
        # A worker's decisions come as bytes: written as they are, to the file or stdout.
        out = BinaryOut(sink, sys.stdout if output_path == "-" else None)

        guessed_states: list[object] = []  # the tallies of a guess, merged when it holds

        def emit(result: tuple[Block | Encoded, object]) -> None:
            nonlocal decided, rejected
            block, state = result
            if columnar is not None:
                keyed, state = cast(tuple[bool, object], state)
                if guessed and keyed:  # a key: the guess was wrong
                    raise _Keyed
            progress.reject(block.rejections)
            out.write(block.text)
            if state is not None and totals is not None:
                if guessed:
                    guessed_states.append(state)
                else:
                    totals.merge(state)
            decided += block.decided
            rejected += block.rejected
            progress.tick(block.decided + block.rejected)

        # The columnar engine finds an accumulator's keys as it decides: a run that can
        # start over (both files regular) is first decided as if no line had a key,
        # without the first pass that looks for them, and starts over through the ledger
        # at the first block with a key.  What it wrote before that block, decisions and
        # rejections of lines without keys, is what the ledger's run writes too.
        guessed = columnar is not None and bool(specs_of(module)) and state_in is None \
            and state_out is None and output_path != "-" and regular_fd(source) is not None \
            and regular_fd(cast(IO[str], sink)) is not None
        try:
            if guessed:
                assert columnar is not None
                try:
                    with columnar.run(jobs) as run:
                        run.run(source, emit)
                    for state in guessed_states:
                        assert totals is not None  # (a state is kept only for a tally)
                        totals.merge(state)
                    return decided, rejected
                except _Keyed:
                    guessed = False
                    progress.again(rejected)
                    decided = rejected = 0
                    cast(IO[str], sink).seek(0)  # a regular file (`regular_fd`)
                    cast(IO[str], sink).truncate()
                    out.flushed = False
                    source.seek(0)
            if specs_of(module):  # a key's episodes in order: split by key across the jobs
                ordered = wrap(module, function, source, progress, state_in, sort_buffer,
                               state_out is not None)
            if ordered is not None and not ordered.keyless:
                decided, rejected = decide_ordered(
                    ordered, sink.write, progress, totals.add if totals is not None else None,
                    jobs, tally, totals.merge if totals is not None else None)
            else:  # no accumulator, or no line with a key: blocks in any process
                lines = source if ordered is None else cast(IO[bytes], ordered.lines)
                work = Run(decide_blocks(function, tally), jobs,
                           decide_blocks(function, tally, encoded=True)) if columnar is None \
                    else columnar.run(jobs)
                with work as run:
                    run.run(lines, emit)
        finally:
            progress.clear()
    if ordered is not None:
        write_state(ordered, state_out)
    return decided, rejected
