"""The columnar engine on Dask: a partitioned Parquet dataset decided on a local cluster
of two worker processes gives the row engine's decisions, file by file and row by row;
with a partition key, every row of one key lands in one partition, in input order."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("pyarrow.json")
pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from parcours.compiler.tools import columns, tables  # noqa: E402
from parcours.compiler.tools.distributed import decide_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FRANCE = ROOT / "policies" / "france.parcours"
pytestmark = pytest.mark.slow  # a cluster of processes takes seconds to start


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    with distributed.Client(cluster) as connected:
        yield connected
    cluster.close()


def dataset(folder: Path) -> list[Path]:
    """The France sample population in three Parquet files (amounts as strings), a few
    cells broken so that rows are rejected too."""
    policy = tables.load_columnar(FRANCE)
    items = [json.loads(line, parse_float=Decimal) for line in
             (ROOT / "policies" / "samples" / "episodes.jsonl").read_bytes().splitlines()]
    for item in items:
        item["visit"]["fee"] = str(item["visit"]["fee"])
    items[10]["visit"]["specialty"] = "surgery"
    items[250]["patient"]["age"] = 200
    items[420]["visit"]["fee"] = "1.234"
    table = pa.Table.from_pylist(items, schema=columns.episode_schema(policy))
    folder.mkdir()
    files = []
    for i, start in enumerate((0, 150, 330)):
        path = folder / f"region={i}" / "part.parquet"
        path.parent.mkdir()
        pq.write_table(table.slice(start, {0: 150, 150: 180, 330: 170}[start]), path)
        files.append(path)
    return files


def test_a_dataset_decided_on_a_local_cluster_equals_the_row_engine(
        tmp_path: Path, client: Any) -> None:
    files = dataset(tmp_path / "episodes")
    result = decide_dataset(FRANCE, tmp_path / "episodes", tmp_path / "decisions",
                            client=client)
    assert (result.decided, result.rejected) == (497, 3)
    assert len(result.parts) == 3
    row = tables.load_columnar(FRANCE).row
    for source, part in zip(files, result.parts):
        expected, _ = columns.decide_row_table(row, row.decide, pq.read_table(source))
        assert pq.read_table(part).to_pylist() == expected.to_pylist()
    assert any("region=0" in r and "(line 11): field visit.specialty" in r
               for r in result.rejections)


def test_a_partition_key_keeps_each_key_in_one_partition_in_input_order(
        tmp_path: Path, client: Any) -> None:
    dataset(tmp_path / "episodes")
    result = decide_dataset(FRANCE, tmp_path / "episodes", tmp_path / "decisions",
                            partition_by="patient.age", partitions=4, client=client)
    assert (result.decided, result.rejected) == (497, 3)
    episodes = pa.concat_tables(pq.read_table(f) for f in
                                tables_in(tmp_path / "episodes")).to_pylist()
    age_of = {e["id"]: e["patient"]["age"] for e in episodes}
    position = {e["id"]: n for n, e in enumerate(episodes)}
    seen: dict[int, int] = {}
    row = tables.load_columnar(FRANCE).row
    expected = {d["id"]: d for d in columns.decide_row_table(
        row, row.decide, pa.concat_tables(pq.read_table(f) for f in
                                          tables_in(tmp_path / "episodes")))[0].to_pylist()}
    decided = 0
    for index, part in enumerate(result.parts):
        rows = pq.read_table(part).to_pylist()
        decided += len(rows)
        assert [position[d["id"]] for d in rows] == sorted(position[d["id"]] for d in rows)
        for d in rows:
            assert seen.setdefault(age_of[d["id"]], index) == index
            assert d == expected[d["id"]]
    assert decided == 497


def tables_in(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.parquet"))


def test_distribute_command(tmp_path: Path) -> None:
    dataset(tmp_path / "episodes")
    done = subprocess.run([sys.executable, "-m", "parcours.compiler.cli", "distribute",
                           str(FRANCE), str(tmp_path / "episodes"), str(tmp_path / "out"),
                           "--workers", "2"], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert "497 decided, 3 rejected, 3 partitions" in done.stderr
    assert len(list((tmp_path / "out").glob("part-*.parquet"))) == 3
