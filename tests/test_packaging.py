"""The wheel builds, installs into a fresh virtual environment and compiles a policy there."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_in_a_fresh_venv_and_compiles_a_policy(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(dist), str(ROOT)], check=True, capture_output=True, cwd=tmp_path)
    wheels = list(dist.glob("parcours-*.whl"))
    assert len(wheels) == 1
    env = tmp_path / "env"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    str(wheels[0])], check=True, capture_output=True)
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies, ignore=shutil.ignore_patterns("samples"))
    out = tmp_path / "france.py"
    result = subprocess.run([str(env / "bin" / "parcours"), "compile",
                             str(policies / "france.parcours"), "-o", str(out)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # The generated module runs against the installed runtime alone.
    probe = ("import importlib.util, json, sys;"
             "spec = importlib.util.spec_from_file_location('france', sys.argv[1]);"
             "m = importlib.util.module_from_spec(spec); sys.modules['france'] = m;"
             "spec.loader.exec_module(m);"
             "ep = json.loads(sys.argv[2]);"
             "print(m.decide(ep).to_dict()['reimbursed'])")
    episode = ('{"date": "2025-03-14", "patient": {"age": 40, "declared_doctor": true, '
               '"chronic_condition": false, "low_income_cover": false}, "visit": {"specialty": '
               '"general_practice", "with_declared_doctor": true, "referred": false, '
               '"emergency": false, "away_from_home": false, "doctor_unavailable": false, '
               '"for_chronic_condition": false, "fee": "30.00"}}')
    run = subprocess.run([str(python), "-c", probe, str(out), episode], capture_output=True,
                         text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "19.00"
