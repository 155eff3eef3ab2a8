"""The command line: decide, compile and explain on the France policy."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from parcours.compiler.cli import main

Make = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def france_path() -> Path:
    return Path(__file__).resolve().parent.parent / "policies" / "france.parcours"


def invoke(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin)


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def write_lines(path: Path, items: list[dict[str, Any] | str]) -> Path:
    path.write_text("".join((item if isinstance(item, str) else json.dumps(item)) + "\n"
                            for item in items), encoding="utf-8")
    return path


def valid_episodes(episode: Make) -> list[dict[str, Any]]:
    return [
        episode(id="ep-gp"),
        episode(id="ep-referred", visit={"specialty": "cardiology",
                                         "with_declared_doctor": False, "referred": True}),
        episode(id="ep-unreferred", visit={"specialty": "cardiology",
                                           "with_declared_doctor": False}),
    ]


# ---- decide -------------------------------------------------------------------------------


def test_decide_batch_with_bad_lines(france_path: Path, tmp_path: Path, episode: Make) -> None:
    good = valid_episodes(episode)
    bad_episode = episode(id="ep-bad", patient={"age": 131})
    source = write_lines(tmp_path / "in.jsonl", [
        good[0], '{"id": "ep-broken", "date": ', good[1], bad_episode, "", good[2]])
    target = tmp_path / "out.jsonl"
    result = invoke("decide", str(france_path), "--input", str(source), "--output", str(target))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    # the bad JSON line is named by its line number
    assert "line 2" in result.stderr
    assert "not valid JSON" in result.stderr
    # the invalid episode is named by its id, its line and the field
    assert "ep-bad" in result.stderr and "line 4" in result.stderr
    assert "patient.age" in result.stderr
    assert "3 decided, 2 rejected" in result.stderr
    decisions = lines_of(target)
    assert [d["id"] for d in decisions] == ["ep-gp", "ep-referred", "ep-unreferred"]
    assert [d["reimbursed"] for d in decisions] == ["19.00", "20.05", "5.95"]
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_decide_all_valid(france_path: Path, tmp_path: Path, episode: Make) -> None:
    source = write_lines(tmp_path / "in.jsonl", list(valid_episodes(episode)))
    target = tmp_path / "out.jsonl"
    result = invoke("decide", str(france_path), "--input", str(source), "--output", str(target))
    assert result.exit_code == 0, result.output
    decisions = lines_of(target)
    assert len(decisions) == 3
    for d in decisions:
        assert "trace" not in d and "overrides" not in d
        assert d["policy"] == "france" and d["currency"] == "EUR"
    assert "3 decided, 0 rejected" in result.stderr


def test_decide_stdin_to_stdout(france_path: Path, episode: Make) -> None:
    stdin = "".join(json.dumps(e) + "\n" for e in valid_episodes(episode))
    result = invoke("decide", str(france_path), stdin=stdin)
    assert result.exit_code == 0, result.output
    decisions = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["rule"] for d in decisions] == ["declared_doctor", "referred", "not_referred"]


def test_decide_keeps_json_numbers_exact(france_path: Path, episode: Make) -> None:
    text = json.dumps(episode(id="n")).replace('"fee": "30.00"', '"fee": 30.10')
    result = invoke("decide", str(france_path), stdin=text + "\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["patient_pays"] == "11.10"


def test_decide_explain_adds_trace(france_path: Path, tmp_path: Path, episode: Make) -> None:
    source = write_lines(tmp_path / "in.jsonl", list(valid_episodes(episode)))
    target = tmp_path / "out.jsonl"
    result = invoke("decide", str(france_path), "--input", str(source), "--output", str(target),
                    "--explain")
    assert result.exit_code == 0, result.output
    for d in lines_of(target):
        trace = d["trace"]
        applied = [s["name"] for s in trace if s["target"] == "pathway"
                   and s["status"] == "applied"]
        assert applied == [d["rule"]]


def test_decide_set_penalty_cap(france_path: Path, tmp_path: Path, episode: Make) -> None:
    source = write_lines(tmp_path / "in.jsonl", list(valid_episodes(episode)))
    target = tmp_path / "out.jsonl"
    result = invoke("decide", str(france_path), "--input", str(source), "--output", str(target),
                    "--set", "penalty_cap_enabled=true")
    assert result.exit_code == 0, result.output
    decisions = {d["id"]: d for d in lines_of(target)}
    assert decisions["ep-unreferred"]["reimbursed"] == "6.55"
    assert decisions["ep-gp"]["reimbursed"] == "19.00"
    for d in decisions.values():
        assert d["overrides"] == {"penalty_cap_enabled": "true"}


def test_decide_set_unknown_parameter(france_path: Path, tmp_path: Path, episode: Make) -> None:
    source = write_lines(tmp_path / "in.jsonl", list(valid_episodes(episode)))
    target = tmp_path / "out.jsonl"
    result = invoke("decide", str(france_path), "--input", str(source), "--output", str(target),
                    "--set", "nope=1")
    assert result.exit_code == 2
    assert "nope" in result.stderr
    assert "no parameter named nope" in result.stderr
    assert "Traceback" not in result.output
    assert not target.exists()


@pytest.mark.parametrize(("setting", "words"), [
    ("penalty_cap_enabled=maybe", "true or false"),
    ("normal_rate=1.5", "rate"),
    ("penalty_cap=1.005", "exact to the currency's unit (0.01)"),
    ("penalty_cap_enabld=true", "did you mean penalty_cap_enabled"),
    ("penalty_cap_enabled", "NAME=VALUE"),
])
def test_decide_bad_set(france_path: Path, episode: Make, setting: str, words: str) -> None:
    result = invoke("decide", str(france_path), "--set", setting,
                    stdin=json.dumps(episode()) + "\n")
    assert result.exit_code == 2
    assert words in result.stderr
    assert "Traceback" not in result.output


def test_decide_missing_policy(tmp_path: Path) -> None:
    result = invoke("decide", str(tmp_path / "nope.parcours"), stdin="")
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_decide_missing_input(france_path: Path, tmp_path: Path) -> None:
    result = invoke("decide", str(france_path), "--input", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_decide_with_a_compiled_module(france_path: Path, tmp_path: Path,
                                       episode: Make) -> None:
    module = tmp_path / "france_policy.py"
    assert invoke("compile", str(france_path), "-o", str(module)).exit_code == 0
    stdin = "".join(json.dumps(e) + "\n" for e in valid_episodes(episode))
    from_module = invoke("decide", str(module), stdin=stdin)
    from_source = invoke("decide", str(france_path), stdin=stdin)
    assert from_module.exit_code == 0, from_module.output
    assert from_module.stdout == from_source.stdout


# ---- compile ------------------------------------------------------------------------------


def test_compile_writes_the_module(france_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "X.py"
    result = invoke("compile", str(france_path), "-o", str(target))
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    tree = ast.parse(text)
    names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert {"decide", "explain", "with_overrides"} <= names
    assert "wrote" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["X.py"]


@pytest.mark.slow
def test_compile_is_byte_identical(france_path: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.py", tmp_path / "b.py"
    assert invoke("compile", str(france_path), "-o", str(first)).exit_code == 0
    assert invoke("compile", str(france_path), "-o", str(second)).exit_code == 0
    assert first.read_bytes() == second.read_bytes()


def test_compile_broken_policy_writes_nothing(france_path: Path, tmp_path: Path) -> None:
    (tmp_path / "episode.parcours").write_bytes(
        (france_path.parent / "episode.parcours").read_bytes())
    broken = tmp_path / "broken.parcours"
    text = france_path.read_text(encoding="utf-8")
    broken.write_text(text.replace("priority 1: exempt", "priority 1 exempt"), encoding="utf-8")
    target = tmp_path / "X.py"
    result = invoke("compile", str(broken), "-o", str(target))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "error[E1" in result.stderr
    assert str(broken) in result.stderr
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.parcours", "episode.parcours"]


def test_compile_broken_policy_keeps_the_old_module(france_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "X.py"
    assert invoke("compile", str(france_path), "-o", str(target)).exit_code == 0
    before = target.read_bytes()
    broken = tmp_path / "broken.parcours"
    broken.write_bytes(b"\x00\x01garbage")
    result = invoke("compile", str(broken), "-o", str(target))
    assert result.exit_code == 1
    assert "error[E001]" in result.stderr
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.py", "broken.parcours"]


def test_compile_missing_file(tmp_path: Path) -> None:
    result = invoke("compile", str(tmp_path / "nope.parcours"), "-o", str(tmp_path / "X.py"))
    assert result.exit_code == 2
    assert not (tmp_path / "X.py").exists()


@pytest.mark.parametrize("engine", ["", "interpreted", "columnar"])
def test_a_schema_file_is_no_policy(france_path: Path, tmp_path: Path, engine: str) -> None:
    """A schema file checks on its own, but compiling or deciding with it names what it is
    (before, an empty list of errors: a blank line and "0 error(s)")."""
    schema = str(france_path.parent / "episode.parcours")
    episodes = write_lines(tmp_path / "e.jsonl", ["{}"])
    command = ["compile", schema, "-o", str(tmp_path / "X.py")] if not engine else \
        ["decide", schema, "--engine", engine, "-i", str(episodes), "-o", str(tmp_path / "d")]
    result = invoke(*command)
    assert result.exit_code == (1 if not engine else 2)
    assert "error[E203]" in result.stderr and "is a schema file" in result.stderr
    assert "0 error(s)" not in result.stderr
    assert invoke("check", schema).exit_code == 0


# ---- explain ------------------------------------------------------------------------------


def test_explain_command(france_path: Path, episode: Make) -> None:
    data = episode(visit={"specialty": "cardiology", "with_declared_doctor": False})
    result = invoke("explain", str(france_path), "--episode", json.dumps(data))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "not_referred" in out
    assert "applied" in out
    assert "001_264f89428c423238.txt" in out
    assert "out_of_pathway" in out
    assert "5.95" in out


def test_explain_command_names_overridden_rules(france_path: Path, episode: Make) -> None:
    data = episode(visit={"specialty": "cardiology", "with_declared_doctor": False,
                          "emergency": True, "away_from_home": True})
    result = invoke("explain", str(france_path), "--episode", json.dumps(data))
    assert result.exit_code == 0, result.output
    emergency = next(line for line in result.stdout.splitlines() if " emergency " in line)
    assert "applied" in emergency
    away = next(line for line in result.stdout.splitlines() if "away_from_home" in line)
    assert "overridden" in away
    assert "000_f978cb8ce6365d30.txt" in result.stdout


def test_explain_command_from_a_file_and_as_json(france_path: Path, tmp_path: Path,
                                                 episode: Make) -> None:
    path = tmp_path / "episode.json"
    path.write_text(json.dumps(episode()), encoding="utf-8")
    result = invoke("explain", str(france_path), "--episode", str(path), "--format", "json")
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    assert d["rule"] == "declared_doctor"
    assert d["trace"]


def test_explain_command_with_set(france_path: Path, episode: Make) -> None:
    data = episode(visit={"specialty": "cardiology", "with_declared_doctor": False})
    result = invoke("explain", str(france_path), "--episode", json.dumps(data),
                    "--set", "penalty_cap_enabled=true")
    assert result.exit_code == 0, result.output
    assert "6.55" in result.stdout
    assert "penalty_cap_enabled=true" in result.stdout


def test_explain_command_rejects_a_bad_episode(france_path: Path, episode: Make) -> None:
    data = episode(patient={"declared_doctor": False})
    result = invoke("explain", str(france_path), "--episode", json.dumps(data))
    assert result.exit_code == 1
    assert "patient.declared_doctor" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_explain_command_rejects_bad_json(france_path: Path, text: str) -> None:
    result = invoke("explain", str(france_path), "--episode", text)
    assert result.exit_code == 2
    assert "--episode" in result.stderr
