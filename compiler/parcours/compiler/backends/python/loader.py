"""Import a generated module from its text: standard library only, so that running a
compiled policy never imports the compiler, Lark or Jinja2."""

from __future__ import annotations

import os
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hashlib import _Hash

try:  # the built-in SHA-256: importing OpenSSL's (hashlib) takes longer than a short run
    _builtin_sha256: Any = __import__("_sha256").sha256
except (ImportError, AttributeError):  # another Python: hashlib's
    _builtin_sha256 = None


def sha256(data: bytes = b"") -> _Hash:
    """`hashlib.sha256(data)` (the same digests)."""
    if _builtin_sha256 is not None:
        return _builtin_sha256(data)  # type: ignore[no-any-return]
    import hashlib

    return hashlib.sha256(data)


def plain(path: str) -> str:
    """`str(Path(path))`, without importing pathlib: no empty or `.` parts, no trailing
    slash."""
    if os.sep != "/":
        from pathlib import Path

        return str(Path(path))
    root = "//" if path.startswith("//") and not path.startswith("///") else \
        "/" if path.startswith("/") else ""
    return root + "/".join(part for part in path.split("/") if part and part != ".") or "."


def stem(path: str) -> str:
    """`Path(path).stem`: the last name without its extension."""
    whole = plain(path)
    name = "" if whole in (".", "/", "//") else whole.rsplit(os.sep, 1)[-1]
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


def load_module(name: str, text: str, origin: str,
                code: types.CodeType | None = None) -> types.ModuleType:
    """Execute generated module text as a fresh module, registered under a name unique to
    its text (pickling and type hints look a class's module up in sys.modules); `code`,
    when given, is that text already compiled (from the cache, `cache.code_of`)."""
    digest = sha256(text.encode("utf-8")).hexdigest()[:12]
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
    except ImportError:
        del sys.modules[unique]
        raise
    except Exception as exc:  # the module's own code failed as it ran: say so, as an import
        del sys.modules[unique]
        raise ImportError(f"{type(exc).__name__}: {exc}") from exc
    except BaseException:
        del sys.modules[unique]
        raise
    return module


def written_by_compile(module: types.ModuleType) -> types.ModuleType:
    """`module`, a `.py` file given as a policy, if it is a decision module; else
    ImportError (any Python file can be named where a policy is expected)."""
    if not all(hasattr(module, name) for name in ("POLICY", "decide", "explain")):
        raise ImportError("not a module written by `parcours compile` (it has no POLICY, "
                          "decide and explain)")
    return module


def load_generated(path: str | os.PathLike[str]) -> types.ModuleType:
    """An already generated `.py` decision module."""
    origin = plain(os.fspath(path))
    with open(origin, encoding="utf-8") as handle:
        return written_by_compile(load_module(stem(origin), handle.read(), origin))
