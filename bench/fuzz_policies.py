"""A long policy-fuzzing run: N mutants of the shipped policies through the properties of
tests/test_policy_fuzz.py (analyse never raises, diagnostics are well formed, a clean
check gives a module that compiles, imports and carries no policy text as code).

    .venv/bin/python bench/fuzz_policies.py 2000 [--seed 7]

Prints what it ran: mutants, how many checked clean or gave diagnostics, the codes seen,
the time taken; exits 1 (after printing the failing mutant) when a property breaks.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_policy_fuzz import check_mutant, mutated_policy  # noqa: E402

from parcours.compiler.pipeline import analyse  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="how many mutants to run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    outcomes: collections.Counter[str] = collections.Counter()
    codes: collections.Counter[str] = collections.Counter()
    started = time.perf_counter()

    @seed(args.seed)
    @settings(max_examples=args.n, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutated_policy())
    def run(mutant: tuple[str, str]) -> None:
        with tempfile.TemporaryDirectory() as folder:
            outcome = check_mutant(Path(folder), *mutant)
            outcomes[outcome] += 1
            if outcome == "diagnostics":
                for d in analyse(Path(folder) / f"{mutant[0]}.parcours").diagnostics:
                    codes[d.code] += 1

    try:
        run()
    except Exception as exc:  # the failing mutant is printed by hypothesis above
        print(f"FAILED after {sum(outcomes.values())} mutants: {type(exc).__name__}: {exc}")
        return 1
    elapsed = time.perf_counter() - started
    total = sum(outcomes.values())
    print(f"fuzz_policies: {total} mutants (seed {args.seed}) in {elapsed:.1f} s, "
          f"{total / max(elapsed, 1e-9):.1f}/s")
    print(f"  clean (compiled, imported, no injection): {outcomes['clean']}")
    print(f"  diagnostics only:                          {outcomes['diagnostics']}")
    print("  codes seen: " + ", ".join(f"{c}×{k}" for c, k in sorted(codes.items())))
    print("  properties held for every mutant")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
