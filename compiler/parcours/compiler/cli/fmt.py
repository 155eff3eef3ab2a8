"""`parcours fmt [--check] [--diff] PATH...`: rewrite policies in the canonical layout.

Exit codes: 0 every file is formatted (or was rewritten); 1 with --check, a file would
change; 2 a file cannot be formatted (a syntax error, a construct the formatter does not
know, an output that would not mean the same), cannot be read or written: it is left as
it is.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import click

from .common import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE


@click.command(name="fmt", short_help="Format policies in the canonical layout.")
@click.argument("paths", nargs=-1, required=True)
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 and show a diff when a file is not formatted.")
@click.option("--diff", "show_diff", is_flag=True,
              help="Write nothing; show what formatting would change, as a unified diff.")
def fmt_command(paths: tuple[str, ...], check: bool, show_diff: bool) -> None:
    """Format policy files: one layout for every construct, comments and blank lines
    between items kept. Formatting never changes what a policy means: the output must
    parse to the same tree and lower to the same IR, or the file is left as it is.

    PATHS are policy files or folders (searched recursively for *.parcours files); '-'
    formats standard input to standard output.

    \b
    Examples:
      parcours fmt policies
      parcours fmt --check policies
      parcours fmt --diff policies/france.parcours

    \b
    Exit codes:
      0  every file is formatted (or has been rewritten)
      1  with --check: a file is not formatted
      2  a file cannot be formatted (syntax error, unknown construct), read or written
    """
    from ..files import OutputError, write_output
    from ..format import FormatError
    from ..tools.formatting import format_policy
    from .check import collect

    if paths == ("-",):
        text = sys.stdin.buffer.read().decode("utf-8", errors="replace")
        try:
            click.echo(format_policy("<stdin>", text, check_ir=False), nl=False)
        except FormatError as exc:
            click.echo(f"error: <stdin>: {exc}", err=True)
            raise SystemExit(EXIT_USAGE) from None
        raise SystemExit(EXIT_OK)
    code = EXIT_OK
    changed = failed = 0
    files = collect(paths)
    for path in files:
        try:
            text = Path(path).read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            click.echo(f"error: cannot read {path}: {exc}", err=True)
            code, failed = EXIT_USAGE, failed + 1
            continue
        try:
            formatted = format_policy(path, text)
        except FormatError as exc:
            click.echo(f"error: {path}: {exc}", err=True)
            code, failed = EXIT_USAGE, failed + 1
            continue
        if formatted == text:
            continue
        changed += 1
        if check or show_diff:
            click.echo("".join(difflib.unified_diff(
                text.splitlines(keepends=True), formatted.splitlines(keepends=True),
                f"{path} (as written)", f"{path} (formatted)")), nl=False)
            if check:
                click.echo(f"would reformat {path}", err=True)
                code = max(code, EXIT_PROBLEMS)
            continue
        try:
            write_output(path, formatted)
        except OutputError as exc:
            click.echo(f"error: {exc}", err=True)
            code, failed = EXIT_USAGE, failed + 1
            continue
        click.echo(f"reformatted {path}", err=True)
    verb = "would reformat" if (check or show_diff) else "reformatted"
    problems = f", {failed} not formatted (see above)" if failed else ""
    click.echo(f"{len(files)} file(s): {changed} {verb}, "
               f"{len(files) - changed - failed} unchanged{problems}", err=True)
    raise SystemExit(code)
