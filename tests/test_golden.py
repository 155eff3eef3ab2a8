"""Golden files: the IR of each shipped policy, as `parcours compile --emit ir` prints it.

A change to a policy or to lowering shows up here as a readable diff.  Rewrite
the files with `PARCOURS_UPDATE_GOLDEN=1 make test` after checking the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from parcours.compiler.ir import print_program
from parcours.compiler.pipeline import analyse

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
POLICIES = sorted(p for p in (ROOT / "policies").glob("*.parcours") if p.stem != "episode")


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.stem)
def test_ir_matches_golden_file(policy: Path) -> None:
    analysis = analyse(policy)
    assert analysis.program is not None, analysis.render()
    text = print_program(analysis.program)
    golden = GOLDEN / f"{policy.stem}.ir"
    if os.environ.get("PARCOURS_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden.name}: run with PARCOURS_UPDATE_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8")


@pytest.mark.slow
def test_module_text_is_byte_identical_across_processes(tmp_path: Path) -> None:
    """Same input, same compiler, different hash seeds → the same bytes."""
    import subprocess
    import sys

    outputs = []
    for seed in ("1", "2", "3"):
        target = tmp_path / f"france-{seed}.py"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        subprocess.run([sys.executable, "-m", "parcours.compiler.cli", "compile",
                        str(ROOT / "policies" / "france.parcours"), "-o", str(target)],
                       check=True, capture_output=True, env=env)
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]
