#!/usr/bin/env python3
"""Benchmark: how the static verifier scales with the size and shape of a policy.

    .venv/bin/python bench/verify_capacity.py [--rules 1000,2000,5000]
        [--same 300] [--dated 400] [--independent 10,20,40] [--lets 200000]
        [--timeout 300] [--only NAME,...] [--keep DIR]

Generates policies into a temporary folder (``policies/france.parcours`` and
``policies/episode.parcours`` with declarations appended), runs
``parcours check --format json`` on each as a subprocess and prints, as a
markdown table, the wall time, the findings by code and the time per stage
(from ``parcours check --timing``).  The shapes:

* ``rules-N``: France plus N rules on a fresh int input ``visit.code``, each at
  its own priority, every one reachable (``visit.code == i and patient.age >= a``);
* ``same-N-apart`` / ``same-N-overlap``: France plus N rules at ONE priority
  with alternating pathways; apart: ``visit.code == i`` (no conflict);
  overlap: ``visit.code`` in ``10i..10i+14`` (each overlaps the next: N-1 E402);
* ``dated-N``: France plus N rules, each for one week (``date >= D and
  date <= D+6``) and one age, at its own priority;
* ``independent-N``: France plus N rules ``visit.f_j and patient.n_j >= 50``
  over inputs no other rule reads;
* ``lets-N``: France plus N ``let``s (a few of them read by a rule);
* ``diff``: ``parcours diff`` of France against France with ``normal_rate``
  0.70 changed to 0.65.

A run that exceeds ``--timeout`` seconds is reported as such.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
PARCOURS = str(Path(sys.executable).with_name("parcours"))
DEFAULT_ANCHOR = "  default not_referred: out_of_pathway\n"
INPUTS_ANCHOR = "# ---- groups of specialties"
PATHWAYS = ("exempt", "direct_access")


def _france() -> str:
    return (POLICIES / "france.parcours").read_text(encoding="utf-8")


def _extend(inputs: list[str], rules: list[str], tail: list[str] | None = None) -> str:
    """France with extra inputs (before its lets) and extra rules (before its default)."""
    text = _france()
    assert INPUTS_ANCHOR in text and DEFAULT_ANCHOR in text
    text = text.replace(INPUTS_ANCHOR, "\n".join(inputs) + "\n\n" + INPUTS_ANCHOR, 1)
    text = text.replace(DEFAULT_ANCHOR, "\n".join(rules) + "\n" + DEFAULT_ANCHOR, 1)
    return text + ("\n".join(tail) + "\n" if tail else "")


def _rule(name: str, priority: int, pathway: str, condition: str) -> str:
    return f"  rule {name} priority {priority}: {pathway}\n    when {condition}\n    cite seed002\n"


CODE_INPUT = "input visit.code: int[0..1000000] = 0   cite seed002\n  note \"generated benchmark input\""


def many_rules(n: int) -> str:
    return _extend([CODE_INPUT], [
        _rule(f"gen_{i}", 13 + i, PATHWAYS[i % 2], f"visit.code == {i} and patient.age >= {i % 90}")
        for i in range(n)])


def same_priority(n: int, overlap: bool) -> str:
    rules = []
    for i in range(n):
        cond = (f"visit.code >= {10 * i} and visit.code <= {10 * i + 14}" if overlap
                else f"visit.code == {i}")
        rules.append(_rule(f"gen_{i}", 13, PATHWAYS[i % 2], cond))
    return _extend([CODE_INPUT], rules)


def dated(n: int) -> str:
    start = date(2018, 1, 1)
    rules = []
    for i in range(n):
        first = start + timedelta(days=7 * i)
        last = first + timedelta(days=6)
        rules.append(_rule(f"week_{i}", 13 + i, PATHWAYS[i % 2],
                           f"date >= {first.isoformat()} and date <= {last.isoformat()} "
                           f"and patient.age >= {20 + i % 60}"))
    return _extend([], rules)


def independent(n: int) -> str:
    inputs, rules = [], []
    for j in range(n):
        inputs.append(f"input visit.f_{j}: bool = false   cite seed002")
        inputs.append(f"input patient.n_{j}: int[0..100] = 0   cite seed002")
        rules.append(_rule(f"pair_{j}", 13 + j, PATHWAYS[j % 2],
                           f"visit.f_{j} and patient.n_{j} >= 50"))
    return _extend(inputs, rules)


def many_lets(n: int) -> str:
    lets = [f"let gen_{i} = patient.age >= {i % 120} and visit.emergency" for i in range(n)]
    used = sorted({0, n // 2, n - 1})
    rules = [_rule(f"let_rule_{k}", 13 + k, "exempt", f"gen_{i} and visit.referred")
             for k, i in enumerate(used)]
    return _extend([], rules, lets)


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.parcours"
    path.write_text(text, encoding="utf-8")
    return path


def _run(args: list[str], timeout: float) -> tuple[float, subprocess.CompletedProcess[str] | None]:
    started = time.perf_counter()
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "PYTHONHASHSEED": "0"})
    except subprocess.TimeoutExpired:
        return time.perf_counter() - started, None
    return time.perf_counter() - started, done


def _timing(files: list[dict[str, object]]) -> str:
    """The stage breakdown that `check --timing` adds to its JSON (seconds per stage)."""
    stages = files[0].get("stages") if files else None
    if not isinstance(stages, dict):
        return ""
    return "; ".join(f"{stage} {seconds:.1f}" for stage, seconds in stages.items())


def check(path: Path, timeout: float) -> tuple[str, str, str]:
    seconds, done = _run([PARCOURS, "check", "--timing", "--format", "json", str(path)], timeout)
    if done is None:
        return f"> {timeout:.0f} s (timeout)", "-", "-"
    try:
        files = json.loads(done.stdout)["files"]
    except (ValueError, KeyError):
        return f"{seconds:.1f} s", f"exit {done.returncode}: {done.stderr.strip()[-200:]}", "-"
    codes = Counter(d["code"] for f in files for d in f["diagnostics"])
    findings = ", ".join(f"{c} {k}" for c, k in sorted(codes.items())) or "clean"
    return f"{seconds:.1f} s", findings, _timing(files)


def diff(folder: Path, timeout: float) -> tuple[str, str, str]:
    text = _france()
    assert "param normal_rate: rate = 0.70" in text
    old = _write(folder, "france", text)
    new = _write(folder, "france_rate", text.replace("param normal_rate: rate = 0.70",
                                                     "param normal_rate: rate = 0.65", 1))
    seconds, done = _run([PARCOURS, "diff", str(old), str(new), "--format", "json"], timeout)
    if done is None:
        return f"> {timeout:.0f} s (timeout)", "-", "-"
    try:
        result = json.loads(done.stdout)
    except ValueError:
        return f"{seconds:.1f} s", f"exit {done.returncode}: {done.stderr.strip()[-200:]}", "-"
    regions = len(result["regions"]) + result["truncated"]
    return f"{seconds:.1f} s", f"{regions} changed region(s), {result['leaves']} leaves", ""


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", default="1000,2000,5000", help="sizes of rules-N")
    parser.add_argument("--same", default="300", help="sizes of same-N-apart/overlap")
    parser.add_argument("--dated", default="400", help="sizes of dated-N")
    parser.add_argument("--independent", default="10,20,40", help="sizes of independent-N")
    parser.add_argument("--lets", default="200000", help="sizes of lets-N")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--only", default="", help="comma-separated shapes to run "
                        "(rules, same, dated, independent, lets, diff)")
    parser.add_argument("--keep", default="", help="write the policies here and keep them")
    args = parser.parse_args(argv)
    only = set(filter(None, args.only.split(",")))

    def wanted(shape: str) -> bool:
        return not only or shape in only

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="verify-capacity-"))
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(POLICIES / "episode.parcours", folder / "episode.parcours")
    jobs: list[tuple[str, str]] = []
    if wanted("rules"):
        jobs += [(f"rules-{n}", many_rules(n)) for n in _sizes(args.rules)]
    if wanted("same"):
        for n in _sizes(args.same):
            jobs += [(f"same-{n}-apart", same_priority(n, False)),
                     (f"same-{n}-overlap", same_priority(n, True))]
    if wanted("dated"):
        jobs += [(f"dated-{n}", dated(n)) for n in _sizes(args.dated)]
    if wanted("independent"):
        jobs += [(f"independent-{n}", independent(n)) for n in _sizes(args.independent)]
    if wanted("lets"):
        jobs += [(f"lets-{n}", many_lets(n)) for n in _sizes(args.lets)]
    print("| policy | command | time | findings | stages |")
    print("|---|---|---|---|---|")
    try:
        for name, text in jobs:
            path = _write(folder, name.replace("-", "_"), text)
            seconds, findings, stages = check(path, args.timeout)
            print(f"| {name} | check | {seconds} | {findings} | {stages} |", flush=True)
        if wanted("diff"):
            seconds, findings, stages = diff(folder, args.timeout)
            print(f"| france vs normal_rate 0.65 | diff | {seconds} | {findings} | {stages} |",
                  flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
