"""IR → code, one folder per backend.

A backend is anything with the `Backend` shape: a `name` (what `parcours compile
--backend NAME` takes), the file `suffix` of what it writes, a one-line `description`,
and `generate(program) -> str`, the whole output for one checked program, deterministic
(same IR, same text).  `python` (the `python/` folder) emits a typed, dependency-free
Python module; a new backend is a new folder here with an object of that shape, listed in
`_BUILTIN` below.  See docs/backends.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the command line imports this module on every start: keep it light
    from .. import ir


class Backend(Protocol):
    """What the pipeline and the command line need from a code generator."""

    @property
    def name(self) -> str: ...

    @property
    def suffix(self) -> str: ...

    @property
    def description(self) -> str: ...

    def generate(self, program: ir.Program) -> str:
        """The generated text for a checked program (no errors)."""
        ...


# name → the module that defines `BACKEND`; imported only when asked for.
_BUILTIN: dict[str, str] = {"python": "parcours.compiler.backends.python",
                            "columnar": "parcours.compiler.backends.columnar"}
DEFAULT = "python"


class UnknownBackend(LookupError):
    """A backend name that is not registered."""


def names() -> tuple[str, ...]:
    """The registered backends, sorted."""
    return tuple(sorted(_BUILTIN))


def get(name: str) -> Backend:
    """The backend registered under `name`; UnknownBackend otherwise."""
    module = _BUILTIN.get(name)
    if module is None:
        raise UnknownBackend(f"no backend {name!r} (known: {', '.join(names())})")
    backend: Backend = importlib.import_module(module).BACKEND
    return backend
