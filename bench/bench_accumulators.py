#!/usr/bin/env python3
"""Benchmark: deciding with accumulators against the same policy without them.

    .venv/bin/python bench/bench_accumulators.py [--n 1000000] [--rounds 3]
                                                 [--sort-buffer 100000] [--reversed]

France's policy has one accumulator (the participation forfaitaire's annual cap per
person).  The same policy without it is derived from its text: the accumulator
declaration goes, and the flat fee is the fee in force again.  Both are run end to end
as `parcours decide POLICY --input F --output G` subprocesses on the same population
(`parcours population --profile fr --size N --seed 5`, cached in `.bench/`), interleaved
for `--rounds` rounds; the table gives the median wall time of each, episodes per second,
the ratio with / without (the goal is at most 1.5), and the peak RSS (`os.wait4`).

A population lists each person's visits in date order, so a run with accumulators reads
it once to check that, then decides the lines as they come (memory: the totals of every
key).  `--reversed` runs the same episodes in reverse line order: each person's visits
then go backwards, and the run is sorted (date, id) with at most `--sort-buffer` lines in
memory, the rest spilled to temporary files, decided through the ledger (the totals of one
calendar year in memory) and written back in input order the same way.

Measured on a shared 2-core machine (one round each, so a few per cent of noise):

| input | without | with | ratio | peak RSS without / with |
|---|---:|---:|---:|---:|
| 1,000,000 episodes, population order | 18.3 s | 21.2 s | 1.16 | 39 / 97 MiB |
| 500,000 episodes, population order | 13.2 s | 12.2 s | 0.92 | 39 / 67 MiB |
| 500,000 episodes, lines reversed (sorted, 100,000-line buffer) | 8.0 s | 15.6 s | 1.97 | 39 / 196 MiB |
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".bench"
POLICY = ROOT / "policies" / "france.parcours"
PARCOURS = Path(sys.executable).parent / "parcours"


def without_accumulators(text: str) -> str:
    """France's policy text with its accumulator taken out (the fee in force again)."""
    text = re.sub(r"\naccumulator participations:.*?\n(?=\n)", "\n", text, flags=re.S)
    text = re.sub(r"  when participations\.used >= participation_annual_cap:.*?\n.*?\n", "", text)
    text = text.replace("min(participation_forfaitaire, participations.left)",
                        "participation_forfaitaire")
    assert "participations." not in text, "the policy changed: update this script"
    return text


def population(n: int) -> Path:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"fr-{n}-5.jsonl"
    if not path.exists():
        subprocess.run([str(PARCOURS), "population", "--profile", "fr", "--size", str(n),
                        "--seed", "5", "--output", str(path)], check=True)
    return path


def run(policy: Path, episodes: Path, out: Path, extra: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one `parcours decide`."""
    started = time.perf_counter()
    proc = subprocess.Popen([str(PARCOURS), "decide", str(policy), "--input", str(episodes),
                             "--output", str(out), "-q", *extra])
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"parcours decide {policy.name} failed")
    return elapsed, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sort-buffer", type=int, default=100_000)
    parser.add_argument("--reversed", action="store_true",
                        help="the population's lines in reverse order (the sorted path)")
    args = parser.parse_args()
    episodes = population(args.n)
    if args.reversed:
        backwards = CACHE / f"fr-{args.n}-5-reversed.jsonl"
        if not backwards.exists():  # in a child: the runs' peak RSS must not include it
            subprocess.run([sys.executable, "-c", "import sys, pathlib; p = pathlib.Path("
                            "sys.argv[1]); pathlib.Path(sys.argv[2]).write_bytes(b''.join("
                            "reversed(p.read_bytes().splitlines(keepends=True))))",
                            str(episodes), str(backwards)], check=True)
        episodes = backwards
    with tempfile.TemporaryDirectory(prefix="parcours-bench-") as tmp:
        folder = Path(tmp)
        shutil.copy(ROOT / "policies" / "episode.parcours", folder / "episode.parcours")
        plain = folder / "france_plain.parcours"
        plain.write_text(without_accumulators(POLICY.read_text(encoding="utf-8")),
                         encoding="utf-8")
        capped = folder / "france.parcours"
        shutil.copy(POLICY, capped)
        times: dict[str, list[float]] = {"without": [], "with": []}
        peaks: dict[str, int] = {"without": 0, "with": 0}
        for round_ in range(args.rounds):
            order = ["without", "with"] if round_ % 2 == 0 else ["with", "without"]
            for name in order:
                policy = capped if name == "with" else plain
                extra = ["--sort-buffer", str(args.sort_buffer)] if name == "with" else []
                seconds, rss = run(policy, episodes, folder / f"{name}.jsonl", extra)
                times[name].append(seconds)
                peaks[name] = max(peaks[name], rss)
        flat = {name: sum(1 for line in (folder / f"{name}.jsonl").open(encoding="utf-8")
                          if '"flat_fee":"2.00"' not in line) for name in times}
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"France, {args.n} episodes (`parcours population --profile fr --seed 5`"
          + (", lines reversed" if args.reversed else "") + f"), median of {args.rounds} "
          f"interleaved rounds, sort buffer {args.sort_buffer} lines")
    print()
    print("| policy | wall s | episodes/s | peak RSS MiB | decisions with a fee other than 2.00 |")
    print("|---|---:|---:|---:|---:|")
    for name in ("without", "with"):
        print(f"| {name} accumulators | {med[name]:.1f} | {args.n / med[name]:,.0f} | "
              f"{peaks[name] / 1024:.0f} | {flat[name]} |")
    print()
    print(f"ratio with / without: {med['with'] / med['without']:.2f} (goal: at most 1.5)")


if __name__ == "__main__":
    main()
