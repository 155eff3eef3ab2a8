#!/usr/bin/env python3
"""A long run of the hostile-episode property (`tests/test_episode_properties.py`).

    .venv/bin/python bench/fuzz_episodes.py [EXAMPLES] [--seed N] [--policy FILE] [--explain]

Generates EXAMPLES batches (default 2000) of mutated episodes, random unicode, duplicate
keys, huge numbers, deep nesting and random bytes, decides each batch with the policy
(default `policies/france.parcours`) and checks that no exception escapes, that every
non-blank line yields exactly one record, in order, and that every record is one line
of strict UTF-8.  Prints what it ran; exits 1 with the smallest failing batch if the
property breaks.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import types
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, seed, settings

from parcours.compiler.pipeline import load_policy

ROOT = Path(__file__).resolve().parent.parent


def properties() -> types.ModuleType:
    """The test module that holds the strategies and the property."""
    path = ROOT / "tests" / "test_episode_properties.py"
    spec = importlib.util.spec_from_file_location("episode_properties", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("examples", type=int, nargs="?", default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy", default=str(ROOT / "policies" / "france.parcours"))
    parser.add_argument("--explain", action="store_true", help="decide with traces")
    args = parser.parse_args()

    props = properties()
    module = load_policy(args.policy)
    decide = module.explain if args.explain else module.decide
    counts = {"batches": 0, "lines": 0, "records": 0}

    @seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(batch=props.batches)
    def run(batch: list[bytes]) -> None:
        props.check_batch(decide, batch)
        counts["batches"] += 1
        counts["lines"] += len(batch)
        counts["records"] += len(props.expected_lines(batch))

    started = time.perf_counter()
    failed: Any = None
    try:
        run()
    except Exception as exc:  # the property broke: hypothesis has shrunk the batch
        failed = exc
    seconds = time.perf_counter() - started
    print(f"policy {Path(args.policy).name} ({'explain' if args.explain else 'decide'}), "
          f"seed {args.seed}: {counts['batches']} batches, {counts['lines']} lines, "
          f"{counts['records']} records checked in {seconds:.1f} s")
    if failed is not None:
        print(f"property broken: {type(failed).__name__}: {failed}", file=sys.stderr)
        return 1
    print("property held: no exception escaped, one record per non-blank line, in order, "
          "each one line of strict UTF-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
