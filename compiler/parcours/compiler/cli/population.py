"""`parcours population`: write a seeded synthetic population of care episodes."""

from __future__ import annotations

import click

from ..files import OutputError, Sink, open_output
from .common import fail, open_out, quiet_option
from .progress import Progress, progress_for
from ..tools.population import PROFILES, profile_named, write_population


class _Counted:
    """A sink that ticks the progress line once per episode (one line per write)."""

    def __init__(self, sink: Sink, progress: Progress) -> None:
        self.sink, self.progress = sink, progress

    def write(self, text: str, /) -> int:
        written = self.sink.write(text)
        self.progress.tick()
        return written


@click.command(short_help="Write a seeded synthetic population (JSON Lines, Parquet, Arrow).")
@click.option("--size", type=click.IntRange(min=0), required=True, metavar="N",
              help="How many episodes to write.")
@click.option("--seed", type=int, required=True, metavar="S",
              help="The seed: the same size, seed and profile give the same bytes.")
@click.option("--profile", type=click.Choice(sorted(PROFILES)), default="fr", show_default=True,
              help="The population mix and currency: fr (EUR), ma (MAD), uk (GBP), tn (TND).")
@click.option("-o", "--output", "output_path", default="-", show_default=True, metavar="FILE",
              help="Write here ('-' for standard output); see docs/cli.md, Outputs.")
@quiet_option
def population(size: int, seed: int, profile: str, output_path: str, quiet: bool) -> None:
    """Write a seeded synthetic population of care episodes (JSON Lines; Parquet or
    Arrow IPC for an output named .parquet, .arrow, .feather or .ipc).

    Episodes follow the care-episode contract v1; the mixes are described in
    docs/population.md. On a terminal, a progress line on stderr shows the episodes
    written, the rate and the time left.

    \b
    Examples:
      parcours population --size 10000 --seed 7 --profile ma -o out/ma.jsonl
      parcours population --size 100 --seed 1 | parcours decide policies/france.parcours
      parcours population --size 1000000 --seed 7 -o out/fr.parquet

    \b
    Exit codes:
      0  written
      2  bad usage, or the output cannot be written
    """
    if output_path != "-" and _table_format(output_path) is not None:
        count = _write_table(output_path, size, seed, profile)
        if not quiet:
            click.echo(f"wrote {count} episodes to {output_path} (profile {profile}, "
                       f"{PROFILES[profile].currency}, seed {seed})", err=True)
        return
    progress = progress_for("writing", quiet, total=size)
    try:
        if output_path == "-":
            with open_out(output_path) as sink:
                write_population(_Counted(sink, progress) if progress.active else sink,
                                 size, seed, profile)
            return
        profile_named(profile)  # fail before creating anything
        try:
            with open_output(output_path) as handle:
                count = write_population(
                    _Counted(handle, progress) if progress.active else handle,
                    size, seed, profile)
        except OSError as exc:
            progress.clear()
            fail(str(exc) if isinstance(exc, OutputError)
                 else f"cannot write {output_path}: {exc.strerror or exc}")
    finally:
        progress.clear()
    if not quiet:
        click.echo(f"wrote {count} episodes to {output_path} (profile {profile}, "
                   f"{PROFILES[profile].currency}, seed {seed})", err=True)


def _table_format(path: str) -> str | None:
    """Parquet or Arrow IPC by the file's extension (the columnar extra), else None."""
    from pathlib import Path

    return {".parquet": "parquet", ".arrow": "arrow", ".feather": "arrow",
            ".ipc": "arrow"}.get(Path(path).suffix.lower())


def _write_table(path: str, size: int, seed: int, profile: str) -> int:
    """The population as a table of episodes (docs/cli.md, Tables)."""
    try:
        from ..tools.population import episodes
        from ..tools.tables import write_episodes
    except ImportError as exc:
        fail(f"{path}: Parquet and Arrow need the columnar extra "
             f"(pip install 'parcours[columnar]'): {exc}")
    profile_named(profile)
    fmt = _table_format(path)
    assert fmt is not None
    try:
        with open_output(path) as handle:
            handle.flush()
            return write_episodes(handle.buffer, episodes(size, seed, profile), fmt)
    except OSError as exc:
        fail(str(exc) if isinstance(exc, OutputError)
             else f"cannot write {path}: {exc.strerror or exc}")
