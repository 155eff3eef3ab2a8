"""The France policy against its reference check values (also in policies/france.tests.toml)."""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from parcours.compiler.pipeline import compile_policy
from parcours.runtime import Decision

Make = Callable[..., dict[str, Any]]

# Visits that are not coordinated by default: the "unreferred" baseline.
UNREFERRED: dict[str, Any] = {"specialty": "cardiology", "with_declared_doctor": False,
                              "referred": False}


def decide(france: types.ModuleType, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
    decision = france.decide(data, **kw)
    assert isinstance(decision, Decision)
    result: dict[str, Any] = decision.to_dict()
    return result


def unreferred(make: Make, patient: dict[str, Any] | None = None, **visit: Any) -> dict[str, Any]:
    return make(patient=patient, visit={**UNREFERRED, **visit})


# ---- the check values -------------------------------------------------------------------


def test_check_value_declared_gp(france: types.ModuleType, episode: Make) -> None:
    d = decide(france, episode())
    assert d["pathway"] == "coordinated"
    assert d["rule"] == "declared_doctor"
    assert (d["base"], d["rate"], d["flat_fee"], d["reimbursed"]) == ("30.00", "0.70", "2.00",
                                                                     "19.00")
    assert d["patient_pays"] == "11.00"
    assert d["currency"] == "EUR"
    assert d["policy"] == "france"
    assert d["id"] == "ep-000001"
    assert str(d["policy_version"]).startswith("sha256:")


def test_check_value_referred_cardiology(france: types.ModuleType, episode: Make) -> None:
    d = decide(france, unreferred(episode, referred=True))
    assert (d["pathway"], d["rule"]) == ("coordinated", "referred")
    assert (d["base"], d["rate"], d["flat_fee"], d["reimbursed"]) == ("31.50", "0.70", "2.00",
                                                                     "20.05")


def test_check_value_unreferred_cardiology(france: types.ModuleType, episode: Make) -> None:
    d = decide(france, unreferred(episode))
    assert (d["pathway"], d["rule"]) == ("out_of_pathway", "not_referred")
    assert (d["base"], d["rate"], d["flat_fee"], d["reimbursed"]) == ("26.50", "0.30", "2.00",
                                                                     "5.95")


def test_decision_values_are_decimals(france: types.ModuleType, episode: Make) -> None:
    decision = france.decide(episode())
    for value in (decision.number("base"), decision.number("rate"), decision.number("reimbursed"), decision.number("flat_fee"),
                  decision.number("patient_pays")):
        assert isinstance(value, Decimal)
    assert decision.number("reimbursed") == Decimal("19.00")


# ---- every pathway rule -------------------------------------------------------------------

RULE_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    # id, patient, visit (on top of UNREFERRED), rule, pathway
    ("act_outside_pathway", {}, {"act": "hospital_stay"}, "act_outside_pathway", "exempt"),
    ("act_breast_screening", {}, {"act": "breast_screening"}, "act_outside_pathway", "exempt"),
    ("under_16", {"age": 15}, {}, "under_16", "exempt"),
    ("under_16_newborn", {"age": 0}, {}, "under_16", "exempt"),
    ("not_a_physician_dentist", {}, {"specialty": "dentistry"}, "not_a_physician",
     "direct_access"),
    ("not_a_physician_midwife", {}, {"specialty": "midwifery"}, "not_a_physician",
     "direct_access"),
    ("declared_doctor", {}, {"specialty": "general_practice", "with_declared_doctor": True},
     "declared_doctor", "coordinated"),
    ("declared_doctor_specialist", {}, {"with_declared_doctor": True}, "declared_doctor",
     "coordinated"),
    ("referred", {}, {"referred": True}, "referred", "coordinated"),
    ("emergency", {}, {"emergency": True}, "emergency", "exempt"),
    ("away_from_home", {}, {"away_from_home": True}, "away_from_home", "exempt"),
    ("doctor_unavailable", {}, {"doctor_unavailable": True}, "doctor_unavailable", "exempt"),
    ("doctor_unavailable_without_declared_doctor", {"declared_doctor": False},
     {"doctor_unavailable": True}, "no_declared_doctor", "out_of_pathway"),
    ("chronic_care_protocol", {"chronic_condition": True}, {"for_chronic_condition": True},
     "chronic_care_protocol", "exempt"),
    ("chronic_without_protocol_visit", {"chronic_condition": True}, {}, "not_referred",
     "out_of_pathway"),
    ("protocol_visit_without_chronic", {}, {"for_chronic_condition": True}, "not_referred",
     "out_of_pathway"),
    ("direct_access_gynecology", {}, {"specialty": "gynecology"}, "direct_access_specialty",
     "direct_access"),
    ("direct_access_ophthalmology", {}, {"specialty": "ophthalmology"},
     "direct_access_specialty", "direct_access"),
    ("direct_access_stomatology", {}, {"specialty": "stomatology"}, "direct_access_specialty",
     "direct_access"),
    ("direct_access_specialty_needs_declared_doctor", {"declared_doctor": False},
     {"specialty": "gynecology"}, "no_declared_doctor", "out_of_pathway"),
    ("psychiatry_16", {"age": 16}, {"specialty": "psychiatry"}, "direct_access_psychiatry",
     "direct_access"),
    ("psychiatry_25", {"age": 25}, {"specialty": "psychiatry"}, "direct_access_psychiatry",
     "direct_access"),
    ("psychiatry_26", {"age": 26}, {"specialty": "psychiatry"}, "not_referred",
     "out_of_pathway"),
    ("neuropsychiatry_20", {"age": 20}, {"specialty": "neuropsychiatry"},
     "direct_access_psychiatry", "direct_access"),
    ("psychiatry_20_without_declared_doctor", {"age": 20, "declared_doctor": False},
     {"specialty": "psychiatry"}, "no_declared_doctor", "out_of_pathway"),
    ("no_declared_doctor", {"declared_doctor": False}, {}, "no_declared_doctor",
     "out_of_pathway"),
    ("no_declared_doctor_gp", {"declared_doctor": False}, {"specialty": "general_practice"},
     "no_declared_doctor", "out_of_pathway"),
    ("not_referred", {}, {}, "not_referred", "out_of_pathway"),
    ("not_referred_age_16", {"age": 16}, {}, "not_referred", "out_of_pathway"),
    ("not_referred_pediatrics", {}, {"specialty": "pediatrics"}, "not_referred",
     "out_of_pathway"),
]


@pytest.mark.parametrize(("patient", "visit", "rule", "pathway"),
                         [case[1:] for case in RULE_CASES], ids=[case[0] for case in RULE_CASES])
def test_pathway_rule(france: types.ModuleType, episode: Make, patient: dict[str, Any],
                      visit: dict[str, Any], rule: str, pathway: str) -> None:
    d = decide(france, unreferred(episode, patient, **visit))
    assert (d["rule"], d["pathway"]) == (rule, pathway)


def test_every_rule_of_the_spec_fires(france: types.ModuleType, episode: Make) -> None:
    fired = {decide(france, unreferred(episode, case[1], **case[2]))["rule"]
             for case in RULE_CASES}
    assert fired == {
        "act_outside_pathway", "under_16", "not_a_physician", "declared_doctor", "referred",
        "emergency", "away_from_home", "doctor_unavailable", "chronic_care_protocol",
        "direct_access_specialty", "direct_access_psychiatry", "no_declared_doctor",
        "not_referred",
    }


PRIORITY_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("act_beats_under_16", {"age": 10}, {"act": "pathology"}, "act_outside_pathway"),
    ("under_16_beats_emergency", {"age": 10}, {"emergency": True}, "under_16"),
    ("under_16_beats_dentist", {"age": 10}, {"specialty": "dentistry"}, "under_16"),
    ("dentist_beats_declared_doctor", {}, {"specialty": "dentistry",
                                           "with_declared_doctor": True}, "not_a_physician"),
    ("declared_doctor_beats_referred", {}, {"with_declared_doctor": True, "referred": True},
     "declared_doctor"),
    ("referred_beats_emergency", {}, {"referred": True, "emergency": True}, "referred"),
    ("emergency_beats_away", {}, {"emergency": True, "away_from_home": True}, "emergency"),
    ("away_beats_unavailable", {}, {"away_from_home": True, "doctor_unavailable": True},
     "away_from_home"),
    ("unavailable_beats_chronic", {"chronic_condition": True},
     {"doctor_unavailable": True, "for_chronic_condition": True}, "doctor_unavailable"),
    ("chronic_beats_direct_access", {"chronic_condition": True},
     {"specialty": "gynecology", "for_chronic_condition": True}, "chronic_care_protocol"),
    ("chronic_beats_no_declared_doctor", {"chronic_condition": True, "declared_doctor": False},
     {"for_chronic_condition": True}, "chronic_care_protocol"),
    ("emergency_beats_no_declared_doctor", {"declared_doctor": False}, {"emergency": True},
     "emergency"),
    ("emergency_beats_psychiatry", {"age": 20}, {"specialty": "psychiatry", "emergency": True},
     "emergency"),
]


@pytest.mark.parametrize(("patient", "visit", "rule"), [case[1:] for case in PRIORITY_CASES],
                         ids=[case[0] for case in PRIORITY_CASES])
def test_priority_order(france: types.ModuleType, episode: Make, patient: dict[str, Any],
                        visit: dict[str, Any], rule: str) -> None:
    assert decide(france, unreferred(episode, patient, **visit))["rule"] == rule


# ---- rates -------------------------------------------------------------------------------


def test_rate_css_is_full_even_out_of_pathway(france: types.ModuleType, episode: Make) -> None:
    d = decide(france, unreferred(episode, {"low_income_cover": True}))
    assert (d["pathway"], d["rate"]) == ("out_of_pathway", "1.00")
    assert d["flat_fee"] == "0.00"
    assert d["reimbursed"] == "26.50"


@pytest.mark.parametrize(("patient", "visit", "rule"), [
    ({}, {"with_declared_doctor": True}, "declared_doctor"),
    ({}, {"referred": True}, "referred"),
    ({}, {"emergency": True}, "emergency"),
    ({}, {}, "chronic_care_protocol"),
    ({"declared_doctor": False}, {}, "chronic_care_protocol"),
])
def test_rate_ald_care_is_full_whichever_rule(france: types.ModuleType, episode: Make,
                                              patient: dict[str, Any], visit: dict[str, Any],
                                              rule: str) -> None:
    ald = {"chronic_condition": True, **patient}
    d = decide(france, unreferred(episode, ald, for_chronic_condition=True, **visit))
    assert d["rule"] == rule
    assert d["pathway"] != "out_of_pathway"
    assert d["rate"] == "1.00"


def test_rate_ald_without_protocol_visit_is_penalised(france: types.ModuleType,
                                                      episode: Make) -> None:
    d = decide(france, unreferred(episode, {"chronic_condition": True}))
    assert (d["pathway"], d["rate"]) == ("out_of_pathway", "0.30")


@pytest.mark.parametrize(("patient", "rule"), [
    ({}, "not_referred"), ({"declared_doctor": False}, "no_declared_doctor")])
def test_rate_out_of_pathway(france: types.ModuleType, episode: Make, patient: dict[str, Any],
                             rule: str) -> None:
    d = decide(france, unreferred(episode, patient))
    assert (d["rule"], d["rate"]) == (rule, "0.30")


@pytest.mark.parametrize("visit", [{"with_declared_doctor": True}, {"emergency": True},
                                   {"specialty": "ophthalmology"}, {"act": "care_abroad"}])
def test_rate_inside_pathway_is_normal(france: types.ModuleType, episode: Make,
                                       visit: dict[str, Any]) -> None:
    assert decide(france, unreferred(episode, **visit))["rate"] == "0.70"


# ---- bases -------------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "base"), [
    ("2017-05-01", "25.00"), ("2023-10-31", "25.00"), ("2023-11-01", "26.50"),
    ("2024-12-21", "26.50"), ("2024-12-22", "30.00"), ("2025-07-01", "30.00"),
])
def test_base_general_practice_by_date(france: types.ModuleType, episode: Make, day: str,
                                       base: str) -> None:
    assert decide(france, episode(date=day))["base"] == base


@pytest.mark.parametrize(("day", "inside", "outside"), [
    ("2017-05-01", "30.00", "25.00"), ("2023-10-31", "30.00", "25.00"),
    ("2023-11-01", "31.50", "26.50"), ("2025-03-14", "31.50", "26.50"),
])
@pytest.mark.parametrize("specialty", ["cardiology", "dermatology", "endocrinology",
                                       "rheumatology", "gastroenterology", "other_specialist"])
def test_base_specialist_inside_and_outside(france: types.ModuleType, episode: Make, day: str,
                                            inside: str, outside: str, specialty: str) -> None:
    referred = decide(france, unreferred(episode, referred=True, specialty=specialty) | {
        "date": day})
    out = decide(france, unreferred(episode, specialty=specialty) | {"date": day})
    assert (referred["pathway"], referred["base"]) == ("coordinated", inside)
    assert (out["pathway"], out["base"]) == ("out_of_pathway", outside)


@pytest.mark.parametrize("specialty", ["ophthalmology", "stomatology"])
def test_base_direct_access_specialist_has_coordination_majoration(
        france: types.ModuleType, episode: Make, specialty: str) -> None:
    d = decide(france, unreferred(episode, specialty=specialty))
    assert (d["pathway"], d["base"]) == ("direct_access", "31.50")


@pytest.mark.parametrize("visit", [{"emergency": True}, {"away_from_home": True}])
def test_base_exempt_specialist_is_inside(france: types.ModuleType, episode: Make,
                                          visit: dict[str, Any]) -> None:
    d = decide(france, unreferred(episode, **visit))
    assert (d["pathway"], d["base"]) == ("exempt", "31.50")


@pytest.mark.parametrize("specialty", ["psychiatry", "neuropsychiatry"])
@pytest.mark.parametrize(("day", "inside", "outside"), [
    ("2024-12-22", "55.00", "50.00"), ("2025-06-30", "55.00", "50.00"),
    ("2025-07-01", "57.00", "52.00"),
])
def test_base_psychiatry(france: types.ModuleType, episode: Make, specialty: str, day: str,
                         inside: str, outside: str) -> None:
    direct = decide(france, unreferred(episode, {"age": 20}, specialty=specialty) | {"date": day})
    referred = decide(france, unreferred(episode, {"age": 40}, specialty=specialty,
                                         referred=True) | {"date": day})
    out = decide(france, unreferred(episode, {"age": 40}, specialty=specialty) | {"date": day})
    assert (direct["pathway"], direct["base"]) == ("direct_access", inside)
    assert (referred["pathway"], referred["base"]) == ("coordinated", inside)
    assert (out["pathway"], out["base"]) == ("out_of_pathway", outside)
    assert Decimal(inside) - Decimal(outside) == Decimal("5.00")


@pytest.mark.parametrize(("day", "base"), [("2024-12-22", "37.00"), ("2025-06-30", "37.00"),
                                           ("2025-07-01", "40.00")])
def test_base_gynecology(france: types.ModuleType, episode: Make, day: str, base: str) -> None:
    d = decide(france, unreferred(episode, specialty="gynecology") | {"date": day})
    assert (d["pathway"], d["base"]) == ("direct_access", base)


@pytest.mark.parametrize(("specialty", "referred", "base"), [
    ("general_practice", False, "23.00"), ("cardiology", True, "25.00"),
    ("cardiology", False, "25.00"), ("psychiatry", True, "25.00"),
    ("gynecology", False, "25.00"), ("pediatrics", True, "25.00"),
])
def test_base_sector_2_without_optam(france: types.ModuleType, episode: Make, specialty: str,
                                     referred: bool, base: str) -> None:
    d = decide(france, unreferred(episode, specialty=specialty, referred=referred, sector="2"))
    assert d["base"] == base


@pytest.mark.parametrize(("specialty", "referred"), [
    ("general_practice", False), ("cardiology", True), ("cardiology", False),
    ("psychiatry", True), ("psychiatry", False), ("gynecology", False), ("pediatrics", False),
])
def test_base_sector_2_with_optam_is_sector_1(france: types.ModuleType, episode: Make,
                                              specialty: str, referred: bool) -> None:
    sector1 = decide(france, unreferred(episode, specialty=specialty, referred=referred))
    optam = decide(france, unreferred(episode, specialty=specialty, referred=referred,
                                      sector="2", optam=True))
    assert optam["base"] == sector1["base"]
    assert optam["reimbursed"] == sector1["reimbursed"]


def test_optam_alone_changes_nothing_in_sector_1(france: types.ModuleType, episode: Make) -> None:
    assert decide(france, episode(visit={"optam": True}))["base"] == "30.00"


@pytest.mark.parametrize(("specialty", "referred", "base"), [
    ("general_practice", False, "0.61"), ("cardiology", True, "1.22"),
    ("cardiology", False, "1.22"), ("psychiatry", True, "1.22"), ("gynecology", False, "1.22"),
])
@pytest.mark.parametrize("optam", [False, True])
def test_base_sector_3(france: types.ModuleType, episode: Make, specialty: str, referred: bool,
                       base: str, optam: bool) -> None:
    d = decide(france, unreferred(episode, specialty=specialty, referred=referred, sector="3",
                                  optam=optam, fee="60.00"))
    assert d["base"] == base
    assert d["reimbursed"] == "0.00"  # below the flat fee: never negative
    assert d["patient_pays"] == "60.00"


@pytest.mark.parametrize(("specialty", "base"), [("dentistry", "23.00"), ("midwifery", "25.00")])
@pytest.mark.parametrize("sector", ["1", "2", "3"])
def test_base_not_a_physician_whatever_the_sector(france: types.ModuleType, episode: Make,
                                                  specialty: str, base: str,
                                                  sector: str) -> None:
    d = decide(france, unreferred(episode, specialty=specialty, sector=sector))
    assert d["base"] == base


# ---- flat fee ----------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "flat_fee"), [
    ("2017-05-01", "1.00"), ("2024-05-14", "1.00"), ("2024-05-15", "2.00"), ("2025-03-14", "2.00"),
])
def test_flat_fee_by_date(france: types.ModuleType, episode: Make, day: str,
                          flat_fee: str) -> None:
    assert decide(france, episode(date=day))["flat_fee"] == flat_fee


def test_flat_fee_before_change_gives_reimbursement(france: types.ModuleType,
                                                    episode: Make) -> None:
    d = decide(france, episode(date="2024-05-14"))
    # 26.50 × 0.70 = 18.55, less 1.00
    assert (d["base"], d["flat_fee"], d["reimbursed"]) == ("26.50", "1.00", "17.55")


@pytest.mark.parametrize(("patient", "visit", "flat_fee"), [
    ({"age": 17}, {}, "0.00"),
    ({"age": 18}, {}, "2.00"),
    ({"age": 5}, {}, "0.00"),
    ({"low_income_cover": True}, {}, "0.00"),
    ({"pregnancy_month": 6}, {}, "0.00"),
    ({"pregnancy_month": 9}, {}, "0.00"),
    ({"pregnancy_month": 5}, {}, "2.00"),
    ({}, {"specialty": "dentistry"}, "0.00"),
    ({}, {"specialty": "midwifery"}, "0.00"),
    ({}, {"specialty": "cardiology", "with_declared_doctor": False}, "2.00"),
])
def test_flat_fee_exemptions(france: types.ModuleType, episode: Make, patient: dict[str, Any],
                             visit: dict[str, Any], flat_fee: str) -> None:
    assert decide(france, episode(patient=patient, visit=visit))["flat_fee"] == flat_fee


# ---- money -------------------------------------------------------------------------------


@pytest.mark.parametrize(("visit", "patient"), [
    ({"sector": "3"}, {}),
    ({"sector": "3", "specialty": "cardiology", "with_declared_doctor": False}, {}),
    ({"sector": "2", "specialty": "cardiology", "with_declared_doctor": False}, {}),
    ({"specialty": "cardiology", "with_declared_doctor": False}, {"declared_doctor": False}),
])
def test_reimbursed_never_negative(france: types.ModuleType, episode: Make,
                                   visit: dict[str, Any], patient: dict[str, Any]) -> None:
    for params in (france.DEFAULTS, france.with_overrides({"penalty_cap_enabled": "true"}),
                   france.with_overrides({"participation_forfaitaire": "500.00"})):
        d = decide(france, episode(patient=patient, visit=visit), params=params)
        assert Decimal(d["reimbursed"]) >= 0


@pytest.mark.parametrize("fee", ["0.00", "11.00", "30.00", "45.50", "120.99"])
@pytest.mark.parametrize("visit", [{}, UNREFERRED, {**UNREFERRED, "referred": True},
                                   {"sector": "3"}, {"specialty": "dentistry"}])
def test_patient_pays_is_fee_less_reimbursed(france: types.ModuleType, episode: Make, fee: str,
                                             visit: dict[str, Any]) -> None:
    d = decide(france, episode(visit={**visit, "fee": fee}))
    assert Decimal(d["patient_pays"]) == Decimal(fee) - Decimal(d["reimbursed"])
    for key in ("base", "reimbursed", "flat_fee", "patient_pays"):
        text = d[key]
        assert isinstance(text, str) and len(text.split(".")[-1]) == 2


def test_reimbursed_formula(france: types.ModuleType, episode: Make) -> None:
    for visit in ({}, UNREFERRED, {**UNREFERRED, "referred": True}, {"specialty": "psychiatry"}):
        d = decide(france, episode(visit=visit))
        expected = max(Decimal("0.00"),
                       (Decimal(d["base"]) * Decimal(d["rate"])).quantize(Decimal("0.01"))
                       - Decimal(d["flat_fee"]))
        assert Decimal(d["reimbursed"]) == expected


# ---- what-if: the penalty cap --------------------------------------------------------------


def test_penalty_cap_what_if(france: types.ModuleType, episode: Make) -> None:
    params = france.with_overrides({"penalty_cap_enabled": "true"})
    d = decide(france, unreferred(episode), params=params)
    # 26.50 × 0.70 = 18.55, less the 10.00 cap, less the 2.00 flat fee
    assert d["reimbursed"] == "6.55"
    assert d["overrides"] == {"penalty_cap_enabled": "true"}
    assert d["patient_pays"] == "23.45"


def test_penalty_cap_off_by_default(france: types.ModuleType, episode: Make) -> None:
    d = decide(france, unreferred(episode))
    assert d["reimbursed"] == "5.95"
    assert "overrides" not in d
    # the what-if above must not leak into the defaults
    france.with_overrides({"penalty_cap_enabled": "true"})
    assert decide(france, unreferred(episode))["reimbursed"] == "5.95"


def test_penalty_cap_does_not_touch_the_pathway(france: types.ModuleType, episode: Make) -> None:
    params = france.with_overrides({"penalty_cap_enabled": "true"})
    d = decide(france, episode(), params=params)
    assert d["reimbursed"] == "19.00"
    assert d["overrides"] == {"penalty_cap_enabled": "true"}


def test_override_of_a_rate(france: types.ModuleType, episode: Make) -> None:
    params = france.with_overrides({"majoration": "0.50"})
    d = decide(france, unreferred(episode), params=params)
    assert d["rate"] == "0.20"
    assert d["overrides"] == {"majoration": "0.50"}


# ---- sources and explanations ------------------------------------------------------------


@pytest.mark.parametrize("case", RULE_CASES, ids=[case[0] for case in RULE_CASES])
def test_sources_name_seed_files(france: types.ModuleType, episode: Make,
                                 seed_files: tuple[str, ...],
                                 case: tuple[str, dict[str, Any], dict[str, Any], str, str]
                                 ) -> None:
    d = decide(france, unreferred(episode, case[1], **case[2]))
    sources = d["sources"]
    assert isinstance(sources, list) and sources
    assert all(isinstance(s, str) and s for s in sources)
    assert len(sources) == len(set(sources))
    assert set(sources) & set(seed_files)


def test_sources_of_declared_gp(france: types.ModuleType, episode: Make) -> None:
    sources = decide(france, episode())["sources"]
    assert "001_264f89428c423238.txt" in sources
    assert "002_d8b8ab370c5ec4a0.txt" in sources


def test_sources_of_emergency(france: types.ModuleType, episode: Make) -> None:
    sources = decide(france, unreferred(episode, emergency=True))["sources"]
    for seed in ("000_f978cb8ce6365d30.txt", "002_d8b8ab370c5ec4a0.txt",
                 "003_2fed5c8b8ed5c71d.txt"):
        assert seed in sources


def pathway_steps(decision: Decision) -> list[dict[str, object]]:
    assert decision.trace is not None
    return [step for step in decision.trace.to_list() if step["target"] == "pathway"]


@pytest.mark.parametrize("case", RULE_CASES, ids=[case[0] for case in RULE_CASES])
def test_explain_applies_exactly_one_rule(france: types.ModuleType, episode: Make,
                                          case: tuple[str, dict[str, Any], dict[str, Any], str,
                                                      str]) -> None:
    data = unreferred(episode, case[1], **case[2])
    explained = france.explain(data)
    steps = pathway_steps(explained)
    applied = [step["name"] for step in steps if step["status"] == "applied"]
    assert applied == [case[3]]
    # rules before the applied one did not hold; nothing after it is "applied"
    names = [step["name"] for step in steps]
    index = names.index(case[3])
    assert all(step["status"] == "not applicable" for step in steps[:index])
    assert all(step["status"] in ("overridden", "not applicable") for step in steps[index + 1:])
    # explain decides like decide
    plain = france.decide(data).to_dict()
    full = explained.to_dict()
    assert "trace" in full and "trace" not in plain
    del full["trace"]
    assert full == plain


def test_explain_lists_rules_in_priority_order(france: types.ModuleType, episode: Make) -> None:
    steps = pathway_steps(france.explain(episode()))
    assert [step["name"] for step in steps] == [
        "act_outside_pathway", "under_16", "not_a_physician", "declared_doctor", "referred",
        "emergency", "away_from_home", "doctor_unavailable", "chronic_care_protocol",
        "direct_access_specialty", "direct_access_psychiatry", "no_declared_doctor",
        "not_referred",
    ]
    priorities = [step.get("priority") for step in steps]
    assert priorities == list(range(1, 13)) + [None]


def test_explain_overridden_rule(france: types.ModuleType, episode: Make) -> None:
    decision = france.explain(unreferred(episode, emergency=True, away_from_home=True))
    status = {step["name"]: step["status"] for step in pathway_steps(decision)}
    assert status["emergency"] == "applied"
    assert status["away_from_home"] == "overridden"
    assert status["not_referred"] == "overridden"  # the default always holds
    assert status["referred"] == "not applicable"
    assert status["doctor_unavailable"] == "not applicable"


def test_explain_under_16_overrides_emergency(france: types.ModuleType, episode: Make) -> None:
    decision = france.explain(unreferred(episode, {"age": 10}, emergency=True))
    status = {step["name"]: step["status"] for step in pathway_steps(decision)}
    assert status["under_16"] == "applied"
    assert status["emergency"] == "overridden"


def test_explain_trace_carries_sources(france: types.ModuleType, episode: Make) -> None:
    steps = pathway_steps(france.explain(episode()))
    applied = next(step for step in steps if step["status"] == "applied")
    assert "001_264f89428c423238.txt" in applied["sources"]  # type: ignore[operator]
    assert str(applied["location"]).startswith("france.parcours:")


def test_explain_outputs_have_one_applied_branch(france: types.ModuleType,
                                                 episode: Make) -> None:
    decision = france.explain(unreferred(episode))
    assert decision.trace is not None
    by_target: dict[str, list[str]] = {}
    for step in decision.trace.to_list():
        by_target.setdefault(str(step["target"]), []).append(str(step["status"]))
    for target in ("pathway", "rate", "base", "flat_fee", "reimbursed", "patient_pays"):
        assert by_target[target].count("applied") == 1, target


# ---- the generated module ----------------------------------------------------------------


def test_compilation_is_deterministic(repo_root: Path) -> None:
    path = repo_root / "policies" / "france.parcours"
    _, first = compile_policy(path)
    _, second = compile_policy(path)
    assert first.encode("utf-8") == second.encode("utf-8")


def test_compilation_does_not_depend_on_the_directory(repo_root: Path, tmp_path: Path) -> None:
    for name in ("france.parcours", "episode.parcours"):
        (tmp_path / name).write_bytes((repo_root / "policies" / name).read_bytes())
    _, here = compile_policy(repo_root / "policies" / "france.parcours")
    _, there = compile_policy(tmp_path / "france.parcours")
    assert here == there


STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def test_generated_module_imports_only_stdlib_and_runtime(repo_root: Path) -> None:
    _, text = compile_policy(repo_root / "policies" / "france.parcours")
    tree = ast.parse(text)
    modules: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            assert node.module is not None
            modules.append(node.module)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in ("__import__", "exec", "eval", "compile", "open")
    assert "parcours.runtime" in modules
    for module in modules:
        assert module == "parcours.runtime" or module.split(".")[0] in STDLIB, module


@pytest.mark.slow
def test_generated_module_passes_mypy_strict(repo_root: Path, tmp_path: Path) -> None:
    _, text = compile_policy(repo_root / "policies" / "france.parcours")
    target = tmp_path / "france_policy.py"
    target.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(target)],
        cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_compilation_is_deterministic_across_processes(repo_root: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "parcours"
    if not script.exists():
        pytest.skip("the parcours script is not installed next to the interpreter")
    outputs = []
    for seed in ("1", "2"):
        target = tmp_path / f"france_{seed}.py"
        result = subprocess.run(
            [str(script), "compile", "policies/france.parcours", "-o", str(target)],
            cwd=repo_root, capture_output=True, text=True, timeout=300,
            env={"PYTHONHASHSEED": seed, "PATH": str(script.parent)})
        assert result.returncode == 0, result.stderr
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1]
    _, in_process = compile_policy(repo_root / "policies" / "france.parcours")
    assert outputs[0] == in_process.encode("utf-8")
