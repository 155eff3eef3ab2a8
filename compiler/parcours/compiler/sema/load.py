"""Files and names: load a policy and the schema files it imports, build one scope.

A policy file may `import "episode.parcours"` (a path relative to itself); an
imported file must start with `schema NAME`.  Every declaration lands in one
:class:`Scope`, keyed by its kind's namespace; a duplicate is reported with a
note pointing at the first one.

Reading is bounded: only regular files are opened (a folder, FIFO or device is E003,
checked before opening and again on the open file, which is opened without blocking),
a file may hold at most :data:`MAX_FILE_BYTES` and a policy with its imports
:data:`MAX_TOTAL_BYTES` (E004).  An import names a relative path; it is looked up beside
the importing file, then in each import folder (`--import-path DIR`, see
:func:`import_paths`), and must resolve, symlinks followed, inside the top-level
policy's folder or an import folder (E206).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from ..syntax import nodes as n
from ..syntax.build import build
from ..diagnostics import Diagnostics, Span
from ..syntax.parse import decode, parse


@dataclass(slots=True)
class Unit:
    """One loaded file."""

    path: Path
    display: str  # the name used in diagnostics
    text: str
    data: bytes
    module: n.Module | None
    broken: frozenset[str]
    imported: bool


MAX_FILE_BYTES = 8 << 20  # 8 MiB: a policy or schema file (tens of thousands of rules)
MAX_TOTAL_BYTES = 32 << 20  # a policy and everything it imports

_IMPORT_PATHS: ContextVar[tuple[Path, ...]] = ContextVar("parcours_import_paths", default=())


@contextmanager
def import_paths(folders: Iterable[str | os.PathLike[str]]) -> Iterator[None]:
    """Within the block, imports may also come from `folders` (in order), as with the
    command line's `--import-path DIR`."""
    token = _IMPORT_PATHS.set(tuple(Path(f) for f in folders))
    try:
        yield
    finally:
        _IMPORT_PATHS.reset(token)


def set_import_paths(folders: Iterable[str | os.PathLike[str]]) -> Callable[[], None]:
    """Set the import folders until the returned function is called (one command's run)."""
    token = _IMPORT_PATHS.set(tuple(Path(f) for f in folders))
    return lambda: _IMPORT_PATHS.reset(token)


@dataclass(slots=True)
class Scope:
    units: list[Unit] = field(default_factory=list)
    read_bytes: int = 0  # every file read so far, against MAX_TOTAL_BYTES
    allowed: tuple[Path, ...] = ()  # resolved folders an import may come from
    search: tuple[Path, ...] = ()  # import folders, in the order they are tried
    policy: n.PolicyDecl | None = None
    schema_names: list[str] = field(default_factory=list)
    sources: dict[str, n.SourceDecl] = field(default_factory=dict)
    enums: dict[str, n.EnumDecl] = field(default_factory=dict)
    inputs: dict[str, tuple[n.InputDecl, bool]] = field(default_factory=dict)  # path -> (decl, from schema)
    constraints: dict[str, n.ConstraintDecl] = field(default_factory=dict)
    params: dict[str, n.ParamDecl] = field(default_factory=dict)
    tables: dict[str, n.TableDecl] = field(default_factory=dict)
    lets: dict[str, n.LetDecl] = field(default_factory=dict)
    rules: list[n.RulesDecl] = field(default_factory=list)
    outputs: dict[str, n.OutputDecl] = field(default_factory=dict)
    decisions: list[n.DecisionDecl] = field(default_factory=list)
    accumulators: dict[str, n.AccumulatorDecl] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)

    @property
    def texts(self) -> dict[str, str]:
        return {u.display: u.text for u in self.units}

    def version(self) -> str:
        digest = hashlib.sha256()
        for unit in self.units:
            digest.update(len(unit.data).to_bytes(8, "big"))
            digest.update(unit.data)
        return "sha256:" + digest.hexdigest()

    def value_names(self) -> set[str]:
        return set(self.params) | set(self.tables) | set(self.lets) | set(self.outputs) | {"pathway"}


def load(path: Path, display: str, diagnostics: Diagnostics, data: bytes | None = None,
         search: Iterable[str | os.PathLike[str]] | None = None) -> Scope:
    """Read, parse and merge a policy file and its imports; `search`: the import folders
    (by default those of :func:`import_paths`)."""
    scope = Scope()
    folders = tuple(Path(f) for f in search) if search is not None else _IMPORT_PATHS.get()
    scope.search = folders
    scope.allowed = tuple(_resolved(f) for f in (path.parent, *folders))
    _load_unit(scope, path, display, diagnostics, data, imported=False, stack=())
    return scope


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return path.absolute()


def _read(scope: Scope, path: Path, display: str, diagnostics: Diagnostics,
          span: Span | None) -> bytes | None:
    """The file's bytes, or a diagnostic: unreadable (E002), not a regular file (E003),
    too large (E004).  A FIFO or a device is never opened for reading."""
    where = span or Span(display, 1, 1, 1, 1)

    def refuse(code: str, message: str, hint: str) -> None:
        diagnostics.error(code, message, where, hint)

    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            refuse("E003", f"`{display}` is not a regular file ({_kind(info.st_mode)})",
                   "a policy or a schema is a text file")
            return None
        if info.st_size > MAX_FILE_BYTES:
            refuse("E004", f"`{display}` holds {info.st_size} bytes; a file may hold at most "
                   f"{MAX_FILE_BYTES} (the limit)", "split it, or check the path")
            return None
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # swapped since the stat
                refuse("E003", f"`{display}` is not a regular file", "a policy is a text file")
                return None
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        refuse("E002", f"cannot read `{display}`: {exc.strerror or exc}", "check the path")
        return None
    return _within_limits(scope, data, display, where, diagnostics)


def _within_limits(scope: Scope, data: bytes, display: str, where: Span,
                   diagnostics: Diagnostics) -> bytes | None:
    if len(data) > MAX_FILE_BYTES:
        diagnostics.error("E004", f"`{display}` holds more than {MAX_FILE_BYTES} bytes "
                          "(the limit for one file)", where, "split it, or check the path")
        return None
    scope.read_bytes += len(data)
    if scope.read_bytes > MAX_TOTAL_BYTES:
        diagnostics.error("E004", f"with `{display}`, the policy and its imports hold more than "
                          f"{MAX_TOTAL_BYTES} bytes (the limit)", where,
                          "import less, or check the paths")
        return None
    return data


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def _locate(scope: Scope, spec: str, importer: Path, display: str, span: Span,
            diagnostics: Diagnostics) -> tuple[Path, str] | None:
    """Where `import "spec"` in `importer` points, and the name to show for it; or None
    after a diagnostic (E206) when the import may not be read."""
    if PurePosixPath(spec).is_absolute() or PureWindowsPath(spec).is_absolute() \
            or PureWindowsPath(spec).drive:
        diagnostics.error("E206", f"`{spec}` is an absolute path; an import is relative", span,
                          "import from the policy's folder, or give the folder with "
                          "`--import-path DIR` and import the file by its name there")
        return None
    beside = Path(display).parent
    shown = str(beside / spec) if beside != Path(".") else spec
    candidates = [(importer.parent / spec, shown)]
    candidates += [(folder / spec, str(folder / spec)) for folder in scope.search]
    found = next(((c, s) for c, s in candidates if os.path.lexists(c)), candidates[0])
    target = _resolved(found[0])
    if not any(target == folder or target.is_relative_to(folder) for folder in scope.allowed):
        diagnostics.error("E206", f"`{spec}` leads outside the policy's folder and the import "
                          "folders", span,
                          "an import stays in the policy's folder tree (symlinks followed), or "
                          "comes from a folder given with `--import-path DIR`")
        return None
    return target, found[1]


def _load_unit(scope: Scope, path: Path, display: str, diagnostics: Diagnostics,
               data: bytes | None, imported: bool, stack: tuple[Path, ...],
               span: Span | None = None) -> None:
    if data is None:
        data = _read(scope, path, display, diagnostics, span)
    else:
        data = _within_limits(scope, data, display, span or Span(display, 1, 1, 1, 1),
                              diagnostics)
    if data is None:
        return
    text = decode(data, display, diagnostics)
    if text is None:
        scope.units.append(Unit(path, display, "", data, None, frozenset(), imported))
        return
    result = parse(text, display, diagnostics)
    module = build(result.tree, display, diagnostics) if result.tree is not None else None
    unit = Unit(path, display, text, data, module, result.broken_names, imported)
    scope.units.append(unit)
    scope.broken |= result.broken_names
    if module is None:
        return
    scope.broken |= module.broken
    _check_file_kind(module, display, imported, diagnostics)
    # A schema file checked on its own declares schema inputs, as when it is imported.
    as_schema = imported or any(isinstance(d, n.SchemaDecl) for d in module.declarations)
    for decl in module.declarations:
        if isinstance(decl, n.ImportDecl):
            located = _locate(scope, decl.path, path, display, decl.span, diagnostics)
            if located is None:
                continue
            target, shown = located
            if target in stack or target == _resolved(path):
                diagnostics.error("E201", f"`{decl.path}` imports itself (an import cycle)",
                                  decl.span, "a schema file imports nothing that imports it")
                continue
            if any(_resolved(u.path) == target for u in scope.units):
                continue  # imported already
            _load_unit(scope, target, shown, diagnostics, None, True, stack + (_resolved(path),),
                       decl.span)
        else:
            _declare(scope, decl, as_schema, diagnostics)


def _check_file_kind(module: n.Module, display: str, imported: bool,
                     diagnostics: Diagnostics) -> None:
    heads = [d for d in module.declarations if isinstance(d, (n.PolicyDecl, n.SchemaDecl))]
    if imported:
        for d in heads:
            if isinstance(d, n.PolicyDecl):
                diagnostics.error("E202", "an imported file must be a schema, not a policy", d.span,
                                  "start the shared file with `schema NAME`")
        if not heads:
            diagnostics.error("E202", "an imported file must start with `schema NAME`",
                              Span(display, 1, 1, 1, 1))
    elif not any(isinstance(d, n.PolicyDecl) for d in heads):
        first = module.declarations[0].span if module.declarations else Span(display, 1, 1, 1, 1)
        if not any(isinstance(d, n.SchemaDecl) for d in heads):
            diagnostics.error("E203", "the file has no `policy NAME { … }` header", first,
                              "a policy file starts with its header: identifier, title, country, "
                              "currency, status, validity")


def _declare(scope: Scope, decl: n.Decl, imported: bool, diagnostics: Diagnostics) -> None:
    def duplicate(kind: str, name: str, first: Span, span: Span) -> None:
        diagnostics.error("E204", f"{kind} `{name}` is declared twice", span,
                          "rename one of them or remove the repeat",
                          notes=((first, "first declared here"),))

    if isinstance(decl, n.PolicyDecl):
        if scope.policy is not None:
            duplicate("policy header", decl.name, scope.policy.span, decl.span)
        else:
            scope.policy = decl
    elif isinstance(decl, n.SchemaDecl):
        scope.schema_names.append(decl.name)
    elif isinstance(decl, n.SourceDecl):
        if decl.name in scope.sources:
            duplicate("source", decl.name, scope.sources[decl.name].span, decl.span)
        else:
            scope.sources[decl.name] = decl
    elif isinstance(decl, n.EnumDecl):
        if decl.name in scope.enums:
            duplicate("enum", decl.name, scope.enums[decl.name].span, decl.span)
        else:
            scope.enums[decl.name] = decl
    elif isinstance(decl, n.InputDecl):
        key = ".".join(decl.path)
        if key in scope.inputs:
            duplicate("input", key, scope.inputs[key][0].span, decl.span)
        else:
            scope.inputs[key] = (decl, imported)
    elif isinstance(decl, n.ConstraintDecl):
        if decl.name in scope.constraints:
            duplicate("constraint", decl.name, scope.constraints[decl.name].span, decl.span)
        else:
            scope.constraints[decl.name] = decl
    elif isinstance(decl, n.RulesDecl):
        scope.rules.append(decl)
    elif isinstance(decl, n.DecisionDecl):
        scope.decisions.append(decl)
    elif isinstance(decl, n.AccumulatorDecl):
        if decl.name in scope.accumulators:
            duplicate("accumulator", decl.name, scope.accumulators[decl.name].span, decl.span)
        else:
            scope.accumulators[decl.name] = decl
    else:
        assert isinstance(decl, (n.ParamDecl, n.TableDecl, n.LetDecl, n.OutputDecl))
        # parameters, tables, lets and outputs share one namespace: values.
        for table in (scope.params, scope.tables, scope.lets, scope.outputs):
            if decl.name in table:
                duplicate("value", decl.name, table[decl.name].span, decl.span)
                return
        if decl.name == "pathway":
            diagnostics.error("E205", "`pathway` is the name of the rules' outcome", decl.span,
                              "choose another name")
            return
        if isinstance(decl, n.ParamDecl):
            scope.params[decl.name] = decl
        elif isinstance(decl, n.TableDecl):
            scope.tables[decl.name] = decl
        elif isinstance(decl, n.LetDecl):
            scope.lets[decl.name] = decl
        else:
            scope.outputs[decl.name] = decl
