"""`parcours population`: write a seeded synthetic population of care episodes."""

from __future__ import annotations

import sys

import click

from .common import EXIT_USAGE
from ..tools.population import PROFILES, write_population, write_population_file


@click.command()
@click.option("--size", type=click.IntRange(min=0), required=True, metavar="N",
              help="How many episodes to write.")
@click.option("--seed", type=int, required=True, metavar="S",
              help="The seed: the same size, seed and profile give the same bytes.")
@click.option("--profile", type=click.Choice(sorted(PROFILES)), default="fr", show_default=True,
              help="The population mix and currency: fr (EUR), ma (MAD), uk (GBP).")
@click.option("--output", "output_path", default=None, metavar="FILE",
              help="Write here, atomically (default: standard output).")
def population(size: int, seed: int, profile: str, output_path: str | None) -> None:
    """Write a seeded synthetic population of care episodes (JSON Lines).

    Episodes follow the care-episode contract v1; the mixes are described in
    docs/population.md.
    """
    if output_path is None or output_path == "-":
        write_population(sys.stdout, size, seed, profile)
        sys.stdout.flush()
        return
    try:
        count = write_population_file(output_path, size, seed, profile)
    except OSError as exc:
        click.echo(f"error: cannot write {output_path}: {exc.strerror or exc}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    click.echo(f"wrote {count} episodes to {output_path} (profile {profile}, "
               f"{PROFILES[profile].currency}, seed {seed})", err=True)
