"""Accumulators in the service, with the runtime's ledger (`parcours.runtime.Ledger`), as
`parcours decide` and `parcours explain` apply them:

- a batch (`batch_run`): one ledger for the whole body, the episodes applied in (date, id,
  line) order: the lines as they come when each key's episodes already come in that order
  (`ledger_lines`), else sorted and the answers put back in input order
  (`InputOrder`); so a batch gives the decisions of `parcours decide` on the same lines;
- one episode: stateless, the amount used before it is the episode's own `NAME_used`
  (zero when absent): `tools.accumulate.explain_one`, shared with `parcours explain`.

Without accumulators nothing here changes a decision.
"""

from __future__ import annotations

import functools
import io
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from parcours.runtime import DEFAULT_BUFFER, InputOrder, Ledger, Rejection, ledger_lines, specs_of

from ..accumulate import Bound, Decide, explain_one

__all__ = ["BatchRun", "Bound", "answers", "batch_run", "explain_one"]


@dataclass(slots=True)
class BatchRun:
    """A batch through one policy: the function each episode goes through, and, when the
    batch is sorted, where its answers wait to be written in input order."""

    decide: Decide
    lines: Iterable[bytes]
    order: InputOrder | None = None  # None: the answers go out as they are made
    numbers: list[int] = field(default_factory=lambda: [0])  # the input line being decided

    def line(self, rejection: Rejection) -> int:
        """The input line of a rejection (in a sorted batch, not its place in the sort)."""
        return self.numbers[0] if self.order is not None else rejection.line

    def keep(self, write: Callable[[str], object]) -> Callable[[str], object]:
        """Where an answer goes: `write` for a batch in input order, else kept by its input
        line until `answers` gives it back."""
        if self.order is None:
            return write
        order, numbers = self.order, self.numbers
        return lambda text: order.add(numbers[0], text)


def batch_run(module: types.ModuleType, function: Decide, body: bytes,
              buffer: int = DEFAULT_BUFFER) -> BatchRun:
    """The batch `body` (JSON Lines) through `function`: with the module's accumulators, one
    ledger, in the order `parcours decide` applies them."""
    specs = specs_of(module)
    if not specs:
        return BatchRun(function, io.BytesIO(body))
    ledger = Ledger(specs)
    numbers = [0]
    lines, sorted_ = ledger_lines(io.BytesIO(body), specs, buffer, numbers)  # read twice
    if not sorted_:  # as they come: the decisions of the sorted order
        return BatchRun(functools.partial(ledger.decide, function, copy=False), lines)
    return BatchRun(ledger.sorted_decider(function), lines, InputOrder(buffer), numbers)


def answers(run: BatchRun, block: int) -> Iterator[str]:
    """A sorted batch's answers in input order, `block` at a time."""
    assert run.order is not None
    out: list[str] = []
    for text in run.order:
        out.append(text)
        if len(out) >= block:
            yield "".join(out)
            out = []
    if out:
        yield "".join(out)
