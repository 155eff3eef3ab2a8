"""The Python backend: `emit` renders the IR through `templates/module.py.jinja`; `loader`
imports a generated module (standard library only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # loading a generated module imports this package: keep it light
    from ... import ir


class PythonBackend:
    """A typed, dependency-free Python decision module (`backends.Backend`); a plain class,
    not a dataclass, since every run that loads a generated module imports this package."""

    __slots__ = ()
    name = "python"
    suffix = ".py"
    description = "a typed Python module importing only the standard library and parcours.runtime"

    def generate(self, program: ir.Program) -> str:
        from .emit import generate  # Jinja2 only when generating, not when loading a module

        return generate(program)


BACKEND = PythonBackend()
