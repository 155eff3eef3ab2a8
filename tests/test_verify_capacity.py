"""The verifier at size: generated policies of many rules keep exact results (findings, and
counterexamples that decide as claimed); a budget says what was not verified; deciding does
not run the verifier, and a compiled module decides without the compiler."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from parcours.compiler import ir, pipeline
from parcours.compiler.backends.python.emit import generate
from parcours.compiler.backends.python.loader import load_module
from parcours.compiler.diagnostics import Diagnostic, Diagnostics
from parcours.compiler.sema.check import check
from parcours.compiler.sema.load import load
from parcours.compiler.analysis.verify import verify_program
from parcours.runtime import PolicyGap

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
DEFAULT = "  default not_referred: out_of_pathway\n"
DEFAULT_CITE = "    cite seed000, seed001, seed002, seed003\n}"
INPUTS_AT = "# ---- groups of specialties"
CODE = 'input visit.code: int[0..100000] = 0   cite seed002'


def _policy(tmp_path: Path, name: str, inputs: list[str], rules: list[str],
            keep_default: bool = True) -> Path:
    """France with extra inputs and extra rules (after its own, before the default)."""
    (tmp_path / "episode.parcours").write_text(
        (POLICIES / "episode.parcours").read_text(encoding="utf-8"), encoding="utf-8")
    text = (POLICIES / "france.parcours").read_text(encoding="utf-8")
    text = text.replace(INPUTS_AT, "\n".join(inputs) + "\n\n" + INPUTS_AT, 1)
    text = text.replace(DEFAULT, "\n".join(rules) + "\n" + DEFAULT, 1)
    if not keep_default:
        text = text.replace(DEFAULT, "", 1).replace(DEFAULT_CITE, "}", 1)
    path = tmp_path / f"{name}.parcours"
    path.write_text(text, encoding="utf-8")
    return path


def _rule(name: str, priority: int, pathway: str, condition: str) -> str:
    return f"  rule {name} priority {priority}: {pathway}\n    when {condition}\n    cite seed002\n"


def _program(path: Path) -> ir.Program:
    diagnostics = Diagnostics()
    program = check(load(path, str(path), diagnostics, None), diagnostics)
    assert program is not None and not diagnostics.has_errors, list(diagnostics)
    return program


def _verify(path: Path, budget: int | None = None
            ) -> tuple[list[Diagnostic], types.ModuleType]:
    program = _program(path)
    module = load_module(f"capacity_{path.stem}", generate(program), str(path))
    return verify_program(program, budget), module


def _decided_by_a_note(finding: Diagnostic, module: types.ModuleType) -> None:
    """The counterexample of an unreachable rule is decided by a rule its notes name."""
    assert finding.counterexample is not None
    winner = module.decide(finding.counterexample).rule
    assert any(f"`{winner}` applies first" in message for _, message in finding.notes), \
        (winner, finding.notes)


def _independent(n: int) -> tuple[list[str], list[str]]:
    inputs, rules = [], []
    for j in range(n):
        inputs += [f"input visit.f_{j}: bool = false   cite seed002",
                   f"input patient.n_{j}: int[0..100] = 0   cite seed002"]
        rules.append(_rule(f"pair_{j}", 13 + j, ("exempt", "direct_access")[j % 2],
                           f"visit.f_{j} and patient.n_{j} >= 50"))
    return inputs, rules


def test_independent_rules_verify_clean(tmp_path: Path) -> None:
    inputs, rules = _independent(24)
    findings, _ = _verify(_policy(tmp_path, "independent", inputs, rules))
    assert findings == []


def test_independent_rules_gap_and_shadowed_rule(tmp_path: Path) -> None:
    inputs, rules = _independent(24)
    rules.append(_rule("shadowed", 40, "exempt", "visit.f_7 and patient.n_7 >= 60"))
    findings, module = _verify(_policy(tmp_path, "independent_gap", inputs, rules,
                                       keep_default=False))
    assert sorted(d.code for d in findings) == ["E401", "W403"], findings
    gap = next(d for d in findings if d.code == "E401")
    assert gap.counterexample is not None
    with pytest.raises(PolicyGap):
        module.decide(gap.counterexample)
    shadowed = next(d for d in findings if d.code == "W403")
    assert "`shadowed`" in shadowed.message
    _decided_by_a_note(shadowed, module)


def test_a_thousand_rules(tmp_path: Path) -> None:
    rules = [_rule(f"gen_{i}", 13 + i, ("exempt", "direct_access")[i % 2],
                   f"visit.code == {i} and patient.age >= {16 + i % 90}") for i in range(1000)]
    rules.append(_rule("again_500", 2000, "exempt", "visit.code == 500 and patient.age >= 100"))
    findings, module = _verify(_policy(tmp_path, "thousand", [CODE], rules))
    assert [d.code for d in findings] == ["W403"], findings
    assert "`again_500`" in findings[0].message
    _decided_by_a_note(findings[0], module)
    assert findings[0].counterexample is not None
    sample = (POLICIES / "samples" / "episodes.jsonl").read_text(encoding="utf-8").splitlines()[0]
    episode = json.loads(sample)
    episode["visit"]["code"] = 100000
    assert module.decide(episode).rule == "not_referred"  # no rule of France's own applies
    for i in (0, 499, 999):
        visit = dict(episode["visit"])
        patient = dict(episode["patient"])
        visit["code"], patient["age"] = i, 120
        assert module.decide({**episode, "visit": visit, "patient": patient}).rule == f"gen_{i}"


def _same_priority(n: int, overlap: bool) -> list[str]:
    return [_rule(f"same_{i}", 13, ("exempt", "direct_access")[i % 2],
                  f"visit.code >= {10 * i} and visit.code <= {10 * i + (14 if overlap else 9)}")
            for i in range(n)]


def test_same_priority_rules_apart_do_not_conflict(tmp_path: Path) -> None:
    findings, _ = _verify(_policy(tmp_path, "apart", [CODE], _same_priority(100, False)))
    assert findings == []


def test_same_priority_rules_that_overlap_conflict_pair_by_pair(tmp_path: Path) -> None:
    findings, module = _verify(_policy(tmp_path, "overlap", [CODE], _same_priority(100, True)))
    assert [d.code for d in findings] == ["E402"] * 99
    for number, d in enumerate(findings):
        assert f"`same_{number}`" in d.message and f"`same_{number + 1}`" in d.message
        assert d.counterexample is not None
        code = d.counterexample["visit"]["code"]  # type: ignore[index]
        assert 10 * (number + 1) <= code <= 10 * number + 14  # both conditions hold
        if number % 10 == 0:
            assert module.decide(d.counterexample).rule == f"same_{number}"


def test_budget_names_what_was_not_verified(tmp_path: Path) -> None:
    inputs, rules = _independent(6)
    path = _policy(tmp_path, "budget", inputs, rules)
    findings, _ = _verify(path, budget=50)
    assert [d.code for d in findings] == ["W405"]
    assert "not verified: rules, conflicts, output rate" in findings[0].message
    analysis = pipeline.analyse(path, budget=50)
    assert analysis.ok and [d.code for d in analysis.diagnostics] == ["W405"]
    assert {"parse and resolve", "check", "verify rules"} <= set(analysis.timings)


def test_deciding_a_policy_file_does_not_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> list[Diagnostic]:
        raise AssertionError("the verifier ran")

    monkeypatch.setattr(pipeline, "verify_program", refuse)
    module = pipeline.load_policy(POLICIES / "france.parcours")
    assert hasattr(module, "decide")
    with pytest.raises(AssertionError):
        pipeline.analyse(POLICIES / "france.parcours")


def test_deciding_a_compiled_module_imports_no_compiler(tmp_path: Path) -> None:
    parcours = str(Path(sys.executable).with_name("parcours"))
    module = tmp_path / "france.py"
    subprocess.run([parcours, "compile", str(POLICIES / "france.parcours"), "-o", str(module)],
                   check=True, capture_output=True)
    out = tmp_path / "decisions.jsonl"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "parcours.compiler.cli", "decide", str(module),
         "--input", str(POLICIES / "samples" / "episodes.jsonl"), "--output", str(out)],
        capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)\s*$", done.stderr,
                              re.MULTILINE))
    assert "parcours.runtime" in imported  # the check reads the import log at all
    forbidden = {m for m in imported if m.split(".")[0] in ("lark", "jinja2")
                 or m.startswith(("parcours.compiler.pipeline", "parcours.compiler.analysis",
                                  "parcours.compiler.sema", "parcours.compiler.syntax"))}
    assert forbidden == set()
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert first["policy"] == "france"


def _random_rules(rnd: random.Random) -> list[str]:
    def atom() -> str:
        return rnd.choice([
            f"visit.code {rnd.choice(['<', '<=', '>', '>=', '==', '!='])} {rnd.randrange(50)}",
            rnd.choice(["visit.emergency", "not visit.emergency", "patient.declared_doctor"]),
            f"patient.age {rnd.choice(['<', '>='])} {rnd.randrange(10, 90)}",
            f"visit.specialty in {{{rnd.choice(['cardiology', 'psychiatry', 'dentistry'])}}}",
            f"date >= {rnd.choice(['2020-01-01', '2024-05-15', '2025-01-01'])}",
            f"(visit.code >= {rnd.randrange(30)} or visit.away_from_home)"])

    return [_rule(f"r{i}", rnd.choice([3, 13, 13, 14, 20]),
                  rnd.choice(["exempt", "direct_access", "coordinated"]),
                  " and ".join(atom() for _ in range(rnd.randrange(1, 4))))
            for i in range(rnd.randrange(3, 8))]


@pytest.mark.parametrize("seed", range(12))
def test_random_rules_counterexamples_decide_as_claimed(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    path = _policy(tmp_path, f"random_{seed}", [CODE.replace("100000", "50")],
                   _random_rules(rnd), keep_default=seed % 3 != 0)
    findings, module = _verify(path)
    priority = {r.name: r.priority for r in _program(path).rules}
    for d in findings:
        if d.counterexample is None:
            continue
        if d.code == "E401":
            with pytest.raises(PolicyGap):
                module.decide(d.counterexample)
            continue
        rule = module.decide(d.counterexample).rule
        first = re.findall(r"`(\w+)`", d.message)[0]
        if d.code == "W403":
            assert rule != first
        if d.code == "E402":  # both hold and no higher rule does: one of that priority wins
            assert priority[rule] == priority[first]


def test_diff_is_the_same_whatever_the_hash_seed(tmp_path: Path) -> None:
    (tmp_path / "episode.parcours").write_text(
        (POLICIES / "episode.parcours").read_text(encoding="utf-8"), encoding="utf-8")
    text = (POLICIES / "france.parcours").read_text(encoding="utf-8")
    old, new = tmp_path / "france.parcours", tmp_path / "france_rate.parcours"
    old.write_text(text, encoding="utf-8")
    new.write_text(text.replace("param normal_rate: rate = 0.70", "param normal_rate: rate = 0.65"),
                   encoding="utf-8")
    parcours = str(Path(sys.executable).with_name("parcours"))
    outputs = []
    for seed in ("1", "2"):
        done = subprocess.run([parcours, "diff", str(old), str(new), "--format", "json"],
                              capture_output=True, text=True,
                              env={**os.environ, "PYTHONHASHSEED": seed})
        assert done.returncode == 1, done.stderr
        report = json.loads(done.stdout)
        report.pop("seconds")
        outputs.append(report)
    assert outputs[0]["regions"] and outputs[0] == outputs[1]
