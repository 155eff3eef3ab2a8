"""`parcours distribute`: a partitioned Parquet dataset decided on Dask."""

from __future__ import annotations

from typing import Any

import click

from .common import EXIT_OK, EXIT_PROBLEMS, compile_failed, fail, quiet_option


@click.command(name="distribute", short_help="Decide a Parquet dataset on Dask.")
@click.argument("policy")
@click.argument("source")
@click.argument("target")
@click.option("--partition-by", metavar="PATH", default=None,
              help="Decide every row of one value of this field (e.g. patient.id) in one "
                   "task, in input order (default: one task per input file; a policy with "
                   "accumulators is partitioned by their key).")
@click.option("--partitions", type=click.IntRange(min=1), default=None, metavar="N",
              help="How many partitions --partition-by makes (default: one per input file).")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="Start a local Dask cluster of N worker processes (default: Dask's "
                   "threads in this process).")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="The address of a running Dask scheduler (tcp://host:8786) to use instead.")
@quiet_option
def distribute(policy: str, source: str, target: str, partition_by: str | None,
                   partitions: int | None, workers: int | None, scheduler: str | None,
                   quiet: bool) -> None:
    """Decide every episode of the Parquet file or folder SOURCE with the columnar engine,
    on Dask, writing one Parquet file of decisions per partition into the folder TARGET
    (part-00000.parquet, ...); rejections are reported on stderr by file and row.

    \b
    Examples:
      parcours distribute policies/france.parcours episodes/ decisions/
      parcours distribute policies/france.parcours episodes/ decisions/ --workers 2
      parcours distribute policies/morocco.parcours episodes/ decisions/ --partition-by patient.age --partitions 8

    \b
    Exit codes:
      0  every episode decided
      1  at least one episode rejected
      2  the policy does not load or uses what the columnar engine does not support,
         the dataset cannot be read, or the decisions cannot be written
    """
    try:
        from ..tools.distributed import decide_dataset as run
    except ImportError as exc:
        fail(f"distribute needs the dask extra (pip install 'parcours[dask]'): {exc}")
    client: Any = None
    cluster: Any = None
    try:
        if scheduler is not None or workers is not None:
            import importlib

            dist: Any = importlib.import_module("distributed")  # loosely typed
            Client, LocalCluster = dist.Client, dist.LocalCluster
            if scheduler is not None:
                client = Client(scheduler)
            else:
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                       dashboard_address=None)
                client = Client(cluster)
        result = run(policy, source, target, partition_by, partitions, client)
    except (OSError, ValueError) as exc:
        fail(str(exc))
    except Exception as exc:
        compile_failed(policy, exc)
        raise
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    for line in result.rejections:
        click.echo(f"rejected: {line}", err=True)
    if result.rejected > len(result.rejections):
        click.echo(f"... and {result.rejected - len(result.rejections)} more rejections",
                   err=True)
    if not quiet:
        click.echo(f"{result.decided} decided, {result.rejected} rejected, "
                   f"{len(result.parts)} partitions in {target}", err=True)
    raise SystemExit(EXIT_PROBLEMS if result.rejected else EXIT_OK)
