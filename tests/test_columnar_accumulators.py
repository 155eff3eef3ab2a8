"""Accumulators in the columnar engine: the decisions of `parcours decide` (the row
engine and its ledger, the reference), line for line, whatever the input order.

Batches drawn from the sample populations, their episodes given to a few people (or
households) so that the annual caps bind, some without the key (a person of their own),
some on the same day, some with an amount as a JSON number or a broken field (rows the
columnar batch leaves to the row engine, inside their wave), then shuffled.
"""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
np = pytest.importorskip("numpy")

from parcours.compiler.tools import tables  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CASES = {"france": ("episodes.jsonl", "patient.id", "participations", "flat_fee"),
         "tunisia": ("episodes-tn.jsonl", "patient.household", "remboursements_menage",
                     "rembourse")}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "parcours.compiler.cli", *args],
                          capture_output=True, text=True, cwd=ROOT)


def drawn(name: str, seed: int, size: int = 400) -> list[dict[str, Any]]:
    sample, key, accumulator, _ = CASES[name]
    rng = random.Random(seed)
    lines = (ROOT / "policies" / "samples" / sample).read_bytes().splitlines()
    items = [json.loads(line, parse_float=Decimal) for line in rng.choices(lines, k=size)]
    section, field = key.split(".")
    days = ["2024-03-01", "2024-03-02", "2024-11-30", "2025-01-02", "2025-06-15"]
    for n, item in enumerate(items):
        item["id"] = f"ep-{rng.randrange(size // 2):04d}"  # some ids repeat
        if rng.random() < 0.6:
            item["date"] = rng.choice(days)  # several episodes a day for one key
        if rng.random() < 0.9:
            item[section][field] = f"k{rng.randrange(4)}"
        if rng.random() < 0.1:
            item[f"{accumulator}_used"] = rng.choice(["5.00", "0", "1e2", 7])
        if rng.random() < 0.03:
            item["visit"]["fee"] = rng.choice(["-1", None, "abc"])
        if rng.random() < 0.03:
            item[section][field] = rng.choice(["", 12, None])
        if name == "tunisia" and rng.random() < 0.5:
            item["patient"]["filiere"] = "remboursement"
    return items


def text(items: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(item, default=str, separators=(",", ":")) + "\n"
                   for item in items).encode()


def decided(args: list[str]) -> tuple[str, list[str]]:
    done = cli(*args)
    assert done.returncode in (0, 1), done.stderr
    rejected = sorted(line for line in done.stderr.splitlines() if line.startswith("rejected"))
    return done.stdout, rejected


@pytest.mark.parametrize("name", sorted(CASES))
def test_columnar_decides_accumulators_as_the_ledger(name: str, tmp_path: Path) -> None:
    policy = str(ROOT / "policies" / f"{name}.parcours")
    _, _, accumulator, adds = CASES[name]
    bound = 0
    for seed in range(3):
        items = drawn(name, seed)
        source = tmp_path / f"{seed}.jsonl"
        source.write_bytes(text(items))
        reference = decided(["decide", policy, "-i", str(source)])
        columnar = decided(["decide", policy, "--engine", "columnar", "-i", str(source)])
        assert columnar == reference
        random.Random(seed).shuffle(items)
        source.write_bytes(text(items))
        shuffled = decided(["decide", policy, "--engine", "columnar", "-i", str(source)])
        assert shuffled == decided(["decide", policy, "-i", str(source)])
        # the same episodes in another order: the same decisions, in that order
        assert sorted(shuffled[0].splitlines()) == sorted(reference[0].splitlines())
        bound += sum(json.loads(line)[adds] in ("0.00", "0.000")
                     for line in reference[0].splitlines())
    assert bound > 0  # some caps were reached


def test_a_parquet_input_is_decided_with_the_ledger(tmp_path: Path) -> None:
    """A Parquet file through the columnar engine and through the row engine: the
    decisions of the same episodes as JSON Lines, in the file's row order."""
    policy = str(ROOT / "policies" / "france.parcours")
    items = [item for item in drawn("france", 7) if isinstance(item["visit"]["fee"], str)
             and item.get("participations_used") is None
             and isinstance(item["patient"].get("id", ""), str)]
    for item in items:
        item["visit"]["fee"] = str(item["visit"]["fee"])
    source = tmp_path / "episodes.jsonl"
    source.write_bytes(text(items))
    with open(tmp_path / "episodes.parquet", "wb") as handle:
        tables.write_episodes(handle, (json.loads(line) for line in
                                       source.read_text().splitlines()), "parquet")
    reference = decided(["decide", policy, "-i", str(source)])[0]
    for engine in ("columnar", "compiled"):
        out = tmp_path / f"{engine}.jsonl"
        done = cli("decide", policy, "--engine", engine, "-i",
                   str(tmp_path / "episodes.parquet"), "-o", str(out))
        assert done.returncode in (0, 1), done.stderr
        assert out.read_text() == reference, engine


def test_chains_follow_each_key_in_date_then_id_order() -> None:
    """A row's group is its (key, year); the chain holds the keyed rows by key, then in
    the ledger's order (date, id, then the episode's text)."""
    from parcours.compiler.tools import waves
    from parcours.runtime import AccumulatorSpec

    table = pa.table({"id": ["b", "a", "c", "d", "e", "a"],
                      "patient": pa.array([{"id": "p"}, {"id": "p"}, {"id": None},
                                           {"id": "q"}, {"id": "p"}, {"id": "p"}])})
    days = np.array([10, 10, 10, 5, 400, 10], dtype=np.int64)  # e: another year
    view = waves.Rows(table, days)
    spec = AccumulatorSpec("acc", "acc_used", ("patient.id",), "calendar_year", "x", ())
    texts = {1: "z", 5: "y"}  # rows 1 and 5: the same key, date and id
    totals = waves.groups(spec, view, lambda rows: [texts[r] for r in rows])
    assert totals.chain.tolist() == [5, 1, 0, 4, 3]
    assert totals.starts.tolist() == [0, 3, 4]
    assert totals.group.tolist() == [0, 0, -1, 2, 1, 0]
    assert totals.slots == [("acc", ("p",), "1970"), ("acc", ("p",), "1971"),
                            ("acc", ("q",), "1970")]
    adds = np.array([1, 2, 100, 4, 8, 16], dtype=np.int64)
    assert totals.before(adds).tolist() == [0, 16, 18, 0, 0]  # along the chain
    assert totals.sums(adds).tolist() == [19, 8, 4]


TWO = """
policy two {
  title "two" country "FR" currency EUR status in_force valid from 2020-01-01
}
source s = "doc"
input date: date
input patient.id: id
input patient.home: id
input patient.age: int[0..130]
input visit.fee: money
decision {
  pathway { ok }
  output fee: money totals patient
}
param cap_amount: money = 5.00 EUR cite s
param home_cap: money = 7.00 EUR cite s
param per_visit: money = 2.00 EUR cite s
accumulator pf: money per patient.id over calendar_year adds fee cap cap_amount cite s
accumulator hh: money per patient.home over calendar_year adds fee cap home_cap cite s
rules pathway { default ok: ok cite s }
output fee: money = case {
  when patient.age < 18: 0.00 EUR
  else: min(min(per_visit, pf.left), hh.left)
}
"""


def two_episodes(seed: int, size: int = 300) -> list[dict[str, Any]]:
    """Episodes for TWO: a person's cap (5.00, 2.00 a visit: reached exactly after a
    1.00) and a household's (7.00) bind each other; some rows without a key, some with
    an amount stated, some the batch leaves (an unreadable fee), some rejected."""
    rng = random.Random(seed)
    items = []
    for _ in range(size):
        item: dict[str, Any] = {
            "id": f"e{rng.randrange(size // 2):03d}",
            "date": rng.choice(["2024-01-01", "2024-01-01", "2024-05-02", "2025-03-03"]),
            "patient": {"age": rng.choice([10, 40, 50])}, "visit": {"fee": "10.00"}}
        if rng.random() < 0.9:
            item["patient"]["id"] = f"p{rng.randrange(6)}"
        if rng.random() < 0.9:
            item["patient"]["home"] = f"h{rng.randrange(3)}"
        if rng.random() < 0.05:
            item["visit"]["fee"] = rng.choice(["abc", 10])
        if rng.random() < 0.05:
            item[rng.choice(["pf_used", "hh_used"])] = rng.choice(["1.50", "6.99", "x"])
        items.append(item)
    return items


def test_two_accumulators_reach_the_ledgers_fixed_point(tmp_path: Path) -> None:
    """Two accumulators, each capping the other's adds: the columnar engine's decisions,
    rejections and state are the row engine's, in order, shuffled and from a state."""
    policy = tmp_path / "two.parcours"
    policy.write_text(TWO, encoding="utf-8")
    state = tmp_path / "state.jsonl"
    state.write_text('{"accumulator":"hh","key":["h1"],"period":"2024","used":"3.00"}\n'
                     '{"accumulator":"pf","key":["p2"],"period":"2024","used":"4.50"}\n')
    capped = 0
    for seed in range(3):
        items = two_episodes(seed)
        if seed == 2:
            random.Random(seed).shuffle(items)
        source = tmp_path / f"{seed}.jsonl"
        source.write_bytes(text(items))
        runs = []
        for engine in ("compiled", "columnar"):
            out = tmp_path / f"{engine}.state"
            done = cli("decide", str(policy), "--engine", engine, "-i", str(source),
                       "--state-in", str(state), "--state-out", str(out))
            assert done.returncode == 1, done.stderr  # some episodes are rejected
            runs.append((done.stdout, done.stderr, sorted(out.read_text().splitlines())))
        assert runs[0] == runs[1]
        fees = [json.loads(line)["fee"] for line in runs[0][0].splitlines()]
        capped += sum(fee not in ("0.00", "2.00") for fee in fees)  # what was left
    assert capped > 0


def test_the_fixed_point_takes_a_few_rounds_not_one_a_visit() -> None:
    """One key's 60 episodes, shuffled (the cap reached exactly on the 25th): a few
    rounds, not 60, and the ledger's flat fees."""
    from parcours.compiler.tools import columns, waves
    from parcours.runtime import Ledger, specs_of

    policy = tables.load_columnar(ROOT / "policies" / "france.parcours")
    base = json.loads((ROOT / "policies" / "samples" / "episodes.jsonl").read_text()
                      .splitlines()[0])
    items = []
    for day in range(60):
        item = json.loads(json.dumps(base))
        item.update(id=f"e{day:02d}", date=f"2025-01-{1 + day % 28:02d}")
        item["patient"].update(id="p", age=40, low_income_cover=False)
        item["patient"].pop("pregnancy_month", None)
        item["visit"].update(specialty="general_practice")
        items.append(item)
    random.Random(1).shuffle(items)
    table = tables._table(items)
    batch = columns.read_batch(policy, table)
    view = waves.Rows(table, batch.columns["date"])
    totals = [waves.groups(spec, view, lambda rows: [waves.compact(items[r]) for r in rows])
              for spec in specs_of(policy.row)]
    out = waves.decide_until_fixed(policy.columnar, policy.row.decide, batch.columns,
                                   batch.bad, totals, lambda row: items[row],
                                   lambda row: row + 1)
    assert 2 <= out.rounds <= 5
    ledger = Ledger(specs_of(policy.row))
    order = sorted(range(60), key=lambda i: (str(items[i]["date"]), str(items[i]["id"])))
    expected = {i: ledger.decide(policy.row.decide, items[i]) for i in order}
    fees = [str(expected[i].to_dict()["flat_fee"]) for i in range(60)]
    assert [f"{v / 100:.2f}" for v in out.result["flat_fee"].tolist()] == fees
    assert sorted(fees).count("0.00") == 60 - 25  # 25 visits at 2.00 reach 50.00


def test_state_in_and_out_through_tables(tmp_path: Path) -> None:
    policy = tables.load_columnar(ROOT / "policies" / "france.parcours")
    from parcours.runtime import Ledger, specs_of

    items = [item for item in drawn("france", 3) if isinstance(item["visit"]["fee"], str)]
    data = text(items)
    results = []
    for engine in (policy, policy.row):
        ledger = Ledger(specs_of(policy.row))
        ledger.used[("participations", ("k1",), "2024")] = Decimal("49.00")
        out = io.StringIO()
        sink = tables.DecisionSink(out, "jsonl", policy.meta)
        tables.decide_file(engine, None if engine is policy else policy.row.decide,
                           io.BytesIO(data), "jsonl", sink, lambda r: None, ledger=ledger)
        results.append((out.getvalue(), sorted(ledger.used.items())))
    assert results[0] == results[1]
    assert results[0][1] and ("participations", ("k1",), "2024") in dict(results[0][1])


def test_state_files_through_the_columnar_engine(tmp_path: Path) -> None:
    """`--state-in` and `--state-out` with `--engine columnar`: the decisions and the
    final totals of the row engine's run (the state's lines sorted)."""
    policy = str(ROOT / "policies" / "france.parcours")
    source = tmp_path / "episodes.jsonl"
    source.write_bytes(text(drawn("france", 5)))
    state = tmp_path / "state.jsonl"
    state.write_text('{"accumulator":"participations","key":["k2"],"period":"2024",'
                     '"used":"48.00"}\n')
    results = []
    for engine in ("compiled", "columnar"):
        out = tmp_path / f"{engine}-state.jsonl"
        done = cli("decide", policy, "--engine", engine, "-i", str(source),
                   "--state-in", str(state), "--state-out", str(out))
        assert done.returncode in (0, 1), done.stderr
        results.append((done.stdout, sorted(out.read_text().splitlines())))
    assert results[0] == results[1]
    assert any('"key":["k2"],"period":"2024"' in line for line in results[0][1])
    done = cli("decide", str(ROOT / "policies" / "morocco.parcours"), "--engine", "columnar",
               "-i", str(source), "--state-out", str(tmp_path / "no.jsonl"))
    assert done.returncode == 2 and "declares no accumulator" in done.stderr
