"""The click group of the `parcours` command line (`parcours.compiler.cli.main`): each
command's module is imported when the command is run or listed."""

from __future__ import annotations

import functools
import importlib
from collections.abc import ItemsView, Iterator, KeysView, ValuesView

import click

from .common import guarded

# Each command's module and function, imported when the command is run or listed: a run
# of `decide` imports neither the compiler's other commands nor what they need.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("check", "check"), "compile": ("compile", "compile_command"),
    "decide": ("decide", "decide"), "explain": ("explain", "explain"),
    "compare": ("compare", "compare_command"), "population": ("population", "population"),
    "test": ("test", "test_command"), "diff": ("diff", "diff_command"),
    "fmt": ("fmt", "fmt_command"), "lsp": ("lsp", "lsp_command"), "doc": ("doc", "doc"),
    "serve": ("serve", "serve"), "distribute": ("distribute", "distribute"),
}


class _LazyCommands(dict[str, click.Command]):
    """The group's commands, each imported on first use (`get`), all of them when listed."""

    def _load(self, name: str) -> None:
        if name in COMMANDS and not dict.__contains__(self, name):
            module, attribute = COMMANDS[name]
            command = getattr(importlib.import_module(f"{__package__}.{module}"), attribute)
            dict.__setitem__(self, name, command)

    def _load_all(self) -> None:
        for name in COMMANDS:
            self._load(name)

    def get(self, name: str, default: click.Command | None = None  # type: ignore[override]
            ) -> click.Command | None:
        self._load(name)
        return dict.get(self, name, default)

    def __getitem__(self, name: str) -> click.Command:
        self._load(name)
        return dict.__getitem__(self, name)

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS or dict.__contains__(self, name)

    def __iter__(self) -> Iterator[str]:
        self._load_all()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._load_all()
        return dict.__len__(self)

    def keys(self) -> KeysView[str]:  # type: ignore[override]
        self._load_all()
        return dict.keys(self)

    def values(self) -> ValuesView[click.Command]:  # type: ignore[override]
        self._load_all()
        return dict.values(self)

    def items(self) -> ItemsView[str, click.Command]:  # type: ignore[override]
        self._load_all()
        return dict.items(self)


class _Commands(click.Group):
    """Every command runs `guarded` (common): its standard output is flushed before it
    returns (a write error there is an exit 2 with one line), a closed pipe exits quietly."""

    def invoke(self, ctx: click.Context) -> object:
        return guarded(functools.partial(click.Group.invoke, self, ctx))


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


main.commands = _LazyCommands()

__all__ = ["main"]

