"""The NHS-style variant (policies.md, section "NHS-style variant")."""

from __future__ import annotations

import types
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from parcours.compiler.pipeline import load_policy
from parcours.runtime import Decision, EpisodeError

POLICIES = Path(__file__).resolve().parent.parent / "policies"

SPECIALTIES: tuple[str, ...] = (
    "general_practice", "pediatrics", "gynecology", "midwifery", "ophthalmology",
    "psychiatry", "neuropsychiatry", "stomatology", "dentistry", "cardiology",
    "dermatology", "endocrinology", "rheumatology", "gastroenterology", "other_specialist",
)


@pytest.fixture(scope="module")
def nhs() -> types.ModuleType:
    return load_policy(POLICIES / "nhs.parcours")


def episode(
    *,
    date: str = "2025-06-10",
    age: int = 40,
    declared_doctor: bool = False,
    chronic_condition: bool = False,
    low_income_cover: bool = False,
    specialty: str = "general_practice",
    with_declared_doctor: bool = False,
    referred: bool = False,
    emergency: bool = False,
    away_from_home: bool = False,
    doctor_unavailable: bool = False,
    for_chronic_condition: bool = False,
    fee: str = "60.00",
) -> dict[str, Any]:
    """A valid contract (v1) episode; every field can be set by keyword."""
    return {
        "id": "ep-nhs",
        "date": date,
        "patient": {
            "age": age,
            "declared_doctor": declared_doctor,
            "chronic_condition": chronic_condition,
            "low_income_cover": low_income_cover,
        },
        "visit": {
            "specialty": specialty,
            "with_declared_doctor": with_declared_doctor,
            "referred": referred,
            "emergency": emergency,
            "away_from_home": away_from_home,
            "doctor_unavailable": doctor_unavailable,
            "for_chronic_condition": for_chronic_condition,
            "sector": "1",
            "fee": fee,
        },
    }


def decide(policy: types.ModuleType, ep: dict[str, Any]) -> Decision:
    result = policy.decide(ep)
    assert isinstance(result, Decision)
    return result


# ---- pathway ------------------------------------------------------------------

NHS_RULES: list[tuple[dict[str, Any], str, str]] = [
    ({"emergency": True, "specialty": "cardiology"}, "exempt", "emergency"),
    ({"declared_doctor": True, "with_declared_doctor": True}, "coordinated", "registered_gp"),
    ({"declared_doctor": True, "referred": True, "specialty": "cardiology"},
     "coordinated", "gp_referral"),
    ({"away_from_home": True, "specialty": "general_practice"}, "exempt", "temporary_resident"),
    ({"specialty": "midwifery"}, "direct_access", "self_referral"),
    ({"specialty": "gynecology"}, "direct_access", "self_referral"),
    ({"specialty": "dentistry"}, "direct_access", "self_referral"),
    ({"specialty": "ophthalmology", "age": 70}, "direct_access", "sight_test"),
    ({"specialty": "general_practice"}, "not_covered", "not_registered"),
    ({"specialty": "cardiology", "declared_doctor": True}, "not_covered", "referral_required"),
    ({"specialty": "general_practice", "declared_doctor": True}, "not_covered",
     "referral_required"),
    ({"specialty": "ophthalmology", "age": 30}, "not_covered", "referral_required"),
]


@pytest.mark.parametrize(("fields", "pathway", "rule"), NHS_RULES)
def test_every_rule_fires(nhs: types.ModuleType, fields: dict[str, Any], pathway: str,
                          rule: str) -> None:
    d = decide(nhs, episode(**fields))
    assert (d.pathway, d.rule) == (pathway, rule)
    assert d.to_dict()["currency"] == "GBP"


@pytest.mark.parametrize(("fields", "rule"), [
    # emergency (1) before registered_gp (2)
    ({"emergency": True, "declared_doctor": True, "with_declared_doctor": True}, "emergency"),
    # registered_gp (2) before gp_referral (3)
    ({"declared_doctor": True, "with_declared_doctor": True, "referred": True},
     "registered_gp"),
    # gp_referral (3) before temporary_resident (4)
    ({"declared_doctor": True, "referred": True, "away_from_home": True}, "gp_referral"),
    # temporary_resident (4) before not_registered (7)
    ({"away_from_home": True, "declared_doctor": False}, "temporary_resident"),
    # gp_referral (3) before self_referral (5)
    ({"declared_doctor": True, "referred": True, "specialty": "dentistry"}, "gp_referral"),
    # gp_referral (3) before sight_test (6)
    ({"declared_doctor": True, "referred": True, "specialty": "ophthalmology", "age": 8},
     "gp_referral"),
    # away from home only exempts general practice
    ({"away_from_home": True, "specialty": "cardiology"}, "referral_required"),
])
def test_priority_order(nhs: types.ModuleType, fields: dict[str, Any], rule: str) -> None:
    assert decide(nhs, episode(**fields)).rule == rule


# ---- all or nothing -------------------------------------------------------------


@pytest.mark.parametrize("fields", [
    {"declared_doctor": True, "with_declared_doctor": True},
    {"declared_doctor": True, "referred": True, "specialty": "cardiology"},
    {"emergency": True},
    {"away_from_home": True},
    {"specialty": "midwifery"},
])
def test_covered_visit_is_free(nhs: types.ModuleType, fields: dict[str, Any]) -> None:
    d = decide(nhs, episode(fee="87.35", **fields))
    assert d.number("base") == Decimal("87.35")
    assert d.number("rate") == Decimal("1.00")
    assert d.number("flat_fee") == Decimal("0.00")
    assert d.number("reimbursed") == Decimal("87.35")
    assert d.number("patient_pays") == Decimal("0.00")


@pytest.mark.parametrize("fields", [
    {"specialty": "general_practice"},
    {"specialty": "cardiology", "declared_doctor": True},
    {"specialty": "psychiatry"},
    {"specialty": "ophthalmology", "age": 40},
])
def test_not_covered_visit_is_private(nhs: types.ModuleType, fields: dict[str, Any]) -> None:
    d = decide(nhs, episode(fee="120.00", **fields))
    assert d.pathway == "not_covered"
    assert d.number("base") == Decimal("120.00")
    assert d.number("rate") == Decimal("0.00")
    assert d.number("reimbursed") == Decimal("0.00")
    assert d.number("patient_pays") == Decimal("120.00")
    assert d.to_dict()["rate"] == "0.00"


# ---- dentistry: band 1 charge -----------------------------------------------------


@pytest.mark.parametrize(("date", "charge"), [
    ("2024-04-01", "26.80"),
    ("2025-03-31", "26.80"),
    ("2025-04-01", "27.40"),
    ("2026-03-31", "27.40"),
    ("2026-04-01", "27.90"),
    ("2027-09-30", "27.90"),
])
def test_dental_charge_by_date(nhs: types.ModuleType, date: str, charge: str) -> None:
    d = decide(nhs, episode(date=date, specialty="dentistry", fee="75.00"))
    assert d.pathway == "direct_access"
    assert d.number("flat_fee") == Decimal(charge)
    assert d.number("reimbursed") == Decimal("75.00") - Decimal(charge)
    assert d.number("patient_pays") == Decimal(charge)


@pytest.mark.parametrize("fields", [
    {"age": 17},
    {"age": 0},
    {"age": 45, "low_income_cover": True},
])
def test_dental_charge_exemptions(nhs: types.ModuleType, fields: dict[str, Any]) -> None:
    d = decide(nhs, episode(specialty="dentistry", fee="75.00", **fields))
    assert d.number("flat_fee") == Decimal("0.00")
    assert d.number("reimbursed") == Decimal("75.00")
    assert d.number("patient_pays") == Decimal("0.00")


def test_dental_charge_from_age_18(nhs: types.ModuleType) -> None:
    d = decide(nhs, episode(specialty="dentistry", age=18, date="2025-06-10"))
    assert d.number("flat_fee") == Decimal("27.40")


def test_dental_charge_above_fee_never_negative(nhs: types.ModuleType) -> None:
    d = decide(nhs, episode(specialty="dentistry", fee="20.00"))
    assert d.number("flat_fee") == Decimal("27.40")
    assert d.number("reimbursed") == Decimal("0.00")
    assert d.number("patient_pays") == Decimal("20.00")


def test_no_flat_fee_outside_dentistry(nhs: types.ModuleType) -> None:
    for specialty in SPECIALTIES:
        if specialty == "dentistry":
            continue
        d = decide(nhs, episode(specialty=specialty, declared_doctor=True, referred=True))
        assert d.number("flat_fee") == Decimal("0.00")


def test_rejects_episode_before_validity(nhs: types.ModuleType) -> None:
    with pytest.raises(EpisodeError):
        decide(nhs, episode(date="2024-03-31", specialty="dentistry"))


# ---- sight tests --------------------------------------------------------------


@pytest.mark.parametrize("fields", [
    {"age": 0},
    {"age": 15},
    {"age": 60},
    {"age": 88},
    {"age": 35, "low_income_cover": True},
    {"age": 35, "chronic_condition": True},
])
def test_sight_test_eligible(nhs: types.ModuleType, fields: dict[str, Any]) -> None:
    d = decide(nhs, episode(specialty="ophthalmology", fee="25.00", **fields))
    assert (d.pathway, d.rule) == ("direct_access", "sight_test")
    assert d.number("reimbursed") == Decimal("25.00")
    assert d.number("patient_pays") == Decimal("0.00")


@pytest.mark.parametrize("fields", [
    {"age": 16},
    {"age": 59},
    {"age": 35, "declared_doctor": True},
    {"age": 35, "for_chronic_condition": True},
])
def test_sight_test_not_eligible(nhs: types.ModuleType, fields: dict[str, Any]) -> None:
    d = decide(nhs, episode(specialty="ophthalmology", fee="25.00", **fields))
    assert (d.pathway, d.rule) == ("not_covered", "referral_required")
    assert d.number("reimbursed") == Decimal("0.00")
    assert d.number("patient_pays") == Decimal("25.00")


# ---- constraint ------------------------------------------------------------------


@pytest.mark.parametrize("fields", [
    {"declared_doctor": False, "with_declared_doctor": True},
    {"declared_doctor": False, "referred": True},
])
def test_coordination_needs_registration(nhs: types.ModuleType, fields: dict[str, Any]) -> None:
    with pytest.raises(EpisodeError):
        decide(nhs, episode(**fields))


def test_unknown_field_is_rejected(nhs: types.ModuleType) -> None:
    ep = episode()
    ep["patient"]["fund"] = "cnss"
    with pytest.raises(EpisodeError):
        decide(nhs, ep)
