"""`parcours test`: policy tests in TOML, their failures with traces, and rule coverage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from parcours.compiler.cli import main
from parcours.compiler.tools.policytest import PolicyTestError, parse_file, run

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
FRANCE = POLICIES / "france.parcours"
SHIPPED = ("france", "morocco", "morocco_proposal", "nhs", "tunisia")

HEAD = f'''
policy = "{FRANCE.as_posix()}"

[bases.adult]
date = "2025-03-14"
patient = {{ age = 40, declared_doctor = true, chronic_condition = false, low_income_cover = false }}
visit = {{ specialty = "general_practice", with_declared_doctor = false, referred = false, emergency = false, away_from_home = false, doctor_unavailable = false, for_chronic_condition = false, sector = "1", fee = "30.00" }}
'''

DECLARED_GP = '''
[[test]]
name = "declared GP"
base = "adult"
given = { "visit.with_declared_doctor" = true }
expect = { rule = "declared_doctor", pathway = "coordinated", base = "30.00", rate = "0.70", flat_fee = "2.00", reimbursed = "19.00" }
'''

UNREFERRED_CARDIOLOGY = '''
[[test]]
name = "unreferred cardiology"
base = "adult"
given = { visit.specialty = "cardiology", visit.fee = "31.50" }
expect = { rule = "not_referred", base = "26.50", rate = "0.30", reimbursed = "5.95" }
'''


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def write(tmp_path: Path, *tests: str, name: str = "france.tests.toml") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + "".join(tests), encoding="utf-8")
    return path


def as_json(result: Result) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_passing_file_exits_0(tmp_path: Path) -> None:
    path = write(tmp_path, DECLARED_GP, UNREFERRED_CARDIOLOGY)
    result = invoke("test", str(path))
    assert result.exit_code == 0, result.output
    assert "2 passed, 0 failed" in result.output
    assert "ok: 2 passed" in result.output


def test_failure_shows_expected_actual_and_trace(tmp_path: Path) -> None:
    wrong = DECLARED_GP.replace('reimbursed = "19.00"', 'reimbursed = "20.00"')
    path = write(tmp_path, wrong)
    result = invoke("test", str(path))
    assert result.exit_code == 1
    out = result.output
    assert "FAIL declared GP" in out
    assert f"{path}:" in out  # where the test is
    row = next(line for line in out.splitlines() if line.strip().startswith("reimbursed"))
    assert row.split() == ["reimbursed", "20.00", "19.00"]
    assert "trace of the decision:" in out
    assert "✔ declared_doctor (priority 4) → coordinated: applied" in out
    assert "FAILED: 0 passed, 1 failed" in out


def test_amounts_compare_as_decimals_not_text(tmp_path: Path) -> None:
    path = write(tmp_path, DECLARED_GP.replace('rate = "0.70"', 'rate = "0.7"'))
    assert invoke("test", str(path)).exit_code == 0


def test_coverage_counts_rules_and_branches(tmp_path: Path) -> None:
    path = write(tmp_path, DECLARED_GP, UNREFERRED_CARDIOLOGY)
    [result] = run([str(path)])
    assert result.id == "france"
    assert (result.passed, result.failed) == (2, 0)
    assert list(result.rules)[0] == "act_outside_pathway"  # priority order
    assert len(result.rules) == 13
    assert result.rules["declared_doctor"] == 1
    assert result.rules["not_referred"] == 1
    assert result.rules["under_16"] == 0
    assert result.rule_coverage == pytest.approx(100 * 2 / 13)
    assert result.branches["rate#3"] == 1  # out_of_pathway
    assert result.branches["rate#4"] == 1  # else
    assert result.branches["base#7"] == 1  # specialist out of the pathway
    assert result.branches["patient_pays#1"] == 2
    assert result.branch_labels["rate#4"] == "else"
    assert result.branch_labels["rate#1"].startswith("when patient.low_income_cover")
    text = invoke("test", str(path)).output
    assert "rules 2/13 (15%)" in text
    assert "rules no test reaches: act_outside_pathway, under_16" in text
    assert "branches no test reaches: rate#1, rate#2" in text


def test_min_coverage_fails_below_threshold(tmp_path: Path) -> None:
    path = write(tmp_path, DECLARED_GP, UNREFERRED_CARDIOLOGY)
    low = invoke("test", "--min-coverage", "15", str(path))
    assert low.exit_code == 0, low.output
    high = invoke("test", "--min-coverage", "50", str(path))
    assert high.exit_code == 1
    assert "below --min-coverage 50%" in high.output


def test_json_format_shape(tmp_path: Path) -> None:
    path = write(tmp_path, DECLARED_GP, UNREFERRED_CARDIOLOGY.replace('"5.95"', '"6.00"'))
    result = invoke("test", "--format", "json", "--min-coverage", "10", str(path))
    assert result.exit_code == 1
    data = as_json(result)
    assert data["ok"] is False
    france = data["policies"]["france"]
    assert france["passed"] == 1 and france["failed"] == 1
    assert france["rules"]["declared_doctor"] == 1
    assert set(france["rules"]) >= {"under_16", "not_referred"}
    assert france["branches"]["reimbursed#2"] == 2
    [failure] = france["failures"]
    assert failure["test"] == "unreferred cardiology"
    assert failure["fields"] == [{"field": "reimbursed", "expected": "6.00", "actual": "5.95"}]
    assert "not_referred (default) → out_of_pathway: applied" in failure["trace"]


def test_rejected_expectations(tmp_path: Path) -> None:
    rejected = '''
[[test]]
name = "constraint"
base = "adult"
given = { "visit.with_declared_doctor" = true, "patient.declared_doctor" = false }
expect = { rejected = "patient.declared_doctor" }

[[test]]
name = "any rejection"
base = "adult"
given = { "patient.age" = 200 }
expect = { rejected = true }
'''
    assert invoke("test", str(write(tmp_path, rejected))).exit_code == 0
    wrong_field = rejected.replace('rejected = "patient.declared_doctor"', 'rejected = "visit.referred"')
    result = invoke("test", str(write(tmp_path, wrong_field)))
    assert result.exit_code == 1
    assert "rejected on patient.declared_doctor" in result.output
    decided = DECLARED_GP.replace(
        'expect = { rule = "declared_doctor", pathway = "coordinated", base = "30.00", rate = "0.70", '
        'flat_fee = "2.00", reimbursed = "19.00" }', 'expect = { rejected = "date" }')
    result = invoke("test", str(write(tmp_path, decided)))
    assert result.exit_code == 1
    assert "decided: coordinated by rule declared_doctor" in result.output


def test_unexpected_rejection_is_a_failure(tmp_path: Path) -> None:
    path = write(tmp_path, DECLARED_GP.replace('"visit.with_declared_doctor" = true',
                                               '"patient.age" = 131'))
    result = invoke("test", str(path))
    assert result.exit_code == 1
    assert "rejected on patient.age" in result.output


def test_what_if_set(tmp_path: Path) -> None:
    capped = UNREFERRED_CARDIOLOGY.replace('"5.95"', '"6.55"') + 'set = { penalty_cap_enabled = true }\n'
    assert invoke("test", str(write(tmp_path, capped))).exit_code == 0
    bad = capped.replace("penalty_cap_enabled", "no_such_parameter")
    result = invoke("test", str(write(tmp_path, bad)))
    assert result.exit_code == 2
    assert "no_such_parameter" in result.output


def test_bad_toml_exits_2_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, DECLARED_GP, "\n[[test]]\nname = \n")
    result = invoke("test", str(path))
    assert result.exit_code == 2
    lines = (HEAD + DECLARED_GP).count("\n") + 3
    assert f"{path}:{lines}:" in result.output
    assert "invalid TOML" in result.output


@pytest.mark.parametrize(("test", "message"), [
    (DECLARED_GP.replace('base = "adult"', 'base = "child"'), "unknown base 'child'"),
    (DECLARED_GP.replace('"visit.with_declared_doctor"', '"visit.with_declard_doctor"'),
     "unknown field path 'visit.with_declard_doctor'"),
    (DECLARED_GP.replace('rule = "declared_doctor"', 'rulez = "declared_doctor"'),
     "unknown expected field 'rulez'"),
    (DECLARED_GP.replace('rate = "0.70"', "rate = 0.70"), "write amounts and rates as strings"),
])
def test_usage_errors_exit_2(tmp_path: Path, test: str, message: str) -> None:
    result = invoke("test", str(write(tmp_path, test)))
    assert result.exit_code == 2
    assert message in result.output


def test_a_policy_given_for_its_tests_names_them(tmp_path: Path) -> None:
    """`parcours test france.parcours` points at france.tests.toml (before: "invalid TOML"
    on the policy's own text)."""
    policy = tmp_path / "p.parcours"
    policy.write_text("policy p {\n}\n", encoding="utf-8")
    result = invoke("test", str(policy))
    assert result.exit_code == 2
    assert "invalid TOML" not in result.output and "is a .parcours file" in result.output
    assert "p.tests.toml" not in result.output  # none there: not named
    (tmp_path / "p.tests.toml").write_text('policy = "p.parcours"\n', encoding="utf-8")
    assert f"({tmp_path / 'p.tests.toml'})" in invoke("test", str(policy)).output


def test_missing_or_broken_policy_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "gone.tests.toml"
    missing.write_text('policy = "gone.parcours"\n', encoding="utf-8")
    result = invoke("test", str(missing))
    assert result.exit_code == 2
    assert "policy file not found" in result.output
    broken = tmp_path / "broken.parcours"
    broken.write_text("policy broken {\n  title \"x\"\n}\nrules pathway {\n", encoding="utf-8")
    (tmp_path / "broken.tests.toml").write_text('policy = "broken.parcours"\n', encoding="utf-8")
    result = invoke("test", str(tmp_path / "broken.tests.toml"))
    assert result.exit_code == 2
    assert "does not compile" in result.output
    assert "broken.parcours:" in result.output  # its diagnostics
    assert invoke("test", str(tmp_path / "nothing-here")).exit_code == 2


def test_parse_file_reports_test_lines(tmp_path: Path) -> None:
    path = write(tmp_path, DECLARED_GP, UNREFERRED_CARDIOLOGY)
    parsed = parse_file(path)
    assert [t.name for t in parsed.tests] == ["declared GP", "unreferred cardiology"]
    first = HEAD.count("\n") + 2
    assert parsed.tests[0].where == f"{path}:{first}"
    assert parsed.tests[1].episode["visit"]["specialty"] == "cardiology"  # dotted, unquoted
    assert parsed.tests[1].episode["id"] == "unreferred cardiology"
    with pytest.raises(PolicyTestError):
        run([str(tmp_path / "missing.tests.toml")])


def test_directory_search(tmp_path: Path) -> None:
    write(tmp_path, DECLARED_GP, name="a.tests.toml")
    write(tmp_path, UNREFERRED_CARDIOLOGY, name="b.tests.toml")
    (tmp_path / "notes.toml").write_text("not = [a test", encoding="utf-8")
    [result] = run([str(tmp_path)])
    assert result.passed == 2
    assert len(result.files) == 2


def test_shipped_policies_pass_with_full_rule_coverage() -> None:
    result = invoke("test", "--min-coverage", "100", str(POLICIES))
    assert result.exit_code == 0, result.output
    result = invoke("test", "--format", "json", str(POLICIES))
    data = as_json(result)
    assert set(data["policies"]) == set(SHIPPED)
    for policy in data["policies"].values():
        assert policy["failed"] == 0
        assert policy["rule_coverage"] == 100.0
        assert policy["branch_coverage"] == 100.0
    for name in SHIPPED:
        assert (POLICIES / f"{name}.tests.toml").is_file()


def test_check_values_of_the_specification_are_tests() -> None:
    france = parse_file(POLICIES / "france.tests.toml")
    checks = {t.name: t.expect for t in france.tests if t.name.startswith("check value")}
    assert checks["check value: declared GP"]["reimbursed"] == "19.00"
    assert checks["check value: referred cardiology"]["reimbursed"] == "20.05"
    assert checks["check value: unreferred cardiology"]["reimbursed"] == "5.95"
    assert all(t.episode["date"] == "2025-03-14" for t in france.tests
               if t.name.startswith("check value"))


def test_default_path_is_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = invoke("test")
    assert result.exit_code == 0, result.output
    assert "france" in result.output and "nhs" in result.output
