"""`parcours population`: write a seeded synthetic population of care episodes."""

from __future__ import annotations

import click

from ..files import OutputError
from .common import fail, open_out
from ..tools.population import PROFILES, write_population, write_population_file


@click.command()
@click.option("--size", type=click.IntRange(min=0), required=True, metavar="N",
              help="How many episodes to write.")
@click.option("--seed", type=int, required=True, metavar="S",
              help="The seed: the same size, seed and profile give the same bytes.")
@click.option("--profile", type=click.Choice(sorted(PROFILES)), default="fr", show_default=True,
              help="The population mix and currency: fr (EUR), ma (MAD), uk (GBP).")
@click.option("--output", "output_path", default=None, metavar="FILE",
              help="Write here (default: standard output); see docs/cli.md, Outputs.")
def population(size: int, seed: int, profile: str, output_path: str | None) -> None:
    """Write a seeded synthetic population of care episodes (JSON Lines).

    Episodes follow the care-episode contract v1; the mixes are described in
    docs/population.md.
    """
    if output_path is None or output_path == "-":
        with open_out(output_path) as sink:
            write_population(sink, size, seed, profile)
        return
    try:
        count = write_population_file(output_path, size, seed, profile)
    except OSError as exc:
        fail(str(exc) if isinstance(exc, OutputError)
             else f"cannot write {output_path}: {exc.strerror or exc}")
    click.echo(f"wrote {count} episodes to {output_path} (profile {profile}, "
               f"{PROFILES[profile].currency}, seed {seed})", err=True)
