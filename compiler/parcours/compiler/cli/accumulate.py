"""A run with accumulators (`decide`, `compare`): episodes in the ledger's order, the
ledger threaded through `decide`, a state to start from and a state to write.

Without accumulators nothing here runs: `wrap` hands back the stream and the function.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import click

from parcours.runtime import (DEFAULT_BUFFER, Decision, InputOrder, Ledger, Rejection, StateError,
                              sorted_lines, specs_of, state_line)

from .common import fail

state_in_option = click.option(
    "--state-in", "state_in", default=None, metavar="FILE",
    help="Accumulators: start from this state (JSON Lines: accumulator, key, period, used).")
state_out_option = click.option(
    "--state-out", "state_out", default=None, metavar="FILE",
    help="Accumulators: write the final state here (the same JSON Lines).")
buffer_option = click.option(
    "--sort-buffer", "sort_buffer", default=DEFAULT_BUFFER, show_default=True, type=click.IntRange(1),
    metavar="LINES", help="Accumulators: episodes sorted in memory before a run spills to disk.")


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

    def reject(self, report: Callable[[Rejection], object]) -> Callable[[Rejection], object]:
        """Rejections name the line of the input, not the line's place in the sorted run."""
        if self.ledger is None:
            return report
        return lambda r: report(Rejection(self.numbers[0], r.error))

    def writer(self, write: Callable[[str], object]) -> Callable[[str], object]:
        """Where decisions go: straight to `write`, or (with a ledger) kept by input line
        number until `finish`, so that they come out in input order."""
        if self.ledger is None:
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


def wrap(module: types.ModuleType, function: Callable[[Mapping[str, object]], Decision],
         lines: Iterable[bytes], state_in: str | None = None, buffer: int = DEFAULT_BUFFER,
         keep_state: bool = False) -> Run:
    """The run for `module`: in date order through a ledger when it has accumulators."""
    specs = specs_of(module)
    if not specs:
        if state_in is not None:
            fail("--state-in: the policy declares no accumulator")
        return Run(lines, function)
    ledger = Ledger(specs)
    if state_in is not None:
        try:
            with open(state_in, encoding="utf-8") as handle:
                ledger.load_state(handle)
        except OSError as exc:
            fail(f"cannot read {state_in}: {exc.strerror}")
        except (StateError, UnicodeDecodeError) as exc:
            fail(f"{state_in}: {exc}")
    run = Run(lines, ledger.sorted_decider(function), ledger, buffer=buffer)
    if keep_state:
        ledger.retired = lambda slot, amount: run.retired.append(state_line(slot, amount))
    run.lines = sorted_lines(lines, buffer, run.numbers)
    return run


def write_state(run: Run, path: str | None) -> None:
    if path is None:
        return
    if run.ledger is None:
        fail("--state-out: the policy declares no accumulator")
    from .common import open_out

    with open_out(path) as sink:
        for line in run.state():
            sink.write(line + "\n")


def cap_bound(module: types.ModuleType, function: Callable[[Mapping[str, object]], Decision],
              episode: Mapping[str, object]) -> list[tuple[str, Decimal, Decimal, Decimal | None,
                                                           bool]]:
    """For `explain`: each accumulator's (name, before, after, cap, bound); `bound` when the
    amount added is less than it would be with nothing used before."""
    specs = specs_of(module)
    out = []
    ledger = Ledger(specs)
    filled, steps = ledger.prepare(episode)
    decision = function(filled)
    ledger.record(decision, steps)
    for step in steps:
        fresh = dict(episode)
        fresh[step.spec.field] = "0"
        alone = function(fresh).values[decision.policy.index[step.spec.adds]]
        assert isinstance(alone, Decimal)
        day = episode.get("date")
        from datetime import date

        cap = step.spec.cap_at(date.fromisoformat(day)) if isinstance(day, str) else None
        out.append((step.spec.name, step.before, step.after, cap,
                    step.after - step.before < alone))
    return out
