"""`parcours population`: seeded synthetic populations of care episodes."""

from __future__ import annotations

import json
import math
import random
import re
import types
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import pytest
from click.testing import CliRunner, Result

from parcours.compiler.tools import population as pop
from parcours.compiler.cli import main
from parcours.compiler.pipeline import load_policy
from parcours.runtime import EpisodeError

POLICIES = Path(__file__).resolve().parent.parent / "policies"
POLICY_NAMES = ("france", "morocco", "morocco_proposal", "nhs")
PROFILES = ("fr", "ma", "uk")
CURRENCY = {"fr": "EUR", "ma": "MAD", "uk": "GBP"}
FEE_RANGE = {"fr": (Decimal("20.00"), Decimal("100.00")),
             "ma": (Decimal("150.00"), Decimal("400.00")),
             "uk": (Decimal("26.80"), Decimal("300.00"))}
PATIENT_FIELDS = ["id", "age", "declared_doctor", "chronic_condition", "low_income_cover"]
VISIT_FIELDS = ["specialty", "with_declared_doctor", "referred", "emergency", "away_from_home",
                "doctor_unavailable", "for_chronic_condition", "sector", "fee"]
FEE = re.compile(r"^(0|[1-9][0-9]*)\.[0-9]{2}$")
MIX_SIZE = 5000


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def text(size: int, seed: int, profile: str) -> str:
    return "".join(pop.lines(size, seed, profile))


def no_float(value: str) -> Decimal:
    raise AssertionError(f"a JSON number with a fraction: {value}")


def parse(lines: str) -> list[dict[str, Any]]:
    return [json.loads(line, parse_float=no_float) for line in lines.splitlines()]


@pytest.fixture(scope="module")
def policies() -> dict[str, types.ModuleType]:
    return {name: load_policy(POLICIES / f"{name}.parcours") for name in POLICY_NAMES}


@pytest.fixture(scope="module")
def mixes() -> dict[str, list[dict[str, Any]]]:
    """One visit each of many persons per profile, for the shares: a population's visits
    come in persons, whose visits share their draws, so the shares of the profile are
    those of independent persons' visits (a population's own are so in expectation)."""
    out = {}
    for profile in PROFILES:
        rng = random.Random(11)
        chosen = pop.PROFILES[profile]
        out[profile] = [pop.episode(rng, chosen, n) for n in range(1, MIX_SIZE + 1)]
    return out


def share(items: list[dict[str, Any]], test: Any) -> float:
    return sum(1 for item in items if test(item)) / max(len(items), 1)


def tolerance(p: float, n: int) -> float:
    """Four standard errors of a share, plus one point for the rounding of the mix."""
    return 4 * math.sqrt(p * (1 - p) / max(n, 1)) + 0.01


# ---- determinism ----------------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILES)
def test_same_arguments_give_the_same_bytes(profile: str) -> None:
    assert text(500, 42, profile) == text(500, 42, profile)


@pytest.mark.parametrize("profile", PROFILES)
def test_another_seed_gives_another_population(profile: str) -> None:
    assert text(200, 42, profile) != text(200, 43, profile)


def test_profiles_differ_for_the_same_seed() -> None:
    assert len({text(200, 42, profile) for profile in PROFILES}) == 3


def test_a_prefix_of_a_larger_population_is_the_smaller_population() -> None:
    assert text(1000, 5, "fr").startswith(text(300, 5, "fr"))


def test_ids_are_numbered_from_one_with_seven_digits() -> None:
    ids = [item["id"] for item in pop.episodes(12, 1, "ma")]
    assert ids[0] == "ep-0000001"
    assert ids == [f"ep-{n:07d}" for n in range(1, 13)]


def test_size_zero_is_empty() -> None:
    assert text(0, 1, "fr") == ""


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown profile"):
        list(pop.episodes(1, 1, "de"))
    with pytest.raises(ValueError, match="size"):
        list(pop.episodes(-1, 1, "fr"))


def test_money_is_built_from_integer_cents() -> None:
    assert [pop.money(c) for c in (0, 5, 2650, 100000, -150)] == [
        "0.00", "0.05", "26.50", "1000.00", "-1.50"]


# ---- the contract -----------------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILES)
def test_every_episode_follows_the_contract(profile: str) -> None:
    low, high = FEE_RANGE[profile]
    for item in parse(text(2000, 3, profile)):
        assert list(item) == ["id", "date", "patient", "visit"]
        assert list(item["patient"]) == PATIENT_FIELDS
        assert list(item["visit"]) == VISIT_FIELDS
        patient, visit = item["patient"], item["visit"]
        assert pop.START <= date.fromisoformat(item["date"]) <= pop.END
        assert type(patient["age"]) is int and 0 <= patient["age"] <= 130
        for name in PATIENT_FIELDS[2:]:
            assert type(patient[name]) is bool, name
        for name in VISIT_FIELDS[1:7]:
            assert type(visit[name]) is bool, name
        assert visit["specialty"] in pop.SPECIALTIES
        assert visit["sector"] in ("1", "2", "3")
        assert isinstance(visit["fee"], str) and FEE.match(visit["fee"]), visit["fee"]
        assert low <= Decimal(visit["fee"]) <= high, (profile, visit)


def test_the_fifteen_specialties_of_the_contract() -> None:
    assert len(set(pop.SPECIALTIES)) == 15
    for profile in pop.PROFILES.values():
        assert {name for name, _ in profile.adult_specialties} <= set(pop.SPECIALTIES)
        assert len(profile.age_weights) == len(profile.chronic_by_band) == len(pop.AGE_BANDS)


@pytest.mark.parametrize("profile", PROFILES)
def test_invariants(profile: str, mixes: dict[str, list[dict[str, Any]]]) -> None:
    for item in mixes[profile]:
        patient, visit = item["patient"], item["visit"]
        if visit["with_declared_doctor"] or visit["referred"]:
            assert patient["declared_doctor"], item
        assert not (visit["with_declared_doctor"] and visit["referred"]), item
        if visit["doctor_unavailable"]:
            assert patient["declared_doctor"] and not visit["with_declared_doctor"], item
        if visit["for_chronic_condition"]:
            assert patient["chronic_condition"], item
        if visit["specialty"] == "pediatrics":
            assert patient["age"] < 16, item
        if visit["specialty"] == "midwifery":
            assert 16 <= patient["age"] < 50, item
        if visit["specialty"] == "general_practice":
            assert not visit["referred"], item
        if profile != "fr":
            assert visit["sector"] == "1"


def test_only_france_has_sectors_2_and_3(mixes: dict[str, list[dict[str, Any]]]) -> None:
    sectors = {item["visit"]["sector"] for item in mixes["fr"]}
    assert sectors == {"1", "2", "3"}


# ---- every shipped policy decides every episode ------------------------------------

@pytest.mark.parametrize("profile", PROFILES)
def test_every_policy_decides_every_episode(profile: str,
                                            policies: dict[str, types.ModuleType]) -> None:
    lines = text(300, 2024, profile).splitlines()
    assert len(lines) == 300
    for name, module in policies.items():
        for line in lines:
            data = json.loads(line, parse_float=Decimal)
            try:
                decision = module.decide(data)
            except EpisodeError as exc:  # pragma: no cover - the failure message
                pytest.fail(f"{name} rejects {data['id']} ({profile}): {exc}")
            assert decision.id == data["id"]
            assert decision.number("reimbursed") >= 0


def test_the_profile_currency_matches_its_policies(policies: dict[str, types.ModuleType]) -> None:
    assert {p.currency for p in pop.PROFILES.values()} == {
        m.POLICY.currency for m in policies.values()} | {"TND"}
    for name, profile in pop.PROFILES.items():
        assert profile.currency == CURRENCY.get(name, "TND")


# ---- Tunisia: millimes and the insured's filière ----------------------------------------

TN_FEE = re.compile(r"^(0|[1-9][0-9]*)\.[0-9]{3}$")
TN_PATHWAYS = {"filiere_publique", "filiere_privee", "systeme_remboursement", "hors_parcours"}
TN_OUTPUTS = ["tarif", "taux", "rembourse", "ticket_moderateur", "a_charge_patient"]


def test_money_with_three_decimals_is_millimes() -> None:
    assert [pop.money(m, 3) for m in (0, 5, 45125, 12000, -1500)] == [
        "0.000", "0.005", "45.125", "12.000", "-1.500"]


def test_tunisia_episodes_carry_a_filiere_and_millimes() -> None:
    items = parse(text(2000, 3, "tn"))
    filieres = [item["patient"]["filiere"] for item in items]
    assert set(filieres) == {"publique", "privee", "remboursement"}
    assert 0.25 < filieres.count("publique") / len(items) < 0.75  # drawn per household
    for item in items:
        patient, visit = item["patient"], item["visit"]
        assert list(patient) == PATIENT_FIELDS + ["filiere", "household", "salary_band",
                                                  "dependants"]
        assert list(visit) == VISIT_FIELDS
        assert TN_FEE.match(visit["fee"]), visit["fee"]
        if patient["filiere"] != "privee":  # only the private filière has a family doctor
            assert not (patient["declared_doctor"] or visit["with_declared_doctor"]
                        or visit["referred"] or visit["doctor_unavailable"]), item
        if patient["filiere"] == "publique":
            assert visit["fee"] in ("12.000", "20.000"), item
    assert any(not item["visit"]["fee"].endswith("0") for item in items)


def test_tunisia_decides_every_tn_episode(tmp_path: Path) -> None:
    population = tmp_path / "tn.jsonl"
    decisions = tmp_path / "d.jsonl"
    result = invoke("population", "--profile", "tn", "--size", "300", "--seed", "3",
                    "--output", str(population))
    assert result.exit_code == 0, result.output
    result = invoke("decide", str(POLICIES / "tunisia.parcours"), "--input", str(population),
                    "--output", str(decisions))
    assert result.exit_code == 0, result.output
    lines = decisions.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 300  # none rejected
    pathways = set()
    for line in lines:
        decision = json.loads(line, parse_float=no_float)
        assert decision["currency"] == "TND"
        assert [k for k in decision if k in TN_OUTPUTS] == TN_OUTPUTS
        for name in ("tarif", "rembourse", "ticket_moderateur", "a_charge_patient"):
            assert TN_FEE.match(decision[name]), (name, decision)
        pathways.add(decision["pathway"])
    assert pathways == TN_PATHWAYS
    assert any(not json.loads(line)["a_charge_patient"].endswith("0") for line in lines)


# ---- the mixes are as documented --------------------------------------------------

def adults(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in items if item["patient"]["age"] >= 16]


@pytest.mark.parametrize("profile", PROFILES)
def test_declared_doctor_share(profile: str, mixes: dict[str, list[dict[str, Any]]]) -> None:
    expected = pop.PROFILES[profile].declared_doctor_adult / 1000
    group = adults(mixes[profile])
    observed = share(group, lambda item: item["patient"]["declared_doctor"])
    assert abs(observed - expected) <= tolerance(expected, len(group)), observed


def test_declared_doctor_shares_are_ordered(mixes: dict[str, list[dict[str, Any]]]) -> None:
    observed = {p: share(adults(mixes[p]), lambda i: i["patient"]["declared_doctor"])
                for p in PROFILES}
    assert observed["ma"] < 0.3 < 0.85 < observed["fr"] < observed["uk"]


@pytest.mark.parametrize("profile", PROFILES)
def test_low_income_share(profile: str, mixes: dict[str, list[dict[str, Any]]]) -> None:
    expected = pop.PROFILES[profile].low_income / 1000
    observed = share(mixes[profile], lambda item: item["patient"]["low_income_cover"])
    assert abs(observed - expected) <= tolerance(expected, MIX_SIZE), observed


@pytest.mark.parametrize("profile", PROFILES)
def test_chronic_conditions_rise_with_age(profile: str,
                                          mixes: dict[str, list[dict[str, Any]]]) -> None:
    rates = []
    for (low, high), per_mille in zip(pop.AGE_BANDS, pop.PROFILES[profile].chronic_by_band):
        band = [i for i in mixes[profile] if low <= i["patient"]["age"] <= high]
        observed = share(band, lambda item: item["patient"]["chronic_condition"])
        assert abs(observed - per_mille / 1000) <= tolerance(per_mille / 1000, len(band)), (
            low, high, observed)
        rates.append(observed)
    assert rates[0] < rates[3] < rates[-1]


@pytest.mark.parametrize("profile", PROFILES)
def test_age_and_specialty_mix(profile: str, mixes: dict[str, list[dict[str, Any]]]) -> None:
    chosen = pop.PROFILES[profile]
    items = mixes[profile]
    expected_children = chosen.age_weights[0] / sum(chosen.age_weights)
    observed_children = share(items, lambda item: item["patient"]["age"] < 16)
    assert abs(observed_children - expected_children) <= tolerance(expected_children, MIX_SIZE)
    gp = share(items, lambda item: item["visit"]["specialty"] == "general_practice")
    adult_gp = dict(chosen.adult_specialties)["general_practice"] / 1000
    expected_gp = (expected_children * chosen.child_general_practice / 1000
                   + (1 - expected_children) * adult_gp)
    assert abs(gp - expected_gp) <= tolerance(expected_gp, MIX_SIZE), gp
    assert {item["visit"]["specialty"] for item in items} == set(pop.SPECIALTIES)


def test_dates_cover_the_whole_window(mixes: dict[str, list[dict[str, Any]]]) -> None:
    days = sorted(date.fromisoformat(item["date"]) for item in mixes["fr"])
    assert (days[0] - pop.START).days < 10 and (pop.END - days[-1]).days < 10
    in_2025 = share(mixes["fr"], lambda item: item["date"].startswith("2025-"))
    assert abs(in_2025 - 365 / 1005) < 0.03


def test_france_sector_1_fees_are_the_tariff(mixes: dict[str, list[dict[str, Any]]]) -> None:
    gp = [i for i in mixes["fr"] if i["visit"]["specialty"] == "general_practice"
          and i["visit"]["sector"] == "1"]
    at_tariff = share(gp, lambda i: i["visit"]["fee"] == (
        "30.00" if i["date"] >= "2024-12-22" else "26.50"))
    assert at_tariff > 0.9


def test_nhs_dentistry_includes_the_band_1_charge(mixes: dict[str, list[dict[str, Any]]]) -> None:
    fees = {i["visit"]["fee"] for i in mixes["uk"] if i["visit"]["specialty"] == "dentistry"}
    assert {"26.80", "27.40", "27.90"} <= fees


# ---- the command ---------------------------------------------------------------------

def test_cli_writes_the_population_to_standard_output() -> None:
    result = invoke("population", "--size", "50", "--seed", "9", "--profile", "uk")
    assert result.exit_code == 0, result.output
    assert result.stdout == text(50, 9, "uk")


def test_cli_profile_defaults_to_france() -> None:
    result = invoke("population", "--size", "20", "--seed", "9")
    assert result.exit_code == 0
    assert result.stdout == text(20, 9, "fr")


def test_cli_output_file_is_the_same_bytes(tmp_path: Path) -> None:
    target = tmp_path / "ma.jsonl"
    result = invoke("population", "--size", "300", "--seed", "7", "--profile", "ma",
                    "--output", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "wrote 300 episodes" in result.stderr
    assert target.read_bytes() == text(300, 7, "ma").encode("utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["ma.jsonl"]


def test_cli_output_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "pop.jsonl"
    target.write_text("old\n", encoding="utf-8")
    assert invoke("population", "--size", "3", "--seed", "1", "--output", str(target)
                  ).exit_code == 0
    assert target.read_text(encoding="utf-8") == text(3, 1, "fr")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "pop.jsonl"
    target.write_text("old\n", encoding="utf-8")

    def broken(size: int, seed: int, profile: str = "fr") -> Iterator[str]:
        yield "{}\n"
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pop, "lines", broken)
    result = invoke("population", "--size", "3", "--seed", "1", "--output", str(target))
    assert result.exit_code == 2
    assert "cannot write" in result.stderr
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["pop.jsonl"]


def test_cli_cannot_write_into_a_missing_folder(tmp_path: Path) -> None:
    result = invoke("population", "--size", "3", "--seed", "1",
                    "--output", str(tmp_path / "missing" / "pop.jsonl"))
    assert result.exit_code == 2
    assert "cannot write" in result.stderr


@pytest.mark.parametrize("args", [
    ["--size", "3"],                                   # no seed
    ["--seed", "1"],                                   # no size
    ["--size", "-1", "--seed", "1"],
    ["--size", "3", "--seed", "1", "--profile", "de"],
])
def test_cli_usage_errors_exit_2(args: list[str]) -> None:
    assert invoke("population", *args).exit_code == 2


def test_write_population_streams_to_a_handle() -> None:
    written: list[str] = []

    class Sink:
        def write(self, line: str) -> int:
            written.append(line)
            return len(line)

    handle: TextIO = Sink()  # type: ignore[assignment]
    assert pop.write_population(handle, 5, 3, "uk") == 5
    assert len(written) == 5 and all(line.endswith("\n") for line in written)


# ---- persons and households ---------------------------------------------------------

def test_persons_have_several_visits_a_year_in_date_order() -> None:
    items = parse(text(20000, 5, "fr"))
    per_year: dict[tuple[str, str], int] = {}
    last: dict[str, str] = {}
    for item in items:
        person, day = item["patient"]["id"], item["date"]
        assert re.fullmatch(r"p-[0-9]{7}", person)
        assert day >= last.get(person, ""), (person, day)  # a person's visits in date order
        last[person] = day
        per_year[(person, day[:4])] = per_year.get((person, day[:4]), 0) + 1
    counts = sorted(per_year.values())
    mean = sum(counts) / len(counts)
    assert 4 <= mean <= 12, mean  # several visits a year, on average
    assert counts[-1] >= 25  # some persons see a doctor more than 25 times a year
    # what stays the same across a person's visits
    firsts: dict[str, dict[str, Any]] = {}
    for item in items:
        first = firsts.setdefault(item["patient"]["id"], item["patient"])
        assert item["patient"] == first


def test_france_caps_are_reached_in_a_population(tmp_path: Path) -> None:
    """The France policy's annual cap binds for some persons of a generated population,
    and no person pays more than 50.00 EUR of flat fees in a calendar year."""
    population = tmp_path / "fr.jsonl"
    decisions = tmp_path / "d.jsonl"
    assert invoke("population", "--size", "6000", "--seed", "5", "--output",
                  str(population)).exit_code == 0
    result = invoke("decide", str(POLICIES / "france.parcours"), "--input", str(population),
                    "--output", str(decisions))
    assert result.exit_code == 0, result.output
    who = {item["id"]: (item["patient"]["id"], item["date"][:4])
           for item in parse(population.read_text(encoding="utf-8"))}
    totals: dict[tuple[str, str], Decimal] = {}
    for line in decisions.read_text(encoding="utf-8").splitlines():
        decision = json.loads(line)
        key = who[decision["id"]]
        totals[key] = totals.get(key, Decimal(0)) + Decimal(decision["flat_fee"])
    assert max(totals.values()) == Decimal("50.00")
    assert sum(1 for v in totals.values() if v == Decimal("50.00")) >= 5


def test_tunisia_households_share_their_filiere() -> None:
    items = parse(text(3000, 3, "tn"))
    homes: dict[str, tuple[str, str, int]] = {}
    members: dict[str, set[str]] = {}
    for item in items:
        patient = item["patient"]
        shared = (patient["filiere"], patient["salary_band"], patient["dependants"])
        assert homes.setdefault(patient["household"], shared) == shared
        members.setdefault(patient["household"], set()).add(patient["id"])
    assert any(len(m) > 1 for m in members.values())
    assert all(len(m) <= homes[h][2] + 1 for h, m in members.items())
