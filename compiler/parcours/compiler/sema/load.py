"""Files and names: load a policy and the schema files it imports, build one scope.

A policy file may `import "episode.parcours"` (a path relative to itself); an
imported file must start with `schema NAME`.  Every declaration lands in one
:class:`Scope`, keyed by its kind's namespace; a duplicate is reported with a
note pointing at the first one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass(slots=True)
class Scope:
    units: list[Unit] = field(default_factory=list)
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


def load(path: Path, display: str, diagnostics: Diagnostics, data: bytes | None = None) -> Scope:
    """Read, parse and merge a policy file and its imports."""
    scope = Scope()
    _load_unit(scope, path, display, diagnostics, data, imported=False, stack=())
    return scope


def _read(path: Path, display: str, diagnostics: Diagnostics, span: Span | None) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as exc:
        where = span or Span(display, 1, 1, 1, 1)
        diagnostics.error("E002", f"cannot read `{display}`: {exc.strerror or exc}", where,
                          "check the path")
        return None


def _load_unit(scope: Scope, path: Path, display: str, diagnostics: Diagnostics,
               data: bytes | None, imported: bool, stack: tuple[Path, ...],
               span: Span | None = None) -> None:
    if data is None:
        data = _read(path, display, diagnostics, span)
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
    _check_file_kind(module, display, imported, diagnostics)
    # A schema file checked on its own declares schema inputs, as when it is imported.
    as_schema = imported or any(isinstance(d, n.SchemaDecl) for d in module.declarations)
    for decl in module.declarations:
        if isinstance(decl, n.ImportDecl):
            target = (path.parent / decl.path).resolve()
            shown = str(Path(display).parent / decl.path) if Path(display).parent != Path(".") \
                else decl.path
            if target in stack or target == path.resolve():
                diagnostics.error("E201", f"`{decl.path}` imports itself (an import cycle)",
                                  decl.span, "a schema file imports nothing that imports it")
                continue
            if any(u.path.resolve() == target for u in scope.units):
                continue  # imported already
            _load_unit(scope, target, shown, diagnostics, None, True, stack + (path.resolve(),),
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
