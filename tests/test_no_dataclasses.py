"""Start-up without `dataclasses`: a short `parcours decide` on a compiled module, and the
runtime alone, never import it (with `inspect`, `ast`, `dis` and `tokenize` behind it, it
took longer than deciding an episode).  The runtime's records and the generated
`Parameters`, written out by hand, keep what the dataclasses gave: the constructor's
parameters and defaults, repr, equality, hashing, read-only fields, pickling."""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys
import types
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from parcours.compiler.pipeline import load_policy
from parcours.runtime import (AccumulatorSpec, BatchStats, EpisodeError, Ledger, OutputField,
                              OverrideError, ParamSpec, PolicyMeta, Rejection, Step, StepInfo,
                              Trace)
from parcours.runtime.ledger import Step as LedgerStep

ROOT = Path(__file__).resolve().parents[1]
FRANCE = ROOT / "policies" / "france.parcours"
SAMPLES = ROOT / "policies" / "samples" / "episodes.jsonl"
HEAVY = ("dataclasses", "inspect", "ast", "dis", "tokenize")

# The console script's entry point, run with the arguments given; at exit, the modules
# loaded go to the file named by the first argument.
PROBE = """import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
from parcours.compiler.cli.entry import main
sys.argv[0] = "parcours"
main()
"""


def loaded_by(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[bytes], set[str]]:
    out = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", PROBE, str(out), *args], capture_output=True,
                          check=False)
    return done, set(json.loads(out.read_text()))


def test_a_short_decide_on_a_compiled_module_imports_no_dataclasses(tmp_path: Path) -> None:
    module = tmp_path / "france.py"
    done = subprocess.run([sys.executable, "-m", "parcours.compiler.cli", "compile", str(FRANCE),
                           "-o", str(module), "-q"], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "dataclass" not in module.read_text(encoding="utf-8")
    one = tmp_path / "one.jsonl"
    one.write_bytes(SAMPLES.read_bytes().splitlines(keepends=True)[0])
    done, modules = loaded_by(tmp_path, "decide", str(module), "-i", str(one), "--jobs", "1",
                              "-q")
    assert done.returncode == 0 and json.loads(done.stdout)["policy"] == "france"
    assert "parcours.runtime.batch" in modules  # the probe saw the run's modules
    assert [m for m in HEAVY if m in modules] == []
    # ... and `--set` (through click) still copies the generated Parameters without them
    done, modules = loaded_by(tmp_path, "decide", str(module), "-i", str(one), "-q",
                              "--set", "normal_rate=0.75")
    assert done.returncode == 0 and json.loads(done.stdout)["overrides"] == {
        "normal_rate": "0.75"}
    assert "dataclasses" not in modules


def test_importing_the_runtime_imports_no_dataclasses() -> None:
    done = subprocess.run([sys.executable, "-c", "import sys, parcours.runtime\n"
                           "print(sorted(m for m in sys.modules if m in %r))" % (HEAVY,)],
                          capture_output=True, check=True)
    assert done.stdout.decode().strip() == "[]"


# ---- the records keep the dataclasses' behaviour ------------------------------------------


class Missing(EpisodeError):
    """An episode error that pickles (an `EpisodeError` itself does not, as before)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (Missing, (self.episode_id, self.field, self.message))


def no_sources(path: tuple[int, ...]) -> tuple[tuple[str, ...], ...]:
    return ()


INFO = StepInfo("pathway", "referred", 1, "in_pathway", "visit.referred", ("doc",),
                (("note", "n"),), "france.parcours:1:1")
SPEC = AccumulatorSpec("fees", "fees_used", ("patient.id",), "calendar_year", "flat_fee",
                       ((date(2024, 1, 1), Decimal("50.00")),))
META = PolicyMeta("p", "P", "v1", "EUR", "draft", no_sources, {"doc": ""}, ("a",),
                  (OutputField("paid", "money", "insurer"),))
FROZEN: list[Callable[[], Any]] = [
    lambda: INFO,
    lambda: Step(INFO, "applied", "1.00"),
    lambda: Trace((Step(INFO, "applied"), Step(INFO, "not reached"))),
    lambda: ParamSpec("cap", "money", "p_cap", True, decimals=3),
    lambda: ParamSpec("t", "rate", "t_t", True, ("a", "b")),
    lambda: SPEC,
    lambda: Rejection(3, Missing("e1", "visit.fee", "is missing")),
    lambda: META,
]


@pytest.mark.parametrize("make", FROZEN)
def test_a_frozen_record_is_read_only_and_pickles(make: Callable[[], Any]) -> None:
    record = make()
    name = type(record).__slots__[0]
    with pytest.raises(AttributeError, match="cannot assign to field"):
        setattr(record, name, None)
    with pytest.raises(AttributeError, match="cannot delete field"):
        delattr(record, name)
    for back in (pickle.loads(pickle.dumps(record)), copy.copy(record), copy.deepcopy(record)):
        assert type(back) is type(record)
        for field in type(record).__slots__:
            if field == "error":  # an exception is equal only to itself: compare its text
                assert str(back.error) == str(record.error)
            elif field != "sources_of":  # a function pickles by name, copies as itself
                assert getattr(back, field) == getattr(record, field), field


def test_equality_hashing_and_repr_are_the_dataclasses() -> None:
    a, b = Step(INFO, "applied"), Step(INFO, "applied")
    assert a == b and hash(a) == hash(b) and a != Step(INFO, "applied", "x")
    assert a.__eq__(("not", "a", "step")) is NotImplemented
    assert repr(a) == f"Step(info={INFO!r}, status='applied', value='')"
    assert repr(ParamSpec("r", "rate", "p_r", False)) == (
        "ParamSpec(name='r', kind='rate', field='p_r', dated=False, keys=(), members=(), "
        "low=None, high=None, decimals=2)")
    assert len({Trace((a,)), Trace((b,))}) == 1
    # a computed field is neither shown nor compared, and is recomputed on unpickling
    assert "_parts" not in repr(SPEC) and SPEC._parts == (("patient", "id"),)
    assert pickle.loads(pickle.dumps(SPEC))._parts == (("patient", "id"),)
    assert "index" not in repr(META) and META.index == {"paid": 0}
    with pytest.raises(TypeError):  # a dict among its fields: unhashable, as before
        hash(META)


def test_the_mutable_records_are_unhashable_and_keep_their_defaults() -> None:
    stats = BatchStats()
    stats.decided += 2
    assert stats == BatchStats(2, 0) and repr(stats) == "BatchStats(decided=2, rejected=0)"
    step = LedgerStep(SPEC, None, Decimal("1.00"))
    step.after = Decimal("3.00")
    assert step.after == Decimal("3.00") and LedgerStep(SPEC, None, Decimal(0)).after == 0
    one, two = Ledger((SPEC,)), Ledger((SPEC,))
    one.used[("fees", ("x",), "2024")] = Decimal(1)
    assert two.used == {} and one != two  # each ledger its own dict
    for record in (stats, step, one):
        with pytest.raises(TypeError):
            hash(record)
    assert pickle.loads(pickle.dumps(stats)) == stats


@pytest.fixture(scope="module")
def france() -> types.ModuleType:
    return load_policy(FRANCE)


def test_the_generated_parameters_copy_read_only_and_pickle(france: types.ModuleType) -> None:
    defaults = france.DEFAULTS
    changed = france.with_overrides({"normal_rate": "0.75"})
    assert type(changed) is france.Parameters and changed.overrides == (("normal_rate", "0.75"),)
    assert changed.p_normal_rate == Decimal("0.75") and defaults.p_normal_rate != Decimal("0.75")
    assert changed.t_base_inside is defaults.t_base_inside  # what is not overridden is shared
    assert changed != defaults and france.with_overrides({}) == defaults
    assert repr(defaults).startswith("Parameters(p_normal_rate=Decimal(")
    assert repr(defaults).endswith("overrides=())")
    with pytest.raises(AttributeError):
        defaults.p_normal_rate = Decimal(1)
    with pytest.raises(TypeError):  # a table's mapping is not hashable, as before
        hash(defaults)
    # a table's mapping does not pickle (as before); a copy goes through the same
    # __getstate__ / __setstate__ as pickling
    back = copy.copy(changed)
    assert back == changed and back.overrides == changed.overrides and back is not changed
    with pytest.raises(OverrideError, match="no parameter named normal_rat"):
        france.with_overrides({"normal_rat": "0.75"})
    assert france.decide(json.loads(SAMPLES.read_text().splitlines()[0]), changed).overrides


def test_the_interpreters_parameters_are_copied_the_same_way() -> None:
    interpreted = load_policy(FRANCE, "interpreted")
    changed = interpreted.with_overrides({"normal_rate": "0.75", "base_inside[pediatrics]": "9"})
    assert changed.p_normal_rate == Decimal("0.75")
    assert changed.t_base_inside["pediatrics"][0] == Decimal("9.00")
