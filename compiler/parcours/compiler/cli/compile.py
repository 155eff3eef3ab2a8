"""`parcours compile`: a policy into generated code (a backend's output) or its IR."""

from __future__ import annotations

from pathlib import Path

import click

from ..backends import DEFAULT, names
from .common import EXIT_PROBLEMS, fail, import_path_option, open_out, quiet_option


@click.command(name="compile", short_help="Compile a policy into a decision module or its IR.")
@import_path_option
@click.argument("file")
@click.option("-o", "--output", required=True, metavar="FILE",
              help="The file to write (MODULE.py), or '-' for standard output.")
@click.option("--emit", type=click.Choice(["module", "ir"]), default="module", show_default=True,
              help="What to write: the generated module, or the checked intermediate "
                   "representation as text.")
@click.option("--backend", type=click.Choice(names()), default=DEFAULT, show_default=True,
              help="The code generator (see docs/backends.md).")
@quiet_option
def compile_command(file: str, output: str, emit: str, backend: str, quiet: bool) -> None:
    """Compile a policy into a typed Python decision module (see docs/cli.md, Outputs).

    \b
    Examples:
      parcours compile policies/france.parcours -o out/france.py
      parcours compile policies/france.parcours -o - --emit ir

    \b
    Exit codes:
      0  written
      1  the policy has errors (they are printed; nothing is written)
      2  no such file, a folder, or the output cannot be written
    """
    from .. import ir
    from ..diagnostics import CompileError, render as render_diagnostic
    from ..backends.python.spelling import CodegenError
    from ..pipeline import compile_policy

    if Path(file).is_dir():
        fail(f"{file} is a folder: compile takes one policy file (check takes folders)")
    if not Path(file).exists():
        fail(f"no such file: {file}")
    try:
        analysis, text = compile_policy(file, backend=backend)
    except CompileError as exc:
        click.echo(exc.render(), err=True)
        raise SystemExit(EXIT_PROBLEMS) from None
    except CodegenError as exc:  # a construct the backend refuses (columnar: Unsupported)
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_PROBLEMS) from None
    for warning in analysis.diagnostics:
        click.echo(render_diagnostic(warning, analysis.sources), err=True)
    assert analysis.program is not None
    if emit == "ir":
        text = ir.print_program(analysis.program)
    with open_out(output) as sink:  # '-' is standard output; a write error exits 2
        sink.write(text)
    if not quiet:
        where = "standard output" if output == "-" else output
        policy = analysis.program.policy
        click.echo(f"wrote {where} ({policy.id}, {policy.version[:19]}…)", err=True)
