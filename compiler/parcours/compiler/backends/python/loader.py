"""Import a generated module from its text: standard library only, so that running a
compiled policy never imports the compiler, Lark or Jinja2."""

from __future__ import annotations

import hashlib
import os
import sys
import types
from pathlib import Path


def load_module(name: str, text: str, origin: str,
                code: types.CodeType | None = None) -> types.ModuleType:
    """Execute generated module text as a fresh module, registered under a name unique to
    its text (dataclasses look their module up in sys.modules); `code`, when given, is
    that text already compiled (from the cache, `cache.code_of`)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    unique = f"_parcours_generated.{name}_{digest}"
    if unique in sys.modules:
        return sys.modules[unique]
    module = types.ModuleType(unique)
    module.__file__ = origin
    if code is None:
        code = compile(text, origin, "exec")
    sys.modules[unique] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        del sys.modules[unique]
        raise
    return module


def load_generated(path: str | os.PathLike[str]) -> types.ModuleType:
    """An already generated `.py` decision module."""
    text_path = Path(path)
    return load_module(text_path.stem, text_path.read_text(encoding="utf-8"), str(text_path))
