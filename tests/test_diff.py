"""`parcours diff`: regions where two policies decide differently, with real counterexamples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from parcours.compiler.cli import main
from parcours.compiler.pipeline import load_policy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
FIELDS = ("pathway", "rule", "base", "rate", "flat_fee", "reimbursed", "patient_pays")


def _variant(tmp_path: Path, name: str, replacements: list[tuple[str, str]]) -> Path:
    shutil.copy(POLICIES / "episode.parcours", tmp_path / "episode.parcours")
    text = (POLICIES / "france.parcours").read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new, 1)
    target = tmp_path / f"{name}.parcours"
    target.write_text(text, encoding="utf-8")
    return target


def _diff(old: Path, new: Path) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["diff", str(old), str(new), "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def _really_differs(old: Path, new: Path, report: dict[str, Any]) -> None:
    regions = report["regions"]
    assert isinstance(regions, list) and regions
    a, b = load_policy(old), load_policy(new)
    for region in regions:
        episode = region["counterexample"]
        da, db = a.decide(episode).to_dict(), b.decide(episode).to_dict()
        changed = {f for f in FIELDS if da[f] != db[f]}
        assert changed and changed <= set(region["changes"]), (region, da, db)
        for f in changed:
            assert region["changes"][f] == {"old": da[f], "new": db[f]}


@pytest.mark.slow
def test_moved_change_date(tmp_path: Path) -> None:
    new = _variant(tmp_path, "moved", [("from 2025-07-01: 57.00 EUR", "from 2025-08-01: 57.00 EUR")])
    code, report = _diff(POLICIES / "france.parcours", new)
    assert code == 1
    _really_differs(POLICIES / "france.parcours", new, report)
    for region in report["regions"]:
        assert "2025-07-01 to 2025-07-31" in region["region"]
        assert "base" in region["changes"]


@pytest.mark.slow
def test_changed_rate(tmp_path: Path) -> None:
    new = _variant(tmp_path, "rate", [("param majoration: rate = 0.40", "param majoration: rate = 0.30")])
    code, report = _diff(POLICIES / "france.parcours", new)
    assert code == 1
    _really_differs(POLICIES / "france.parcours", new, report)
    assert all(r["changes"]["rate"] == {"old": "0.30", "new": "0.40"} for r in report["regions"])


@pytest.mark.slow
def test_new_exception(tmp_path: Path) -> None:
    new = _variant(tmp_path, "exception", [(
        "  rule no_declared_doctor priority 12:",
        "  rule pregnancy priority 12: exempt\n    when patient.pregnancy_month >= 6\n"
        "    cite ameli_pf\n\n  rule no_declared_doctor priority 13:")])
    code, report = _diff(POLICIES / "france.parcours", new)
    assert code == 1
    _really_differs(POLICIES / "france.parcours", new, report)
    assert all(r["changes"]["rule"]["new"] == "pregnancy" for r in report["regions"])


@pytest.mark.slow
def test_reformatted_file_is_silent(tmp_path: Path) -> None:
    text = (POLICIES / "france.parcours").read_text(encoding="utf-8")
    reformatted = "# reformatted\n\n" + text.replace("  rule under_16 priority 2: exempt\n",
                                                     "  # a comment\n  rule   under_16   priority 2:"
                                                     "   exempt\n\n")
    shutil.copy(POLICIES / "episode.parcours", tmp_path / "episode.parcours")
    new = tmp_path / "france.parcours"
    new.write_text(reformatted, encoding="utf-8")
    code, report = _diff(POLICIES / "france.parcours", new)
    assert code == 0 and report["identical"] is True and report["regions"] == []
    text_result = CliRunner().invoke(main, ["diff", str(POLICIES / "france.parcours"), str(new)])
    assert text_result.exit_code == 0 and "the same way" in text_result.stdout


def test_broken_policy_exits_2(tmp_path: Path) -> None:
    new = _variant(tmp_path, "broken", [("rule under_16 priority 2: exempt",
                                         "rule under_16 priority 2: nowhere")])
    result = CliRunner().invoke(main, ["diff", str(POLICIES / "france.parcours"), str(new)])
    assert result.exit_code == 2
    assert "E335" in result.output
