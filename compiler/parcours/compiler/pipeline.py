"""The one module that runs every stage: file → scope → IR → module text.

Callers (the CLI, tests, tools) use :func:`analyse` to get diagnostics and,
when there is no error, the IR; :func:`compile_policy` adds code generation;
:func:`load_decider` compiles in memory and imports the result.
"""

from __future__ import annotations

import hashlib
import os
import sys
import types
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from . import ir
from .check import check
from .codegen import generate
from .diagnostics import CompileError, Diagnostic, Diagnostics, render
from .resolve import load
from .verify import verify_program


@dataclass(slots=True)
class Analysis:
    """What the compiler knows about one policy file."""

    path: str
    program: ir.Program | None
    diagnostics: list[Diagnostic]
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.program is not None and not any(d.is_error for d in self.diagnostics)

    def render(self) -> str:
        return "\n".join(render(d, self.sources) for d in self.diagnostics)


def analyse(path: str | os.PathLike[str], data: bytes | None = None) -> Analysis:
    """Parse, resolve and check a policy: every problem, in one pass."""
    display = str(path)
    diagnostics = Diagnostics()
    scope = load(Path(path), display, diagnostics, data)
    program = check(scope, diagnostics) if scope.units else None
    if program is not None and not diagnostics.has_errors:
        diagnostics.extend(verify_program(program))
    if diagnostics.has_errors:
        program = None
    return Analysis(display, program, list(diagnostics), scope.texts)


def compile_policy(path: str | os.PathLike[str], data: bytes | None = None) -> tuple[Analysis, str]:
    """The generated module's text; raises CompileError when the policy has errors."""
    analysis = analyse(path, data)
    if analysis.program is None:
        raise CompileError(analysis.diagnostics, analysis.sources)
    return analysis, generate(analysis.program)


@contextmanager
def atomic_output(target: str | os.PathLike[str]) -> Iterator[TextIO]:
    """A text file to stream into; it replaces `target` only when the block succeeds, so a
    reader sees the old file or the new one, never half, and a failure leaves nothing."""
    target_path = Path(target)
    directory = target_path.parent if str(target_path.parent) else Path(".")
    # A fresh name beside the target (os.replace is atomic within a folder), opened with "x"
    # so that it gets the usual permissions (umask), not mkstemp's 0600.
    tmp = directory / f".{target_path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n", buffering=1 << 20) as handle:
            yield handle
        os.replace(tmp, target_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(target: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `target` atomically (see `atomic_output`)."""
    with atomic_output(target) as handle:
        handle.write(text)


def load_module(name: str, text: str, origin: str) -> types.ModuleType:
    """Execute generated module text as a fresh module, registered under a name unique to
    its text (dataclasses look their module up in sys.modules)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    unique = f"_parcours_generated.{name}_{digest}"
    if unique in sys.modules:
        return sys.modules[unique]
    module = types.ModuleType(unique)
    module.__file__ = origin
    code = compile(text, origin, "exec")
    sys.modules[unique] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        del sys.modules[unique]
        raise
    return module


def load_policy(path: str | os.PathLike[str]) -> types.ModuleType:
    """A `.parcours` file compiled in memory, or an already generated `.py` module."""
    text_path = Path(path)
    if text_path.suffix == ".py":
        return load_module(text_path.stem, text_path.read_text(encoding="utf-8"), str(text_path))
    analysis, text = compile_policy(path)
    assert analysis.program is not None
    return load_module(f"parcours_{analysis.program.policy.id}", text, f"<{path}>")
