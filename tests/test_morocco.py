"""The Morocco policies: the AMO status quo and the SNMG proposal (policies.md)."""

from __future__ import annotations

import random
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
def morocco() -> types.ModuleType:
    return load_policy(POLICIES / "morocco.parcours")


@pytest.fixture(scope="module")
def proposal() -> types.ModuleType:
    return load_policy(POLICIES / "morocco_proposal.parcours")


def episode(
    *,
    date: str = "2024-06-10",
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
    fee: str = "200.00",
    patient_extra: dict[str, Any] | None = None,
    visit_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A valid contract (v1) episode; every field can be set by keyword."""
    patient: dict[str, Any] = {
        "age": age,
        "declared_doctor": declared_doctor,
        "chronic_condition": chronic_condition,
        "low_income_cover": low_income_cover,
    }
    visit: dict[str, Any] = {
        "specialty": specialty,
        "with_declared_doctor": with_declared_doctor,
        "referred": referred,
        "emergency": emergency,
        "away_from_home": away_from_home,
        "doctor_unavailable": doctor_unavailable,
        "for_chronic_condition": for_chronic_condition,
        "sector": "1",
        "fee": fee,
    }
    patient.update(patient_extra or {})
    visit.update(visit_extra or {})
    return {"id": "ep-test", "date": date, "patient": patient, "visit": visit}


def decide(policy: types.ModuleType, ep: dict[str, Any]) -> Decision:
    result = policy.decide(ep)
    assert isinstance(result, Decision)
    return result


def with_fund(ep: dict[str, Any], fund: str) -> dict[str, Any]:
    ep["patient"]["fund"] = fund
    return ep


# ---- status quo -------------------------------------------------------------


def test_status_quo_no_gatekeeping_for_every_visit(morocco: types.ModuleType) -> None:
    for specialty in SPECIALTIES:
        for declared in (False, True):
            d = decide(morocco, episode(specialty=specialty, declared_doctor=declared))
            assert (d.pathway, d.rule) == ("exempt", "no_gatekeeping")
    d = decide(morocco, episode(declared_doctor=True, referred=True, emergency=True))
    assert (d.pathway, d.rule) == ("exempt", "no_gatekeeping")


@pytest.mark.parametrize(("specialty", "base"), [
    ("general_practice", "80.00"),
    ("cardiology", "150.00"),
    ("pediatrics", "150.00"),
    ("gynecology", "150.00"),
    ("ophthalmology", "150.00"),
    ("psychiatry", "150.00"),
    ("other_specialist", "150.00"),
])
def test_status_quo_tnr_bases(morocco: types.ModuleType, specialty: str, base: str) -> None:
    for date in ("2006-01-01", "2015-03-01", "2023-01-15", "2026-02-01"):
        d = decide(morocco, episode(date=date, specialty=specialty))
        assert d.number("base") == Decimal(base)


@pytest.mark.parametrize(("fund", "rate", "gp", "specialist"), [
    ("cnss", "0.70", "56.00", "105.00"),
    ("tadamon", "0.70", "56.00", "105.00"),
    ("cnops", "0.80", "64.00", "120.00"),
])
def test_status_quo_rate_per_fund(morocco: types.ModuleType, fund: str, rate: str, gp: str,
                                  specialist: str) -> None:
    d = decide(morocco, with_fund(episode(specialty="general_practice", fee="200.00"), fund))
    assert d.number("rate") == Decimal(rate)
    assert d.number("reimbursed") == Decimal(gp)
    assert d.number("flat_fee") == Decimal("0.00")
    assert d.number("patient_pays") == Decimal("200.00") - Decimal(gp)
    d = decide(morocco, with_fund(episode(specialty="cardiology", fee="300.00"), fund))
    assert d.number("rate") == Decimal(rate)
    assert d.number("reimbursed") == Decimal(specialist)
    assert d.number("patient_pays") == Decimal("300.00") - Decimal(specialist)


def test_status_quo_default_fund_is_cnss(morocco: types.ModuleType) -> None:
    d = decide(morocco, episode(specialty="general_practice"))
    assert d.number("rate") == Decimal("0.70")
    assert d.to_dict()["rate"] == "0.70"
    assert d.to_dict()["currency"] == "MAD"


@pytest.mark.parametrize("fund", ["cnss", "cnops", "tadamon"])
def test_status_quo_ald_rate(morocco: types.ModuleType, fund: str) -> None:
    ep = with_fund(episode(specialty="endocrinology", chronic_condition=True,
                           for_chronic_condition=True, fee="150.00"), fund)
    d = decide(morocco, ep)
    assert d.number("rate") == Decimal("1.00")
    assert d.number("reimbursed") == Decimal("150.00")
    assert d.number("patient_pays") == Decimal("0.00")


def test_status_quo_chronic_patient_outside_protocol_pays_fund_rate(
        morocco: types.ModuleType) -> None:
    d = decide(morocco, episode(specialty="dermatology", chronic_condition=True))
    assert d.number("rate") == Decimal("0.70")
    d = decide(morocco, episode(specialty="dermatology", for_chronic_condition=True))
    assert d.number("rate") == Decimal("0.70")


def test_status_quo_ald_rate_is_a_what_if_parameter(morocco: types.ModuleType) -> None:
    params = morocco.with_overrides({"ald_rate": "0.95"})
    ep = episode(specialty="cardiology", chronic_condition=True, for_chronic_condition=True)
    d = morocco.decide(ep, params)
    assert isinstance(d, Decision)
    assert d.number("rate") == Decimal("0.95")
    assert d.number("reimbursed") == Decimal("142.50")


def test_status_quo_rejects_episode_before_validity(morocco: types.ModuleType) -> None:
    with pytest.raises(EpisodeError):
        decide(morocco, episode(date="2005-12-31"))


def test_status_quo_rejects_unknown_fund(morocco: types.ModuleType) -> None:
    with pytest.raises(EpisodeError):
        decide(morocco, with_fund(episode(), "ramed"))


def test_status_quo_fee_below_reimbursement(morocco: types.ModuleType) -> None:
    # The contract's formula reimburses on the TNR, not on the fee: a fee below
    # the reimbursement leaves the patient a negative amount to pay.
    d = decide(morocco, episode(specialty="cardiology", fee="100.00"))
    assert d.number("reimbursed") == Decimal("105.00")
    assert d.number("patient_pays") == Decimal("-5.00")


# ---- proposal ---------------------------------------------------------------


PROPOSAL_RULES: list[tuple[dict[str, Any], str, str]] = [
    ({"declared_doctor": True, "with_declared_doctor": True, "specialty": "general_practice"},
     "coordinated", "declared_doctor"),
    ({"declared_doctor": True, "with_declared_doctor": True, "specialty": "cardiology"},
     "coordinated", "declared_doctor"),
    ({"declared_doctor": True, "referred": True, "specialty": "cardiology"},
     "coordinated", "referred"),
    ({"visit_extra": {"public_health_centre": True}}, "coordinated", "public_health_centre"),
    ({"emergency": True, "specialty": "cardiology"}, "exempt", "emergency"),
    ({"away_from_home": True}, "exempt", "away_from_home"),
    ({"chronic_condition": True, "for_chronic_condition": True, "specialty": "endocrinology"},
     "exempt", "chronic_care_network"),
    ({"specialty": "gynecology"}, "direct_access", "direct_access_specialty"),
    ({"specialty": "ophthalmology"}, "direct_access", "direct_access_specialty"),
    ({"specialty": "cardiology"}, "out_of_pathway", "no_declared_doctor"),
    ({"specialty": "general_practice"}, "out_of_pathway", "no_declared_doctor"),
    ({"declared_doctor": True, "specialty": "cardiology"}, "out_of_pathway", "not_referred"),
    ({"declared_doctor": True, "specialty": "general_practice"}, "out_of_pathway",
     "not_referred"),
]


@pytest.mark.parametrize(("fields", "pathway", "rule"), PROPOSAL_RULES)
def test_proposal_every_rule_fires(proposal: types.ModuleType, fields: dict[str, Any],
                                   pathway: str, rule: str) -> None:
    d = decide(proposal, episode(**fields))
    assert (d.pathway, d.rule) == (pathway, rule)


@pytest.mark.parametrize(("fields", "rule"), [
    # declared_doctor (1) before referred (2)
    ({"declared_doctor": True, "with_declared_doctor": True, "referred": True}, "declared_doctor"),
    # referred (2) before public_health_centre (3)
    ({"declared_doctor": True, "referred": True, "visit_extra": {"public_health_centre": True}},
     "referred"),
    # public_health_centre (3) before emergency (4)
    ({"emergency": True, "visit_extra": {"public_health_centre": True}}, "public_health_centre"),
    # emergency (4) before away_from_home (5)
    ({"emergency": True, "away_from_home": True}, "emergency"),
    # away_from_home (5) before chronic_care_network (6)
    ({"away_from_home": True, "chronic_condition": True, "for_chronic_condition": True},
     "away_from_home"),
    # chronic_care_network (6) before direct_access_specialty (7)
    ({"specialty": "gynecology", "chronic_condition": True, "for_chronic_condition": True},
     "chronic_care_network"),
    # direct_access_specialty (7) before no_declared_doctor (8)
    ({"specialty": "ophthalmology", "declared_doctor": False}, "direct_access_specialty"),
    # the declared doctor (1) wins over an emergency (4)
    ({"declared_doctor": True, "with_declared_doctor": True, "emergency": True},
     "declared_doctor"),
])
def test_proposal_priority_order(proposal: types.ModuleType, fields: dict[str, Any],
                                 rule: str) -> None:
    assert decide(proposal, episode(**fields)).rule == rule


@pytest.mark.parametrize("fund", ["cnss", "cnops", "tadamon"])
def test_proposal_inside_pathway_is_covered_in_full(proposal: types.ModuleType,
                                                    fund: str) -> None:
    for fields in ({"declared_doctor": True, "with_declared_doctor": True},
                   {"emergency": True}, {"specialty": "gynecology"}):
        d = decide(proposal, with_fund(episode(fee="150.00", **fields), fund))
        assert d.number("rate") == Decimal("1.00")
    d = decide(proposal, with_fund(episode(declared_doctor=True, with_declared_doctor=True,
                                           specialty="general_practice", fee="100.00"), fund))
    assert d.number("base") == Decimal("80.00")
    assert d.number("reimbursed") == Decimal("80.00")
    assert d.number("patient_pays") == Decimal("20.00")


@pytest.mark.parametrize(("fund", "rate", "reimbursed"), [
    ("cnss", "0.30", "45.00"),
    ("tadamon", "0.30", "45.00"),
    ("cnops", "0.40", "60.00"),
])
def test_proposal_out_of_pathway_rate(proposal: types.ModuleType, fund: str, rate: str,
                                      reimbursed: str) -> None:
    d = decide(proposal, with_fund(episode(specialty="cardiology", fee="300.00"), fund))
    assert d.pathway == "out_of_pathway"
    assert d.number("base") == Decimal("150.00")
    assert d.number("rate") == Decimal(rate)
    assert d.number("reimbursed") == Decimal(reimbursed)
    assert d.number("flat_fee") == Decimal("0.00")
    assert d.number("patient_pays") == Decimal("300.00") - Decimal(reimbursed)


def test_proposal_tnr_bases(proposal: types.ModuleType) -> None:
    assert decide(proposal, episode(specialty="general_practice")).number("base") == Decimal("80.00")
    for specialty in ("cardiology", "pediatrics", "psychiatry", "gynecology"):
        assert decide(proposal, episode(specialty=specialty)).number("base") == Decimal("150.00")


def test_proposal_assumptions_are_what_if_parameters(proposal: types.ModuleType) -> None:
    params = proposal.with_overrides({"out_of_pathway_penalty": "0.20",
                                      "inside_pathway_rate": "0.90"})
    d = proposal.decide(episode(specialty="cardiology"), params)
    assert isinstance(d, Decision)
    assert d.number("rate") == Decimal("0.50")
    d = proposal.decide(episode(specialty="gynecology"), params)
    assert isinstance(d, Decision)
    assert d.number("rate") == Decimal("0.90")
    # a penalty above the fund's rate never gives a negative rate
    params = proposal.with_overrides({"out_of_pathway_penalty": "0.90"})
    d = proposal.decide(episode(specialty="cardiology"), params)
    assert isinstance(d, Decision)
    assert d.number("rate") == Decimal("0.00")
    assert d.number("reimbursed") == Decimal("0.00")


@pytest.mark.parametrize("fields", [
    {"declared_doctor": False, "with_declared_doctor": True},
    {"declared_doctor": False, "referred": True},
])
def test_proposal_coordination_needs_declared_doctor(proposal: types.ModuleType,
                                                     fields: dict[str, Any]) -> None:
    with pytest.raises(EpisodeError):
        decide(proposal, episode(**fields))


# ---- one population, both policies -------------------------------------------


def population(seed: int, size: int) -> list[dict[str, Any]]:
    """Synthetic contract episodes; a coordinated visit implies a declared doctor."""
    rng = random.Random(seed)
    start = 2006 * 12
    episodes: list[dict[str, Any]] = []
    for i in range(size):
        month = rng.randrange(start, 2026 * 12)
        date = f"{month // 12:04d}-{month % 12 + 1:02d}-{rng.randint(1, 28):02d}"
        declared = rng.random() < 0.6
        chronic = rng.random() < 0.2
        ep = episode(
            date=date,
            age=rng.randint(0, 130),
            declared_doctor=declared,
            chronic_condition=chronic,
            low_income_cover=rng.random() < 0.15,
            specialty=rng.choice(SPECIALTIES),
            with_declared_doctor=declared and rng.random() < 0.4,
            referred=declared and rng.random() < 0.3,
            emergency=rng.random() < 0.05,
            away_from_home=rng.random() < 0.05,
            doctor_unavailable=declared and rng.random() < 0.05,
            for_chronic_condition=rng.random() < (0.6 if chronic else 0.05),
            fee=f"{rng.randint(0, 60000) / 100:.2f}",
        )
        ep["id"] = f"ep-{i:06d}"
        ep["visit"]["sector"] = rng.choice(("1", "2", "3"))
        if rng.random() < 0.5:
            ep["patient"]["fund"] = rng.choice(("cnss", "cnops", "tadamon"))
        episodes.append(ep)
    return episodes


def test_same_population_through_both_policies(morocco: types.ModuleType,
                                               proposal: types.ModuleType) -> None:
    # Only the shared fields and `patient.fund` (declared by both policies).
    episodes = population(seed=20240610, size=200)
    pathways: set[str] = set()
    for ep in episodes:
        fee = Decimal(ep["visit"]["fee"])
        status_quo = decide(morocco, ep)
        assert status_quo.id == ep["id"]
        assert status_quo.number("reimbursed") + status_quo.number("patient_pays") == fee
        assert status_quo.number("reimbursed") >= 0
        assert (status_quo.pathway, status_quo.rule) == ("exempt", "no_gatekeeping")
        proposed = decide(proposal, ep)
        assert proposed.id == ep["id"]
        assert proposed.number("reimbursed") + proposed.number("patient_pays") == fee
        assert proposed.number("reimbursed") >= 0
        assert proposed.number("base") == status_quo.number("base")
        pathways.add(proposed.pathway)
        if proposed.pathway == "out_of_pathway":
            assert proposed.number("rate") < status_quo.number("rate")
        else:
            assert proposed.number("rate") == Decimal("1.00")
    assert pathways == {"coordinated", "direct_access", "exempt", "out_of_pathway"}
