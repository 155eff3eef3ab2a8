"""The `parcours` command line: one module per command, thin wrappers over the pipeline,
the runtime and the tools; what they share is in `common`."""

from __future__ import annotations

import sys

import click

from . import check, compare, compile, decide, diff, distribute, explain, population, test
from .common import fail, quiet_exit_on_closed_pipe


class _Commands(click.Group):
    """Every command's standard output is flushed before it returns, so that a write error
    there (a full disk, `> /dev/full`) is an exit 2 with one line, not a lost output with
    exit 0 or a traceback; a closed pipe (`| head`) exits quietly."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            try:
                return super().invoke(ctx)
            finally:
                sys.stdout.flush()
        except BrokenPipeError:
            quiet_exit_on_closed_pipe()
        except OSError as exc:  # commands report their own files; what is left is stdout
            where = "standard output" if exc.filename is None else str(exc.filename)
            fail(f"cannot write {where}: {exc.strerror or exc}")


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "-V", "--version", package_name="parcours",  # pyproject.toml's
                      prog_name="parcours")
def main() -> None:
    """parcours: check, compile and run care-pathway policies.

    Every command takes -h/--help. Short options mean the same everywhere: -i/--input,
    -o/--output ('-' is standard input or output), -q/--quiet.

    \b
    Examples:
      parcours check policies
      parcours compile policies/france.parcours -o out/france.py
      parcours decide policies/france.parcours -i policies/samples/episodes.jsonl -o out/decisions.jsonl --summary

    \b
    Exit codes (every command):
      0  success
      1  the run found problems: errors in a policy, rejected episodes, failing
         tests, policies that decide differently
      2  the command could not run: bad usage, unreadable input, a policy that
         does not load, an output that cannot be written
    """


for _command in (check.check, compile.compile_command, decide.decide, explain.explain,
                 compare.compare_command, population.population, test.test_command,
                 diff.diff_command, distribute.distribute):
    main.add_command(_command)

__all__ = ["main"]

