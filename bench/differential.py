#!/usr/bin/env python3
"""A long differential run: the generated code against the reference interpreter.

    .venv/bin/python bench/differential.py [--examples 5000] [--policy france ...]
                                           [--seed N]

The strategies and the comparison are those of ``tests/test_differential.py``
(episodes built from each policy's IR: boundaries ±1, enum members, missing optional
fields, invalid values, what-if overrides); here with many more examples.  Without
``--seed`` the search is derandomized (the same cases on every run, as in the tests);
with a seed, another part of the space.  Prints, per policy, how many cases ran and
what became of them (decided, rejected, ...), the time, and the first difference
found, if any; exits 1 when the engines differ anywhere.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import types
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, seed, settings

ROOT = Path(__file__).resolve().parent.parent


def _tests() -> types.ModuleType:
    """tests/test_differential.py, imported by path (the tests are not a package)."""
    spec = importlib.util.spec_from_file_location("test_differential",
                                                  ROOT / "tests" / "test_differential.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run(diff: types.ModuleType, name: str, examples: int, chosen_seed: int | None) -> bool:
    pair = diff.engines(name)
    tally: Counter[str] = Counter()
    found: list[str] = []

    @settings(max_examples=examples, derandomize=chosen_seed is None, deadline=None,
              database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(case=diff.cases(pair.program))
    def check(case: Any) -> None:
        episode, sets = case
        tally[diff.outcome(pair.compiled, "decide", episode, sets)[0]] += 1
        if sets:
            tally["with a what-if"] += 1
        problems = diff.differences(pair, case)
        if problems and not found:
            found.append(f"episode {episode!r}, --set {sets!r}:\n" + "\n".join(problems))
        assert not problems

    if chosen_seed is not None:
        check = seed(chosen_seed)(check)
    start = time.perf_counter()
    try:
        check()
    except AssertionError:
        pass
    elapsed = time.perf_counter() - start
    cases = sum(v for k, v in tally.items() if k != "with a what-if")
    detail = ", ".join(f"{k} {v}" for k, v in sorted(tally.items()))
    print(f"{name:<18} {cases:>7} cases (decide and explain, both engines) in {elapsed:6.1f} s:"
          f" {detail}")
    if found:
        print(f"  DIFFERENT on {found[0]}")
    return not found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=5000, help="cases per policy")
    parser.add_argument("--policy", action="append", help="a shipped policy (repeatable); "
                        "default: all")
    parser.add_argument("--seed", type=int, default=None,
                        help="explore with this seed instead of the derandomized search")
    args = parser.parse_args()
    diff = _tests()
    names = args.policy or list(diff.POLICIES)
    print(f"differential run: {args.examples} examples per policy, "
          + ("derandomized" if args.seed is None else f"seed {args.seed}")
          + f", policies {', '.join(names)}")
    ok = all([run(diff, name, args.examples, args.seed) for name in names])
    print("same decisions and rejections in both engines" if ok else "the engines DIFFER")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
