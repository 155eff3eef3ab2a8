"""`parcours compile`: a policy into generated code (a backend's output) or its IR."""

from __future__ import annotations

from pathlib import Path

import click

from ..backends import DEFAULT, names
from .common import EXIT_PROBLEMS, fail, import_path_option


@click.command(name="compile")
@import_path_option
@click.argument("file")
@click.option("-o", "--output", required=True, help="The file to write (MODULE.py).")
@click.option("--emit", type=click.Choice(["module", "ir"]), default="module", show_default=True)
@click.option("--backend", type=click.Choice(names()), default=DEFAULT, show_default=True,
              help="The code generator (see docs/backends.md).")
def compile_command(file: str, output: str, emit: str, backend: str) -> None:
    """Compile a policy into a typed Python decision module (see docs/cli.md, Outputs)."""
    from .. import ir
    from ..diagnostics import CompileError, render as render_diagnostic
    from ..files import OutputError, write_output
    from ..pipeline import compile_policy

    if not Path(file).exists():
        fail(f"no such file: {file}")
    try:
        analysis, text = compile_policy(file, backend=backend)
    except CompileError as exc:
        click.echo(exc.render(), err=True)
        raise SystemExit(EXIT_PROBLEMS) from None
    for warning in analysis.diagnostics:
        click.echo(render_diagnostic(warning, analysis.sources), err=True)
    assert analysis.program is not None
    if emit == "ir":
        text = ir.print_program(analysis.program)
    try:
        write_output(output, text)
    except OutputError as exc:
        fail(str(exc))
    click.echo(f"wrote {output} ({analysis.program.policy.id}, "
               f"{analysis.program.policy.version[:19]}…)", err=True)
