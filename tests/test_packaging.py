"""The two wheels: parcours-runtime (standard library only) and parcours (the compiler).

Both build, never ship the same file, and install into fresh virtual environments: the
compiler with the runtime, and the runtime alone, where a compiled policy still decides.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from parcours.compiler.pipeline import compile_policy

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

EPISODE = ('{"date": "2025-03-14", "patient": {"age": 40, "declared_doctor": true, '
           '"chronic_condition": false, "low_income_cover": false}, "visit": {"specialty": '
           '"general_practice", "with_declared_doctor": true, "referred": false, '
           '"emergency": false, "away_from_home": false, "doctor_unavailable": false, '
           '"for_chronic_condition": false, "fee": "30.00"}}')
# Load a generated module from its file and decide EPISODE with it.
PROBE = ("import importlib.util, json, sys;"
         "spec = importlib.util.spec_from_file_location('france', sys.argv[1]);"
         "m = importlib.util.module_from_spec(spec); sys.modules['france'] = m;"
         "spec.loader.exec_module(m);"
         "ep = json.loads(sys.argv[2]);"
         "print(m.decide(ep).to_dict()['reimbursed'])")


def build_wheel(project: Path, dist: Path) -> Path:
    before = set(dist.glob("*.whl")) if dist.exists() else set()
    done = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                           str(dist), str(project)], capture_output=True, text=True, cwd=dist.parent)
    assert done.returncode == 0, done.stderr
    [wheel] = set(dist.glob("*.whl")) - before
    return wheel


def payload(wheel: Path) -> set[str]:
    """The files a wheel installs (its metadata directory aside)."""
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if ".dist-info/" not in name}


def fresh_venv(path: Path, with_pip: bool) -> Path:
    venv.EnvBuilder(with_pip=with_pip).create(path)
    return path / "bin" / "python"


def test_the_two_wheels_never_ship_the_same_file(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    runtime = payload(build_wheel(ROOT / "runtime", dist))
    compiler = payload(build_wheel(ROOT, dist))
    assert runtime and compiler and not runtime & compiler
    assert all(name.startswith("parcours/runtime/") for name in runtime)
    assert "parcours/runtime/py.typed" in runtime
    assert not any(name.startswith("parcours/runtime/") for name in compiler)
    assert any(name.startswith("parcours/compiler/") for name in compiler)


def test_runtime_wheel_alone_runs_a_compiled_policy(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    wheel = build_wheel(ROOT / "runtime", dist)
    assert wheel.name.startswith("parcours_runtime-0.1.0-")
    python = fresh_venv(tmp_path / "env", with_pip=False)
    # the project's pip installs into the new environment: nothing but the runtime goes there
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--disable-pip-version-check", "--no-index", "--no-deps", str(wheel)],
                   check=True, capture_output=True)
    analysis, source = compile_policy(ROOT / "policies" / "france.parcours")
    assert analysis.ok
    module = tmp_path / "france.py"
    module.write_text(source, encoding="utf-8")
    # -I: isolated, so the source tree and the project's environment cannot leak in
    run = subprocess.run([str(python), "-I", "-c", PROBE, str(module), EPISODE],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "19.00"
    where = subprocess.run([str(python), "-I", "-c", "import parcours.runtime as r; print(r.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True)
    assert str(tmp_path / "env") in where.stdout
    for name in ("lark", "jinja2", "click", "parcours.compiler"):
        missing = subprocess.run([str(python), "-I", "-c", f"import {name}"],
                                 capture_output=True, text=True, cwd=tmp_path)
        assert missing.returncode != 0, f"{name} is importable beside the runtime alone"
        assert "ModuleNotFoundError" in missing.stderr


def test_compiler_wheel_installs_with_the_runtime_and_compiles_a_policy(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    runtime = build_wheel(ROOT / "runtime", dist)
    compiler = build_wheel(ROOT, dist)
    python = fresh_venv(tmp_path / "env", with_pip=True)
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", str(runtime), str(compiler)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies, ignore=shutil.ignore_patterns("samples"))
    out = tmp_path / "france.py"
    result = subprocess.run([str(tmp_path / "env" / "bin" / "parcours"), "compile",
                             str(policies / "france.parcours"), "-o", str(out)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run = subprocess.run([str(python), "-I", "-c", PROBE, str(out), EPISODE], capture_output=True,
                         text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "19.00"


# An application of a compiled France module: typed episodes in, a typed decision out.
APP = '''\
from __future__ import annotations

import france


def reimbursed(fee: str) -> str:
    episode: france.Episode = {
        "date": "2025-03-14",
        "patient": {"age": 40, "declared_doctor": True, "chronic_condition": False,
                    "low_income_cover": False},
        "visit": {"specialty": "general_practice", "with_declared_doctor": True,
                  "referred": False, "emergency": False, "away_from_home": False,
                  "doctor_unavailable": False, "for_chronic_condition": False, "fee": fee},
    }
    decision = france.decide(episode)
    pathway: france.Pathway = decision.pathway
    rule: france.Rule = decision.rule
    return f"{pathway} {rule} {decision.number('reimbursed')}"


try:
    france.with_overrides({"normal_rate": "lots"})
except france.OverrideError as error:
    print(error)
print(reimbursed("30.00"))
'''


def test_mypy_on_an_app_with_the_runtime_wheel_alone_catches_a_misspelt_field(
        tmp_path: Path) -> None:
    """The runtime wheel alone in a fresh environment runs the application; mypy --strict,
    looking up packages in that environment only (`--python-executable`), passes it and
    reports a field whose name is misspelt."""
    wheel = build_wheel(ROOT / "runtime", tmp_path / "dist")
    python = fresh_venv(tmp_path / "env", with_pip=False)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--disable-pip-version-check", "--no-index", "--no-deps", str(wheel)],
                   check=True, capture_output=True)
    app = tmp_path / "app"
    app.mkdir()
    analysis, source = compile_policy(ROOT / "policies" / "france.parcours")
    assert analysis.ok
    (app / "france.py").write_text(source, encoding="utf-8")
    (app / "app.py").write_text(APP, encoding="utf-8")
    (app / "typo.py").write_text(APP.replace('"low_income_cover"', '"low_incme_cover"'),
                                 encoding="utf-8")
    (app / "mypy.ini").write_text("[mypy]\n", encoding="utf-8")

    # -E -s: no PYTHONPATH, no user site; the app's folder is on the path, as for any script
    run = subprocess.run([str(python), "-E", "-s", "app.py"], capture_output=True, text=True,
                         cwd=app)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "override normal_rate=lots: normal_rate is a rate between 0 and 1, e.g. 0.70",
        "coordinated declared_doctor 19.00"]

    def mypy(target: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                               "--config-file", "mypy.ini", "--cache-dir", str(tmp_path / "cache"),
                               "--python-executable", str(python), target],
                              capture_output=True, text=True, cwd=app,
                              env={k: v for k, v in os.environ.items() if k != "MYPYPATH"})

    good = mypy("app.py")
    assert good.returncode == 0, good.stdout + good.stderr
    bad = mypy("typo.py")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert 'Extra key "low_incme_cover" for TypedDict "EpisodePatient"' in bad.stdout
    assert 'Missing key "low_income_cover" for TypedDict "EpisodePatient"' in bad.stdout
