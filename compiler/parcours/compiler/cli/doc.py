"""`parcours doc`: a static documentation site for policies (`tools.site`)."""

from __future__ import annotations

import click

from ..diagnostics import CompileError
from ..files import OutputError
from .check import collect
from .common import EXIT_PROBLEMS, fail, import_path_option, quiet_option


@click.command(name="doc", short_help="Write a documentation site (HTML) for policies.")
@import_path_option
@click.argument("files", nargs=-1, required=True)
@click.option("-o", "--output", "output", required=True, metavar="DIR",
              help="The folder the site is written to (created if needed).")
@quiet_option
def doc(files: tuple[str, ...], output: str, quiet: bool) -> None:
    """Write an HTML page per policy and an index into DIR.

    FILES are policy files or folders (searched recursively for *.parcours); schema files
    (those starting with `schema NAME`) get no page of their own: the index links the
    policies that share one.  Each page lists every rule with its condition in words, its
    priority, sources, notes and flags; each parameter and table with its dated values as
    a timeline; the decision contract; the open questions (every `unconfirmed` and
    `assumption`).  Pages are self-contained (no script, nothing loaded from elsewhere).

    \b
    Examples:
      parcours doc policies -o site
      parcours doc policies/france.parcours policies/nhs.parcours -o out/site

    \b
    Exit codes:
      0  the site is written
      1  a policy has errors (they are printed; nothing is written)
      2  a file is missing, or the site cannot be written
    """
    from pathlib import Path

    from ..tools.site import SiteError, build_site, is_policy_file, write_site

    paths = []
    for path in collect(files):
        if not Path(path).is_file():
            fail(f"no such file: {path}")
        if is_policy_file(path):
            paths.append(path)
    if not paths:
        fail("no policy among the files given (only schema files)")
    try:
        site = build_site(paths)
    except CompileError as exc:
        click.echo(exc.render(), err=True)
        click.echo(f"error: a policy does not compile ({exc}); no site written", err=True)
        raise SystemExit(EXIT_PROBLEMS) from None
    except SiteError as exc:
        fail(str(exc))
    try:
        written = write_site(site, output)
    except (OutputError, OSError) as exc:
        fail(str(exc) if isinstance(exc, OutputError) else f"cannot write {output}: {exc.strerror}")
    if not quiet:
        questions = sum(len(p.questions) for p in site.pages)
        click.echo(f"wrote {len(written)} pages to {output}: {len(site.pages)} policies, "
                   f"{questions} open questions", err=True)
