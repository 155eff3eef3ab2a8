"""The expression forms: `case`/`if` as values, rounded division, percentages, date
arithmetic, ranges, tables keyed by `pathway`.

Each form is parsed, checked, compiled and decided by both engines (the generated
module and the reference interpreter), on episodes whose decisions are worked out by
hand; misuse gets its diagnostic.  `tests/fixtures/expressions.parcours` holds every
form; `tests/test_differential.py` searches it for a difference between the engines.
"""

from __future__ import annotations

import json
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
from parcours.runtime import OverrideError, PolicyGap, decision_json, split_name

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "expressions.parcours"
KEYS = ROOT / "tests" / "fixtures" / "keys.parcours"  # keyed tables, sets of values, decimals


@lru_cache(maxsize=None)
def engines(policy: Path = FIXTURE) -> tuple[types.ModuleType, types.ModuleType]:
    """The generated module and the reference interpreter of `policy`."""
    program = analyse(policy).program
    assert program is not None
    return load_policy(policy), as_module(program)


def changed(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` with `changes`: `section__field=value` sets one field, `section=value` a
    whole section (or a top-level field)."""
    for path, value in changes.items():
        section, _, name = path.partition("__")
        if name:
            base[section][name] = value
        else:
            base[section] = value
    return base


def episode(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "date": "2025-03-10",
        "patient": {"birth_date": "1980-05-01", "age": 44},
        "visit": {"specialty": "cardiology", "fee": "30.00", "sessions": 3,
                  "admitted": "2025-01-02"},
    }
    return changed(base, changes)


def decide_both(ep: dict[str, Any], policy: Path = FIXTURE,
                sets: dict[str, str] | None = None) -> Any:
    """`ep`'s decision, which both engines must make alike (its explanation too)."""
    compiled, interpreted = engines(policy)
    first, second = ((m.decide(ep, m.with_overrides(sets)) if sets else m.decide(ep))
                     for m in (compiled, interpreted))
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
@pytest.mark.parametrize("fixture", [FIXTURE, KEYS], ids=["expressions", "keys"])
def test_the_generated_module_passes_mypy_strict(tmp_path: Path, fixture: Path) -> None:
    _, text = compile_policy(fixture)
    target = tmp_path / "expressions_policy.py"
    target.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(target)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


# ---- tables keyed by several values or a bool, sets of values, decimals --------------------
# `tests/fixtures/keys.parcours`: `base_rate` keyed by (specialty, sector), `flat` by bool,
# `weight` by (bool, sector) with decimal values; `young` and the rules test sets of values.




def visit(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"date": "2025-03-01", "patient": {"age": 30},
                            "visit": {"specialty": "cardiology", "sector": "2", "fee": "30.00",
                                      "sessions": 3}}
    return changed(base, changes)


def decide_keyed(ep: dict[str, Any], sets: dict[str, str] | None = None) -> Any:
    return decide_both(ep, KEYS, sets)


def test_a_table_keyed_by_two_enums_and_decimal_outputs() -> None:
    d = decide_keyed(visit())
    assert (d.pathway, d.rule) == ("coordinated", "coordinated")
    assert d.number("rate") == Decimal("0.60")  # base_rate[cardiology, "2"]
    assert d.number("flat_fee") == Decimal("1.00")  # flat[false]
    assert d.number("reimbursed") == Decimal("17.00")  # 30.00 × 0.60 − 1.00
    # 3 sessions × 1.5 × weight[false, "2"] (else: 1.25); 0.60 × 1.25
    assert d.number("weighted_sessions") == Decimal("5.625")
    assert d.number("coefficient") == Decimal("0.75")
    written = json.loads(decision_json(d))
    assert (written["weighted_sessions"], written["coefficient"]) == ("5.625", "0.75")


def test_a_dated_row_of_a_table_keyed_by_two_enums() -> None:
    before = decide_keyed(visit(date="2025-06-30", visit__sector="1"))
    after = decide_keyed(visit(date="2025-07-01", visit__sector="1"))
    assert (before.number("rate"), after.number("rate")) == (Decimal("0.65"), Decimal("0.70"))
    # 0.65 × 1.25 = 0.8125 → 0.81; 0.70 × 1.25 = 0.875 → 0.88 (half even)
    assert before.number("coefficient") == Decimal("0.81")
    assert after.number("coefficient") == Decimal("0.88")


def test_tables_keyed_by_a_bool() -> None:
    d = decide_keyed(visit(visit__urgent=True, visit__sector="1"))
    assert (d.pathway, d.rule) == ("exempt", "urgent")
    assert d.number("flat_fee") == Decimal("0.00")  # flat[true]
    assert d.number("weighted_sessions") == Decimal("9.0")  # 3 × 1.5 × weight[true, "1"] = 2
    assert d.number("coefficient") == Decimal("2.00")  # 1.00 × 2 (the pathway is exempt)


@pytest.mark.parametrize(("age", "rule"), [
    (0, "young"), (5, "young"), (6, "coordinated"), (7, "young"), (8, "coordinated"),
    (11, "coordinated"), (12, "young"), (15, "young"),
    (16, "other"), (17, "coordinated"), (18, "other"), (20, "other"), (21, "coordinated"),
    (65, "other"),
])
def test_a_set_of_ints_and_ranges(age: int, rule: str) -> None:
    # young: {0..5, 7, 12..15}; coordinated when not in {16, 18..20, 65} (fee 30.00 is in
    # {25.00 EUR, 30.00 EUR..40.00 EUR})
    assert decide_keyed(visit(patient={"age": age})).rule == rule


@pytest.mark.parametrize(("fee", "sessions", "specialty", "rule"), [
    ("25.00", 3, "cardiology", "coordinated"), ("26.00", 3, "cardiology", "other"),
    ("29.99", 3, "cardiology", "other"), ("40.00", 3, "cardiology", "coordinated"),
    ("40.01", 3, "cardiology", "other"),
    ("50.00", 1, "dentistry", "dental"), ("50.00", 2, "dentistry", "other"),
    ("50.00", 3, "dentistry", "dental"), ("50.00", 4, "dentistry", "dental"),
    ("50.00", 5, "dentistry", "other"),
])
def test_sets_of_amounts_and_of_ints(fee: str, sessions: int, specialty: str, rule: str) -> None:
    ep = visit(visit__fee=fee, visit__sessions=sessions, visit__specialty=specialty)
    assert decide_keyed(ep).rule == rule


@pytest.mark.parametrize("name", ['base_rate[cardiology, "2"]', "base_rate[(cardiology, 2)]",
                                  "base_rate[ cardiology ,2 ]"])
def test_set_overrides_one_combination(name: str) -> None:
    d = decide_keyed(visit(), {name: "0.50"})
    assert d.number("rate") == Decimal("0.50")
    other = decide_keyed(visit(visit__specialty="general_practice"), {name: "0.50"})
    assert other.number("rate") == Decimal("0.60")  # (general_practice, "2") is unchanged


@pytest.mark.parametrize(("name", "split"), [
    ('share[cardiology, "2"]', ("share", "cardiology\x1f2")),
    ("share[(cardiology, 2)]", ("share", "cardiology\x1f2")),
    ('share[ "1,2" ]', ("share", "1,2")),  # a comma inside quotes belongs to the member
    ('share["1,2", x]', ("share", "1,2\x1fx")),
    ("share[dentistry]", ("share", "dentistry")),
    ("share", ("share", None)),
])
def test_split_name_reads_the_keys_of_a_table_keyed_by_several(
        name: str, split: tuple[str, str | None]) -> None:
    assert split_name(name) == split


def test_set_overrides_a_bool_key_a_whole_table_and_a_decimal() -> None:
    assert decide_keyed(visit(), {"flat[false]": "2.00"}).number("flat_fee") == Decimal("2.00")
    assert decide_keyed(visit(), {"base_rate": "0.40"}).number("rate") == Decimal("0.40")
    d = decide_keyed(visit(), {"session_weight": "2"})
    assert d.number("weighted_sessions") == Decimal("7.50")  # 3 × 2 × 1.25


@pytest.mark.parametrize(("name", "value", "words"), [
    ("base_rate[cardiology]", "0.5", "keys: (general_practice, 1), (general_practice, 2)"),
    ("base_rate[cardiology, 3]", "0.5", "(cardiology, 3) is not a key of base_rate"),
    ("flat[maybe]", "1.00", "keys: true, false"),
    ("session_weight", "x", "session_weight is a decimal number"),
])
def test_bad_overrides_name_the_keys(name: str, value: str, words: str) -> None:
    for module in engines(KEYS):
        with pytest.raises(OverrideError) as caught:
            module.with_overrides({name: value})
        assert words in str(caught.value)


def test_a_decimal_is_written_exactly_never_in_exponent_form() -> None:
    compiled, _ = engines(KEYS)
    meta = compiled.POLICY
    assert meta.json_value("decimal", Decimal("1E-7")) == "0.0000001"
    assert meta.json_value("decimal", Decimal("2.50")) == "2.50"
    kinds = {o.name: o.kind for o in meta.outputs}
    assert kinds["weighted_sessions"] == kinds["coefficient"] == "decimal"


def test_the_ir_prints_the_new_forms() -> None:
    program = analyse(KEYS).program
    assert program is not None
    text = ir.print_program(program)
    assert "table base_rate: (specialty, sector) -> rate  [cite spec]" in text
    assert "  (general_practice, 2), (cardiology, 2)  [note 'sector 2']" in text
    assert "  (dentistry, 1), (dentistry, 2)\n" in text  # the `else` row, expanded
    assert "table flat: bool -> money EUR\n  true\n" in text
    assert "else: base_rate[visit.specialty, visit.sector]" in text
    assert "flat[visit.urgent or young]" in text
    assert ("let young: bool = patient.age >= 0 and patient.age <= 5 or patient.age == 7 or "
            "patient.age >= 12 and patient.age <= 15") in text
    assert "param session_weight: decimal" in text


def test_the_keys_fixture_has_no_error_and_is_verified_exactly() -> None:
    assert [(d.code, d.message) for d in analyse(KEYS).diagnostics] == []


def keyed_diagnose(old: str, new: str, text: str | None = None) -> list[tuple[str, str, int]]:
    source = KEYS.read_text(encoding="utf-8") if text is None else text
    assert old in source
    found = analyse(KEYS, source.replace(old, new, 1).encode()).diagnostics
    return [(d.code, d.message + " | " + (d.hint or ""), d.span.line) for d in found]


@pytest.mark.parametrize(("old", "new", "code", "words"), [
    # every combination has a row, or `else`
    ("  else: 50%\n", "", "E327", "no row for `(dentistry, 1)`, `(dentistry, 2)`"),
    ("(general_practice, \"2\"), (cardiology, \"2\")",
     "(general_practice, \"2\"), (general_practice, \"1\")", "E326",
     "`(general_practice, 1)` has two rows"),
    ("(general_practice, \"1\"): 70%", "(general_practice, \"3\"): 70%", "E325",
     "`3` is not a member of `sector`"),
    ("(general_practice, \"1\"): 70%", "general_practice: 70%", "E325",
     "a row's key has 2 parts, this one 1"),
    ("(general_practice, \"1\"): 70%", "(general_practice, \"1\", \"2\"): 70%", "E325",
     "this one 3"),
    ("(general_practice, \"1\"): 70%", "(true, \"1\"): 70%", "E325",
     "`true` is not a member of `specialty`"),
    ("(true, \"1\"): 2", "(yes, \"1\"): 2", "E325", "`yes` is not true or false"),
    ("  true: 0.00 EUR\n", "  cardiology: 0.00 EUR\n", "E325", "is not true or false"),
    ("  true: 0.00 EUR\n", "", "E327", "no row for `true`"),
    ("table base_rate: (specialty, sector)", "table base_rate: (specialty, sectors)", "E323",
     "`sectors` is not one"),
    ("(true, \"2\"): 2.5", "(true, \"2\"): 2.50 EUR", "E304", "expected a decimal"),
    # one key per column, of its type
    ("base_rate[visit.specialty, visit.sector]", "base_rate[visit.specialty]", "E376",
     "2 keys, not 1"),
    ("base_rate[visit.specialty, visit.sector]", "base_rate[visit.sector, visit.specialty]",
     "E376", "this key is a sector, not a specialty"),
    ("flat[visit.urgent or young]", "flat[visit.sector]", "E376", "not true/false"),
    ("flat[visit.urgent or young]", "flat[visit.urgent, young]", "E376", "1 key, not 2"),
    # sets of values: of the tested value's kind, after `in` only
    ("{0..5, 7, 12..15}", "{0..5, 7.00 EUR, 12..15}", "E381", "an amount in EUR in a set"),
    ("visit.sessions in {1, 3..4}", "visit.specialty in {1, 3..4}", "E381",
     "a set of values tested against a specialty"),
    ("let young = patient.age in {0..5, 7, 12..15}", "let young = {0..5, 7}", "E364",
     "stands on the right of `in`"),
    ("{0..5, 7, 12..15}", "{0..5, 7, 7, 12..15}", "W362", "`7` is listed twice"),
    # decimals: computed, not read from an episode; an int is not one
    ("input visit.sessions: int[0..20]", "input visit.sessions: decimal", "E303",
     "cannot be a decimal"),
    ("output base: money = visit.fee", "output base: money = visit.fee * session_weight",
     "E342", "unrounded"),
    ("output coefficient: decimal = round_half_even(", "output coefficient: decimal = visit.sessions + round_half_even(",
     "", ""),
    ("visit.sessions * session_weight", "visit.sessions * session_weight + 1.00 EUR", "E369",
     "a decimal goes with decimals"),
])
def test_keyed_tables_sets_and_decimals_misused(old: str, new: str, code: str,
                                                words: str) -> None:
    found = keyed_diagnose(old, new)
    if not code:  # an int added to a decimal is a decimal: no error
        assert [c for c, _, _ in found] == []
        return
    matching = [message for c, message, _ in found if c == code]
    assert matching, found
    assert any(words in message for message in matching), matching


def test_a_set_holds_at_most_a_thousand_values() -> None:
    def found(count: int) -> list[str]:
        values = "{" + ", ".join(str(2 * i) for i in range(count)) + "}"
        return [c for c, _, _ in keyed_diagnose("{0..5, 7, 12..15}", values)]

    assert found(1000) == []
    assert found(1001) == ["E105"]


def test_an_int_output_declared_decimal_is_refused_with_a_hint() -> None:
    found = keyed_diagnose("output coefficient: decimal = round_half_even(rate * weight["
                           "pathway == exempt, visit.sector], 0.01)",
                           "output coefficient: decimal = visit.sessions")
    assert [c for c, _, _ in found] == ["E342"]
    assert "write it with a point (2.0), or multiply it by a decimal" in found[0][1]


def test_too_many_combinations_is_an_error() -> None:
    members = ", ".join(f"m{i}" for i in range(101))
    text = KEYS.read_text(encoding="utf-8").replace(
        "enum sector {", f"enum big {{ {members} }}\ntable huge: (big, big) -> int {{ else: 1 }}\n"
        "enum sector {", 1)
    found = keyed_diagnose("", "", text)
    assert [(c, m.split(" | ")[0]) for c, m, _ in found] == [
        ("E328", "table `huge` has 10,201 combinations of keys, more than 10,000")]


def test_a_one_enum_table_takes_one_key() -> None:
    found = diagnose("min(share, pathway_rate[pathway])", "min(share, pathway_rate[pathway, 1])")
    assert ("E376", "table `pathway_rate` is keyed by one pathway | write `pathway_rate[KEY]`") \
        in [(c, m) for c, m, _ in found]
    found = diagnose("  exempt: 100%\n", "  (exempt, coordinated): 100%\n")
    assert any(c == "E325" and "is keyed by one pathway" in m for c, m, _ in found), found


def test_the_verifier_splits_on_keyed_lookups() -> None:
    """Rules that read a table keyed by two enums, and one keyed by a bool, are verified
    exactly (no W405/W406): the gap left, rates of 70%, is found, and its episodes are ones
    that no rule decides."""
    text = KEYS.read_text(encoding="utf-8").replace(
        "  default other: out_of_pathway   cite spec\n",
        "  rule other priority 5: out_of_pathway\n"
        "    when base_rate[visit.specialty, visit.sector] < 70% and flat[visit.urgent] > 0.00 EUR"
        "   cite spec\n", 1)
    found = analyse(KEYS, text.encode()).diagnostics
    assert [d.code for d in found] == ["E401"], found
    program = analyse(KEYS).program
    assert program is not None
    ep: Any = found[0].counterexample
    assert ep is not None
    day = date.fromisoformat(ep["date"])
    key = ops.table_key([ep["visit"]["specialty"], ep["visit"]["sector"]])
    row = next(r for r in program.table("base_rate").rows if key in r.keys)
    value = ir.value_at(row.values, day)
    assert value is not None and value.value == Decimal("0.70"), ep
