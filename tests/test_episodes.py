"""Episode validation against the contract: a bad episode is an EpisodeError naming the field."""

from __future__ import annotations

import copy
import json
import types
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from parcours.runtime import EpisodeError

Make = Callable[..., dict[str, Any]]


def _holder(data: dict[str, Any], dotted: str) -> tuple[dict[str, Any], str]:
    """The object holding the field `dotted` names, and the field's key in it."""
    *parents, last = dotted.split(".")
    for part in parents:
        data = data[part]
    return data, last


def without(data: dict[str, Any], dotted: str) -> dict[str, Any]:
    out = copy.deepcopy(data)
    holder, key = _holder(out, dotted)
    del holder[key]
    return out


def rejected(france: types.ModuleType, data: dict[str, Any]) -> EpisodeError:
    with pytest.raises(EpisodeError) as info:
        france.decide(data)
    # explain validates the same way
    with pytest.raises(EpisodeError) as explained:
        france.explain(data)
    assert explained.value.field == info.value.field
    return info.value


REQUIRED = [
    "date", "patient", "visit", "patient.age", "patient.declared_doctor",
    "patient.chronic_condition", "patient.low_income_cover", "visit.specialty",
    "visit.with_declared_doctor", "visit.referred", "visit.emergency", "visit.away_from_home",
    "visit.doctor_unavailable", "visit.for_chronic_condition", "visit.fee",
]


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_field(france: types.ModuleType, episode: Make, field: str) -> None:
    error = rejected(france, without(episode(), field))
    assert error.field == field
    assert error.episode_id == "ep-000001"
    assert "missing" in error.message or field in ("date",)
    assert "ep-000001" in str(error) and field in str(error)


def test_unknown_top_level_field(france: types.ModuleType, episode: Make) -> None:
    data = episode()
    data["vist"] = data.pop("visit")
    error = rejected(france, data)
    assert error.field == "vist"
    assert "unknown field" in error.message
    assert "visit" in error.message  # did you mean visit?


def test_unknown_visit_field(france: types.ModuleType, episode: Make) -> None:
    data = episode()
    data["visit"]["feee"] = data["visit"].pop("fee")
    error = rejected(france, data)
    assert error.field == "visit.feee"
    assert "visit.fee" in error.message


def test_unknown_patient_field(france: types.ModuleType, episode: Make) -> None:
    error = rejected(france, episode(patient={"pregnant": True}))
    assert error.field == "patient.pregnant"


def test_unknown_field_never_falls_back_to_default(france: types.ModuleType,
                                                   episode: Make) -> None:
    error = rejected(france, episode(visit={"sectr": "2"}))
    assert error.field == "visit.sectr"


@pytest.mark.parametrize("value", [True, False])
def test_bool_given_for_age(france: types.ModuleType, episode: Make, value: bool) -> None:
    error = rejected(france, episode(patient={"age": value}))
    assert error.field == "patient.age"
    assert "boolean" in error.message


@pytest.mark.parametrize("value", ["34", 34.0, Decimal("34"), None])
def test_non_int_age(france: types.ModuleType, episode: Make, value: object) -> None:
    assert rejected(france, episode(patient={"age": value})).field == "patient.age"


@pytest.mark.parametrize(("section", "field"), [
    ("patient", "declared_doctor"), ("patient", "chronic_condition"),
    ("patient", "low_income_cover"), ("visit", "with_declared_doctor"), ("visit", "referred"),
    ("visit", "emergency"), ("visit", "away_from_home"), ("visit", "doctor_unavailable"),
    ("visit", "for_chronic_condition"), ("visit", "optam"),
])
@pytest.mark.parametrize("value", [1, 0, "true"])
def test_non_bool_given_for_a_bool(france: types.ModuleType, episode: Make, section: str,
                                   field: str, value: object) -> None:
    error = rejected(france, episode(**{section: {field: value}}))
    assert error.field == f"{section}.{field}"
    assert "true or false" in error.message


@pytest.mark.parametrize("age", [131, -1, 1000])
def test_age_out_of_range(france: types.ModuleType, episode: Make, age: int) -> None:
    error = rejected(france, episode(patient={"age": age}))
    assert error.field == "patient.age"
    assert "0..130" in error.message


@pytest.mark.parametrize("age", [0, 130])
def test_age_bounds_accepted(france: types.ModuleType, episode: Make, age: int) -> None:
    assert france.decide(episode(patient={"age": age})).id == "ep-000001"


@pytest.mark.parametrize("month", [-1, 10])
def test_pregnancy_month_out_of_range(france: types.ModuleType, episode: Make,
                                      month: int) -> None:
    assert rejected(france, episode(patient={"pregnancy_month": month})).field == \
        "patient.pregnancy_month"


@pytest.mark.parametrize("month", [False, 0.0, "0", None, [0]])
def test_an_optional_int_equal_to_its_default_but_not_an_int_is_refused(
        france: types.ModuleType, episode: Make, month: object) -> None:
    # absent, the field takes its default unchecked; given, it is counted and checked
    assert rejected(france, episode(patient={"pregnancy_month": month})).field == \
        "patient.pregnancy_month"


def test_an_optional_int_given_as_its_default_value_is_checked_and_taken(
        tmp_path: Path, episode: Make) -> None:
    """A default past the interpreter's cached small ints: an episode's equal value is
    another object, which is checked like any other value."""
    from parcours.compiler.pipeline import load_policy

    policies = Path(__file__).resolve().parent.parent / "policies"
    text = (policies / "france.parcours").read_text(encoding="utf-8")
    old = "input patient.pregnancy_month: int[0..9] = 0"
    assert old in text
    (tmp_path / "episode.parcours").write_bytes((policies / "episode.parcours").read_bytes())
    (tmp_path / "france.parcours").write_text(
        text.replace(old, "input patient.pregnancy_month: int[0..1000] = 300"), encoding="utf-8")
    module = load_policy(tmp_path / "france.parcours")
    absent = module.decide(episode())  # without the month
    given = module.decide(episode(patient={"pregnancy_month": int("300")}))
    assert absent.value("flat_fee") == given.value("flat_fee") == Decimal("0.00")  # month >= 6
    assert module.decide(episode(patient={"pregnancy_month": 2})).value("flat_fee") != \
        Decimal("0.00")
    for month in (1001, True, 300.0):
        assert rejected(module, episode(patient={"pregnancy_month": month})).field == \
            "patient.pregnancy_month"


OPTIONAL = {"participations_used": "0.00", "patient.pregnancy_month": 0, "patient.id": "p-1",
            "visit.sector": "1", "visit.act": "consultation", "visit.optam": False}


def with_fields(data: dict[str, Any], fields: dict[str, object]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for dotted, value in fields.items():
        holder, key = _holder(out, dotted)
        holder[key] = value
    return out


def test_optional_fields_given_as_their_defaults_decide_as_when_absent(
        france: types.ModuleType, episode: Make) -> None:
    absent = without(episode(), "visit.sector")
    given = with_fields(absent, OPTIONAL)
    assert france.decide(given).values == france.decide(absent).values


@pytest.mark.parametrize("given", [{}, OPTIONAL, {"visit.optam": True, "patient.id": None}])
@pytest.mark.parametrize("owner", ["", "patient.", "visit."])
def test_an_unknown_field_is_refused_whichever_optional_fields_are_there(
        france: types.ModuleType, episode: Make, given: dict[str, object], owner: str) -> None:
    """Each part of the episode counts its keys: the required ones, and one for each
    optional field found; an unknown key makes the count differ however many are there."""
    data = with_fields(without(episode(), "visit.sector"), given)
    data = with_fields(data, {owner + "extra": 1})
    error = rejected(france, data)
    assert error.field == owner + "extra"
    assert "unknown field" in error.message


@pytest.mark.parametrize("fee", ["-1.00", Decimal("-0.01"), -5])
def test_negative_fee(france: types.ModuleType, episode: Make, fee: object) -> None:
    error = rejected(france, episode(visit={"fee": fee}))
    assert error.field == "visit.fee"
    assert "negative" in error.message


@pytest.mark.parametrize("fee", ["30.001", Decimal("30.005"), 30.123])
def test_fee_with_fractions_of_a_cent(france: types.ModuleType, episode: Make,
                                      fee: object) -> None:
    error = rejected(france, episode(visit={"fee": fee}))
    assert error.field == "visit.fee"
    assert "fractions of the currency's unit (0.01 EUR)" in error.message


@pytest.mark.parametrize("fee", ["thirty", "", True, None, [30], "NaN", "Infinity", "1e12"])
def test_fee_not_an_amount(france: types.ModuleType, episode: Make, fee: object) -> None:
    assert rejected(france, episode(visit={"fee": fee})).field == "visit.fee"


@pytest.mark.parametrize("specialty", ["cardio", "General_Practice", "", 3, None])
def test_unknown_specialty(france: types.ModuleType, episode: Make, specialty: object) -> None:
    error = rejected(france, episode(visit={"specialty": specialty}))
    assert error.field == "visit.specialty"


@pytest.mark.parametrize(("field", "value"), [("sector", "4"), ("sector", 1), ("act", "surgery")])
def test_unknown_enum_member_of_defaulted_field(france: types.ModuleType, episode: Make,
                                                field: str, value: object) -> None:
    assert rejected(france, episode(visit={field: value})).field == f"visit.{field}"


@pytest.mark.parametrize("day", ["2025-02-30", "14/03/2025", "2025-3-14", "20250314",
                                 "2025-03-14T10:00", "", "yesterday"])
def test_bad_date_string(france: types.ModuleType, episode: Make, day: str) -> None:
    error = rejected(france, episode(date=day))
    assert error.field == "date"
    assert "date" in error.message


@pytest.mark.parametrize("day", [20250314, None, True])
def test_date_not_a_string(france: types.ModuleType, episode: Make, day: object) -> None:
    assert rejected(france, episode(date=day)).field == "date"


@pytest.mark.parametrize("day", ["2017-04-30", "2000-01-01"])
def test_date_before_validity(france: types.ModuleType, episode: Make, day: str) -> None:
    error = rejected(france, episode(date=day))
    assert error.field == "date"
    assert "2017-05-01" in error.message


def test_first_day_of_validity_accepted(france: types.ModuleType, episode: Make) -> None:
    assert france.decide(episode(date="2017-05-01")).number("base") == Decimal("25.00")


@pytest.mark.parametrize("visit", [
    {"referred": True, "with_declared_doctor": False, "specialty": "cardiology"},
    {"with_declared_doctor": True},
    {"with_declared_doctor": True, "referred": True},
])
def test_broken_constraint(france: types.ModuleType, episode: Make,
                           visit: dict[str, Any]) -> None:
    error = rejected(france, episode(patient={"declared_doctor": False}, visit=visit))
    assert error.field == "patient.declared_doctor"
    assert "coordination_needs_declared_doctor" in error.message


@pytest.mark.parametrize("value", [None, "x", [], 3])
@pytest.mark.parametrize("section", ["patient", "visit"])
def test_section_not_an_object(france: types.ModuleType, episode: Make, section: str,
                               value: object) -> None:
    data = episode()
    data[section] = value
    assert rejected(france, data).field == section


def test_id_must_be_a_string(france: types.ModuleType, episode: Make) -> None:
    assert rejected(france, episode(id=42)).field == "id"


def test_id_is_optional(france: types.ModuleType, episode: Make) -> None:
    decision = france.decide(without(episode(), "id"))
    assert decision.id is None
    assert decision.to_dict()["id"] is None


def test_error_without_id_names_the_field(france: types.ModuleType, episode: Make) -> None:
    error = rejected(france, without(episode(patient={"age": 131}), "id"))
    assert error.episode_id is None
    assert error.field == "patient.age"
    assert error.to_dict() == {"id": None, "field": "patient.age", "error": error.message}


# ---- exact amounts ------------------------------------------------------------------------


@pytest.mark.parametrize(("fee", "pays"), [
    (Decimal("30.5"), "11.50"), (30, "11.00"), ("30.5", "11.50"), (30.1, "11.10"),
    (Decimal("30.10"), "11.10"), ("0", "-19.00"),
])
def test_fee_forms_stay_exact(france: types.ModuleType, episode: Make, fee: object,
                              pays: str) -> None:
    decision = france.decide(episode(visit={"fee": fee}))
    assert decision.number("patient_pays") == Decimal(pays)
    assert decision.to_dict()["patient_pays"] == pays


def test_fee_float_is_taken_by_its_decimal_text(france: types.ModuleType, episode: Make) -> None:
    # 30.1 as a binary float is 30.10000000000000142...; it must be read as 30.10 exactly
    decision = france.decide(episode(visit={"fee": 30.1}))
    assert decision.number("patient_pays") == Decimal("11.10")
    assert str(decision.number("patient_pays")) == "11.10"


def test_fee_from_json_text_with_parse_float(france: types.ModuleType, episode: Make) -> None:
    text = json.dumps(episode()).replace('"fee": "30.00"', '"fee": 30.5')
    decision = france.decide(json.loads(text, parse_float=Decimal))
    assert decision.to_dict()["patient_pays"] == "11.50"


# ---- defaults -----------------------------------------------------------------------------


def test_missing_sector_defaults_to_1(france: types.ModuleType, episode: Make) -> None:
    data = without(episode(), "visit.sector")
    assert france.decide(data).to_dict() == france.decide(episode()).to_dict()
    assert france.decide(data).number("base") == Decimal("30.00")


def test_missing_act_defaults_to_consultation(france: types.ModuleType, episode: Make) -> None:
    decision = france.decide(episode())
    assert decision.rule == "declared_doctor"  # not act_outside_pathway
    explicit = france.decide(episode(visit={"act": "consultation"}))
    assert explicit.to_dict() == decision.to_dict()


def test_contract_only_episode_is_valid(france: types.ModuleType, episode: Make) -> None:
    """An episode carrying only the contract's fields (no France extras) is decided."""
    data = episode()
    assert set(data["visit"]) | set(data["patient"]) <= {
        "age", "declared_doctor", "chronic_condition", "low_income_cover", "specialty",
        "with_declared_doctor", "referred", "emergency", "away_from_home", "doctor_unavailable",
        "for_chronic_condition", "sector", "fee"}
    assert france.decide(data).pathway == "coordinated"


def test_input_is_not_mutated(france: types.ModuleType, episode: Make) -> None:
    data = without(episode(), "visit.sector")
    before = copy.deepcopy(data)
    france.decide(data)
    france.explain(data)
    assert data == before


RATE_INPUT_POLICY = """
policy rated {
  title "a policy with a rate input"
  country "FR"
  currency EUR
  status variant
  valid from 2017-05-01
}
import "episode.parcours"
source s = "001_264f89428c423238.txt"
input visit.cover: rate = 0.70
rules pathway { default everyone: coordinated cite s }
output base: money = visit.fee
output rate: rate = visit.cover
output flat_fee: money = 0.00 EUR
output reimbursed: money = max(0.00 EUR, round_half_up(base * rate, 0.01) - flat_fee)
output patient_pays: money = visit.fee - reimbursed
"""


@pytest.mark.parametrize("cover, reimbursed", [(None, "21.00"), ("0.955", "28.65"),
                                               (Decimal("1"), "30.00")])
def test_rate_input_is_validated_and_exact(schema_dir: Path, episode: Make,
                                           cover: object, reimbursed: str) -> None:
    from parcours.compiler.pipeline import load_policy

    path = schema_dir / "rated.parcours"
    path.write_text(RATE_INPUT_POLICY, encoding="utf-8")
    module = load_policy(path)
    visit = {} if cover is None else {"cover": cover}
    decision = module.decide(episode(visit=visit)).to_dict()
    assert decision["reimbursed"] == reimbursed
    assert decision["rate"] == ("0.70" if cover is None else {"0.955": "0.955"}.get(
        str(cover), "1.00"))


@pytest.mark.parametrize("cover", ["1.5", True, "x"])
def test_rate_input_out_of_range_is_rejected(schema_dir: Path, episode: Make,
                                             cover: object) -> None:
    from parcours.compiler.pipeline import load_policy

    path = schema_dir / "rated.parcours"
    path.write_text(RATE_INPUT_POLICY, encoding="utf-8")
    error = rejected(load_policy(path), episode(visit={"cover": cover}))
    assert error.field == "visit.cover"
