"""The compiled-module cache: `decide`, `explain` and `compare` on a `.parcours` policy
reuse the module compiled by an earlier run, so that a second run neither parses nor
checks the policy (nor imports Lark or Jinja2).

An entry is found by the policy's resolved path and the compiler's fingerprint (the
content of every file of the compiler, the grammar and the runtime); it holds the generated module's text and the SHA-256 of every file the policy
was compiled from (the policy and each import).  It is used only when each of those files
still has that content: an edited policy or import, or another compiler, compiles anew.
Runs with import folders (`--import-path`) do not use the cache, since a file added to a
folder could change what an import resolves to.

The cache lives in this user's cache folder (`$XDG_CACHE_HOME/parcours`, else
`~/.cache/parcours`, the folder of Lark's parser cache), created private (0700); without
one, or when it cannot be written, every run compiles.  `PARCOURS_NO_CACHE=1` turns it
off.  Entries are small (a module's text); deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import types
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from .loader import load_module

FORMAT = 1  # of an entry; part of the key


def folder() -> Path | None:
    """The cache folder (created private), or None when there is none to write."""
    if os.environ.get("PARCOURS_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    where = Path(base) / "parcours" / "modules"
    try:
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    return where if os.access(where, os.W_OK) else None


@lru_cache(maxsize=1)
def fingerprint() -> str:
    """The compiler's identity: the content of every file of the compiler, the grammar and
    the runtime packages (the code generator, its templates, the grammar, what generated
    code imports): stricter than a version number, which a source tree keeps while its
    code changes, and cheaper to read than the installed package's metadata."""
    digest = hashlib.sha256(f"{FORMAT}\n".encode())
    here = Path(__file__).resolve()
    roots = [here.parents[2]]  # parcours/compiler
    for package in ("parcours.grammar", "parcours.runtime"):
        module = __import__(package, fromlist=["__file__"])
        roots.extend(Path(p) for p in getattr(module, "__path__", ()))
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()


def _entry(where: Path, policy: Path) -> Path:
    key = hashlib.sha256(f"{fingerprint()}\n{policy}".encode()).hexdigest()[:32]
    return where / f"{key}.json"


def _sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


def cached(path: str | os.PathLike[str]) -> types.ModuleType | None:
    """The module compiled from `path` by an earlier run, when every file it was compiled
    from is unchanged; None otherwise (or when anything about the entry is amiss)."""
    where = folder()
    if where is None:
        return None
    policy = Path(path).resolve()
    try:
        entry = json.loads(_entry(where, policy).read_text(encoding="utf-8"))
        files, name, text = entry["files"], entry["name"], entry["text"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not files or any(_sha256(file) != digest for file, digest in files):
        return None
    return load_module(name, text, f"<{path}>")


def store(path: str | os.PathLike[str], sources: Iterable[tuple[Path, bytes]], name: str,
          text: str) -> None:
    """Keep the module compiled from `path` and its `sources` (each file and the bytes it
    was compiled from); a cache that cannot be written is skipped without a word."""
    where = folder()
    if where is None:
        return
    policy = Path(path).resolve()
    import tempfile  # only when storing: a run that finds its module does without it

    files = [[str(Path(file).resolve()), hashlib.sha256(data).hexdigest()]
             for file, data in sources]
    body = json.dumps({"files": files, "name": name, "text": text})
    try:
        handle, temporary = tempfile.mkstemp(dir=where, prefix=".entry-", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(body)
        os.replace(temporary, _entry(where, policy))
    except OSError:
        try:
            os.unlink(temporary)
        except (OSError, UnboundLocalError):
            pass
