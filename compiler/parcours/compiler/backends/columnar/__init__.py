"""The columnar backend: a module that decides whole batches over numpy columns.

`emit` builds the body from the IR (`values`: how a value is held), `render` puts it
through `templates/module.py.jinja`.  Money is an integer count
of a fixed power of ten (the currency's minor unit, or finer for an unrounded product),
rates are integers over a power of ten too, so that every operation is exact integer
arithmetic; see docs/backends.md, `columnar`.  A construct it cannot decide exactly is
refused at compile time (`Unsupported`), never decided approximately.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ... import ir


@dataclass(frozen=True, slots=True)
class ColumnarBackend:
    """A typed Python module over numpy arrays (`backends.Backend`)."""

    name: str = "columnar"
    suffix: str = ".py"
    description: str = "a typed Python module deciding batches over numpy columns (the columnar extra)"

    def generate(self, program: ir.Program) -> str:
        from .render import generate

        return generate(program)


BACKEND = ColumnarBackend()
