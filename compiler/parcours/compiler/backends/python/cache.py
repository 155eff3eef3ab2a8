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

The compiler's fingerprint is itself kept in the folder, by the names, sizes and
modification times of those files (as Python's own bytecode cache trusts them): a run
lists the files instead of reading them all.  Looking an entry up imports neither
pathlib nor OpenSSL's hashes (`loader.sha256`): a short run would spend longer importing
them than deciding.

The cache lives in this user's cache folder (`$XDG_CACHE_HOME/parcours`, else
`~/.cache/parcours`, the folder of Lark's parser cache), created private (0700); without
one, or when it cannot be written, every run compiles.  `PARCOURS_NO_CACHE=1` turns it
off.  Entries are small (a module's text or code), at most `MAX_ENTRIES` of them;
deleting the folder is always safe.
"""

from __future__ import annotations

import json
import marshal
import os
import sys
import types
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import TYPE_CHECKING

from .loader import load_module, plain, sha256, stem, written_by_compile

if TYPE_CHECKING:
    from pathlib import Path

FORMAT = 1  # of an entry; part of the key
MAX_ENTRIES = 200  # entries kept; past that, the older half is removed


def folder() -> str | None:
    """The cache folder (created private), or None when there is none to write."""
    if os.environ.get("PARCOURS_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    where = os.path.join(plain(base), "parcours", "modules")
    try:
        os.makedirs(where, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return where if os.access(where, os.W_OK) else None


def _roots() -> list[str]:
    """The folders of the compiler, the grammar and the runtime packages."""
    from importlib.machinery import PathFinder  # not importlib.util: it imports contextlib

    roots = [os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))]
    for package in ("parcours.grammar", "parcours.runtime"):
        spec = PathFinder.find_spec(package, sys.modules["parcours"].__path__)  # not imported
        roots.extend(spec.submodule_search_locations or () if spec is not None else ())
    return roots


def _files(root: str) -> Iterator[os.DirEntry[str]]:
    """Every file under `root` but bytecode, in no particular order."""
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_dir():
                if entry.name != "__pycache__":
                    yield from _files(entry.path)
            elif entry.is_file():
                yield entry


@lru_cache(maxsize=1)
def fingerprint() -> str:
    """The compiler's identity: the content of every file of the compiler, the grammar and
    the runtime packages (the code generator, its templates, the grammar, what generated
    code imports): stricter than a version number, which a source tree keeps while its
    code changes, and cheaper to read than the installed package's metadata.

    Kept in the cache folder by each file's name, size and modification time, so that
    a run reads it instead of every file (`_content_fingerprint`)."""
    roots = _roots()
    listing = sorted(f"{entry.path}\0{status.st_size}\0{status.st_mtime_ns}"
                     for root in roots for entry in _files(root)
                     for status in (entry.stat(),))
    where = folder()
    kept = None if where is None else os.path.join(
        where, sha256("\n".join([str(FORMAT), *listing]).encode("utf-8", "surrogateescape"))
        .hexdigest()[:32] + ".fingerprint")
    if kept is not None:
        try:
            with open(kept, encoding="ascii") as handle:
                known = handle.read()
            if len(known) == 64 and all(c in "0123456789abcdef" for c in known):
                return known
        except (OSError, ValueError):
            pass
    digest = _content_fingerprint(roots)
    if where is not None and kept is not None:
        _write(where, kept, digest.encode("ascii"))
    return digest


def _content_fingerprint(roots: list[str]) -> str:
    """The digest of every file under `roots` (name and content), in path order."""
    from pathlib import Path

    digest = sha256(f"{FORMAT}\n".encode())
    for root in map(Path, roots):
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()


def _entry(where: str, policy: str) -> str:
    key = sha256(f"{fingerprint()}\n{policy}".encode()).hexdigest()[:32]
    return os.path.join(where, f"{key}.json")


def _sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return sha256(handle.read()).hexdigest()
    except OSError:
        return None


def cached(path: str | os.PathLike[str]) -> types.ModuleType | None:
    """The module compiled from `path` by an earlier run, when every file it was compiled
    from is unchanged; None otherwise (or when anything about the entry is amiss)."""
    where = folder()
    if where is None:
        return None
    policy = os.path.realpath(path)
    try:
        with open(_entry(where, policy), encoding="utf-8") as handle:
            entry = json.loads(handle.read())
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
    origin = plain(os.fspath(path))
    with open(origin, encoding="utf-8") as handle:
        text = handle.read()
    return written_by_compile(load_module(stem(origin), text, origin, code_of(text, origin)))


def code_of(text: str, origin: str, where: str | None = None) -> types.CodeType:
    """`compile(text, origin, "exec")`, kept in the cache by the text, the origin and the
    Python version (whose bytecode it is)."""
    where = where or folder()
    if where is None:
        return compile(text, origin, "exec")
    key = sha256(f"{sys.version}\n{origin}\n{text}".encode("utf-8", "surrogatepass"))
    entry = os.path.join(where, f"{key.hexdigest()[:32]}.code")
    try:
        with open(entry, "rb") as handle:
            code = marshal.loads(handle.read())
        if isinstance(code, types.CodeType):
            return code
    except (OSError, ValueError, EOFError, TypeError):
        pass
    code = compile(text, origin, "exec")
    _write(where, entry, marshal.dumps(code))
    return code


def _write(where: str, entry: str, data: bytes) -> None:
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


def _prune(where: str) -> None:
    """Keep the folder to `MAX_ENTRIES`: past it, the least recently written half goes."""
    try:
        with os.scandir(where) as found:
            entries = [(e.stat().st_mtime, e.path) for e in found
                       if e.name.endswith((".json", ".code", ".fingerprint"))]
        if len(entries) <= MAX_ENTRIES:
            return
        for _, old in sorted(entries)[:len(entries) - MAX_ENTRIES // 2]:
            os.unlink(old)
    except OSError:
        pass


def store(path: str | os.PathLike[str], sources: Iterable[tuple[Path, bytes]], name: str,
          text: str) -> None:
    """Keep the module compiled from `path` and its `sources` (each file and the bytes it
    was compiled from); a cache that cannot be written is skipped without a word."""
    where = folder()
    if where is None:
        return
    policy = os.path.realpath(path)
    files = [[os.path.realpath(file), sha256(data).hexdigest()] for file, data in sources]
    body = json.dumps({"files": files, "name": name, "text": text})
    _write(where, _entry(where, policy), body.encode("utf-8"))
