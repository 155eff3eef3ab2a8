"""The columnar engine on Dask: a partitioned Parquet dataset decided on a local cluster
of two worker processes gives the row engine's decisions, file by file and row by row;
with a partition key, every row of one key lands in one partition, in input order; a
policy with accumulators (France's annual cap per person) is partitioned by their key
and gives the decisions of `parcours decide` on the whole dataset."""

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


def dataset(folder: Path, name: str = "france", people: int = 0) -> list[Path]:
    """A sample population in three Parquet files (amounts as strings), a few cells broken
    so that rows are rejected too; with `people`, the episodes given to that many people
    (France: the annual cap of 50 EUR of flat fees binds)."""
    policy = tables.load_columnar(ROOT / "policies" / f"{name}.parcours")
    sample = {"france": "episodes.jsonl", "morocco": "episodes-ma.jsonl"}[name]
    items = [json.loads(line, parse_float=Decimal) for line in
             (ROOT / "policies" / "samples" / sample).read_bytes().splitlines()]
    for n, item in enumerate(items):
        item["visit"]["fee"] = str(item["visit"]["fee"])
        if people:
            item["patient"]["id"] = f"p-{n % people}"
            item["date"] = f"2025-{n % 12 + 1:02d}-{n % 28 + 1:02d}"
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


def row_decisions(folder: Path, policy: Path) -> dict[str, Any]:
    """`parcours decide` (the row engine, its ledger for accumulators) on the dataset's
    episodes as one JSON Lines file: each decision by episode id."""
    episodes = pa.concat_tables(pq.read_table(f) for f in tables_in(folder))
    lines = folder.parent / "episodes.jsonl"
    lines.write_text("".join(json.dumps(e) + "\n" for e in columns.episodes(episodes)))
    done = subprocess.run([sys.executable, "-m", "parcours.compiler.cli", "decide",
                           str(policy), "-i", str(lines)], capture_output=True, text=True)
    return {d["id"]: d for d in map(json.loads, done.stdout.splitlines())}


def test_a_dataset_decided_on_a_local_cluster_equals_the_row_engine(
        tmp_path: Path, client: Any) -> None:
    """A policy without accumulators: one task per file, decisions in the file's order."""
    morocco = ROOT / "policies" / "morocco.parcours"
    files = dataset(tmp_path / "episodes", "morocco")
    result = decide_dataset(morocco, tmp_path / "episodes", tmp_path / "decisions",
                            client=client)
    assert (result.decided, result.rejected) == (497, 3)
    assert len(result.parts) == 3
    row = tables.load_columnar(morocco).row
    for source, part in zip(files, result.parts):
        expected, _ = columns.decide_row_table(row, row.decide, pq.read_table(source))
        assert pq.read_table(part).to_pylist() == expected.to_pylist()
    assert any("region=0" in r and "(line 11): field visit.specialty" in r
               for r in result.rejections)


def test_france_is_partitioned_by_its_accumulator_and_caps_bind(
        tmp_path: Path, client: Any) -> None:
    """France's annual cap per patient.id: every row of one person in one partition, the
    decisions those of `parcours decide` on the whole dataset, caps reached."""
    dataset(tmp_path / "episodes", people=7)
    result = decide_dataset(FRANCE, tmp_path / "episodes", tmp_path / "decisions",
                            partitions=4, client=client)
    assert (result.decided, result.rejected) == (497, 3)
    expected = row_decisions(tmp_path / "episodes", FRANCE)
    person = {e["id"]: e["patient"]["id"] for e in pa.concat_tables(
        pq.read_table(f) for f in tables_in(tmp_path / "episodes")).to_pylist()}
    seen: dict[str, int] = {}
    decided = []
    for index, part in enumerate(result.parts):
        for d in pq.read_table(part).to_pylist():
            assert seen.setdefault(person[d["id"]], index) == index
            assert d == expected[d["id"]]
            decided.append(d)
    assert len(decided) == 497 and len(set(seen.values())) > 1
    capped = sum(d["flat_fee"] == "0.00" for d in decided)
    full = sum(d["flat_fee"] == "2.00" for d in decided)
    assert capped > 100 and full > 100  # the cap binds, and not everywhere
    with pytest.raises(ValueError, match="accumulators"):
        decide_dataset(FRANCE, tmp_path / "episodes", tmp_path / "other",
                       partition_by="patient.age", client=client)


def test_a_partition_key_keeps_each_key_in_one_partition_in_input_order(
        tmp_path: Path, client: Any) -> None:
    morocco = ROOT / "policies" / "morocco.parcours"
    dataset(tmp_path / "episodes", "morocco")
    result = decide_dataset(morocco, tmp_path / "episodes", tmp_path / "decisions",
                            partition_by="patient.age", partitions=4, client=client)
    assert (result.decided, result.rejected) == (497, 3)
    episodes = pa.concat_tables(pq.read_table(f) for f in
                                tables_in(tmp_path / "episodes")).to_pylist()
    age_of = {e["id"]: e["patient"]["age"] for e in episodes}
    position = {e["id"]: n for n, e in enumerate(episodes)}
    seen: dict[int, int] = {}
    row = tables.load_columnar(morocco).row
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
