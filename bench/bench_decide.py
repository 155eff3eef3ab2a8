#!/usr/bin/env python3
"""Benchmark: the compiled France policy against the hand-written peer.

    .venv/bin/python bench/bench_decide.py [--n 100000] [--rounds 5]
                                           [--e2e-n 1000000] [--skip-e2e]

Two figures, both printed as a markdown table:

(a) per call: ``policies/france.parcours`` compiled in memory
    (``load_policy``), its ``decide`` against ``decide`` of
    ``handwritten.py`` of the peers folder, on the same list of pre-parsed
    episodes (``json.loads(line, parse_float=Decimal)``).  Both functions are
    timed in one process, interleaved (the order alternates each round), for
    ``--rounds`` rounds, in CPU time of the timing thread (``time.thread_time``:
    on a shared machine, time spent descheduled does not count); the median per
    function gives µs per call, and the ratio ours/handwritten is the median of
    the per-round ratios (the goal is ≤ 1.0, validation included).

(b) end to end: ``parcours decide POLICY --input F --output G`` as a
    subprocess beside ``handwritten.py --stream --input F --output G`` (same
    interpreter), on ``--e2e-n`` episodes; decisions/s from the whole-process
    wall time (start-up and compilation included) and peak RSS (from
    ``/usr/bin/time -v`` when present, else from ``os.wait4``).

Episodes come from the peers' ``gen.py`` and are cached in
``.bench/`` (git-ignored) by size and seed.

The peers (the same France subset written by hand, with numpy, OpenFisca and
Publicodes) are not part of this repository: point ``--peers DIR`` (or the
environment variable ``PARCOURS_PEERS``) at their folder.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".bench"
PEERS = Path(os.environ.get("PARCOURS_PEERS", "peers"))
POLICY = ROOT / "policies" / "france.parcours"
TIME_BIN = "/usr/bin/time"

Episode = dict[str, Any]
Decide = Callable[[Mapping[str, Any]], Any]


def episodes_file(n: int, seed: int) -> Path:
    """The cached episode file of size `n`, generated once with gen.py."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"episodes-{n}-s{seed}.jsonl"
    if not path.exists():
        tmp = path.with_name(f".{path.name}.partial")
        subprocess.run([sys.executable, str(PEERS / "gen.py"), str(n), "--seed", str(seed),
                        "--output", str(tmp)], check=True)
        tmp.replace(path)
    return path


def load_episodes(path: Path) -> list[Episode]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line, parse_float=Decimal) for line in handle if line.strip()]


def import_peer(path: Path) -> Any:
    """The hand-written peer as a module (its argparse runs only under __main__)."""
    spec = importlib.util.spec_from_file_location("handwritten_peer", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_agreement(ours: Decide, theirs: Decide,
                    episodes: Sequence[Episode]) -> tuple[int, int]:
    """How many of `episodes` the two decide on a different pathway, and on different money.

    The peer encodes a smaller subset of France (one base per GP/other, no
    sectors, fewer exceptions), so differences are expected: the count is a
    sanity check that both really decide, not a correctness test."""
    money = ("base", "rate", "reimbursed", "flat_fee", "patient_pays")
    pathway = money_differ = 0
    for ep in episodes:
        a, b = ours(ep), theirs(ep)
        pathway += a.pathway != b["pathway"]
        money_differ += any(a.value(f) != b[f] for f in money)
    return pathway, money_differ


def time_loop(function: Decide, episodes: Sequence[Episode]) -> float:
    """Seconds to decide every episode once."""
    gc.collect()
    start = time.thread_time()
    for ep in episodes:
        function(ep)
    return time.thread_time() - start


@dataclass(slots=True)
class PerCall:
    n: int
    rounds: int
    ours_us: float
    theirs_us: float
    ratio: float
    pathway_differ: int
    money_differ: int


def bench_per_call(n: int, rounds: int, seed: int) -> PerCall:
    from parcours.compiler.pipeline import load_policy

    module = load_policy(str(POLICY))
    ours: Decide = module.decide
    peer = import_peer(PEERS / "handwritten.py")
    theirs: Decide = peer.decide
    episodes = load_episodes(episodes_file(n, seed))
    differ = check_agreement(ours, theirs, episodes[:2000])
    # Warm-up: one pass each, untimed.
    time_loop(ours, episodes[:5000])
    time_loop(theirs, episodes[:5000])
    ours_s: list[float] = []
    theirs_s: list[float] = []
    for r in range(rounds):
        if r % 2 == 0:
            ours_s.append(time_loop(ours, episodes))
            theirs_s.append(time_loop(theirs, episodes))
        else:
            theirs_s.append(time_loop(theirs, episodes))
            ours_s.append(time_loop(ours, episodes))
        print(f"  round {r + 1}/{rounds}: ours {ours_s[-1] / len(episodes) * 1e6:.2f} µs, "
              f"handwritten {theirs_s[-1] / len(episodes) * 1e6:.2f} µs", file=sys.stderr)
    ratios = [a / b for a, b in zip(ours_s, theirs_s)]
    return PerCall(len(episodes), rounds, statistics.median(ours_s) / len(episodes) * 1e6,
                   statistics.median(theirs_s) / len(episodes) * 1e6,
                   statistics.median(ratios), *differ)


@dataclass(slots=True)
class Run:
    name: str
    command: list[str]
    n: int
    wall_s: float
    peak_mib: float
    lines: int

    @property
    def rate(self) -> float:
        return self.lines / self.wall_s


def count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def run_process(name: str, command: list[str], n: int, output: Path) -> Run:
    """Run `command` once; wall time and peak RSS of the child."""
    use_time = os.path.exists(TIME_BIN)
    argv = [TIME_BIN, "-v", *command] if use_time else command
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write(stderr[-4000:])
        raise SystemExit(f"{name} failed (exit {proc.returncode}): {' '.join(command)}")
    if use_time:
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
        peak_kib = int(match.group(1)) if match else usage.ru_maxrss
    else:
        peak_kib = usage.ru_maxrss  # KiB on Linux
    lines = count_lines(output)
    output.unlink()  # decisions are large (~0.5 GB per million); only their count is kept
    return Run(name, command, n, wall, peak_kib / 1024, lines)


def bench_end_to_end(n: int, seed: int) -> list[Run]:
    source = episodes_file(n, seed)
    ours_out = CACHE / f"decisions-parcours-{n}.jsonl"
    theirs_out = CACHE / f"decisions-handwritten-{n}.jsonl"
    parcours = shutil.which("parcours", path=str(Path(sys.executable).parent)) or "parcours"
    ours_cmd = [parcours, "decide", str(POLICY.relative_to(ROOT)), "--input", str(source),
                "--output", str(ours_out)]
    theirs_cmd = [sys.executable, str(PEERS / "handwritten.py"), "--stream", "--input",
                  str(source), "--output", str(theirs_out)]
    runs = [run_process("parcours decide", ours_cmd, n, ours_out),
            run_process("handwritten --stream", theirs_cmd, n, theirs_out)]
    for run in runs:
        if run.lines != n:
            print(f"warning: {run.name} wrote {run.lines} decisions for {n} episodes",
                  file=sys.stderr)
    return runs


def rate_text(rate: float) -> str:
    return f"{rate / 1e3:,.1f} k/s" if rate < 1e6 else f"{rate / 1e6:.2f} M/s"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=100_000, help="episodes for the per-call figure")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    parser.add_argument("--e2e-n", type=int, default=1_000_000,
                        help="episodes for the end-to-end figure")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-per-call", action="store_true")
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--peers", type=Path, default=None,
                        help="the peers' folder (default: $PARCOURS_PEERS, else ./peers)")
    args = parser.parse_args(argv)
    global PEERS
    if args.peers is not None:
        PEERS = args.peers
    if not (PEERS / "handwritten.py").exists():
        parser.error(f"no peers in {PEERS}: give --peers DIR or set PARCOURS_PEERS")

    print(f"python {sys.version.split()[0]}, {POLICY.relative_to(ROOT)}", file=sys.stderr)
    if not args.skip_per_call:
        print(f"per call: {args.n} episodes, {args.rounds} rounds", file=sys.stderr)
        pc = bench_per_call(args.n, args.rounds, args.seed)
        verdict = "ok" if pc.ratio <= 1.0 else "over goal"
        print(f"\n### Per call ({pc.n:,} pre-parsed episodes, median of {pc.rounds} "
              f"interleaved rounds)\n")
        print("| decide | µs / call | calls / s |")
        print("|---|---:|---:|")
        print(f"| parcours (france.parcours, in memory) | {pc.ours_us:.2f} "
              f"| {rate_text(1e6 / pc.ours_us)} |")
        print(f"| handwritten.py | {pc.theirs_us:.2f} | {rate_text(1e6 / pc.theirs_us)} |")
        print(f"\nratio ours/handwritten: **{pc.ratio:.2f}** (goal ≤ 1.0: {verdict}); "
              f"on the first 2,000 episodes the peer (a smaller France subset) differs on "
              f"{pc.pathway_differ} pathways and {pc.money_differ} amounts")
        sys.stdout.flush()
    if not args.skip_e2e:
        print(f"end to end: {args.e2e_n} episodes", file=sys.stderr)
        runs = bench_end_to_end(args.e2e_n, args.seed)
        print(f"\n### End to end ({args.e2e_n:,} episodes, JSON Lines in and out, "
              f"one run each)\n")
        print("| command | wall s | decisions / s | peak RSS MiB |")
        print("|---|---:|---:|---:|")
        for run in runs:
            print(f"| {run.name} | {run.wall_s:.2f} | {rate_text(run.rate)} "
                  f"| {run.peak_mib:.0f} |")
        print(f"\nratio wall ours/handwritten: **{runs[0].wall_s / runs[1].wall_s:.2f}**")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
