#!/usr/bin/env python3
"""Benchmark: the columnar engine on France, against the numpy peer and the row engine.

    .venv/bin/python bench/bench_columnar.py [--n 1000000] [--rounds 5] [--e2e-n 1000000]
                                             [--skip-e2e] [--peers DIR]

Episodes are `parcours population --profile fr --seed 7` (cached in `.bench/`, git-ignored,
as JSON Lines and as Parquet).  Figures, printed as markdown:

(a) compute: the columnar engine on `policies/france.parcours` against `decide` of the
    peers' `vectorised.py` (integer cents, integer percent rates), both on the same
    `--n` episodes already in numpy columns, timed in one process and interleaved for
    `--rounds` rounds; the median of each gives decisions/s, the ratio ours/peer is the
    median of the per-round ratios of decisions/s.  France has an accumulator (the
    annual cap of 50 EUR of flat fees per patient.id): "ours" is the whole run to the
    accumulator's fixed point (the slots and their chains in the ledger's order, then
    `decide_columns` in rounds until no amount used changes; `tools/waves.py`), the
    same rounds with the slots worked out beforehand, and, for reference, one
    `decide_columns` over the whole batch with nothing used before (not the policy's
    decisions).  The peer encodes a smaller
    France (no annual cap, no sectors, acts or penalty cap), so it does less work.
(b) end to end: `parcours decide --engine columnar -i EPISODES.parquet -o D.parquet` and
    the row engine's `parcours decide -i EPISODES.jsonl -o D.jsonl` (its ledger: the
    reference for the annual cap), as subprocesses on `--e2e-n` episodes; decisions/s
    from the wall time (start-up and compilation included), and whether the two
    decision files hold the same decisions, row for row.

The peers are not part of this repository: point `--peers DIR` (or PARCOURS_PEERS) at
their folder; without it (a) is skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".bench"
POLICY = ROOT / "policies" / "france.parcours"
PARCOURS = [sys.executable, "-m", "parcours.compiler.cli"]


def episodes(n: int, seed: int = 7) -> tuple[Path, Path]:
    """The cached JSON Lines and Parquet files of `n` France episodes."""
    from parcours.compiler.tools import tables

    CACHE.mkdir(exist_ok=True)
    jsonl = CACHE / f"fr-{n}-s{seed}.jsonl"
    parquet = jsonl.with_suffix(".parquet")
    if not jsonl.exists():
        subprocess.run(PARCOURS + ["population", "--profile", "fr", "--size", str(n), "--seed",
                                   str(seed), "--output", str(jsonl)], check=True)
    if not parquet.exists():
        policy = tables.load_columnar(POLICY)
        pq.write_table(tables.read_json_table(str(jsonl), policy), parquet)
    return jsonl, parquet


def peer_columns(columns: dict[str, Any], policy: Any, peer: Any) -> dict[str, Any]:
    """The peer's input columns, from the columnar module's."""
    specialties = next(f.members for f in policy.columnar.FIELDS if f.path == "visit.specialty")
    recode = np.array([peer.SPEC[s] for s in specialties], dtype=np.int8)
    out = {key: columns[f"{part}.{key}"] for part, key in peer.BOOLS}
    out["age"] = columns["patient.age"]
    out["specialty"] = recode[columns["visit.specialty"]]
    out["date"] = columns["date"].astype("datetime64[D]")
    out["fee"] = columns["visit.fee"]
    return out


def read_table(path: Path, policy: Any) -> Any:
    """A Parquet file of episodes as `decide --engine columnar` reads it (its strings
    dictionary-encoded)."""
    import pyarrow as pa

    from parcours.compiler.tools import tables

    return pa.concat_tables(list(tables.read_batches(str(path), "parquet",
                                                     tables.dictionary_fields(policy))))


def load_peer(peers: Path) -> Any:
    """The peers' `vectorised.py` as a module."""
    spec = importlib.util.spec_from_file_location("vectorised_peer", peers / "vectorised.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {peers / 'vectorised.py'}")
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)
    return peer


POLICY_RUN = "columnar to a fixed point (the policy)"
ROUNDS_ONLY = "columnar, its rounds only (slots and chains ready)"
ONE_BATCH = "columnar, one batch, nothing used before"
PEER = "numpy peer (no annual cap)"


def compute_runs(policy: Any, table: Any, peer: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """What (a) times, as functions of no argument, on `table` (episodes in Arrow), and
    what the last run of the policy found (`rounds`, `outcome`, `bad`, `batch_result`)."""
    from parcours.compiler.tools import columns, waves
    from parcours.runtime import specs_of

    batch = columns.read_batch(policy, table)
    ours_in, bad, n = batch.columns, batch.bad, table.num_rows
    theirs_in = peer_columns(ours_in, policy, peer)
    decide = policy.columnar.decide_columns
    specs = specs_of(policy.row)
    info: dict[str, Any] = {"bad": bad, "rounds": 0, "batch_result": None}
    chains: list[Any] = []

    def slots() -> list[Any]:
        view = waves.Rows(table, ours_in["date"])
        return [waves.groups(spec, view, lambda rows: [str(r) for r in rows])
                for spec in specs]

    def fixed_point() -> None:
        decided = waves.decide_until_fixed(policy.columnar, policy.row.decide, ours_in, bad,
                                           slots(), lambda row: {}, lambda row: row + 1)
        info["rounds"], info["outcome"] = decided.rounds, decided

    def rounds_only() -> None:
        if not chains:
            chains[:] = slots()
        for t in chains:  # the totals start again from zero
            t.amount[:] = 0
            t.seen[:] = False
        waves.decide_until_fixed(policy.columnar, policy.row.decide, ours_in, bad, chains,
                                 lambda row: {}, lambda row: row + 1)

    def one_batch() -> None:
        info["batch_result"] = decide(ours_in, n)

    def the_peer() -> None:
        peer.decide(theirs_in)

    return {POLICY_RUN: fixed_point, ROUNDS_ONLY: rounds_only, ONE_BATCH: one_batch,
            PEER: the_peer}, info


def interleaved(runs: dict[str, Any], rounds: int) -> dict[str, list[float]]:
    """Seconds of each run, round by round (one warm-up first; the order reversed every
    other round)."""
    for run_once in runs.values():
        run_once()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(rounds):
        names = list(runs) if r % 2 == 0 else list(reversed(runs))
        for name in names:
            start = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - start)
    return times


def bench_compute(n: int, rounds: int, peers: Path) -> None:
    from parcours.compiler.tools import tables

    peer = load_peer(peers)
    policy = tables.load_columnar(POLICY)
    table = read_table(episodes(n)[1], policy)
    runs, info = compute_runs(policy, table, peer)
    times = interleaved(runs, rounds)
    ratios = [p / r for p, r in zip(times[PEER], times[POLICY_RUN])]
    print(f"\n(a) compute, {n:,} France episodes in columns, {rounds} interleaved rounds "
          f"({info['rounds']} rounds to the fixed point)\n")
    print("| engine | median s | decisions/s | × peer |\n|---|---:|---:|---:|")
    peer_median = statistics.median(times[PEER])
    for name, timed in times.items():
        median = statistics.median(timed)
        print(f"| {name} | {median:.4f} | {n / median / 1e6:.2f} M | "
              f"{peer_median / median:.2f} |")
    capped = int((info["outcome"].result["flat_fee"]
                  != info["batch_result"]["flat_fee"]).sum())
    print(f"\nours (the policy)/peer in decisions/s: {statistics.median(ratios):.2f} "
          f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)}); rows left to the row "
          f"engine: {int(info['bad'].sum())}; flat fees the annual cap cut: {capped:,}")


def run(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(PARCOURS + args, check=False, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def bench_e2e(n: int) -> None:
    jsonl, parquet = episodes(n)
    out_col, out_row = CACHE / "decisions-columnar.parquet", CACHE / "decisions-row.jsonl"
    col_s = run(["decide", str(POLICY), "--engine", "columnar", "-q", "-i", str(parquet),
                 "-o", str(out_col)])
    row_s = run(["decide", str(POLICY), "-q", "-i", str(jsonl), "-o", str(out_row)])
    columnar = pq.read_table(out_col).to_pylist()
    with open(out_row, encoding="utf-8") as handle:
        same = len(columnar) == n and all(json.loads(line) == row
                                          for line, row in zip(handle, columnar))
    print(f"\n(b) end to end, {n:,} France episodes (whole process)\n")
    print("| engine | input → output | s | decisions/s |\n|---|---|---:|---:|")
    print(f"| columnar | Parquet → Parquet | {col_s:.2f} | {n / col_s / 1e3:.0f} k |")
    print(f"| compiled (row) | JSON Lines → JSON Lines | {row_s:.2f} | {n / row_s / 1e3:.0f} k |")
    print(f"\ncolumnar/row in decisions/s: {row_s / col_s:.1f}; same decisions row for row: "
          f"{'yes' if same else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--e2e-n", type=int, default=1_000_000)
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--peers", type=Path, default=os.environ.get("PARCOURS_PEERS"))
    args = parser.parse_args()
    if args.peers is not None:
        bench_compute(args.n, args.rounds, args.peers)
    if not args.skip_e2e:
        bench_e2e(args.e2e_n)


if __name__ == "__main__":
    main()
