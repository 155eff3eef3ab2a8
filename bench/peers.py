#!/usr/bin/env python3
"""parcours against the peers, in one run, as ratios (`make bench`).

    .venv/bin/python bench/peers.py [--peers DIR] [--size 100000] [--runs 3]
                                    [--work DIR] [--out FILE]

The peers (the France subset written by hand, with numpy and with OpenFisca) and their
harness are not part of this repository: `--peers DIR` or the environment variable
`PARCOURS_PEERS` names their folder.  Their folder is only read: its harness files are
copied into a work folder (`--work`, default a fresh temporary one), where the harness's
`bench.py` runs with parcours added as peers (`decide` on the compiled France module,
`--jobs 1` and `--jobs 2`).  Without the peers, parcours is measured alone on a
population of its own (`parcours population`), and the ratios are left out.

Printed, as one markdown table (also written to `--out`):

1. end to end, JSON Lines in and out: decisions/s from the whole-process wall time
   (start-up included), peak RSS, and the ratio to the best peer of the same run
   (the harness's median of `--runs` runs, each peer in turn): the row engine on the
   compiled module and, with the columnar extra, `--engine columnar` on the policy (its
   modules compiled and cached before any timing), each with one job and two;
2. per call: `decide()` on pre-parsed episodes, ours against the hand-written peer's
   function, in an interpreter of their own, interleaved rounds over the same episodes,
   the ratio the median of the rounds' own ratios;
3. start-up: one episode through `parcours decide` (a compiled module; a `.parcours`
   policy with its compiled module cached; the same without the cache) against the
   hand-written peer, median wall time of 7 runs and CPU time (user + system);
4. the columnar engine (needs the columnar extra, numpy and pyarrow; left out with a
   note without it): `parcours decide --engine columnar` from the same episodes as
   Parquet to Parquet, and the row engine on the same files, their rows in the
   end-to-end table and the ratios of the columnar engine to the row engine (on the same
   Parquet files, and on JSON Lines with `--jobs 1`); and its compute against the numpy peer's `decide` on the same
   columns in one process (`bench/bench_columnar.py`'s runs: one batch without the
   ledger, and the policy with its accumulator's fixed point).

The interpreter for the peers is the peers' own (`DIR/.cache/venv`, made by their
`run.sh`) when it exists, else this one; a peer whose library is missing (numpy,
OpenFisca) is left out and said so.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies" / "france.parcours"
BIN = Path(sys.executable).parent
PARCOURS = str(BIN / "parcours")
SEED = 20250314  # the peers' run.sh seed
HARNESS = ("bench.py", "gen.py", "handwritten.py", "vectorised.py", "openfisca_peer.py",
           "compare.py")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def rate(value: float) -> str:
    return f"{value / 1e6:.2f} M" if value >= 1e6 else f"{value / 1e3:.1f} k"


def has_modules(python: str, *names: str) -> bool:
    probe = ";".join(f"import {name}" for name in names)
    return subprocess.run([python, "-c", probe], capture_output=True).returncode == 0


# ---- set-up --------------------------------------------------------------------------------


def set_up(peers: Path | None, work: Path, size: int) -> tuple[Path, Path, str | None]:
    """(the episodes, the compiled France module, the peers' interpreter or None)."""
    (work / ".cache" / "data").mkdir(parents=True, exist_ok=True)
    module = work / "france.py"
    subprocess.run([PARCOURS, "compile", str(POLICY), "-o", str(module), "-q"], check=True)
    if columnar_available():  # the columnar engine's modules compiled and cached before timing
        empty = work / "empty.jsonl"
        empty.write_bytes(b"")
        subprocess.run([PARCOURS, "decide", str(POLICY), "--engine", "columnar", "-i",
                        str(empty), "-o", os.devnull, "-q"], check=True)
    data = work / ".cache" / "data" / f"ep-{size}.jsonl"
    if peers is None:
        subprocess.run([PARCOURS, "population", "--size", str(size), "--seed", str(SEED),
                        "--profile", "fr", "-o", str(data), "-q"], check=True)
        return data, module, None
    for name in HARNESS:
        if (peers / name).is_file():
            shutil.copy(peers / name, work / name)
    own = peers / ".cache" / "venv" / "bin" / "python"
    python = str(own) if own.exists() else sys.executable
    # The harness runs `.cache/venv/bin/python`: a wrapper that runs the chosen interpreter.
    wrapper = work / ".cache" / "venv" / "bin" / "python"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(f'#!/bin/sh\nexec "{python}" "$@"\n')
    wrapper.chmod(0o755)
    if not data.exists():
        subprocess.run([python, str(work / "gen.py"), str(size), "--seed", str(SEED),
                        "--output", str(data)], check=True)
    return data, module, python


# ---- 1. end to end -------------------------------------------------------------------------


def parcours_command(policy: Path, jobs: int, *extra: str
                     ) -> Callable[[str, str, str], list[str]]:
    return lambda i, o, t: [PARCOURS, "decide", str(policy), *extra, "--input", i, "--output",
                            o, "--jobs", str(jobs), "-q"]


def parcours_programs(module: Path) -> dict[str, Callable[[str, str, str], list[str]]]:
    """The parcours programs of the end-to-end table, JSON Lines in and out: the row engine
    on the compiled module, and (with the columnar extra) the columnar engine on the policy,
    one job and two each."""
    programs = {f"parcours --jobs {jobs}": parcours_command(module, jobs) for jobs in (1, 2)}
    if columnar_available():
        for jobs in (1, 2):
            programs[f"parcours --engine columnar --jobs {jobs}"] = \
                parcours_command(POLICY, jobs, "--engine", "columnar")
    return programs


def end_to_end_with_peers(work: Path, module: Path, python: str, size: int, runs: int
                          ) -> list[dict[str, Any]]:
    spec = importlib.util.spec_from_file_location("peers_bench", work / "bench.py")
    assert spec is not None and spec.loader is not None
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    harness.PEERS.pop("parcours", None)
    ours = parcours_programs(module)
    harness.PEERS.update(ours)
    chosen = ["handwritten", "handwritten-stream"]
    if has_modules(python, "numpy"):
        chosen.append("vectorised")
    else:
        say("note: numpy is missing from the peers' interpreter: vectorised left out")
    if has_modules(python, "openfisca_core", "numpy"):
        chosen.append("openfisca")
    else:
        say("note: OpenFisca is missing from the peers' interpreter: openfisca left out "
            "(the peers' run.sh installs it in their .cache/venv)")
    chosen += list(ours)
    argv = sys.argv
    sys.argv = ["bench.py", "--sizes", str(size), "--runs", str(runs), "--limit-s", "600",
                "--peers", *chosen]
    cpu: dict[str, list[float]] = {}

    def run(command: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
        """The harness's subprocess.run, also reading the CPU time `/usr/bin/time -v` gives."""
        done: subprocess.CompletedProcess[str] = subprocess.run(command, **options)
        peer = next((m for part in command
                     if (m := re.fullmatch(r"bench-(.+)-\d+\.jsonl", os.path.basename(part)))),
                    None)  # the output file's own name: the work folder's may hold "bench-" too
        user = re.search(r"User time \(seconds\): ([0-9.]+)", done.stderr or "")
        system = re.search(r"System time \(seconds\): ([0-9.]+)", done.stderr or "")
        if peer and user and system:
            cpu.setdefault(peer.group(1), []).append(float(user.group(1)) + float(system.group(1)))
        return done

    setattr(harness, "subprocess", types.SimpleNamespace(run=run))
    try:
        harness.main()  # prints the harness's own table
    finally:
        sys.argv = argv
    with open(work / ".cache" / "results" / "bench.json", encoding="utf-8") as handle:
        rows: list[dict[str, Any]] = json.load(handle)["rows"]
    for row in rows:
        if row["peer"] in cpu:
            row["cpu_s"] = statistics.median(cpu[row["peer"]])
    return rows


def end_to_end_alone(module: Path, data: Path, work: Path, size: int, runs: int
                     ) -> list[dict[str, Any]]:
    rows = []
    for name, program in parcours_programs(module).items():
        walls, peaks = [], []
        for _ in range(runs):
            command = program(str(data), str(work / "out.jsonl"), "")
            wall, peak = timed_peak(command)
            walls.append(wall)
            peaks.append(peak)
        wall = statistics.median(walls)
        rows.append({"peer": name, "n": size, "e2e_per_s": size / wall,
                     "wall_s": wall, "peak_mib": statistics.median(p for p, _ in peaks),
                     "cpu_s": statistics.median(c for _, c in peaks)})
    return rows


def timed_peak(command: Sequence[str]) -> tuple[float, tuple[float, float]]:
    """Wall seconds, and peak RSS (MiB) and CPU seconds of one run of `command`."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}")
    return wall, (usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


# ---- 1b. the columnar engine -----------------------------------------------------------------


def columnar_available() -> bool:
    try:
        import numpy  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def parquet_episodes(data: Path) -> Path:
    """The episodes as Parquet (the JSON contract's columns; an amount written as a JSON
    number is its decimal text), made once next to them."""
    import json as json_

    from parcours.compiler.tools import tables

    target = data.with_suffix(".parquet")
    if target.exists():
        return target

    def items() -> Any:
        with open(data, "rb") as handle:
            for line in handle:
                item = json_.loads(line, parse_float=Decimal)
                visit = item.get("visit")
                if isinstance(visit, dict) and isinstance(visit.get("fee"), (int, Decimal)):
                    visit["fee"] = str(visit["fee"])
                yield item

    with open(target, "wb") as handle:
        tables.write_episodes(handle, items(), "parquet")
    return target


def columnar_end_to_end(data: Path, work: Path, size: int, runs: int
                        ) -> list[dict[str, Any]]:
    """`parcours decide france.parcours --engine columnar`, Parquet in and out, and the row
    engine on the same Parquet files: their end-to-end rows (whole process, start-up
    included; the policy's modules cached)."""
    parquet = parquet_episodes(data)
    rows = []
    for name, engine in (("parcours --engine columnar (Parquet → Parquet)", "columnar"),
                         ("parcours --engine compiled (Parquet → Parquet)", "compiled")):
        command = [PARCOURS, "decide", str(POLICY), "--engine", engine, "-q",
                   "-i", str(parquet), "-o", str(work / f"decisions-{engine}.parquet")]
        walls, peaks = [], []
        for _ in range(runs):
            wall, peak = timed_peak(command)
            walls.append(wall)
            peaks.append(peak)
        wall = statistics.median(walls)
        rows.append({"peer": name, "n": size, "e2e_per_s": size / wall, "wall_s": wall,
                     "peak_mib": statistics.median(p for p, _ in peaks),
                     "cpu_s": statistics.median(c for _, c in peaks)})
    return rows


def columnar_compute(data: Path, work: Path | None, rounds: int = 5) -> list[str]:
    """The columnar engine's compute against the numpy peer's `decide`, on the same
    columns in one process (bench/bench_columnar.py's runs), as table lines."""
    if work is None or not (work / "vectorised.py").is_file():
        return []
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_columnar as columnar
    from parcours.compiler.tools import tables

    policy = tables.load_columnar(POLICY)
    table = columnar.read_table(parquet_episodes(data), policy)
    runs, info = columnar.compute_runs(policy, table, columnar.load_peer(work))
    del runs[columnar.ROUNDS_ONLY]
    times = columnar.interleaved(runs, rounds)
    peer = statistics.median(times[columnar.PEER])
    n = table.num_rows
    out = ["", f"Columnar compute, France, {n:,} episodes already in columns (median of "
           f"{rounds} interleaved rounds; the policy: {info['rounds']} round(s) to the "
           f"accumulator's fixed point, slots worked out included; rows left to the row "
           f"engine: {int(info['bad'].sum())}):", "",
           "| compute | s | decisions/s | × numpy peer |", "|---|---|---|---|"]
    for name, values in times.items():
        median = statistics.median(values)
        out.append(f"| {name} | {median:.4f} | {rate(n / median)} | {peer / median:.2f} |")
    return out


# ---- 2. per call ---------------------------------------------------------------------------


PER_CALL_ROUNDS = 31  # interleaved rounds of every episode, each function in turn


def per_call(work: Path | None, module: Path, data: Path, count: int
             ) -> tuple[dict[str, float], float | None]:
    """Seconds a call of each `decide` (the median of its rounds), and ours against the
    hand-written peer's: the median of the rounds' ratios, each round timing both on the
    same episodes one after the other (the host's speed drifts from one second to the
    next: a ratio within a round is steadier than one between two medians)."""
    from parcours.compiler.backends.python.loader import load_generated
    from parcours.runtime import read_episodes

    ours = load_generated(module).decide
    with open(data, "rb") as handle:
        lines = [line for _, line in zip(range(count), handle)]
    episodes = [e for _, e in read_episodes(lines) if isinstance(e, dict)]
    functions: dict[str, tuple[Callable[[Any], object], list[Any]]] = {"parcours": (ours, episodes)}
    if work is not None:
        spec = importlib.util.spec_from_file_location("handwritten_peer", work / "handwritten.py")
        assert spec is not None and spec.loader is not None
        peer = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(peer)
        parsed = [json.loads(line, parse_float=Decimal) for line in lines]
        functions["handwritten"] = (peer.decide, parsed)
    times: dict[str, list[float]] = {name: [] for name in functions}
    gc.collect()
    gc.disable()
    try:
        for round_ in range(PER_CALL_ROUNDS):
            order = list(functions) if round_ % 2 == 0 else list(reversed(functions))
            for name in order:
                function, items = functions[name]
                started = time.perf_counter()
                for item in items:
                    function(item)
                times[name].append((time.perf_counter() - started) / len(items))
    finally:
        gc.enable()
    ratio = statistics.median(a / b for a, b in zip(times["parcours"], times["handwritten"])) \
        if "handwritten" in times else None
    return {name: statistics.median(values) for name, values in times.items()}, ratio


def per_call_apart(work: Path | None, module: Path, data: Path, count: int
                   ) -> tuple[dict[str, float], float | None]:
    """`per_call` in an interpreter of its own, so that the figure does not depend on what
    this one did before (after the million's columnar phases here, ours came out a tenth
    slower next to the peer than in a fresh interpreter, on the same code)."""
    found = subprocess.run([sys.executable, __file__, "--per-call", str(module), str(data),
                            str(count), *([str(work)] if work is not None else [])],
                           check=True, capture_output=True, text=True)
    result = json.loads(found.stdout.splitlines()[-1])
    return result["times"], result["ratio"]


def _per_call_here(argv: list[str]) -> tuple[dict[str, float], float | None]:
    """`per_call` on `MODULE DATA COUNT [WORK]`."""
    module, data, count, *work = argv
    return per_call(Path(work[0]) if work else None, Path(module), Path(data), int(count))


# ---- 3. start-up ---------------------------------------------------------------------------


def start_up(commands: dict[str, list[str]], rounds: int = 7) -> dict[str, tuple[float, float]]:
    """Per command: median wall seconds and median CPU seconds (user + system) of one
    run, the commands interleaved round by round."""
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, check=True,
                           env={**os.environ, **({"PARCOURS_NO_CACHE": "1"}
                                                 if "no cache" in name else {})})
            walls[name].append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {name: (statistics.median(walls[name]), statistics.median(cpus[name]))
            for name in commands}


# ---- the table -----------------------------------------------------------------------------


def table(rows: list[dict[str, Any]], calls: dict[str, float], call_ratio: float | None,
          starts: dict[str, tuple[float, float]], size: int, with_peers: bool,
          compute: Sequence[str] = ()) -> str:
    peers = [r for r in rows if not r["peer"].startswith("parcours") and "e2e_per_s" in r]
    best = max(peers, key=lambda r: r["e2e_per_s"]) if peers else None
    out = [f"End to end, JSON Lines, France, {size:,} episodes of "
           f"{'the peers generator' if with_peers else 'parcours population'}"
           + (f"; best peer: {best['peer']}" if best else "") + ":", "",
           "| program | decisions/s | × best peer | wall s | CPU s | decisions per CPU s "
           "| × best peer (CPU) | peak RSS MiB |",
           "|---|---|---|---|---|---|---|---|"]
    best_cpu = size / best["cpu_s"] if best and best.get("cpu_s") else None
    for row in rows:
        if "e2e_per_s" not in row:
            out.append(f"| {row['peer']} | skipped ({row.get('skipped', '')}) | | | | | | |")
            continue
        ratio = f"{row['e2e_per_s'] / best['e2e_per_s']:.2f}" if best else "–"
        cpu = row.get("cpu_s")
        per_cpu = size / cpu if cpu else None
        out.append(f"| {row['peer']} | {rate(row['e2e_per_s'])} | {ratio} | "
                   f"{row['wall_s']:.2f} | {f'{cpu:.2f}' if cpu else '–'} | "
                   f"{rate(per_cpu) if per_cpu else '–'} | "
                   f"{f'{per_cpu / best_cpu:.2f}' if per_cpu and best_cpu else '–'} | "
                   f"{row['peak_mib']:.0f} |")
    def found(name: str) -> dict[str, Any] | None:
        return next((r for r in rows if r["peer"] == name and "e2e_per_s" in r), None)

    row_engine = found("parcours --jobs 1")
    columnar = found("parcours --engine columnar (Parquet → Parquet)")
    row_tables = found("parcours --engine compiled (Parquet → Parquet)")
    if columnar is None:
        out += ["", "The columnar engine needs the columnar extra "
                "(pip install 'parcours[columnar]'): its figures are left out."]
    elif row_engine is not None and row_tables is not None:
        out += ["", "Columnar (Parquet → Parquet) against the row engine: "
                f"{columnar['e2e_per_s'] / row_tables['e2e_per_s']:.1f}× on the same Parquet "
                f"files, {columnar['e2e_per_s'] / row_engine['e2e_per_s']:.1f}× its JSON Lines "
                "(`--jobs 1`), in decisions/s."]
    out += compute
    load = os.getloadavg()[0]
    out += ["", f"Load average when the table was made: {load:.1f} on {os.cpu_count()} cores "
            "(wall times stretch when other work shares the cores; CPU times much less)."]
    out += ["", f"Per call, `decide()` on pre-parsed episodes (median of {PER_CALL_ROUNDS} "
            "interleaved rounds; the ratio: the median of the rounds' own ratios):", "",
            "| function | µs a call | time × handwritten |", "|---|---|---|"]
    for name, seconds in calls.items():  # the goal's way round: at most 1.0 is as fast
        ratio = "1.000" if name == "handwritten" else \
            f"{call_ratio:.3f}" if call_ratio is not None else "–"  # which side of 1.00
        out.append(f"| {name} | {seconds * 1e6:.2f} | {ratio} |")
    out += ["", "Start-up, one episode (median of 7 runs):", "",
            "| command | wall s | CPU s | wall × handwritten |", "|---|---|---|---|"]
    reference = starts.get("handwritten --stream")
    for name, (wall, cpu) in starts.items():
        ratio = f"{wall / reference[0]:.2f}" if reference else "–"
        out.append(f"| {name} | {wall:.3f} | {cpu:.3f} | {ratio} |")
    return "\n".join(out) + "\n"


def main() -> None:
    if sys.argv[1:2] == ["--per-call"]:  # per_call_apart's interpreter
        print(json.dumps(dict(zip(("times", "ratio"), _per_call_here(sys.argv[2:])))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--peers", default=os.environ.get("PARCOURS_PEERS"), metavar="DIR",
                        help="the peers' folder (default: $PARCOURS_PEERS)")
    parser.add_argument("--size", type=int, default=100_000, help="episodes (default 100000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each program (default 3)")
    parser.add_argument("--work", default=None, metavar="DIR",
                        help="work folder (default: a new temporary folder, removed after)")
    parser.add_argument("--out", default=None, metavar="FILE", help="also write the table here")
    args = parser.parse_args()
    # Every program measured keeps its compiled bytecode, as an installed one does.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    peers = Path(args.peers) if args.peers else None
    if peers is not None and not (peers / "bench.py").is_file():
        raise SystemExit(f"--peers {peers}: no bench.py there (the peers' harness folder)")
    if peers is None:
        say("note: no peers folder (--peers DIR or PARCOURS_PEERS): parcours is measured "
            "alone, on its own population. The peers' folder holds their harness "
            "(bench.py, gen.py, handwritten.py, ...); ask the project for it.")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="parcours-bench-"))
    try:
        data, module, python = set_up(peers, work, args.size)
        say(f"episodes: {data.name}; compiled module: {module.name}; work folder: {work}")
        if python is not None:
            rows = end_to_end_with_peers(work, module, python, args.size, args.runs)
        else:
            rows = end_to_end_alone(module, data, work, args.size, args.runs)
        compute: list[str] = []
        if columnar_available():
            rows += columnar_end_to_end(data, work, args.size, args.runs)
            compute = columnar_compute(data, work if peers is not None else None)
        else:
            say("note: numpy and pyarrow are missing (the columnar extra): the columnar "
                "figures are left out")
        calls, call_ratio = per_call_apart(work if peers is not None else None, module,
                                           data, min(args.size, 20_000))
        one = work / "one.jsonl"
        with open(data, "rb") as handle:
            one.write_bytes(handle.readline())
        commands = {
            "parcours decide france.py": [PARCOURS, "decide", str(module), "-i", str(one),
                                          "--jobs", "1", "-q"],
            "parcours decide france.parcours (cached)": [PARCOURS, "decide", str(POLICY), "-i",
                                                         str(one), "--jobs", "1", "-q"],
            "parcours decide france.parcours (no cache)": [PARCOURS, "decide", str(POLICY),
                                                           "-i", str(one), "--jobs", "1", "-q"],
        }
        if python is not None:
            commands["handwritten --stream"] = [python, str(work / "handwritten.py"), "--stream",
                                                "--input", str(one), "--output", os.devnull]
        subprocess.run(commands["parcours decide france.parcours (cached)"],
                       stdout=subprocess.DEVNULL, check=True)  # fills the cache
        starts = start_up(commands)
        text = table(rows, calls, call_ratio, starts, args.size, python is not None,
                     compute)
        print(text)
        if args.out:
            Path(args.out).write_text(text, encoding="utf-8")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
