"""The `parcours` command line: one module per command, thin wrappers over the pipeline,
the runtime and the tools; what they share is in `common`.

`main` is the click group (`group`), imported on first use: the console script starts in
`entry`, which runs a short `parcours decide` without click and hands every other command
line to `main`.  Importing this package imports nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .group import main


def __getattr__(name: str) -> object:
    if name == "main":
        from .group import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["main"]
