"""`parcours doc`: a static documentation site for a set of policies.

One page per policy (`POLICY_ID.html`, built by `model.build_page`) and an index
(`index.html`) that lists the policies and links those sharing a schema.  Every page is
self-contained: inline CSS, no script, no font or image from elsewhere; the same policies
give the same bytes (no date, no absolute path: files are named by their base name).
Rendered with Jinja2 (autoescaped) from `templates/`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePath

import jinja2

from ...diagnostics import Diagnostics
from ...meta import VERSION
from ...pipeline import analyse, not_compiled
from ...sema.load import load
from ...syntax import nodes as ast
from .model import PolicyPage, build_page

__all__ = ["Site", "SiteError", "build_site", "write_site"]


class SiteError(ValueError):
    """Two policies with one id, or a file that is not a policy."""


@dataclass(frozen=True, slots=True)
class Site:
    pages: list[PolicyPage]
    schemas: dict[str, list[str]]  # schema name → ids of the policies importing it
    files: dict[str, str]  # file name → HTML


def _schemas(path: str) -> tuple[tuple[str, str], ...]:
    """The (name, file) of each schema a policy file imports."""
    scope = load(Path(path), path, Diagnostics())
    found = []
    for unit in scope.units:
        if unit.imported and unit.module is not None:
            for decl in unit.module.declarations:
                if isinstance(decl, ast.SchemaDecl):
                    found.append((decl.name, PurePath(unit.display).name))
    return tuple(found)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("parcours.compiler.tools.site", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True)
    return env


def is_policy_file(path: str | os.PathLike[str]) -> bool:
    """False for a schema file (one that starts with `schema NAME`), which has no page."""
    scope = load(Path(path), str(path), Diagnostics())
    return scope.policy is not None or not scope.schema_names


def build_site(paths: list[str]) -> Site:
    """Pages for the policies at `paths` (raises CompileError for one that has errors,
    SiteError for two with the same id)."""
    pages: list[PolicyPage] = []
    for path in paths:
        analysis = analyse(path, verify=False)
        if analysis.program is None:
            raise not_compiled(analysis)
        page = build_page(analysis.program, _schemas(path))
        if any(p.id == page.id for p in pages):
            raise SiteError(f"{path}: policy {page.id} is given twice")
        pages.append(page)
    pages.sort(key=lambda p: p.id)
    schemas: dict[str, list[str]] = {}
    for page in pages:
        for name, _ in page.schemas:
            schemas.setdefault(name, []).append(page.id)
    env = _environment()
    common = {"pages": pages, "schemas": schemas, "version": VERSION}
    files = {"index.html": env.get_template("index.html.jinja").render(**common)}
    template = env.get_template("policy.html.jinja")
    for page in pages:
        files[f"{page.id}.html"] = template.render(page=page, **common)
    return Site(pages, schemas, files)


def write_site(site: Site, folder: str | os.PathLike[str]) -> list[str]:
    """Write every page into `folder` (created if needed), each file atomically; returns the
    paths written."""
    from ...files import write_output

    os.makedirs(folder, exist_ok=True)
    written = []
    for name, html in site.files.items():
        target = os.path.join(folder, name)
        write_output(target, html)
        written.append(target)
    return written
