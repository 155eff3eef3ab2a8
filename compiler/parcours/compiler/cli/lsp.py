"""`parcours lsp`: the language server, over standard input and output (docs/editors.md).

Exit codes: 0 the editor ended the session; 2 the `lsp` extra (pygls) is not installed.
"""

from __future__ import annotations

import os
import sys

import click

from .common import fail


@click.command(name="lsp", short_help="Run the language server (for editors).")
@click.option("--verify-budget", type=click.IntRange(min=1), default=None, metavar="N",
              help="Region evaluations the verifier may spend on each save (default "
                   "200,000); past it, W405 says what was not verified.")
def lsp_command(verify_budget: int | None) -> None:
    """Run the parcours language server on standard input and output, for an editor to
    start: diagnostics as you type (the verifier on open and save), hover, go to
    definition, completion and formatting. See docs/editors.md for VS Code and Neovim.

    \b
    Examples:
      parcours lsp
      parcours lsp --verify-budget 50000

    \b
    Exit codes:
      0  the editor ended the session
      2  the language server is not installed: pip install 'parcours[lsp]'
    """
    try:
        from ..lsp.server import EDITOR_VERIFY_BUDGET, create
    except ImportError as exc:
        fail(f"the language server needs the `lsp` extra ({exc}): pip install 'parcours[lsp]'")
    # the server closes the stream it writes to when the editor ends the session: give it
    # a second descriptor of standard output (os.dup), so that the command's own final
    # flush still works
    create(verify_budget or EDITOR_VERIFY_BUDGET).start_io(
        sys.stdin.buffer, os.fdopen(os.dup(sys.stdout.fileno()), "wb"))
