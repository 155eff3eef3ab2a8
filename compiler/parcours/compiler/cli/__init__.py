"""The `parcours` command line: one module per command, thin wrappers over the pipeline,
the runtime and the tools; what they share is in `common`."""

from __future__ import annotations

import click

from . import check, compare, compile, decide, diff, explain, population, test


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="parcours", prog_name="parcours")  # pyproject.toml's
def main() -> None:
    """parcours: check, compile and run care-pathway policies."""


for _command in (check.check, compile.compile_command, decide.decide, explain.explain,
                 compare.compare_command, population.population, test.test_command,
                 diff.diff_command):
    main.add_command(_command)

__all__ = ["main"]

