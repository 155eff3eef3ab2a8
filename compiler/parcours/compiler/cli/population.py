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


@click.command(short_help="Write a seeded synthetic population (JSON Lines).")
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
    """Write a seeded synthetic population of care episodes (JSON Lines).

    Episodes follow the care-episode contract v1; the mixes are described in
    docs/population.md. On a terminal, a progress line on stderr shows the episodes
    written, the rate and the time left.

    \b
    Examples:
      parcours population --size 10000 --seed 7 --profile ma -o out/ma.jsonl
      parcours population --size 100 --seed 1 | parcours decide policies/france.parcours

    \b
    Exit codes:
      0  written
      2  bad usage, or the output cannot be written
    """
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
