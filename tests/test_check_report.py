"""`parcours check --format json|sarif`: stable across runs, rules described from the registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from parcours.compiler.cli import main
from parcours.compiler.diagnostics.codes import CODES

ROOT = Path(__file__).resolve().parent.parent
FRANCE = ROOT / "policies" / "france.parcours"

# At least an unknown type (E303); the test reads every other code from the output.
BROKEN = """\
policy broken {
  title "Broken"
  country FR
  currency EUR
  status proposal
  valid from 2025-01-01
}
input date: date
input patient.age: nosuchtype
"""


def check(*args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(main, ["check", *args])
    return result.exit_code, json.loads(result.stdout)


def broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.parcours"
    path.write_text(BROKEN, encoding="utf-8")
    return path


def test_json_has_no_timing_by_default_and_is_the_same_on_every_run(tmp_path: Path) -> None:
    path = broken(tmp_path)
    first = CliRunner().invoke(main, ["check", "--format", "json", str(FRANCE), str(path)])
    second = CliRunner().invoke(main, ["check", "--format", "json", str(FRANCE), str(path)])
    assert first.exit_code == second.exit_code == 1
    assert first.stdout == second.stdout
    files = json.loads(first.stdout)["files"]
    assert [f["ok"] for f in files] == [True, False]
    assert all("seconds" not in f for f in files)


def test_json_timing_on_demand() -> None:
    code, data = check("--format", "json", "--timing", str(FRANCE))
    assert code == 0
    [entry] = data["files"]
    assert isinstance(entry["seconds"], float) and entry["seconds"] >= 0


def test_sarif_rules_carry_the_registry_meaning(tmp_path: Path) -> None:
    code, sarif = check("--format", "sarif", str(broken(tmp_path)))
    assert code == 1
    assert sarif["version"] == "2.1.0"
    [run] = sarif["runs"]
    driver = run["tool"]["driver"]
    # informationUri is optional in SARIF 2.1.0 and must be absolute when present: no placeholder
    assert "informationUri" not in driver
    assert "example" not in json.dumps(sarif)
    assert driver["version"] and driver["version"] != "unknown"
    found = {r["ruleId"] for r in run["results"]}
    assert "E303" in found
    assert [rule["id"] for rule in driver["rules"]] == sorted(found)
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] == CODES[rule["id"]]
        assert rule["shortDescription"]["text"] != rule["id"]
        assert "docs/language.md#error-codes" in rule["help"]["text"]
        level = "warning" if rule["id"].startswith("W") else "error"
        assert rule["defaultConfiguration"]["level"] == level
    for result in run["results"]:
        assert result["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1


def test_sarif_is_the_same_on_every_run(tmp_path: Path) -> None:
    path = broken(tmp_path)
    runs = [CliRunner().invoke(main, ["check", "--format", "sarif", str(path)]).stdout
            for _ in range(2)]
    assert runs[0] == runs[1]


def test_the_codes_doc_anchor_exists() -> None:
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    assert "\n## Error codes\n" in text  # GitHub's anchor for it is #error-codes
