"""`parcours compile`: a policy into a typed Python decision module (or its IR)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import EXIT_PROBLEMS, fail, import_path_option


@click.command(name="compile")
@import_path_option
@click.argument("file")
@click.option("-o", "--output", required=True, help="The module to write (MODULE.py).")
@click.option("--emit", type=click.Choice(["module", "ir"]), default="module", show_default=True)
def compile_command(file: str, output: str, emit: str) -> None:
    """Compile a policy into a typed Python decision module (written atomically)."""
    from .. import ir
    from ..diagnostics import CompileError, render as render_diagnostic
    from ..files import write_atomically
    from ..pipeline import compile_policy

    if not Path(file).exists():
        fail(f"no such file: {file}")
    try:
        analysis, text = compile_policy(file)
    except CompileError as exc:
        click.echo(exc.render(), err=True)
        raise SystemExit(EXIT_PROBLEMS) from None
    for warning in analysis.diagnostics:
        click.echo(render_diagnostic(warning, analysis.sources), err=True)
    assert analysis.program is not None
    if emit == "ir":
        text = ir.print_program(analysis.program)
    try:
        write_atomically(output, text)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    click.echo(f"wrote {output} ({analysis.program.policy.id}, "
               f"{analysis.program.policy.version[:19]}…)", err=True)
