"""The static verifier: shipped policies verify clean; planted defects are found, each with a
counterexample episode that really triggers the defect in the compiled policy."""

from __future__ import annotations

from decimal import Decimal

import shutil
import time
import types
from datetime import date
from pathlib import Path

import pytest

from parcours.compiler.sema.check import check
from parcours.compiler.backends.python.emit import generate
from parcours.compiler.diagnostics import Diagnostic, Diagnostics
from parcours.compiler.backends.python.loader import load_module
from parcours.compiler.pipeline import analyse
from parcours.compiler.sema.load import load
from parcours.compiler.analysis.verify import verify_program
from parcours.runtime import PolicyGap

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SHIPPED = ("france", "morocco", "morocco_proposal", "nhs", "tunisia")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_policy_verifies_clean_and_fast(name: str) -> None:
    started = time.perf_counter()
    analysis = analyse(POLICIES / f"{name}.parcours")
    seconds = time.perf_counter() - started
    assert analysis.ok, analysis.render()
    assert [d for d in analysis.diagnostics if d.code.startswith(("E4", "W4"))] == []
    assert seconds < 5  # well under a second in practice


def _variant(tmp_path: Path, old: str, new: str, source: str = "france") -> Path:
    shutil.copy(POLICIES / "episode.parcours", tmp_path / "episode.parcours")
    text = (POLICIES / f"{source}.parcours").read_text(encoding="utf-8")
    assert old in text
    target = tmp_path / f"{source}.parcours"
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


def _verify(path: Path) -> tuple[list[Diagnostic], types.ModuleType]:
    """The verifier's findings, and the module generated from the (unverified) IR."""
    diagnostics = Diagnostics()
    scope = load(path, str(path), diagnostics, None)
    program = check(scope, diagnostics)
    assert program is not None and not diagnostics.has_errors, list(diagnostics)
    module = load_module(f"variant_{path.stem}", generate(program), str(path))
    return verify_program(program), module


def _only(findings: list[Diagnostic], code: str) -> Diagnostic:
    matching = [d for d in findings if d.code == code]
    assert len(matching) == 1, findings
    assert matching[0].counterexample is not None
    return matching[0]


def test_gap_in_rules(tmp_path: Path) -> None:
    path = _variant(tmp_path, "  default not_referred: out_of_pathway\n", "  # no default\n")
    path.write_text(path.read_text().replace(
        "    cite seed000, seed001, seed002, seed003\n}", "}", 1))
    findings, module = _verify(path)
    gap = _only(findings, "E401")
    assert "no rule decides" in gap.message
    assert analyse(path).ok is False  # `parcours check` fails
    with pytest.raises(PolicyGap):
        module.decide(gap.counterexample)


def test_gap_in_case(tmp_path: Path) -> None:
    path = _variant(tmp_path, "  else: min(participation_forfaitaire, participations.left) ",
                    "  when patient.age >= 30: min(participation_forfaitaire, participations.left) ")
    findings, module = _verify(path)
    gap = _only(findings, "E401")
    assert "flat_fee" in gap.message
    with pytest.raises(PolicyGap):
        module.decide(gap.counterexample)


def test_conflict_between_equal_priorities(tmp_path: Path) -> None:
    path = _variant(tmp_path, "rule emergency priority 6:", "rule emergency priority 5:")
    findings, module = _verify(path)
    conflict = _only(findings, "E402")
    assert "`referred`" in conflict.message and "`emergency`" in conflict.message
    assert conflict.notes  # the other rule, with its span
    decision = module.explain(conflict.counterexample)
    assert decision.trace is not None
    steps = {s["name"]: s for s in decision.trace.to_list() if s["target"] == "pathway"}
    assert {steps["referred"]["status"], steps["emergency"]["status"]} == {"applied", "overridden"}
    assert steps["referred"]["priority"] == steps["emergency"]["priority"] == 5


def test_same_priority_same_pathway_is_no_conflict(tmp_path: Path) -> None:
    path = _variant(tmp_path, "rule away_from_home priority 7:", "rule away_from_home priority 6:")
    findings, _ = _verify(path)
    assert [d for d in findings if d.code == "E402"] == []


def test_unreachable_rule(tmp_path: Path) -> None:
    path = _variant(tmp_path, "  default not_referred:",
                    "  rule toddler priority 13: exempt\n    when patient.age < 6\n    cite seed003\n\n"
                    "  default not_referred:")
    findings, module = _verify(path)
    unreachable = _only(findings, "W403")
    assert unreachable.severity == "warning" and "toddler" in unreachable.message
    assert any("under_16" in text for _, text in unreachable.notes)
    decision = module.explain(unreachable.counterexample)
    assert decision.trace is not None
    steps = {s["name"]: s for s in decision.trace.to_list() if s["target"] == "pathway"}
    assert steps["toddler"]["status"] == "overridden"  # its condition holds, another rule wins
    assert decision.rule != "toddler"
    # --strict turns the warning into a failure
    from click.testing import CliRunner
    from parcours.compiler.cli import main
    assert CliRunner().invoke(main, ["check", str(path)]).exit_code == 0
    assert CliRunner().invoke(main, ["check", "--strict", str(path)]).exit_code == 1


def test_unreachable_branch(tmp_path: Path) -> None:
    path = _variant(tmp_path, "  when patient.low_income_cover: 0.00 EUR",
                    "  when patient.age < 12: 0.00 EUR   cite ameli_pf\n"
                    "  when patient.low_income_cover: 0.00 EUR")
    findings, _ = _verify(path)
    finding = _only_code(findings, "W404")
    assert "patient.age < 12" in finding.message


def _only_code(findings: list[Diagnostic], code: str) -> Diagnostic:
    matching = [d for d in findings if d.code == code]
    assert len(matching) == 1, findings
    return matching[0]


def test_constraints_are_respected(tmp_path: Path) -> None:
    # Without the constraint, `referred` without a declared doctor would reach rule 5; with it,
    # a rule that needs both is still reachable, and one that contradicts it is not.
    path = _variant(tmp_path, "  default not_referred:",
                    "  rule impossible priority 3: exempt\n"
                    "    when visit.referred and not patient.declared_doctor\n    cite seed003\n\n"
                    "  default not_referred:")
    path.write_text(path.read_text().replace("rule not_a_physician priority 3:",
                                             "rule not_a_physician priority 4:"))
    findings, _ = _verify(path)
    finding = _only_code(findings, "W403")
    assert "impossible" in finding.message and "never holds" in finding.message


def test_hole_in_dated_value(tmp_path: Path) -> None:
    path = _variant(tmp_path, "  from 2017-05-01: 25.00 EUR   cite ameli_tarifs, css_l162_5_3",
                    "  from 2017-05-01 until 2023-09-30: 25.00 EUR   cite ameli_tarifs, css_l162_5_3")
    analysis = analyse(path)
    holes = [d for d in analysis.diagnostics if d.code == "E322"]
    assert len(holes) == 1 and holes[0].counterexample is not None
    day = date.fromisoformat(str(holes[0].counterexample["date"]))
    assert date(2023, 10, 1) <= day <= date(2023, 10, 31)


def test_morocco_variants_gap_and_reach(tmp_path: Path) -> None:
    # A policy whose only rule is the default: a conditional exception is reachable.
    findings, _ = _verify(POLICIES / "morocco.parcours")
    assert findings == []


def test_a_gap_below_the_cap_is_found_at_an_amount_used(tmp_path: Path) -> None:
    """The amount an accumulator used is a bounded input: a case that forgets the amounts
    between 40.00 and the cap has a gap the verifier finds, with an episode that shows it."""
    path = _variant(tmp_path, "  when participations.used >= participation_annual_cap: 0.00 EUR",
                    "  when participations.used >= 40.00 EUR and participations.used < "
                    "participation_annual_cap: 0.00 EUR\n"
                    "  when participations.used >= participation_annual_cap: 0.00 EUR")
    findings, _ = _verify(path)
    assert not [f for f in findings if f.code in ("E401", "E402")]
    path = _variant(tmp_path, "  else: min(participation_forfaitaire, participations.left) ",
                    "  when participations.used < 40.00 EUR: "
                    "min(participation_forfaitaire, participations.left) ")
    findings, module = _verify(path)
    gap = _only(findings, "E401")
    assert gap.counterexample is not None
    used = Decimal(str(gap.counterexample["participations_used"]))
    assert Decimal("40.00") <= used < Decimal("50.00"), gap.counterexample
    with pytest.raises(PolicyGap):
        module.decide(gap.counterexample)
