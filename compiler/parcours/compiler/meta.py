"""The installed parcours version, read once from the package metadata (pyproject.toml is
its one definition): the CLI's --version, SARIF reports, comparison reports and the
docstring of generated modules all show this."""

from __future__ import annotations

from importlib import metadata


def _installed_version() -> str:
    try:
        return metadata.version("parcours")
    except metadata.PackageNotFoundError:  # a source tree that is not installed
        return "unknown"


VERSION = _installed_version()
