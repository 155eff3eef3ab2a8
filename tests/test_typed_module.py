"""Generated modules for applications: the episode's `TypedDict`s, the policy's names as
`Literal`s, a `Decision` that is not a tuple and keeps how it was reached to itself, the
errors in `__all__`, and override errors worded for a library user.

(`tests/test_packaging.py` runs mypy on a small application of a compiled module, with only
the runtime wheel installed, and checks that it catches a misspelt episode field.)"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import parcours.runtime as runtime
from parcours.compiler.backends.python.spelling import type_name
from parcours.compiler.pipeline import analyse, load_policy

ROOT = Path(__file__).resolve().parents[1]
POLICIES = sorted(p for p in (ROOT / "policies").glob("*.parcours") if p.stem != "episode")
EXPORTS = ("Decision", "Episode", "Pathway", "Rule", "EpisodeError", "OverrideError",
           "PolicyGap", "decide", "explain", "with_overrides")

Make = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module", params=[p.stem for p in POLICIES])
def compiled(request: pytest.FixtureRequest) -> types.ModuleType:
    """A shipped policy compiled, with its IR as `program` (for the tests' own reference)."""
    path = ROOT / "policies" / f"{request.param}.parcours"
    module = load_policy(path)
    module.program = analyse(path, verify=False).program  # type: ignore[attr-defined]
    return module


@pytest.fixture(scope="module")
def france() -> types.ModuleType:
    return load_policy(ROOT / "policies" / "france.parcours")


@pytest.fixture(scope="module")
def engines() -> tuple[types.ModuleType, types.ModuleType]:
    path = ROOT / "policies" / "france.parcours"
    return load_policy(path), load_policy(path, "interpreted")


def sections(module: types.ModuleType) -> dict[str, Any]:
    """The episode's section types by section name (from `Episode`'s annotations)."""
    hints = typing.get_type_hints(module.Episode)
    return {name: hint for name, hint in hints.items() if typing.is_typeddict(hint)}


def test_every_module_exports_its_types_and_errors(compiled: types.ModuleType) -> None:
    exported = set(compiled.__all__)
    assert set(EXPORTS) <= exported
    assert all(hasattr(compiled, name) for name in compiled.__all__)
    assert compiled.EpisodeError is runtime.EpisodeError
    assert compiled.OverrideError is runtime.OverrideError
    assert compiled.PolicyGap is runtime.PolicyGap
    for name, section in sections(compiled).items():
        assert section.__name__ in exported, name


def test_pathway_and_rule_are_literals_of_the_policys_names(compiled: types.ModuleType) -> None:
    pathways = typing.get_args(compiled.Pathway)
    assert typing.get_origin(compiled.Pathway) is typing.Literal
    assert pathways[:len(compiled.PATHWAYS)] == compiled.PATHWAYS
    rules = typing.get_args(compiled.Rule)
    assert rules and len(set(rules)) == len(rules)
    assert {step.name for step in compiled._RULE_INFO} == set(rules)


def test_the_episode_types_follow_the_shape_and_the_defaults(compiled: types.ModuleType) -> None:
    """One TypedDict per section plus `Episode`; a field is NotRequired exactly when it has a
    default (and `id`, `currency`), so the types agree with what decide accepts."""
    shape = dict(compiled.SHAPE)
    episode = compiled.Episode
    assert typing.is_typeddict(episode)
    assert episode.__required_keys__ | episode.__optional_keys__ == shape[""]
    assert {"id", "currency"} <= episode.__optional_keys__
    for name, section in sections(compiled).items():
        assert name in episode.__required_keys__
        assert section.__required_keys__ | section.__optional_keys__ == shape[name]
    optional = {(f"{name}." if name else "") + key
                for name, section in [("", episode), *sections(compiled).items()]
                for key in section.__optional_keys__} - {"id", "currency"}
    assert optional == {item.path for item in compiled.program.inputs
                        if item.default is not None}


def test_france_episode_types_in_detail(france: types.ModuleType) -> None:
    patient = france.EpisodePatient
    visit = france.EpisodeVisit
    assert patient.__optional_keys__ == {"pregnancy_month", "id"}  # an id is always optional
    assert {"sector", "act", "optam"} == visit.__optional_keys__
    hints = typing.get_type_hints(visit)
    assert typing.get_args(hints["specialty"])[0] == "general_practice"
    assert "cardiology" in typing.get_args(hints["specialty"])
    assert hints["fee"] == str | int | Decimal
    assert typing.get_type_hints(patient)["declared_doctor"] is bool
    assert typing.get_args(typing.get_type_hints(france.Episode)["currency"]) == ("EUR",)


def test_a_decision_is_not_a_tuple_and_keeps_its_path(engines: tuple[Any, Any],
                                                      episode: Make) -> None:
    compiled, interpreted = engines
    for module in engines:
        d: Any = module.decide(episode())
        assert isinstance(d, runtime.Decision)
        assert not isinstance(d, tuple)
        untyped: Any = d  # what an untyped caller of the old named tuple did
        with pytest.raises(TypeError):
            tuple(untyped)
        with pytest.raises(TypeError):
            untyped[0]
        assert not hasattr(d, "path") and not hasattr(d, "_replace")
        assert repr(d).startswith("Decision(id=") and "_path" not in repr(d)
        assert "reimbursed" in repr(d)
        assert d.sources and d.value("reimbursed") == d.number("reimbursed")
        assert d == module.decide(episode()) and hash(d) == hash(module.decide(episode()))
        assert d != module.decide(episode(visit={"fee": "31.00"}))
    assert type(compiled.decide(episode())) is compiled.Decision
    assert issubclass(compiled.Decision, interpreted.Decision)
    assert interpreted.Decision is runtime.Decision
    assert compiled.decide(episode()).to_dict() == interpreted.decide(episode()).to_dict()
    assert compiled.explain(episode()).trace is not None


def test_the_interpreter_exports_what_a_module_does(engines: tuple[Any, Any]) -> None:
    _, interpreted = engines
    for name in ("Decision", "EpisodeError", "OverrideError", "PolicyGap", "decide",
                 "explain", "with_overrides", "POLICY", "PATHWAYS", "OUTPUTS"):
        assert hasattr(interpreted, name), name


@pytest.mark.parametrize("section, field", [
    ("visit", "specialty"), ("visit", "sector"), ("visit", "fee"), ("", "date"),
])
@pytest.mark.parametrize("value", [["general_practice"], {"a": 1}])
def test_an_unhashable_value_gets_its_fields_error(engines: tuple[Any, Any], episode: Make,
                                                   section: str, field: str,
                                                   value: object) -> None:
    """Enum members, days and amounts are looked up without a type check first: a list or an
    object must still be rejected by its own field, as the interpreter rejects it."""
    messages = []
    for module in engines:
        module.decide(episode())  # the day and the amount are known to the memo
        bad = episode(**{section: {**episode()[section], field: value}} if section
                      else {field: value})
        with pytest.raises(runtime.EpisodeError) as caught:
            module.decide(bad)
        assert caught.value.field == (f"{section}.{field}" if section else field)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


def test_a_known_day_or_amount_decides_as_the_first_time(france: types.ModuleType,
                                                        episode: Make) -> None:
    """The memo of days and amounts gives what checking the text again would: equal
    decisions the first and the second time, and a bad text is never remembered."""
    first = france.decide(episode(date="2024-05-15", visit={"fee": "23.45"})).to_dict()
    again = france.decide(episode(date="2024-05-15", visit={"fee": "23.45"})).to_dict()
    assert first == again
    for _ in range(2):
        with pytest.raises(runtime.EpisodeError):
            france.decide(episode(date="2024-02-30"))
        with pytest.raises(runtime.EpisodeError):
            france.decide(episode(visit={"fee": "23.456"}))
    assert "2024-02-30" not in france._DAYS and "23.456" not in france._AMOUNTS
    assert france.decide(episode(date="2023-11-01")).value("base") != \
        france.decide(episode(date="2023-10-31")).value("base")


def test_override_errors_speak_to_a_library_user(engines: tuple[Any, Any]) -> None:
    for module in engines:
        with pytest.raises(runtime.OverrideError) as caught:
            module.with_overrides({"normal_rat": "0.5"})
        message = str(caught.value)
        assert message.startswith("override normal_rat: no parameter named normal_rat")
        assert "did you mean normal_rate" in message and "--set" not in message
        assert caught.value.as_option("--set").startswith("--set normal_rat: no parameter")
        with pytest.raises(runtime.OverrideError) as caught:
            module.with_overrides({"normal_rate": "lots"})
        assert str(caught.value) == ("override normal_rate=lots: normal_rate is a rate "
                                     "between 0 and 1, e.g. 0.70")
        assert (caught.value.setting, caught.value.reason) == (
            "normal_rate=lots", "normal_rate is a rate between 0 and 1, e.g. 0.70")


def test_section_type_names_are_camel_case_and_never_clash() -> None:
    taken = {"Episode", "EpisodeError"}
    assert type_name("Episode", "patient", taken) == "EpisodePatient"
    assert type_name("Episode", "error", taken) == "EpisodeError2"
    assert type_name("Episode", "home_visit", taken) == "EpisodeHomeVisit"
    assert type_name("Episode", "home_visit_", taken) == "EpisodeHomeVisit2"
