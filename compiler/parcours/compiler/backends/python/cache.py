"""The compiled-module cache: `decide`, `explain` and `compare` on a `.parcours` policy
reuse the module compiled by an earlier run, so that a second run neither parses nor
checks the policy (nor imports Lark or Jinja2).

An entry is found by the policy's resolved path and the compiler's fingerprint (the
content of every file of the compiler, the grammar and the runtime); it holds the generated module's text and the SHA-256 of every file the policy
was compiled from (the policy and each import).  It is used only when each of those files
still has that content: an edited policy or import, or another compiler, compiles anew.
Runs with import folders (`--import-path`) do not use the cache, since a file added to a
folder could change what an import resolves to.

A generated module, given as a `.py` file or found in an entry, is executed from its
compiled code (`code_of`), kept beside the entries by the SHA-256 of its text, its
origin and the Python version: compiling tens of kilobytes of Python costs more than
the rest of a short run.

The cache lives in this user's cache folder (`$XDG_CACHE_HOME/parcours`, else
`~/.cache/parcours`, the folder of Lark's parser cache), created private (0700); without
one, or when it cannot be written, every run compiles.  `PARCOURS_NO_CACHE=1` turns it
off.  Entries are small (a module's text or code), at most `MAX_ENTRIES` of them;
deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import sys
import types
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from .loader import load_module

FORMAT = 1  # of an entry; part of the key
MAX_ENTRIES = 200  # entries kept; past that, the older half is removed


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
    origin = f"<{path}>"
    return load_module(name, text, origin, code_of(text, origin, where))


def load_generated(path: str | os.PathLike[str]) -> types.ModuleType:
    """`loader.load_generated`, with the module's compiled code kept in the cache: a
    generated module is tens of kilobytes of Python, which takes longer to compile than
    everything else a run on a few episodes does."""
    text_path = Path(path)
    text = text_path.read_text(encoding="utf-8")
    return load_module(text_path.stem, text, str(text_path), code_of(text, str(text_path)))


def code_of(text: str, origin: str, where: Path | None = None) -> types.CodeType:
    """`compile(text, origin, "exec")`, kept in the cache by the text, the origin and the
    Python version (whose bytecode it is)."""
    where = where or folder()
    if where is None:
        return compile(text, origin, "exec")
    key = hashlib.sha256(f"{sys.version}\n{origin}\n{text}".encode("utf-8", "surrogatepass"))
    entry = where / f"{key.hexdigest()[:32]}.code"
    try:
        code = marshal.loads(entry.read_bytes())
        if isinstance(code, types.CodeType):
            return code
    except (OSError, ValueError, EOFError, TypeError):
        pass
    code = compile(text, origin, "exec")
    _write(where, entry, marshal.dumps(code))
    return code


def _write(where: Path, entry: Path, data: bytes) -> None:
    """Write an entry whole (a reader never sees half of it); skipped on any error."""
    import tempfile  # only when storing: a run that finds its module does without it

    try:
        handle, temporary = tempfile.mkstemp(dir=where, prefix=".entry-", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, entry)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        return
    _prune(where)


def _prune(where: Path) -> None:
    """Keep the folder to `MAX_ENTRIES`: past it, the least recently written half goes."""
    try:
        entries = [(e.stat().st_mtime, e) for e in where.iterdir() if e.suffix in (".json", ".code")]
        if len(entries) <= MAX_ENTRIES:
            return
        for _, old in sorted(entries)[:len(entries) - MAX_ENTRIES // 2]:
            old.unlink()
    except OSError:
        pass


def store(path: str | os.PathLike[str], sources: Iterable[tuple[Path, bytes]], name: str,
          text: str) -> None:
    """Keep the module compiled from `path` and its `sources` (each file and the bytes it
    was compiled from); a cache that cannot be written is skipped without a word."""
    where = folder()
    if where is None:
        return
    policy = Path(path).resolve()
    files = [[str(Path(file).resolve()), hashlib.sha256(data).hexdigest()]
             for file, data in sources]
    body = json.dumps({"files": files, "name": name, "text": text})
    _write(where, _entry(where, policy), body.encode("utf-8"))
