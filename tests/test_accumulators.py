"""Accumulators: the language's checks, the ledger, order independence, state in and out,
and what explain, compare, the verifier and diff say about them."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from parcours.compiler import ir
from parcours.compiler.analysis.regions import full_domain
from parcours.compiler.cli import main
from parcours.compiler.pipeline import analyse, load_policy
from parcours.runtime import (EpisodeError, Ledger, Slot, decide_with_state, in_key_order,
                              sorted_lines, specs_of)

ROOT = Path(__file__).resolve().parent.parent
FRANCE = ROOT / "policies" / "france.parcours"

POLICY = """
policy t {
  title "t" country "FR" currency EUR status in_force valid from 2020-01-01
}
source s = "doc"
input date: date
input patient.id: id
input patient.home: id
input patient.age: int[0..130]
input visit.fee: money
decision {
  pathway { ok }
  output fee: money totals patient
}
param cap_amount: money = 5.00 EUR cite s
param per_visit: money = 2.00 EUR cite s
%s
rules pathway { default ok: ok cite s }
output fee: money = %s
"""
GOOD = "accumulator pf: money per patient.id over calendar_year adds fee cap cap_amount cite s"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def check(tmp_path: Path, accumulator: str, output: str = "min(per_visit, pf.left)") -> list[str]:
    path = tmp_path / "t.parcours"
    path.write_text(POLICY % (accumulator, output), encoding="utf-8")
    return [d.code for d in analyse(path).diagnostics]


def episode(ident: str, day: str, person: str | None, fee: str = "10.00") -> dict[str, Any]:
    patient: dict[str, Any] = {"age": 40}
    if person is not None:
        patient["id"] = person
    return {"id": ident, "date": day, "patient": patient, "visit": {"fee": fee}}


# ---- the language ----------------------------------------------------------------------

def test_a_good_accumulator_checks(tmp_path: Path) -> None:
    assert check(tmp_path, GOOD) == []


@pytest.mark.parametrize("accumulator, output, code", [
    (GOOD, "if patient.id == patient.home then per_visit else per_visit", "E390"),
    (GOOD.replace("per patient.id", "per patient.age"), "per_visit", "E391"),
    (GOOD.replace("per patient.id", "per patient.nobody"), "per_visit", "E391"),
    (GOOD.replace("calendar_year", "fiscal_year"), "per_visit", "E392"),
    (GOOD.replace(": money", ": int"), "per_visit", "E393"),
    (GOOD.replace("adds fee", "adds nothing"), "per_visit", "E393"),
    (GOOD.replace("cap cap_amount", "cap nowhere"), "per_visit", "E394"),
    (GOOD.replace("accumulator pf", "accumulator per_visit"), "per_visit", "E395"),
    (GOOD, "min(per_visit, pf.remaining)", "E396"),
])
def test_bad_accumulators_are_errors(tmp_path: Path, accumulator: str, output: str,
                                     code: str) -> None:
    assert code in check(tmp_path, accumulator, output)


def test_an_id_input_takes_no_default(tmp_path: Path) -> None:
    path = tmp_path / "t.parcours"
    path.write_text((POLICY % (GOOD, "per_visit")).replace(
        "input patient.home: id", 'input patient.home: id = "x"'), encoding="utf-8")
    assert "E390" in [d.code for d in analyse(path).diagnostics]


def test_the_amount_used_is_a_bounded_input_for_the_verifier() -> None:
    program = analyse(FRANCE).program
    assert program is not None
    (acc,) = program.accumulators
    assert (acc.name, acc.keys, acc.field) == ("participations", ("patient.id",),
                                               "participations_used")
    assert full_domain(program, program.input(acc.field)) == (0, 5000)  # 0.00 .. 50.00 EUR
    assert ir.accumulator_specs(program) == (
        ("participations", "participations_used", ("patient.id",), "calendar_year", "flat_fee",
         (("2017-05-01", "50.00"),)),)


# ---- the ledger ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def france() -> Any:
    return load_policy(FRANCE)


def adult(ident: str, day: str, person: str | None) -> dict[str, Any]:
    return {"id": ident, "date": day,
            "patient": {**({"id": person} if person else {}), "age": 40, "declared_doctor": True,
                        "chronic_condition": False, "low_income_cover": False},
            "visit": {"specialty": "general_practice", "with_declared_doctor": True,
                      "referred": False, "emergency": False, "away_from_home": False,
                      "doctor_unavailable": False, "for_chronic_condition": False,
                      "fee": "30.00"}}


def test_decide_with_state_gives_a_new_state(france: Any) -> None:
    specs = specs_of(france)
    state: dict[Slot, Decimal] = {("participations", ("p-1",), "2025"): Decimal("49.00")}
    decision, after = decide_with_state(france.decide, specs, adult("a", "2025-03-01", "p-1"),
                                        state)
    assert decision.number("flat_fee") == Decimal("1.00")
    assert after == {("participations", ("p-1",), "2025"): Decimal("50.00")}
    assert state == {("participations", ("p-1",), "2025"): Decimal("49.00")}  # unchanged
    decision, _ = decide_with_state(france.decide, specs, adult("b", "2025-03-02", "p-1"), after)
    assert decision.number("flat_fee") == Decimal("0.00")
    # another year, another person: the cap starts again
    for day, person in (("2026-01-01", "p-1"), ("2025-03-02", "p-2")):
        decision, _ = decide_with_state(france.decide, specs, adult("c", day, person), after)
        assert decision.number("flat_fee") == Decimal("2.00")


def test_an_episode_without_its_key_is_a_person_of_its_own(france: Any) -> None:
    ledger = Ledger(specs_of(france))
    for number in range(40):
        decision = ledger.decide(france.decide, adult(f"e{number}", "2025-03-01", None))
        assert decision.number("flat_fee") == Decimal("2.00")
    assert ledger.used == {}


def test_a_rejected_episode_changes_nothing(france: Any) -> None:
    ledger = Ledger(specs_of(france), {("participations", ("p-1",), "2025"): Decimal("10.00")})
    bad = adult("x", "2025-03-01", "p-1")
    bad["visit"]["fee"] = "-3"
    with pytest.raises(EpisodeError):
        ledger.decide(france.decide, bad)
    assert ledger.used == {("participations", ("p-1",), "2025"): Decimal("10.00")}


def test_sorted_lines_spill_and_merge_in_date_then_id_order() -> None:
    lines = [json.dumps(episode(f"e{n:03d}", f"2025-0{1 + n % 9}-1{n % 10}", "p")).encode()
             for n in range(50)]
    shuffled = list(lines)
    random.Random(3).shuffle(shuffled)
    numbers = [0]
    out = list(sorted_lines(iter(shuffled), buffer=4, numbers=numbers))
    keys = [(json.loads(x)["date"], json.loads(x)["id"]) for x in out]
    assert keys == sorted(keys) and len(out) == 50
    assert out == list(sorted_lines(iter(lines), buffer=1000))


# ---- the command line ------------------------------------------------------------------

def write(path: Path, episodes: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in episodes), encoding="utf-8")
    return path


def run_lines(*args: str) -> list[str]:
    result = invoke("decide", *args)
    assert result.exit_code == 0, result.output
    return [line for line in result.stdout.splitlines() if line.startswith("{")]


def as_given_and_shuffled(tmp_path: Path, episodes: list[dict[str, Any]], seed: int,
                          buffer: int) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """France's decisions of `episodes` as given and shuffled (sorted with `buffer` lines
    in memory), which must be the same decisions; (as given, shuffled, the shuffled
    episodes)."""
    shuffled = list(episodes)
    random.Random(seed).shuffle(shuffled)
    first = run_lines(str(FRANCE), "-i", str(write(tmp_path / "a.jsonl", episodes)))
    second = run_lines(str(FRANCE), "-i", str(write(tmp_path / "b.jsonl", shuffled)),
                       "--sort-buffer", str(buffer))
    assert sorted(first) == sorted(second)
    return first, second, shuffled


def test_decide_does_not_depend_on_line_order(tmp_path: Path) -> None:
    episodes = [adult(f"e{n:03d}", f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}", f"p-{n % 2}")
                for n in range(60)]
    first, second, shuffled = as_given_and_shuffled(tmp_path, episodes, 5, 7)
    # written in input order
    assert [json.loads(line)["id"] for line in second] == [e["id"] for e in shuffled]
    fees = [Decimal(json.loads(line)["flat_fee"]) for line in first]
    assert sum(fees) == Decimal("100.00")  # two persons, each at the cap
    assert Decimal("0.00") in fees


def test_state_in_and_out(tmp_path: Path) -> None:
    state_in = tmp_path / "in.jsonl"
    state_in.write_text('{"accumulator":"participations","key":["p-1"],"period":"2025",'
                        '"used":"49.00"}\n', encoding="utf-8")
    episodes = write(tmp_path / "e.jsonl", [adult("a", "2025-05-01", "p-1"),
                                             adult("b", "2024-06-01", "p-1")])
    state_out = tmp_path / "out.jsonl"
    lines = run_lines(str(FRANCE), "-i", str(episodes), "--state-in", str(state_in),
                      "--state-out", str(state_out))
    assert [json.loads(line)["flat_fee"] for line in lines] == ["1.00", "2.00"]
    assert state_out.read_text(encoding="utf-8").splitlines() == [
        '{"accumulator":"participations","key":["p-1"],"period":"2024","used":"2.00"}',
        '{"accumulator":"participations","key":["p-1"],"period":"2025","used":"50.00"}']


@pytest.mark.parametrize("line, message", [
    ('{"accumulator":"nope","key":["p"],"period":"2025","used":"1"}', "line 1: field accumulator"),
    ('{"accumulator":"participations","key":"p","period":"2025","used":"1"}', "line 1: field key"),
    ('{"accumulator":"participations","key":["p"],"period":"25","used":"1"}', "line 1: field period"),
    ('{"accumulator":"participations","key":["p"],"period":"2025","used":"-1"}', "line 1: field used"),
    ("not json", "line 1: not valid JSON"),
])
def test_a_bad_state_line_is_a_clear_error(tmp_path: Path, line: str, message: str) -> None:
    state_in = tmp_path / "in.jsonl"
    state_in.write_text(line + "\n", encoding="utf-8")
    episodes = write(tmp_path / "e.jsonl", [adult("a", "2025-05-01", "p-1")])
    result = invoke("decide", str(FRANCE), "-i", str(episodes), "--state-in", str(state_in))
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_rejections_name_the_input_line(tmp_path: Path) -> None:
    bad = adult("bad", "2025-01-01", "p-1")
    bad["patient"]["id"] = ""
    episodes = write(tmp_path / "e.jsonl", [adult("a", "2025-06-01", "p-1"), bad])
    result = invoke("decide", str(FRANCE), "-i", str(episodes))
    assert result.exit_code == 1
    assert "episode bad (line 2): field patient.id" in result.output


def test_explain_says_which_cap_bound(tmp_path: Path) -> None:
    state_in = tmp_path / "in.jsonl"
    state_in.write_text('{"accumulator":"participations","key":["p-1"],"period":"2025",'
                        '"used":"48.50"}\n', encoding="utf-8")
    result = invoke("explain", str(FRANCE), "--episode", json.dumps(adult("a", "2025-05-01", "p-1")),
                    "--state-in", str(state_in))
    assert result.exit_code == 0, result.output
    assert ("participations (patient.id p-1, 2025): 48.50 EUR before, 50.00 EUR after, "
            "cap 50.00 EUR; the cap bound: 1.50 EUR added, 2.00 EUR with nothing used before"
            in result.output)
    result = invoke("explain", str(FRANCE), "--episode", json.dumps(adult("a", "2025-05-01", "p-1")),
                    "--format", "json")
    (acc,) = json.loads(result.output)["accumulators"]
    assert acc == {"name": "participations", "key": ["p-1"], "period": "2025", "before": "0",
                   "after": "2.00", "cap": "50.00", "bound": False}
    stated = {**adult("a", "2025-05-01", "p-1"), "participations_used": "49.00"}
    result = invoke("explain", str(FRANCE), "--episode", json.dumps(stated), "--format", "json")
    (acc,) = json.loads(result.output)["accumulators"]  # without --state-in: the episode's own
    assert (acc["before"], acc["after"], acc["bound"]) == ("49.00", "50.00", True)


def test_compare_counts_who_reaches_a_cap(tmp_path: Path) -> None:
    episodes = [adult(f"e{n:03d}", f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}", f"p-{n % 3}")
                for n in range(90)]  # 30 visits each: every person reaches the cap
    episodes += [adult("z", "2025-02-02", "p-9")]
    path = write(tmp_path / "e.jsonl", episodes)
    result = invoke("compare", str(FRANCE), "-i", str(path), "--format", "json")
    assert result.exit_code == 0, result.output
    caps = json.loads(result.output)["policies"]["france"]["caps"]["participations"]
    assert caps["keys_reaching_cap"] == 3 and caps["periods_reaching_cap"] == 3
    assert caps["episodes_bound"] == 3 * 5  # the visits after the 25th
    assert caps["not_added"] == "30.00"
    assert caps["insurer_change"] == "30.00" and caps["patient_change"] == "-30.00"


def test_diff_describes_regions_with_the_amount_used(tmp_path: Path) -> None:
    lower = tmp_path / "france40.parcours"
    lower.write_text(FRANCE.read_text(encoding="utf-8").replace(
        "from 2017-05-01: 50.00 EUR   cite ameli_pf", "from 2017-05-01: 40.00 EUR   cite ameli_pf"),
        encoding="utf-8")
    (tmp_path / "episode.parcours").write_text(
        (ROOT / "policies" / "episode.parcours").read_text(encoding="utf-8"), encoding="utf-8")
    result = invoke("diff", str(FRANCE), str(lower))
    assert result.exit_code == 1, result.output
    assert "participations_used <= 49.99" in result.output


def test_a_run_in_key_order_needs_no_sort(tmp_path: Path) -> None:
    """Each person's episodes in date order (as a population or an export by patient
    writes them): decided as they come, the same decisions as the sorted run's."""
    episodes = [adult(f"e-{person}-{n:02d}", f"2025-{1 + n // 3:02d}-{1 + n % 3 * 9:02d}",
                      f"p-{person}") for person in range(3) for n in range(30)]
    specs = specs_of(load_policy(FRANCE))
    lines = [json.dumps(e, separators=(",", ":")).encode() for e in episodes]
    assert in_key_order(iter(lines), specs)
    assert not in_key_order(iter(lines[::-1]), specs)
    twice = lines[:1] + lines[:1]  # the same date and id twice: not strictly in order
    assert not in_key_order(iter(twice), specs)
    straight, _, _ = as_given_and_shuffled(tmp_path, episodes, 7, 11)
    assert [json.loads(line)["id"] for line in straight] == [e["id"] for e in episodes]
    assert sum(Decimal(json.loads(line)["flat_fee"]) for line in straight) == Decimal("150.00")
