"""The one module that runs every stage: file → scope → IR → module text.

Callers (the CLI, tests, tools) use :func:`analyse` to get diagnostics and,
when there is no error, the IR; :func:`compile_policy` adds code generation;
:func:`load_decider` compiles in memory and imports the result.
"""

from __future__ import annotations

import os
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

from . import ir
from .sema.check import check
from . import backends
from .backends.python.loader import load_generated, load_module
from .diagnostics import CompileError, Diagnostic, Diagnostics, Span, render
from .sema.load import load
from .analysis.verify import verify_program


@dataclass(slots=True)
class Analysis:
    """What the compiler knows about one policy file."""

    path: str
    program: ir.Program | None
    diagnostics: list[Diagnostic]
    sources: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    files: list[tuple[Path, bytes]] = field(default_factory=list)  # each file read, its bytes

    @property
    def ok(self) -> bool:
        return self.program is not None and not any(d.is_error for d in self.diagnostics)

    def render(self) -> str:
        return "\n".join(render(d, self.sources) for d in self.diagnostics)


def analyse(path: str | os.PathLike[str], data: bytes | None = None, verify: bool = True,
            budget: int | None = None) -> Analysis:
    """Parse, resolve and check a policy: every problem, in one pass.

    With `verify` (`parcours check` and `compile`), the static verifier runs too, within
    `budget` region evaluations (default: ``partition.VERIFY_BUDGET``); deciding,
    comparing and explaining skip it (see docs/verification.md)."""
    display = str(path)
    diagnostics = Diagnostics()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    scope = load(Path(path), display, diagnostics, data)
    timings["parse and resolve"] = time.perf_counter() - started
    started = time.perf_counter()
    program = check(scope, diagnostics) if scope.units else None
    timings["check"] = time.perf_counter() - started
    if verify and program is not None and not diagnostics.has_errors:
        diagnostics.extend(verify_program(program, budget, timings))
    if diagnostics.has_errors:
        program = None
    return Analysis(display, program, list(diagnostics), scope.texts, timings,
                    [(unit.path, unit.data) for unit in scope.units])


def compile_policy(path: str | os.PathLike[str], data: bytes | None = None,
                   backend: str = backends.DEFAULT, verify: bool = True) -> tuple[Analysis, str]:
    """The text `backend` generates (by default the Python module); raises CompileError
    when the policy has errors, UnknownBackend for a name that is not registered."""
    generator = backends.get(backend)
    analysis = analyse(path, data, verify)
    if analysis.program is None:
        raise not_compiled(analysis)
    return analysis, generator.generate(analysis.program)


def not_compiled(analysis: Analysis) -> CompileError:
    """The errors of a policy that gives no program; a schema file, which has none and no
    error (`check` accepts it on its own), is told so rather than given an empty list."""
    found = analysis.diagnostics
    if not any(d.is_error for d in found):
        found = found + [Diagnostic(
            "E203", "error", f"`{analysis.path}` is a schema file: it has no "
            "`policy NAME { … }` to compile or decide with", Span(analysis.path, 1, 1, 1, 1),
            "give a policy that imports it")]
    return CompileError(found, analysis.sources)


def load_policy(path: str | os.PathLike[str], engine: str = "compiled") -> types.ModuleType:
    """A `.parcours` file compiled in memory, or with `engine="interpreted"` its IR run by
    the reference interpreter (either way not verified: that is `check`'s and `compile`'s
    job); or an already generated `.py` module, which only runs compiled (ValueError)."""
    if Path(path).suffix == ".py":
        if engine != "compiled":
            raise ValueError(f"--engine {engine} needs a .parcours policy; {path} is a "
                             "generated module, which only runs compiled")
        return load_generated(path)
    if engine == "interpreted":
        from .interpret import as_module

        analysis = analyse(path, verify=False)
        if analysis.program is None:
            raise not_compiled(analysis)
        return as_module(analysis.program)
    analysis, text = compile_policy(path, verify=False)
    assert analysis.program is not None
    return load_module(f"parcours_{analysis.program.policy.id}", text, f"<{path}>")
