"""The generated module's shortcuts, each deciding as the policy is written.

- A rounded product of operands that take few values (a tariff times a rate) is looked up
  by its operands and computed on a miss; zeros are never remembered (-0 == 0, but the
  sign of a zero product follows its operands').
- A branch's value drops, or takes, the arms of its cases whose conditions the branches
  before it, or its own condition, already answered.
- Consecutive branches that begin with the same conditions test them once, when the last
  of them is exactly those conditions (so that none falls through).
- A let read once, and that cannot fail, is evaluated where it is read.
- A plain test of a field that one step asks of every episode, and another step asks too,
  is made once, before the rules.

`tests/test_differential.py` checks every shipped policy's module against the reference
interpreter, which evaluates each value as written.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from parcours.compiler import ir
from parcours.compiler.backends.python import chains, known, lets, shared
from parcours.compiler.diagnostics import Span
from parcours.compiler.pipeline import analyse, compile_policy, load_policy

ROOT = Path(__file__).resolve().parent.parent
FRANCE = ROOT / "policies" / "france.parcours"
CENT = Decimal("0.01")


def test_a_rounded_product_is_remembered_by_its_operands(episode: Any) -> None:
    module = load_policy(FRANCE)
    tables = {name: getattr(module, name) for name in dir(module)
              if re.fullmatch(r"_ROUNDED_\d+", name)}
    assert len(tables) == 2  # reimbursed: the capped penalty's branch and the plain one
    for specialty in ("general_practice", "cardiology", "psychiatry"):
        for declared in (True, False):
            module.decide(episode(patient={"declared_doctor": declared},
                                  visit={"specialty": specialty, "with_declared_doctor": declared}))
    kept = [(key, value) for table in tables.values() for key, value in table.items()]
    assert kept
    for (base, rate), value in kept:
        assert str(value) == str((base * rate).quantize(CENT, ROUND_HALF_UP))


def test_zeros_are_computed_each_time_with_their_sign() -> None:
    module = load_policy(FRANCE)
    table, compute = module._ROUNDED_1, module._ROUND_1
    for base, rate, text in ((Decimal("-0.00"), Decimal("0.70"), "-0.00"),
                             (Decimal("0.00"), Decimal("0.70"), "0.00"),
                             (Decimal("30.00"), Decimal("0.00"), "0.00")):
        assert str(compute((base, rate))) == text
        assert (base, rate) not in table
    assert str(compute((Decimal("30.00"), Decimal("0.70")))) == "21.00"
    assert table[(Decimal("30.00"), Decimal("0.70"))] == Decimal("21.00")


def test_an_amount_from_the_episode_is_multiplied_as_written(tmp_path: Path) -> None:
    text = FRANCE.read_text(encoding="utf-8")
    old = "round_half_up(base * rate, 0.01) - flat_fee)"
    assert text.count(old) == 1
    (tmp_path / "episode.parcours").write_bytes((FRANCE.parent / "episode.parcours").read_bytes())
    policy = tmp_path / "france.parcours"
    policy.write_text(text.replace(old, "round_half_up(visit.fee * rate, 0.01) - flat_fee)"),
                      encoding="utf-8")
    _, module = compile_policy(policy, verify=False)
    assert "_ROUNDED_1" not in module and "_ROUNDED_0" in module
    assert "(i14_visit_fee * o_rate).quantize(" in module


def test_the_flat_fee_does_not_ask_again_whether_the_cap_is_reached() -> None:
    _, module = compile_policy(FRANCE, verify=False)
    values = [line for line in module.splitlines()
              if "o_flat_fee = " in line and "participation_forfaitaire" in line]
    assert len(values) == 2  # in decide, and in explain
    for value in values:  # min(the fee, what is left of the cap), the cap not compared again
        assert ">=" not in value and "participation_annual_cap" in value


def _money(name: str) -> ir.Expr:
    return ir.ParamRef(name, ir.MoneyT("EUR"))


def _flag(path: str) -> ir.Expr:
    return ir.Input(path, ir.BoolT())


def test_known_conditions_drop_or_take_a_case_arm() -> None:
    a, b = _flag("visit.a"), _flag("visit.b")
    case = ir.Case(((a, _money("x")), (b, _money("y"))), _money("z"), ir.MoneyT("EUR"))
    assert known.simplify(case, set(), set()) == case
    assert known.simplify(case, {a}, set()) == \
        ir.Case(((b, _money("y")),), _money("z"), ir.MoneyT("EUR"))
    assert known.simplify(case, {a, b}, set()) == _money("z")
    assert known.simplify(case, {a}, {b}) == _money("y")
    inside = ir.MinMax(ir.MinMaxFn.MIN, (_money("w"), case), ir.MoneyT("EUR"))
    assert known.simplify(inside, {a}, {b}) == \
        ir.MinMax(ir.MinMaxFn.MIN, (_money("w"), _money("y")), ir.MoneyT("EUR"))


def test_a_branch_knows_the_conditions_before_it_false_and_its_own_true() -> None:
    a, b = _flag("visit.a"), _flag("visit.b")
    value = ir.Case(((a, _money("x")), (b, _money("y"))), _money("z"), ir.MoneyT("EUR"))
    either = ir.BoolOp(ir.BoolOpKind.OR, (a, _flag("visit.c")))
    span = Span("p.parcours", 1, 1, 1, 1)
    both = ir.BoolOp(ir.BoolOpKind.AND, (b, _flag("visit.d")))
    output = ir.Output("o", ir.MoneyT("EUR"), (
        ir.Branch(either, _money("v"), ir.Notes(), span, ""),
        ir.Branch(both, value, ir.Notes(), span, ""),
    ), ir.Notes(), span)
    assert known.branch_values(output)[1] == _money("y")  # a is false (a or c is), b true


def _nested(conditions: list[ir.Expr | None]) -> list[tuple[int, list[int]]]:
    """Each link of the chain `decide` tests: its first branch and its group's branches."""
    span = Span("p.parcours", 1, 1, 1, 1)
    output = ir.Output("o", ir.MoneyT("EUR"), tuple(
        ir.Branch(c, _money("v"), ir.Notes(), span, "") for c in conditions), ir.Notes(), span)
    flat = [chains.BranchView(None if c is None else repr(c), "v", "", i)
            for i, c in enumerate(conditions)]
    return [(link.index, [inner.index for inner in link.inner])
            for link in chains.nest(output, flat, repr)]


def _and(*parts: ir.Expr) -> ir.Expr:
    return ir.BoolOp(ir.BoolOpKind.AND, parts)


def test_branches_beginning_alike_are_nested_when_the_last_is_the_shared_part() -> None:
    a, b, c, d = (_flag(f"visit.{x}") for x in "abcd")
    # France's base: (a and b), a, (c and d and b), (c and d), then others
    assert _nested([_and(a, b), a, _and(c, d, b), _and(c, d), b, None]) == \
        [(0, [0, 1]), (2, [2, 3]), (4, []), (5, [])]
    assert _nested([_and(a, b), _and(a, c), a]) == [(0, [0, 1, 2])]


def test_branches_that_would_fall_through_are_left_flat() -> None:
    a, b, c = (_flag(f"visit.{x}") for x in "abc")
    assert _nested([_and(a, b), _and(a, c), None]) == [(0, []), (1, []), (2, [])]
    assert _nested([a, _and(a, b)]) == [(0, []), (1, [])]  # the shared part first: as written
    assert _nested([_and(a, b), b, a]) == [(0, []), (1, []), (2, [])]


def test_france_base_tests_each_sector_once() -> None:
    _, module = compile_policy(FRANCE, verify=False)
    decide = module[module.index("def decide("):module.index("def explain(")]
    assert decide.count("(i13_visit_sector == '3')") == 1
    assert decide.count("(i13_visit_sector == '2')") == 1


def test_a_let_read_once_is_evaluated_where_it_is_read() -> None:
    program = analyse(FRANCE, verify=False).program
    assert program is not None
    assert sorted(lets.used_once(program)) == ["penalised", "penalty_capped"]
    _, module = compile_policy(FRANCE, verify=False)
    assert "l_penalised =" not in module and "l_penalty_capped =" not in module
    assert "l_ald_care =" in module  # read by a rule and by the rate
    condition = next(line for line in module.splitlines() if "reimbursed branch 0" in line
                     and line.lstrip().startswith("if "))
    assert "(pathway == 'out_of_pathway') and (not i5_patient_low_income_cover)" in condition


def test_a_let_that_could_fail_stays_where_it_is() -> None:
    fixture = ROOT / "tests" / "fixtures" / "expressions.parcours"
    program = analyse(fixture, verify=False).program
    assert program is not None
    text = fixture.read_text(encoding="utf-8")
    assert text.count("per_session") == 2  # defined, then read once: but it divides
    assert "per_session" not in lets.used_once(program)
    assert "in_follow_up" in lets.used_once(program)  # a comparison of dates, read once


def test_a_test_every_episode_meets_and_several_steps_ask_is_made_once() -> None:
    program = analyse(FRANCE, verify=False).program
    assert program is not None
    found = shared.shared_tests(program, lets.used_once(program))
    assert [(ir.format_expr(test), hint) for test, hint in found] == \
        [("visit.specialty in {dentistry, midwifery}", ("not_a_physician",))]
    _, module = compile_policy(FRANCE, verify=False)
    decide = module[module.index("def decide("):module.index("def explain(")]
    assert decide.count("(i6_visit_specialty in _NOT_A_PHYSICIAN)") == 1  # named after the rule
    assert "elif c0:  # france.parcours:75 not_a_physician" in decide
    # the pathway is no field, and sector 3 is asked by the base alone: each asked as written
    assert "(pathway == 'out_of_pathway')" in decide and "(i13_visit_sector == '3')" in decide


def test_what_is_evaluated_with_a_condition() -> None:
    a, b, c = (_flag(f"visit.{x}") for x in "abc")
    either = ir.BoolOp(ir.BoolOpKind.OR, (ir.Not(a), b))
    condition = ir.BoolOp(ir.BoolOpKind.AND, (either, c))
    assert shared._leading(condition) == [condition, either, ir.Not(a), a]
    assert shared.plain_test(ir.InSet(ir.Input("visit.s", ir.BoolT()), frozenset({"x"}), False))
    assert not shared.plain_test(ir.Compare(ir.CompareOp.EQ, ir.PathwayRef(ir.BoolT()),
                                            ir.Const("x", ir.BoolT())))


def test_a_constraint_asks_a_shared_test_itself(tmp_path: Path, episode: Any) -> None:
    """Constraints are checked before the steps, where shared tests are made: a
    constraint asks its test as written."""
    text = FRANCE.read_text(encoding="utf-8")
    anchor = "constraint coordination_needs_declared_doctor:"
    added = ("constraint physicians_too:\n  visit.specialty in {dentistry, midwifery} requires "
             "patient.age >= 0\n  cite css_l162_5_3\n\n")
    (tmp_path / "episode.parcours").write_bytes((FRANCE.parent / "episode.parcours").read_bytes())
    policy = tmp_path / "france.parcours"
    policy.write_text(text.replace(anchor, added + anchor, 1), encoding="utf-8")
    _, module = compile_policy(policy, verify=False)
    assert "if (i6_visit_specialty in _NOT_A_PHYSICIAN) and not" in module
    decided = load_policy(policy).decide(episode(visit={"specialty": "dentistry"}))
    assert decided.rule == "not_a_physician"
