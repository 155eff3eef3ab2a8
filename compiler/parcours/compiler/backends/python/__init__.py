"""The Python backend: `emit` renders the IR through `templates/module.py.jinja`; `loader`
imports a generated module (standard library only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # loading a generated module imports this package: keep it light
    from ... import ir


@dataclass(frozen=True, slots=True)
class PythonBackend:
    """A typed, dependency-free Python decision module (`backends.Backend`)."""

    name: str = "python"
    suffix: str = ".py"
    description: str = "a typed Python module importing only the standard library and parcours.runtime"

    def generate(self, program: ir.Program) -> str:
        from .emit import generate  # Jinja2 only when generating, not when loading a module

        return generate(program)


BACKEND = PythonBackend()
