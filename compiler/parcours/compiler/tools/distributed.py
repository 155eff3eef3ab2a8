"""A partitioned Parquet dataset decided on Dask: the columnar engine on every worker.

    result = decide_dataset("policies/france.parcours", "episodes/", "decisions/",
                            partition_by=None, client=None)

`source` is a Parquet file or a folder of them (read in name order, recursively: the
usual layout of a partitioned dataset); `target` a folder that receives one Parquet
file of decisions per partition, `part-00000.parquet`, ..., with the columns of
`columns.decision_schema`.  The policy is compiled once, by both backends, where
`decide_dataset` runs; each task gets the two modules' text, loads them (once per
worker process) and decides its partition with `columns.decide_table`: the generated
`decide_columns` on the batch, the row engine on the rows the batch leaves.

Without `partition_by`, a partition is an input file: `part-N` holds the decisions of
the N-th file in its row order.  With `partition_by="patient.id"` (a field's path),
rows are first sent to `partitions` buckets by a hash of that field, so that every
row of one key is decided in one task, in input order (file, then row): what a
decision that accumulates over a key (an annual cap per person) needs.  `part-N` is
then bucket N, and decisions are matched to episodes by `id`.

A policy with accumulators (an annual cap per `patient.id`) is partitioned that way
without being asked: by its accumulators' key, each bucket decided as one run in the
ledger's order (`waves`), so that the decisions are the row engine's whatever the
partitions; a `partition_by` other than that key is refused, and accumulators keyed by
different fields put every row in one partition.

`client` is a `distributed.Client` (a cluster's scheduler); without one, Dask's local
threaded scheduler runs the tasks.  `parcours distribute` is the command for it.
Rejections come back as text naming the file and the row:
`episodes/a.parquet: episode ep-7 (line 12): field visit.fee: ...`.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from parcours.runtime import Rejection, specs_of

from ..backends.python.loader import load_module
from .columns import ColumnarPolicy, decision_schema, keep_freed_memory
from .tables import BATCH_ROWS, generate_both
from .waves import decide_table

ORDER = "__parcours_row"  # the column that keeps input order through a shuffle


@dataclass(frozen=True, slots=True)
class PolicyTexts:
    """What a task needs to decide: the two generated modules, as text."""

    name: str
    columnar: str
    row: str


@dataclass(slots=True)
class DatasetResult:
    decided: int = 0
    rejected: int = 0
    rejections: list[str] = field(default_factory=list)  # at most MAX_REJECTIONS
    parts: list[str] = field(default_factory=list)


MAX_REJECTIONS = 1000  # rejections kept as text; the count is always complete


def policy_texts(path: str | os.PathLike[str]) -> PolicyTexts:
    """Both backends' modules for a `.parcours` policy (CompileError, Unsupported)."""
    _, name, columnar, row = generate_both(path)
    return PolicyTexts(name, columnar, row)


def _policy(texts: PolicyTexts) -> ColumnarPolicy:
    # load_module registers each text under its digest: a worker loads it once
    keep_freed_memory()
    return ColumnarPolicy(load_module(texts.name + "_columnar", texts.columnar, "<columnar>"),
                          load_module(texts.name, texts.row, "<row>"))


def source_files(source: str | os.PathLike[str]) -> list[str]:
    """The Parquet files of a dataset: the file itself, or every `*.parquet` under a
    folder, in name order."""
    path = Path(source)
    if path.is_file():
        return [str(path)]
    files = sorted(str(p) for p in path.rglob("*.parquet") if p.is_file())
    if not files:
        raise FileNotFoundError(f"no Parquet file in {source}")
    return files


def _decide_part(texts: PolicyTexts, table: pa.Table, target: str,
                 where: Callable[[int], tuple[str, int]]) -> tuple[int, int, list[str]]:
    """Decide one partition and write its decisions; (decided, rejected, rejections).
    `where(row)` is the file and row number of a row, for its rejection.  A policy with
    accumulators decides the partition as one run (`waves`)."""
    policy = _policy(texts)
    decided, rejected, kept = 0, 0, list[str]()
    size = table.num_rows if specs_of(policy.row) else BATCH_ROWS
    with pq.ParquetWriter(target, decision_schema(policy.meta)) as writer:
        for start in range(0, table.num_rows, max(size, 1)):
            decisions, rejections = decide_table(policy, table.slice(start, size), 1)
            writer.write_table(decisions)
            decided += decisions.num_rows
            rejected += len(rejections)
            for r in rejections[:MAX_REJECTIONS - len(kept)]:
                file, row = where(start + r.line - 1)
                kept.append(f"{file}: {Rejection(row, r.error)}")
    return decided, rejected, kept


def _decide_file(texts: PolicyTexts, source: str, target: str) -> tuple[int, int, list[str]]:
    return _decide_part(texts, pq.read_table(source), target, lambda row: (source, row + 1))


def _key(table: pa.Table, paths: Sequence[str]) -> pa.Array:
    """The key's text on each row (several fields: their texts joined by a separator)."""
    parts = []
    for path in paths:
        column: Any = table
        for part in path.split("."):
            column = column.column(part) if isinstance(column, pa.Table) else \
                pc.struct_field(column, part)
        parts.append(pc.cast(column, pa.string()))
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, "\x1f",
                                       null_handling="replace", null_replacement="")


def accumulator_key(policy: ColumnarPolicy | Any) -> tuple[str, ...] | None:
    """The fields whose values keep every row of one key in one partition, for a policy
    with accumulators: their keys (none when they are keyed differently: then one
    partition holds every row); None for a policy without accumulators."""
    specs = specs_of(policy.row if isinstance(policy, ColumnarPolicy) else policy)
    if not specs:
        return None
    keys = {spec.keys for spec in specs}
    return next(iter(keys)) if len(keys) == 1 else ()


def _split(source: str, index: int, path: Sequence[str], buckets: int) -> list[pa.Table]:
    """Stage one of a partitioned run: one file's rows by bucket of their key, each with
    its place in the input (file index, row)."""
    table = pq.read_table(source)
    order = (np.int64(index) << 40) + np.arange(table.num_rows, dtype=np.int64)
    table = table.append_column(ORDER, pa.array(order))
    # a hash of each distinct key's text, the same in every file and every process
    if not path:  # every row in bucket 0
        return [table] + [table.slice(0, 0)] * (buckets - 1)
    encoded = _key(table, path).combine_chunks().dictionary_encode()
    hashes = np.array([zlib.crc32(str(v).encode("utf-8")) % buckets
                       for v in encoded.dictionary.to_pylist()] + [0], dtype=np.int64)
    indices = encoded.indices.fill_null(len(hashes) - 1).to_numpy(zero_copy_only=False)
    bucket = hashes[indices]
    return [table.filter(pa.array(bucket == b)) for b in range(buckets)]


def _decide_bucket(texts: PolicyTexts, pieces: list[pa.Table], target: str,
                   files: Sequence[str]) -> tuple[int, int, list[str]]:
    """Stage two: one bucket's rows from every file, in input order, decided."""
    table = pa.concat_tables(pieces).sort_by(ORDER)
    order = table.column(ORDER).to_numpy()
    table = table.drop_columns([ORDER])
    return _decide_part(texts, table, target,
                        lambda row: (files[int(order[row]) >> 40],
                                     (int(order[row]) & ((1 << 40) - 1)) + 1))


def decide_dataset(policy: str | os.PathLike[str], source: str | os.PathLike[str],
                   target: str | os.PathLike[str], partition_by: str | None = None,
                   partitions: int | None = None, client: Any = None) -> DatasetResult:
    """Decide every episode of a Parquet dataset on Dask (see the module's docstring)."""
    import importlib

    dask: Any = importlib.import_module("dask")  # the dask extra; loosely typed
    delayed, compute = dask.delayed, dask.compute
    texts = policy_texts(policy)
    files = source_files(source)
    keys = accumulator_key(_policy(texts))
    paths: tuple[str, ...] | None = None if partition_by is None else (partition_by,)
    if keys is not None:  # accumulators: every row of one key in one task
        if paths is not None and paths != keys:
            raise ValueError(f"--partition-by {partition_by}: the policy's accumulators add "
                             "up over " + (", ".join(keys) or "keys of several kinds")
                             + "; partition by that (the default) or not at all")
        paths = keys
    out = Path(target)
    out.mkdir(parents=True, exist_ok=True)
    if paths is None:
        parts = [str(out / f"part-{i:05d}.parquet") for i in range(len(files))]
        tasks = [delayed(_decide_file)(texts, f, p) for f, p in zip(files, parts)]
    else:
        buckets = (partitions or len(files)) if paths else 1
        split = delayed(_split, nout=buckets)
        pieces = [split(f, i, paths, buckets) for i, f in enumerate(files)]
        parts = [str(out / f"part-{b:05d}.parquet") for b in range(buckets)]
        tasks = [delayed(_decide_bucket)(texts, [p[b] for p in pieces], parts[b], files)
                 for b in range(buckets)]
    results = compute(*tasks, scheduler=client if client is not None else "threads")
    summary = DatasetResult(parts=parts)
    for decided, rejected, rejections in results:
        summary.decided += decided
        summary.rejected += rejected
        summary.rejections.extend(rejections[:MAX_REJECTIONS - len(summary.rejections)])
    return summary
