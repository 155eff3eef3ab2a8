"""The CI recipe in docs/ci/policies.yml works as written, and docs/ci.md shows it unchanged.

Each `run` step is written to a file and run the way GitHub runs a `shell: bash` step,
`bash --noprofile --norc -eo pipefail FILE`, in a clone of a temporary repository whose
branch changes a policy: the job reports the difference and stays green, goes red when
told to fail on a difference, and goes red on a broken policy.  The pre-commit hooks shown
in docs/ci.md run their entries the way pre-commit does (split, no shell, file names last).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "docs" / "ci" / "policies.yml"
DOC = ROOT / "docs" / "ci.md"
BIN = Path(sys.executable).parent  # where this environment's `parcours` is
pytestmark = pytest.mark.slow

# The only expressions the recipe may use, and what GitHub gives them on a pull request
# into main.
EXPRESSIONS = {"${{ github.base_ref || 'main' }}": "main"}

# A policy change that is meant to change decisions, with its test updated.
POLICY_CHANGE = ("param coordination_majoration: money = 5.00 EUR",
                 "param coordination_majoration: money = 6.00 EUR")
TEST_CHANGE = ('base = "50.00", rate = "0.30", reimbursed = "13.00"',
               'base = "49.00", rate = "0.30", reimbursed = "12.70"')


def recipe() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    return data


def job() -> dict[str, Any]:
    [only] = recipe()["jobs"].values()
    assert isinstance(only, dict)
    return only


def steps() -> dict[str, dict[str, Any]]:
    """The `run` steps by name, the install step aside (it needs the network)."""
    out = {}
    for step in job()["steps"]:
        if "run" in step and step["name"] != "Install":
            out[step["name"]] = step
    return out


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=git_env())
    assert done.returncode == 0, done.stderr
    return done.stdout


def git_env() -> dict[str, str]:
    return {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": os.environ["HOME"],
            "LANG": "C.UTF-8", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


def repository(tmp_path: Path) -> Path:
    """`origin` with the shipped policies on main; a clone on a branch, ready to change."""
    origin = tmp_path / "origin"
    shutil.copytree(ROOT / "policies", origin / "policies",
                    ignore=shutil.ignore_patterns("samples"))
    git(origin, "init", "--quiet", "--initial-branch", "main")
    git(origin, "add", "policies")
    git(origin, "commit", "--quiet", "-m", "policies")
    work = tmp_path / "work"
    git(tmp_path, "clone", "--quiet", str(origin), str(work))
    git(work, "checkout", "--quiet", "-b", "change")
    return work


def commit(work: Path, message: str) -> None:
    git(work, "commit", "--quiet", "-am", message)


def run_step(work: Path, name: str, **env: str) -> subprocess.CompletedProcess[str]:
    step = steps()[name]
    variables = {**git_env(), "CI": "true", "GITHUB_ACTIONS": "true"}
    for key, value in {**job().get("env", {}), **step.get("env", {})}.items():
        value = str(value)
        for expression, given in EXPRESSIONS.items():
            value = value.replace(expression, given)
        assert "${{" not in value, f"{name}: an expression the test does not know: {value}"
        variables[key] = value
    variables.update(env)
    script = work.parent / "step.sh"
    script.write_text(step["run"], encoding="utf-8")
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                          cwd=work, capture_output=True, text=True, env=variables)


def run_job(work: Path, **env: str) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every step: each one here runs even after a failure (`if: success() || failure()`)."""
    return {name: run_step(work, name, **env) for name in steps()}


def test_the_doc_shows_the_recipe_unchanged() -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert "```yaml\n" + RECIPE.read_text(encoding="utf-8") + "```" in doc


def test_recipe_runs_its_steps_with_bash_and_every_gate_runs_after_a_failure() -> None:
    assert job()["defaults"]["run"]["shell"] == "bash"
    names = list(steps())
    assert names == ["Check the policies", "Policy tests (100% of the pathway rules exercised)",
                     "Semantic diff of the changed policies"]
    for name in names[1:]:
        assert steps()[name]["if"] == "success() || failure()"
    assert job()["env"]["PARCOURS_FAIL_ON_DIFF"] == "0"


def test_a_changed_policy_is_reported_and_the_job_stays_green(tmp_path: Path) -> None:
    work = repository(tmp_path)
    edit(work / "policies" / "france.parcours", *POLICY_CHANGE)
    edit(work / "policies" / "france.tests.toml", *TEST_CHANGE)
    commit(work, "france: coordination majoration 6 EUR")
    results = run_job(work)
    for name, done in results.items():
        assert done.returncode == 0, (name, done.stdout, done.stderr)
    diff = results["Semantic diff of the changed policies"].stdout
    assert "::group::parcours diff policies/france.parcours" in diff
    assert "decisions differ" in diff
    assert "1 changed policy file(s) decide differently from origin/main" in diff
    assert "morocco" not in diff  # only the files that changed

    told = run_step(work, "Semantic diff of the changed policies", PARCOURS_FAIL_ON_DIFF="1")
    assert told.returncode == 1, told.stdout
    assert "::error::PARCOURS_FAIL_ON_DIFF=1" in told.stdout


def test_a_broken_policy_turns_the_job_red(tmp_path: Path) -> None:
    work = repository(tmp_path)
    edit(work / "policies" / "morocco_proposal.parcours", *_first_param(
        work / "policies" / "morocco_proposal.parcours"))
    commit(work, "morocco_proposal: broken")
    results = run_job(work)
    check = results["Check the policies"]
    assert check.returncode == 1
    assert re.search(r"^::error file=policies/morocco_proposal\.parcours,line=\d+", check.stdout,
                     re.MULTILINE), check.stdout
    assert results["Policy tests (100% of the pathway rules exercised)"].returncode == 2
    diff = results["Semantic diff of the changed policies"]
    assert diff.returncode == 2, diff.stdout
    assert "::error file=policies/morocco_proposal.parcours::" in diff.stdout


def test_an_unchanged_branch_prints_nothing_and_is_green(tmp_path: Path) -> None:
    work = repository(tmp_path)
    done = run_step(work, "Semantic diff of the changed policies", PARCOURS_FAIL_ON_DIFF="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


def _first_param(path: Path) -> tuple[str, str]:
    """A type error: the first parameter's type becomes an unknown one."""
    line = next(line for line in path.read_text(encoding="utf-8").splitlines()
                if re.match(r"param \w+: \w+", line))
    return line, re.sub(r"^(param \w+): \w+", r"\1: nosuchtype", line)


# ---- the pre-commit hooks shown in docs/ci.md ---------------------------------------------


def hooks() -> list[dict[str, Any]]:
    doc = DOC.read_text(encoding="utf-8")
    [block] = [b for b in re.findall(r"```yaml\n(.*?)```", doc, re.DOTALL) if "repo: local" in b]
    [repo] = yaml.safe_load(block)["repos"]
    found: list[dict[str, Any]] = repo["hooks"]
    return found


def run_hook(hook: dict[str, Any], work: Path) -> subprocess.CompletedProcess[str]:
    """As pre-commit runs a `language: system` hook: the entry split, the matching files last."""
    assert hook["language"] == "system"
    command = shlex.split(hook["entry"])
    if hook.get("pass_filenames", True):
        pattern = re.compile(hook["files"])
        command += sorted(str(p.relative_to(work)) for p in work.rglob("*")
                          if p.is_file() and pattern.search(str(p.relative_to(work))))
    command[0] = str(BIN / command[0]) if (BIN / command[0]).exists() else command[0]
    return subprocess.run(command, cwd=work, capture_output=True, text=True)


def test_pre_commit_hooks_pass_on_good_policies_and_stop_a_broken_one(tmp_path: Path) -> None:
    work = repository(tmp_path)
    found = hooks()
    assert [h["id"] for h in found] == ["parcours-check", "parcours-test"]
    for hook in found:
        done = run_hook(hook, work)
        assert done.returncode == 0, (hook["id"], done.stdout, done.stderr)
    edit(work / "policies" / "nhs.parcours", *_first_param(work / "policies" / "nhs.parcours"))
    for hook in found:
        done = run_hook(hook, work)
        assert done.returncode != 0, hook["id"]
    assert "nhs.parcours" in run_hook(found[0], work).stderr
