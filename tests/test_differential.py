"""Differential tests: the generated module and the reference interpreter decide alike.

Two semantics of one language: the Python backend's generated code and the
interpreter of the IR (`parcours.compiler.interpret`).  For each shipped policy,
episodes are drawn from strategies built from the policy's own IR: every integer
and amount it mentions and every day on which a dated value changes or the validity
starts or ends, each ±1 (unit, cent, day); every enum member and bool; optional
fields left out; a few invalid values, unknown and missing fields, so that
rejections are compared too; sometimes a what-if `--set`.  Both engines must give
the same decision (every field, the trace and the sources) or the same rejection
(same field, same message), for `decide` and `explain`.

The policy `tests/fixtures/expressions.parcours` joins them: it uses every expression
form (`case`/`if` values, rounded division, percentages, date arithmetic, ranges, a table
keyed by pathway), so that each form's two implementations are compared too; and so does
`tests/fixtures/keys.parcours` (tables keyed by several values and by a bool, sets of
values and ranges after `in`, decimal outputs).

The last tests change one operator in one engine only and check that the search
finds an episode on which the engines differ: the layer can fail.  A longer run:
``bench/differential.py --examples N``.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from parcours.compiler import ir
from parcours.compiler.interpret import as_module
from parcours.compiler.ir import ops
from parcours.compiler.pipeline import analyse, load_policy
from parcours.runtime import (Decision, EpisodeError, Ledger, OverrideError, PolicyGap,
                              decision_json, key_text, specs_of)

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ("france", "morocco", "morocco_proposal", "nhs", "tunisia", "expressions", "keys")
# Test policies, by name: `expressions` uses every expression form (tests/test_expressions.py);
# `keys`, tables keyed by several values and by a bool, sets of values, decimal outputs.
FIXTURES = {"expressions": ROOT / "tests" / "fixtures" / "expressions.parcours",
            "keys": ROOT / "tests" / "fixtures" / "keys.parcours"}
EXAMPLES = 200  # per policy, in `make test`; bench/differential.py runs more


@dataclass(frozen=True)
class Engines:
    name: str
    program: ir.Program
    compiled: types.ModuleType
    interpreted: types.ModuleType


@lru_cache(maxsize=None)
def engines(name: str) -> Engines:
    path = FIXTURES.get(name, ROOT / "policies" / f"{name}.parcours")
    program = analyse(path).program
    assert program is not None, f"{name} does not compile"
    return Engines(name, program, load_policy(path), as_module(program))


# ---- what a policy mentions ----------------------------------------------------------


def _expressions(program: ir.Program) -> list[ir.Expr]:
    out: list[ir.Expr] = []
    for c in program.constraints:
        out += [c.condition, c.requirement]
    out += [let.expr for let in program.lets]
    out += [r.condition for r in program.rules if r.condition is not None]
    for o in program.outputs:
        out += [b.value for b in o.branches]
        out += [b.condition for b in o.branches if b.condition is not None]
    return out


def _dated(program: ir.Program) -> list[ir.Dated]:
    return ([d for p in program.params for d in p.values]
            + [d for t in program.tables for row in t.rows for d in row.values])


def mentioned(program: ir.Program) -> tuple[set[int], set[Decimal], set[date]]:
    """The integers, amounts and rates, and days the policy mentions."""
    ints: set[int] = set()
    numbers: set[Decimal] = set()
    days: set[date] = {program.policy.valid_from, *program.change_dates()}
    if program.policy.valid_until is not None:
        days.add(program.policy.valid_until)
    for expr in _expressions(program):
        for node in ir.walk(expr):
            if isinstance(node, ir.Const):
                value = node.value
                if isinstance(value, bool):
                    continue
                if isinstance(value, int):
                    ints.add(value)
                elif isinstance(value, Decimal):
                    numbers.add(value)
                elif isinstance(value, date):
                    days.add(value)
    for dated in _dated(program):
        days.add(dated.start)
        if dated.until is not None and dated.until < date.max:
            days.add(dated.until)
        if isinstance(dated.value.value, Decimal):
            numbers.add(dated.value.value)
        elif isinstance(dated.value.value, int) and not isinstance(dated.value.value, bool):
            ints.add(dated.value.value)
    return ints, numbers, days


# ---- strategies built from the IR ------------------------------------------------------

CENT = Decimal("0.01")
BAD_COMMON: tuple[object, ...] = (None, [], {})


def _around_days(days: set[date]) -> list[str]:
    out: set[date] = set()
    for day in days:
        for delta in (-1, 0, 1):
            try:
                out.add(day + timedelta(days=delta))
            except OverflowError:
                pass
    return [d.isoformat() for d in sorted(out)]


def field_values(program: ir.Program, item: ir.InputDef) -> tuple[st.SearchStrategy[Any],
                                                                  st.SearchStrategy[Any]]:
    """(valid values, invalid values) for one input, boundary-heavy."""
    ints, numbers, days = mentioned(program)
    t = item.type
    if isinstance(t, ir.BoolT):
        # false more often than true: a true flag tends to settle the pathway early
        return (st.sampled_from((False, False, True)),
                st.sampled_from(("true", 1, 0, *BAD_COMMON)))
    if isinstance(t, ir.EnumT):
        return st.sampled_from(t.members), st.sampled_from(("unknown", "", 3, *BAD_COMMON))
    if isinstance(t, ir.IntT):
        low = t.low if t.low is not None else -10 ** 6
        high = t.high if t.high is not None else 10 ** 6
        near = sorted({n + d for n in ints | {low, high} for d in (-1, 0, 1)})
        valid = [n for n in near if low <= n <= high]
        outside = [n for n in near if not low <= n <= high]
        boundary = st.sampled_from(valid)
        return (st.one_of(boundary, boundary, st.integers(low, high)),
                st.sampled_from((*outside, str(valid[0]), True, Decimal("1.0"), *BAD_COMMON)))
    if isinstance(t, ir.DateT):
        start = program.policy.valid_from - timedelta(days=1)
        end = (program.policy.valid_until or program.policy.valid_from + timedelta(days=4000))
        close: st.SearchStrategy[str] = st.sampled_from(_around_days(days))
        if item.path != "date" and counts_years(program):
            # a birth date: the anniversaries, in every number of years the policy mentions,
            # of every day it mentions (and the days around them)
            close = st.one_of(close, st.sampled_from(_around_days(
                {_years_before(day, n) for day in days for n in ints if 0 < n <= 150})))
        return (st.one_of(close, st.dates(start, end + timedelta(days=1)).map(date.isoformat)),
                st.sampled_from(("2024-02-30", "2024/01/01", "20240101", "2024-1-011",
                                 20240101, *BAD_COMMON)))
    if isinstance(t, ir.MoneyT):
        amounts = sorted({a + d for a in numbers | {Decimal("0.00")} for d in (-CENT, 0, CENT)
                          if a + d >= 0 and a.as_tuple().exponent == -2})
        texts = [str(a) for a in amounts] + ["30", "30.5", "007.50", "999999999.99"]
        written = st.one_of(st.sampled_from(texts),
                            st.integers(0, 10 ** 6).map(lambda c: str(Decimal(c) / 100)),
                            st.sampled_from((30, Decimal("30.0"), Decimal("26.8"), "1e2",
                                             " 30.00")))
        return written, st.sampled_from(("-0.01", "30.001", "1000000000.00", "abc", "NaN",
                                         True, *BAD_COMMON))
    if isinstance(t, ir.RateT):
        rates = sorted(n for n in numbers if 0 <= n <= 1) or [Decimal("0.5")]
        return (st.one_of(st.sampled_from(rates), st.sampled_from(("0", "1", "0.555", 1))),
                st.sampled_from(("1.01", Decimal("-0.1"), "x", True, *BAD_COMMON)))
    if isinstance(t, ir.IdT):
        return (st.sampled_from(("p-1", "p-2", "ménage-3")),
                st.sampled_from(("", 7, "x" * 201, True, *BAD_COMMON)))
    raise AssertionError(f"no strategy for {t}")


def _set(episode: dict[str, Any], path: str, value: object) -> None:
    parts = path.split(".")
    owner = episode
    for part in parts[:-1]:
        owner = owner.setdefault(part, {})
    owner[parts[-1]] = value


def counts_years(program: ir.Program) -> bool:
    return any(isinstance(node, ir.DateDiff) for expr in _expressions(program)
               for node in ir.walk(expr))


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return date(day.year - years, 3, 1)


class Space:
    """Every input's valid and invalid values, and every what-if, for one policy (built
    once: drawing an example must not walk the IR)."""

    def __init__(self, program: ir.Program) -> None:
        self.program = program
        self.fields = {item.path: field_values(program, item) for item in program.inputs}
        self.optional = {item.path for item in program.inputs if item.default is not None}
        self.paths = [item.path for item in program.inputs]
        self.sections = sorted({p.split(".")[0] for p in self.paths if "." in p})
        self.overrides = {name: override_texts(program, name) for name in
                          [p.name for p in program.params] + [t.name for t in program.tables]}
        # a key as `--set` writes it: `cardiology`, or `(cardiology, 2)` for several values
        self.keys = {t.name: tuple(map(key_text, t.key.members)) for t in program.tables}

    def __repr__(self) -> str:
        return f"Space({self.program.policy.id})"


MUTATIONS = ("none",) * 12 + ("bad value", "drop", "unknown field", "section", "id")


@st.composite
def episodes(draw: st.DrawFn, space: Space) -> dict[str, Any]:
    """A contract episode for the policy, now and then broken in one place."""
    episode: dict[str, Any] = {"id": draw(st.sampled_from(("ep-1", "ép-2", "")))}
    for path in space.paths:
        if path in space.optional and draw(st.booleans()):
            continue  # an optional field left out
        _set(episode, path, draw(space.fields[path][0]))
    mutation = draw(st.sampled_from(MUTATIONS))
    if mutation == "bad value":
        path = draw(st.sampled_from(space.paths))
        _set(episode, path, draw(space.fields[path][1]))
    elif mutation == "drop":
        parts = draw(st.sampled_from(space.paths)).split(".")
        owner = episode if len(parts) == 1 else episode.get(parts[0], {})
        owner.pop(parts[-1], None)
    elif mutation == "unknown field":
        path = draw(st.sampled_from(space.paths))
        _set(episode, path + draw(st.sampled_from(("s", "_x"))), True)
    elif mutation == "section" and space.sections:
        episode[draw(st.sampled_from(space.sections))] = draw(st.sampled_from(([], "x", None, 1)))
    elif mutation == "id":
        episode["id"] = draw(st.sampled_from((7, None, True)))
    return episode


def override_texts(program: ir.Program, name: str) -> list[str]:
    """Values to `--set` a parameter or table to, by its type."""
    ints, numbers, _ = mentioned(program)
    found = [p.type for p in program.params if p.name == name]
    t = found[0] if found else program.table(name).type
    if isinstance(t, ir.BoolT):
        return ["true", "false", "maybe"]
    if isinstance(t, ir.IntT):
        return [str(n) for n in sorted(ints)] + ["x"]
    if isinstance(t, ir.EnumT):
        return [*t.members, "nope"]
    if isinstance(t, ir.RateT):
        return ["0.5", "0.555", "0.333", "1", "0", "1.5"]
    if isinstance(t, ir.MoneyT):
        return [str(a + d) for a in sorted(numbers) for d in (-CENT, CENT) if a + d >= 0] + ["-1"]
    if isinstance(t, ir.DecimalT):
        return ["1.5", "0", "2.125", "3", "-1", "x"]
    return ["2025-01-01"]


@st.composite
def what_ifs(draw: st.DrawFn, space: Space) -> dict[str, str]:
    """No override most of the time; else one `--set` of a parameter or a table row."""
    if not space.overrides or not draw(st.sampled_from((False, False, False, True))):
        return {}
    name = draw(st.sampled_from(sorted(space.overrides)))
    text = draw(st.sampled_from(space.overrides[name]))
    if name in space.keys and draw(st.booleans()):
        name = f"{name}[{draw(st.sampled_from(space.keys[name]))}]"
    return {name: text}


Case = tuple[dict[str, Any], dict[str, str]]


def cases(program: ir.Program, what_if: dict[str, str] | None = None) -> st.SearchStrategy[Case]:
    """Episodes with drawn what-ifs, or all with the one given."""
    space = Space(program)
    sets = what_ifs(space) if what_if is None else st.just(what_if)
    return st.tuples(episodes(space), sets)


# ---- comparing the engines ---------------------------------------------------------


def _decision(d: Decision) -> tuple[object, ...]:
    p = d.policy
    return (d.id, (p.id, p.title, p.version, p.currency, p.status, p.source_documents),
            d.pathway, d.rule, *(str(v) for v in d.values),  # each policy's own outputs
            d._path, d.overrides, d.trace, d.sources, decision_json(d))


def outcome(module: types.ModuleType, function: str, episode: Mapping[str, object],
            sets: Mapping[str, str]) -> tuple[object, ...]:
    """What one engine makes of one case: a decision, a rejection, or an error."""
    try:
        params = module.with_overrides(sets) if sets else None
    except OverrideError as exc:
        return ("override refused", str(exc))
    decide: Callable[..., Decision] = getattr(module, function)
    try:
        decision = decide(episode) if params is None else decide(episode, params)
    except EpisodeError as exc:
        return ("rejected", exc.episode_id, exc.field, exc.message, str(exc))
    except PolicyGap as exc:
        return ("undecided", str(exc))
    except (ArithmeticError, TypeError, KeyError, AttributeError) as exc:
        return ("cannot be decided", type(exc).__name__, str(exc))
    return ("decided",) + _decision(decision)


def differences(pair: Engines, case: Case) -> list[str]:
    episode, sets = case
    out = []
    for function in ("decide", "explain"):
        compiled = outcome(pair.compiled, function, episode, sets)
        interpreted = outcome(pair.interpreted, function, episode, sets)
        if compiled != interpreted:
            out.append(f"{function}: compiled {compiled!r}\n  interpreted {interpreted!r}")
    return out


def search_settings(examples: int) -> settings:
    return settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---- the tests ------------------------------------------------------------------------


# france has the most inputs and rules, and the slowest search (> 2 s)
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "france" else n
                                  for n in POLICIES])
def test_both_engines_decide_and_reject_alike(name: str) -> None:
    pair = engines(name)

    @search_settings(EXAMPLES)
    @given(case=cases(pair.program))
    def check(case: Case) -> None:
        found = differences(pair, case)
        assert not found, f"{name}, episode {case[0]!r}, --set {case[1]!r}:\n" + "\n".join(found)

    check()


def test_strategies_reach_decisions_and_rejections() -> None:
    """The search is worth something: it decides episodes, rejects others, uses what-ifs."""
    pair = engines("france")
    kinds: set[object] = set()

    @search_settings(150)
    @given(case=cases(pair.program))
    def collect(case: Case) -> None:
        result = outcome(pair.compiled, "decide", case[0], case[1])
        kinds.add(result[0])
        if case[1]:
            kinds.add("what-if")

    collect()
    assert {"decided", "rejected", "what-if"} <= kinds


def test_samples_decide_alike() -> None:
    for name, sample in (("france", "episodes.jsonl"), ("nhs", "episodes.jsonl"),
                         ("morocco", "episodes-ma.jsonl")):
        pair = engines(name)
        lines = (ROOT / "policies" / "samples" / sample).read_text(encoding="utf-8").splitlines()
        for line in lines[:200]:
            case: Case = (json.loads(line, parse_float=Decimal), {})
            assert not differences(pair, case), line


def _first_difference(name: str, examples: int = 400,
                      what_if: dict[str, str] | None = None) -> Case:
    """The first case, in the derandomized search, on which the engines differ (not shrunk:
    any such case will do); NoSuchExample when there is none."""
    pair = engines(name)
    return find(cases(pair.program, what_if), lambda case: bool(differences(pair, case)),
                settings=settings(search_settings(examples),
                                  phases=(Phase.explicit, Phase.generate)))


def test_a_rounding_changed_in_one_engine_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # The interpreter rounds down; the generated code still rounds half up.
    def round_down(mode: ir.RoundMode, value: Any, quantum: Decimal) -> Decimal:
        result: Decimal = value.quantize(quantum, ROUND_DOWN)
        return result

    monkeypatch.setattr(ops, "round_to", round_down)
    # nhs covers the whole fee (rate 1.00): no product needs rounding until a what-if
    # sets the rate to 0.5, when every fee with an odd cent does.
    episode, _ = _first_difference("nhs", what_if={"covered_rate": "0.5"})
    assert Decimal(str(episode["visit"]["fee"])) % Decimal("0.02") != 0


@pytest.mark.slow
def test_an_off_by_one_comparison_in_one_engine_is_caught(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The interpreter reads `<` as `<=`: only a value on the boundary tells them apart.
    real = ops.compare

    def loose(op: ir.CompareOp, left: Any, right: Any) -> bool:
        return real(ir.CompareOp.LE if op is ir.CompareOp.LT else op, left, right)

    monkeypatch.setattr(ops, "compare", loose)
    episode, _ = _first_difference("france")
    # france compares ages with `<` at 16 (the pathway) and 18 (the flat fee) only
    assert episode["patient"]["age"] in (16, 18)


def test_the_unchanged_engines_give_no_counterexample() -> None:
    from hypothesis.errors import NoSuchExample

    with pytest.raises(NoSuchExample):
        _first_difference("nhs", examples=100)


# ---- the command line ----------------------------------------------------------------


def test_decide_engine_interpreted_writes_the_same_bytes(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from parcours.compiler.cli import main

    sample = tmp_path / "in.jsonl"
    lines = (ROOT / "policies" / "samples" / "episodes.jsonl").read_text(
        encoding="utf-8").splitlines()[:100]
    sample.write_text("\n".join(lines + ['{"id": "bad", "date": "2025-01-01"}']) + "\n",
                      encoding="utf-8")
    results = {}
    for engine in ("compiled", "interpreted"):
        out = tmp_path / f"{engine}.jsonl"
        run = CliRunner().invoke(main, ["decide", str(ROOT / "policies" / "nhs.parcours"),
                                        "--input", str(sample), "--output", str(out),
                                        "--explain", "--engine", engine])
        assert run.exit_code == 1, run.output  # the last episode is rejected
        results[engine] = (out.read_bytes(), run.output)
    assert results["compiled"] == results["interpreted"]
    assert results["compiled"][0].count(b"\n") == 100


def test_engine_interpreted_needs_a_policy_file(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from parcours.compiler.cli import main

    module = tmp_path / "nhs.py"
    run = CliRunner().invoke(main, ["compile", str(ROOT / "policies" / "nhs.parcours"),
                                    "-o", str(module)])
    assert run.exit_code == 0, run.output
    run = CliRunner().invoke(main, ["decide", str(module), "--engine", "interpreted"],
                             input="{}\n")
    assert run.exit_code == 2
    assert "--engine interpreted needs a .parcours policy" in run.output
    assert "Traceback" not in run.output


def test_a_table_key_changed_in_one_engine_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The keys fixture tells the engines apart when one of them reads a bool key the other
    way round."""
    real_part = ops.key_part

    def flipped(value: bool | str) -> str:
        return real_part(not value) if isinstance(value, bool) else real_part(value)

    monkeypatch.setattr(ops, "key_part", flipped)
    engines.cache_clear()
    try:
        _first_difference("keys", examples=300)
    finally:
        engines.cache_clear()


@pytest.mark.parametrize("mutation", ["divide", "years", "case"])
def test_a_new_form_changed_in_one_engine_is_caught(monkeypatch: pytest.MonkeyPatch,
                                                    mutation: str) -> None:
    """The expressions fixture tells the engines apart when one of them evaluates a rounded
    division, an age, or a `case` value differently."""
    if mutation == "divide":
        real_divide = ops.divide

        def truncating(mode: ir.RoundMode, left: Any, right: Any, quantum: Any) -> Any:
            return real_divide(ir.RoundMode.DOWN, left, right, quantum)

        monkeypatch.setattr(ops, "divide", truncating)
    elif mutation == "years":
        real_diff = ops.date_diff

        def by_year_only(unit: ir.DateUnit, start: date, end: date) -> int:
            if unit is ir.DateUnit.YEARS:
                return end.year - start.year
            return real_diff(unit, start, end)

        monkeypatch.setattr(ops, "date_diff", by_year_only)
    else:
        from parcours.compiler.interpret import evaluate

        real_value = evaluate.Evaluator.value

        def last_arm_first(self: Any, e: ir.Expr, env: Any) -> Any:
            if isinstance(e, ir.Case):
                e = ir.Case(tuple(reversed(e.arms)), e.default, e.type)
            return real_value(self, e, env)

        monkeypatch.setattr(evaluate.Evaluator, "value", last_arm_first)
    engines.cache_clear()
    try:
        _first_difference("expressions", examples=300)
    finally:
        engines.cache_clear()


# ---- sequences: accumulators ------------------------------------------------------------


@st.composite
def sequences(draw: st.DrawFn, space: Space) -> tuple[list[dict[str, Any]], dict[Any, Decimal]]:
    """Episodes of two persons over two calendar years (many of them, so that caps are
    reached), some broken, and a starting state."""
    start = date(2025, 1, 1)
    out = []
    for number in range(draw(st.integers(1, 60))):
        episode = draw(episodes(space))
        episode["id"] = f"ep-{number}"
        if isinstance(episode.get("patient"), dict) and draw(st.integers(0, 9)):
            episode["patient"]["id"] = draw(st.sampled_from(("p-1", "p-2")))
        if draw(st.integers(0, 9)):
            episode["date"] = (start + timedelta(days=draw(st.integers(0, 500)))).isoformat()
        out.append(episode)
    cents = st.one_of(st.sampled_from((4800, 4899, 4900, 4950, 4999, 5000, 5100)),
                      st.integers(0, 5100))
    state = {("participations", (person,), "2025"): Decimal(draw(cents)) / 100
             for person in ("p-1", "p-2") if draw(st.booleans())}
    return out, state


def run_sequence(module: types.ModuleType, episodes: list[dict[str, Any]],
                 state: dict[Any, Decimal]) -> tuple[list[tuple[object, ...]], dict[Any, Decimal]]:
    ledger = Ledger(specs_of(module), dict(state))
    results = []
    for episode in sorted(episodes, key=lambda e: (str(e.get("date")), e["id"])):
        filled, steps = ledger.prepare(episode)
        found = outcome(module, "explain", filled, {})
        if found[0] == "decided":
            ledger.record(module.decide(filled), steps)
        results.append(found)
    return results, ledger.used


@pytest.mark.slow
def test_both_engines_agree_on_sequences() -> None:
    """France's annual cap: both engines, through the same ledger, give the same decisions
    and the same totals for a sequence of episodes of a few persons."""
    pair = engines("france")
    space = Space(pair.program)
    bound: list[bool] = []

    @search_settings(60)
    @given(case=sequences(space))
    def check(case: tuple[list[dict[str, Any]], dict[Any, Decimal]]) -> None:
        episodes, state = case
        compiled, used = run_sequence(pair.compiled, episodes, state)
        interpreted, used_too = run_sequence(pair.interpreted, episodes, state)
        assert compiled == interpreted
        assert used == used_too
        bound.append(any(v >= Decimal(50) for v in used.values()))

    check()
    assert any(bound), "no sequence reached the cap"
