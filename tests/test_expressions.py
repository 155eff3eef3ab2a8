"""The expression forms: `case`/`if` as values, rounded division, percentages, date
arithmetic, ranges, tables keyed by `pathway`.

Each form is parsed, checked, compiled and decided by both engines (the generated
module and the reference interpreter), on episodes whose decisions are worked out by
hand; misuse gets its diagnostic.  `tests/fixtures/expressions.parcours` holds every
form; `tests/test_differential.py` searches it for a difference between the engines.
"""

from __future__ import annotations

import subprocess
import sys
import types
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parcours.compiler import ir
from parcours.compiler.interpret import as_module
from parcours.compiler.ir import ops
from parcours.compiler.pipeline import analyse, compile_policy, load_policy
from parcours.runtime import PolicyGap, decision_json

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "expressions.parcours"


@lru_cache(maxsize=None)
def engines() -> tuple[types.ModuleType, types.ModuleType]:
    program = analyse(FIXTURE).program
    assert program is not None
    return load_policy(FIXTURE), as_module(program)


def episode(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "date": "2025-03-10",
        "patient": {"birth_date": "1980-05-01", "age": 44},
        "visit": {"specialty": "cardiology", "fee": "30.00", "sessions": 3,
                  "admitted": "2025-01-02"},
    }
    for path, value in changes.items():
        section, _, name = path.partition("__")
        if name:
            base[section][name] = value
        else:
            base[section] = value
    return base


def decide_both(ep: dict[str, Any]) -> Any:
    compiled, interpreted = engines()
    first, second = compiled.decide(ep), interpreted.decide(ep)
    assert decision_json(first) == decision_json(second)
    one, other = compiled.explain(ep), interpreted.explain(ep)
    assert (decision_json(one), one.trace) == (decision_json(other), other.trace)
    return first


# ---- decisions worked out by hand -------------------------------------------------------


def test_an_adult_out_of_follow_up() -> None:
    # 67 days after admission: out of the 30-day follow-up; not dentistry: out of pathway.
    d = decide_both(episode())
    assert (d.pathway, d.rule) == ("out_of_pathway", "other")
    # rate: round_down(70% * 60% / 2, 0.01) = round_down(0.21, 0.01)
    assert d.number("rate") == Decimal("0.21")
    # base: 30.00 is in 0.00..40.00
    assert d.number("base") == Decimal("30.00")
    # flat fee: band 1 → 1.00; per session round_half_up(30.00 / 3) = 10.00, × 12.5% = 1.25
    # (the surcharge of 2025-03-10); the third term is 0
    assert d.number("flat_fee") == Decimal("2.25")
    assert d.number("reimbursed") == Decimal("4.05")  # 30.00 × 0.21 = 6.30, − 2.25
    assert d.number("patient_pays") == Decimal("25.95")


def test_years_between_decides_the_child_rule_on_the_birthday() -> None:
    before = decide_both(episode(patient={"birth_date": "2007-03-11", "age": 15}))
    on = decide_both(episode(patient={"birth_date": "2007-03-10", "age": 15}))
    assert before.rule == "child" and before.number("rate") == Decimal("1.00")
    assert on.rule == "other"


def test_follow_up_uses_the_date_range_and_days_between() -> None:
    # admitted 2025-03-01: day 9 of the follow-up, 1 week → coordinated
    d = decide_both(episode(visit__admitted="2025-03-01"))
    assert d.rule == "follow_up"
    assert d.number("rate") == Decimal("0.70")  # min(70%, 70%)
    # day 1: `stay not in 0..2` fails
    assert decide_both(episode(visit__admitted="2025-03-09")).rule == "other"
    # the last day of the follow-up (admitted + 30 days) is inside; the next is not
    assert decide_both(episode(date="2025-03-31", visit__admitted="2025-03-01")).rule \
        == "follow_up"
    assert decide_both(episode(date="2025-04-01", visit__admitted="2025-03-01")).rule == "other"


def test_date_minus_one_day() -> None:
    dental = {"visit__specialty": "dentistry"}
    assert decide_both(episode(date="2025-01-02", **dental)).rule == "dental"
    assert decide_both(episode(date="2025-01-01", **dental)).rule == "other"


def test_a_division_of_money_and_the_percent_surcharge_of_its_period() -> None:
    # 2025-07-01: 15%; 50.00 / 4 = 12.50, × 15% = 1.875 → 1.88; base 50.00 / 100% = 50.00
    d = decide_both(episode(date="2025-07-01", visit__fee="50.00", visit__sessions=4))
    assert d.number("base") == Decimal("50.00")
    assert d.number("flat_fee") == Decimal("2.88")
    # 10.00 / 3 = 3.333… → 3.33 (half up); × 12.5% = 0.41625 → 0.42
    assert decide_both(episode(visit__fee="10.00")).number("flat_fee") == Decimal("1.42")


def test_a_case_value_inside_arithmetic() -> None:
    # age 70: band 2 → a flat fee of 2.00 plus the surcharge
    d = decide_both(episode(patient={"birth_date": "1950-01-01", "age": 70}))
    assert d.number("flat_fee") == Decimal("3.25")


def test_division_by_zero_refuses_the_episode_naming_the_division() -> None:
    compiled, interpreted = engines()
    messages = []
    for module in (compiled, interpreted):
        for function in (module.decide, module.explain):
            with pytest.raises(PolicyGap) as caught:
                function(episode(visit__sessions=0))
            messages.append(str(caught.value))
    assert len(set(messages)) == 1
    assert messages[0] == ("division by zero in `visit.fee / visit.sessions` at "
                           "expressions.parcours:45:19")


def test_the_cli_reports_a_division_by_zero_as_a_rejection(tmp_path: Path) -> None:
    import json

    episodes = tmp_path / "episodes.jsonl"
    episodes.write_text(json.dumps(episode(visit__sessions=0)) + "\n", encoding="utf-8")
    script = Path(sys.executable).parent / "parcours"
    if not script.exists():
        pytest.skip("the parcours script is not installed next to the interpreter")
    result = subprocess.run([str(script), "decide", str(FIXTURE), "--input", str(episodes)],
                            capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr
    assert "division by zero in `visit.fee / visit.sessions`" in result.stderr + result.stdout


# ---- the operations ---------------------------------------------------------------------


def _reference(mode: ir.RoundMode, a: Fraction, b: Fraction, q: Fraction) -> Fraction:
    """Rounding of an exact quotient, from the definitions of the modes."""
    x = a / b / q
    down = x.numerator // x.denominator
    candidates = {ir.RoundMode.DOWN: down if x >= 0 else -((-x.numerator) // x.denominator),
                  ir.RoundMode.UP: -((-x.numerator) // x.denominator) if x >= 0 else down}
    if mode in candidates:
        return candidates[mode] * q
    lower, upper = down, down + 1
    if x - lower < upper - x:
        return lower * q
    if x - lower > upper - x:
        return upper * q
    if mode == ir.RoundMode.HALF_UP:
        return (upper if x > 0 else lower) * q
    return (lower if lower % 2 == 0 else upper) * q


amounts = st.integers(-10 ** 8, 10 ** 8).map(lambda c: Decimal(c).scaleb(-2))
divisors = st.one_of(st.integers(-50, 50).filter(bool),
                     st.integers(-10 ** 4, 10 ** 4).filter(bool).map(lambda c: Decimal(c)
                                                                      .scaleb(-3)))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(mode=st.sampled_from(list(ir.RoundMode)), a=amounts, b=divisors,
       quantum=st.sampled_from((Decimal("0.01"), Decimal("0.05"), Decimal("1"),
                                Decimal("0.001"))))
def test_divide_rounds_the_exact_quotient(mode: ir.RoundMode, a: Decimal, b: Any,
                                          quantum: Decimal) -> None:
    got = ops.divide(mode, a, b, quantum)
    assert isinstance(got, Decimal) and got.as_tuple().exponent == quantum.as_tuple().exponent
    assert Fraction(got) == _reference(mode, Fraction(a), Fraction(b), Fraction(quantum))


def test_divide_of_two_ints_is_an_int() -> None:
    assert ops.divide(ir.RoundMode.HALF_EVEN, 7, 2, 1) == 4
    assert ops.divide(ir.RoundMode.HALF_EVEN, 5, 2, 1) == 2
    assert ops.divide(ir.RoundMode.HALF_UP, -5, 2, 1) == -3
    assert ops.divide(ir.RoundMode.DOWN, -7, 2, 1) == -3
    assert type(ops.divide(ir.RoundMode.UP, 7, 2, 1)) is int
    with pytest.raises(ops.DivisionByZero):
        ops.divide(ir.RoundMode.UP, 7, 0, 1)


@pytest.mark.parametrize(("birth", "day", "years"), [
    ("2008-02-29", "2023-02-28", 14),
    ("2008-02-29", "2023-03-01", 15),
    ("2008-02-29", "2024-02-28", 15),
    ("2008-02-29", "2024-02-29", 16),
    ("2000-06-15", "2018-06-14", 17),
    ("2000-06-15", "2018-06-15", 18),
    ("2018-06-15", "2000-06-15", -18),
    ("2018-06-15", "2000-06-16", -17),
])
def test_years_between_counts_like_an_age(birth: str, day: str, years: int) -> None:
    start, end = date.fromisoformat(birth), date.fromisoformat(day)
    assert ops.date_diff(ir.DateUnit.YEARS, start, end) == years


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(start=st.dates(date(1900, 1, 1), date(2100, 1, 1)),
       end=st.dates(date(1900, 1, 1), date(2100, 1, 1)))
def test_the_generated_date_and_division_helpers_agree_with_ops(start: date, end: date) -> None:
    compiled, _ = engines()
    assert compiled._years_between(start, end) == ops.date_diff(ir.DateUnit.YEARS, start, end)
    # an age is whole anniversaries: the next one is past `end`
    years = ops.date_diff(ir.DateUnit.YEARS, start, end)
    if years >= 0:
        assert start + timedelta(days=0) <= end
    span = (end - start).days
    for mode in ir.RoundMode:
        expected = ops.divide(mode, span, 7, 1)
        assert compiled._divide(span, 7, 1, mode.value, "") == expected


def test_percent_literals_are_exact_rates() -> None:
    program = analyse(FIXTURE).program
    assert program is not None
    assert program.param("adult_rate").values[0].value.value == Decimal("0.70")
    surcharge = [d.value.value for d in program.param("surcharge").values]
    assert surcharge == [Decimal("0.125"), Decimal("0.15")]


# ---- diagnostics --------------------------------------------------------------------------


def diagnose(old: str, new: str) -> list[tuple[str, str, int]]:
    text = FIXTURE.read_text(encoding="utf-8")
    assert old in text
    found = analyse(FIXTURE, text.replace(old, new, 1).encode()).diagnostics
    return [(d.code, d.message + " | " + (d.hint or ""), d.span.line) for d in found]


def codes(old: str, new: str) -> set[str]:
    return {code for code, _, _ in diagnose(old, new)}


def test_the_fixture_has_no_error_and_says_what_the_verifier_approximates() -> None:
    found = analyse(FIXTURE).diagnostics
    # an age, days between dates and a moved date are computed: W406 names each rule;
    # the rule on `visit.urgent` and the outputs' `pathway == …` are verified exactly
    assert [(d.code, d.message.split(":")[0]) for d in found] == [
        ("W406", "rule `child`"), ("W406", "rule `follow_up`"), ("W406", "rule `dental`")]
    assert "`years >= 18`" in found[0].message


@pytest.mark.parametrize(("old", "new", "code", "words"), [
    # a case as a value needs `else`
    ("  else: 1\n}", "  when patient.age >= 60: 1\n}", "E377", "needs an `else`"),
    # arms of one type
    ("if adult then adult_rate else 100%", "if adult then adult_rate else 2.00 EUR", "E378",
     "a rate and an amount in EUR"),
    ("  else: 1\n}", "  else: 1.00 EUR\n}", "E378", "different types"),
    # `else` not last
    ("  when patient.age not in 16..59: 2\n", "  else: 2\n  when patient.age < 3: 2\n",
     "E343", "last arm"),
    # division outside a rounding, two divisions, bad operands, bad quantum
    ("let weeks = round_half_even(stay / 7, 1)", "let weeks = stay / 7", "E379",
     "rounded by name"),
    ("round_half_even(stay / 7, 1)", "round_half_even(stay / 7 / 2, 1)", "E379",
     "one division per rounding"),
    ("round_half_even(stay / 7, 1)", "round_half_even(7 / adult_rate, 0.01)", "E379",
     "cannot divide a whole number by a rate"),
    ("round_half_even(stay / 7, 1)", "round_half_even(stay / 7, 0.5)", "E371",
     "the quantum is 1"),
    ("round_half_up(visit.fee / visit.sessions, 0.01)",
     "round_half_up(visit.fee / visit.sessions, 0.001)", "E371", "(0.01 EUR) or coarser"),
    # percentages are rates
    ("param adult_rate: rate = 70%", "param adult_rate: rate = 170%", "E351", "170%"),
    # date arithmetic
    ("let stay = days_between(visit.admitted, date)", "let stay = date - visit.admitted",
     "E369", "days_between(a, b) or years_between(a, b)"),
    ("let stay = days_between(visit.admitted, date)", "let stay = 30 days", "E380",
     "a duration"),
    ("years_between(patient.birth_date, date)", "years_between(patient.age, date)", "E380",
     "reads a date here, not a whole number"),
    ("years_between(patient.birth_date, date)", "years_between(patient.birth_date)", "E370",
     "two arguments"),
    # ranges of the tested value's kind
    ("years in 0..15", "years in 0.00 EUR..15", "E381", "a range of"),
    ("visit.specialty == dentistry", "visit.specialty in 0..3", "E381", "a specialty"),
    # a table's key: an enum or `pathway`
    ("table pathway_rate: pathway -> rate", "table pathway_rate: int -> rate", "E323",
     "`int` is not one"),
    ("table pathway_rate: pathway -> rate", "table pathway_rate: pathways -> rate", "E323",
     "or `pathway`"),
    # unknown functions list the date functions
    ("years_between(patient.birth_date, date)", "year_between(patient.birth_date, date)",
     "E374", "years_between"),
])
def test_misuse_is_diagnosed(old: str, new: str, code: str, words: str) -> None:
    found = diagnose(old, new)
    matching = [message for c, message, _ in found if c == code]
    assert matching, found
    assert any(words in message for message in matching), matching


def test_a_percent_sign_after_a_space_is_explained() -> None:
    found = diagnose("param adult_rate: rate = 70%", "param adult_rate: rate = 70 %")
    assert [c for c, _, _ in found] == ["E100"]
    assert "`70%` is the rate 0.70" in found[0][1]


def test_an_input_of_any_section_is_a_field_and_the_message_says_so() -> None:
    assert codes("input visit.urgent: bool = false", "input billing.urgent: bool = false") \
        == {"E356"}  # the section is fine; only the rule's `visit.urgent` is now unknown
    found = diagnose("input visit.urgent: bool = false", "input visit.x.urgent: bool = false")
    e313 = [m for c, m, _ in found if c == "E313"]
    assert e313 and "`SECTION.NAME`" in e313[0] and "patient.NAME" not in e313[0]


# ---- the generated module ----------------------------------------------------------------


def test_shipped_modules_do_not_carry_the_new_helpers() -> None:
    for name in ("france", "nhs"):
        _, text = compile_policy(ROOT / "policies" / f"{name}.parcours")
        assert "_divide" not in text and "_years_between" not in text
        assert "timedelta" not in text


@pytest.mark.slow
def test_the_generated_module_passes_mypy_strict(tmp_path: Path) -> None:
    _, text = compile_policy(FIXTURE)
    target = tmp_path / "expressions_policy.py"
    target.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(target)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
