"""Hostile episodes cost only their own line: bad bytes, lone surrogates, line separators,
lenient number syntax, duplicate or empty field names, huge values (one test per case)."""

from __future__ import annotations

import io
import json
import types
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from parcours.compiler.cli import main
from parcours.runtime import (EpisodeError, OverrideError, ParamSpec, Rejection, decide_stream,
                              decision_json)
from parcours.runtime.errors import one_line, quoted, shown
from parcours.runtime.params import parse_value

Make = Callable[..., dict[str, Any]]
ROOT = Path(__file__).resolve().parent.parent
FRANCE = ROOT / "policies" / "france.parcours"


def line(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def run(france: types.ModuleType, *lines: bytes, explain: bool = False
        ) -> tuple[list[str], list[Rejection]]:
    """Decide a batch given as bytes; the decisions (text) and the rejections, in order."""
    out: list[str] = []
    rejected: list[Rejection] = []
    decide_stream(france.explain if explain else france.decide,
                  io.BytesIO(b"\n".join(lines) + b"\n"), out.append, rejected.append)
    return out, rejected


def rejection_of(france: types.ModuleType, raw: bytes) -> Rejection:
    out, rejected = run(france, raw)
    assert out == [] and len(rejected) == 1, (out, rejected)
    return rejected[0]


def assert_one_strict_line(text: str) -> None:
    """One record: strict UTF-8, exactly one line by every splitter Python knows."""
    text.encode("utf-8")  # raises on a lone surrogate
    assert len((text if text.endswith("\n") else text + "\n").splitlines()) == 1, text


def invoke(*args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin)


# ---- 1. input is decoded line by line -------------------------------------------------------


def test_a_line_that_is_not_utf8_is_rejected_by_number_and_the_rest_decided(
        france: types.ModuleType, episode: Make) -> None:
    out, rejected = run(france, line(episode(id="a")), b'{"id": "b\xff\xfe"}',
                        line(episode(id="c")))
    assert [json.loads(o)["id"] for o in out] == ["a", "c"]
    assert [str(r) for r in rejected] == ["line 2: not UTF-8 (byte 0xff at column 10)"]


@pytest.mark.parametrize("stdin", [False, True])
def test_decide_command_keeps_good_lines_around_bad_bytes(tmp_path: Path, episode: Make,
                                                          stdin: bool) -> None:
    data = b"\n".join([line(episode(id="a")), b"\xc3(", line(episode(id="c"))]) + b"\n"
    target = tmp_path / "out.jsonl"
    if stdin:
        result = invoke("decide", str(FRANCE), "--output", str(target), stdin=data)
    else:
        (tmp_path / "in.jsonl").write_bytes(data)
        result = invoke("decide", str(FRANCE), "--input", str(tmp_path / "in.jsonl"),
                        "--output", str(target))
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "rejected: line 2: not UTF-8 (byte 0xc3 at column 1)" in result.stderr
    assert "2 decided, 1 rejected" in result.stderr
    assert [json.loads(x)["id"] for x in target.read_text("utf-8").splitlines()] == ["a", "c"]


def test_a_byte_order_mark_is_skipped_at_the_start_only(france: types.ModuleType,
                                                        episode: Make) -> None:
    bom = "\ufeff".encode()
    out, rejected = run(france, bom + line(episode(id="a")), bom + line(episode(id="b")))
    assert [json.loads(o)["id"] for o in out] == ["a"]
    assert [r.line for r in rejected] == [2]
    assert "not valid JSON" in str(rejected[0])


def test_blank_lines_are_json_whitespace_only(france: types.ModuleType, episode: Make) -> None:
    out, rejected = run(france, b"  \t\r", line(episode(id="a")), "\u2028".encode(), b"\x1c")
    assert len(out) == 1
    assert [r.line for r in rejected] == [3, 4]


def test_compare_counts_a_line_that_is_not_utf8_as_rejected(tmp_path: Path,
                                                            episode: Make) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(line(episode(id="a")) + b"\n\xff\n")
    result = invoke("compare", str(FRANCE), "--input", str(source), "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["policies"]["france"]["decided"] == 1
    assert report["policies"]["france"]["rejected"] == 1


# ---- 2. every output line is one line of valid UTF-8 --------------------------------------


@pytest.mark.parametrize("ident", ["\ud800", "a\udfffb", "x\u2028y", "p\u2029", "n\x85l",
                                   "\U0001f600 é"])
def test_ids_that_break_lines_or_utf8_are_escaped_in_decisions(
        france: types.ModuleType, episode: Make, ident: str) -> None:
    for explain in (False, True):
        out, rejected = run(france, json.dumps(episode(id=ident)).encode("ascii"),
                            explain=explain)
        assert rejected == [] and len(out) == 1
        assert_one_strict_line(out[0])
        assert json.loads(out[0])["id"] == ident
        written_id = out[0].split(',"policy":')[0]
        assert ("é" in written_id) == ("é" in ident)  # what UTF-8 can hold stays as it is


def test_the_plain_encoder_escapes_like_the_cached_one(france: types.ModuleType,
                                                       episode: Make) -> None:
    params = france.with_overrides({"penalty_cap_enabled": "true"})
    decision = france.decide(episode(id="a\u2028\ud800"), params)
    text = decision_json(decision)
    assert "\\u2028" in text and "\\ud800" in text
    assert_one_strict_line(text)


@pytest.mark.parametrize("ident", ["\ud800", "a\nb", "x\u2028y", "n\x85l", "t\tt"])
def test_rejections_are_one_line_of_utf8(france: types.ModuleType, episode: Make,
                                         ident: str) -> None:
    raw = json.dumps(episode(id=ident, patient={"age": 200})).encode("ascii")
    rejection = rejection_of(france, raw)
    assert rejection.error.episode_id == ident  # the record keeps the id as it was
    assert_one_strict_line(str(rejection))
    assert str(rejection).endswith("field patient.age: 200 is outside 0..130")


def test_decide_command_writes_escaped_lines(tmp_path: Path, episode: Make) -> None:
    data = b"".join(json.dumps(episode(id=i)).encode() + b"\n" for i in ["\ud800", "a\u2028b"])
    data += json.dumps(episode(id="c\u2029\nd", patient={"age": -1})).encode() + b"\n"
    target = tmp_path / "out.jsonl"
    result = invoke("decide", str(FRANCE), "--output", str(target), stdin=data)
    assert result.exit_code == 1
    written = target.read_bytes().decode("utf-8")  # strict
    assert len(written.splitlines()) == 2
    assert [json.loads(x)["id"] for x in written.splitlines()] == ["\ud800", "a\u2028b"]
    rejected = [x for x in result.stderr.splitlines() if x.startswith("rejected:")]
    assert rejected == ["rejected: episode c\\u2029\\u000ad (line 3): field patient.age: "
                        "-1 is outside 0..130"]


# ---- 3. strict values ---------------------------------------------------------------------


@pytest.mark.parametrize("fee", ["3_0.00", " 30.00 ", "30.00\n", "３０", "٣٠", "1e1", "1E1",
                                 "NaN", "Infinity", "-Infinity", "+30", "30.", ".5", "0x1e",
                                 "30,00", ""])
def test_amount_strings_are_ascii_decimals_only(france: types.ModuleType, episode: Make,
                                                fee: str) -> None:
    error = rejection_of(france, line(episode(visit={"fee": fee}))).error
    assert error.field == "visit.fee"
    assert error.message.startswith("expected an amount such as")


@pytest.mark.parametrize("number", [b"1e1", b"3.0E+1", b"30e0"])
def test_amount_numbers_with_an_exponent_are_rejected(france: types.ModuleType,
                                                      episode: Make, number: bytes) -> None:
    raw = line(episode(visit={"fee": "FEE"})).replace(b'"FEE"', number)
    error = rejection_of(france, raw).error
    assert error.field == "visit.fee"
    assert "exponent notation" in error.message


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_literals_are_not_json(france: types.ModuleType, episode: Make,
                                                literal: bytes) -> None:
    raw = line(episode(visit={"fee": "FEE"})).replace(b'"FEE"', literal)
    rejection = rejection_of(france, raw)
    assert str(rejection) == f"line 1: not valid JSON ({literal.decode()} is not allowed)"


@pytest.mark.parametrize("fee, paid", [("30", "30.00"), ("30.5", "30.50"), ("0", "0.00"),
                                       ("-0", "0.00"), (30, "30.00"), (Decimal("30.50"), "30.50")])
def test_plain_decimals_are_still_amounts(france: types.ModuleType, episode: Make,
                                          fee: object, paid: str) -> None:
    raw = json.dumps(episode(visit={"fee": "FEE"})).replace(
        '"FEE"', str(fee) if not isinstance(fee, str) else json.dumps(fee)).encode()
    out, rejected = run(france, raw)
    assert rejected == []
    decision = json.loads(out[0])
    assert Decimal(decision["patient_pays"]) + Decimal(decision["reimbursed"]) == Decimal(paid)


def test_negative_amounts_are_named() -> None:
    from parcours.runtime import to_money

    with pytest.raises(EpisodeError, match=r"an amount cannot be negative \(-5\)"):
        to_money("-5", "a", "visit.fee")


@pytest.mark.parametrize("age", [True, False, "40", "4_0", 40.0, "٤٠", None])
def test_integer_fields_take_json_integers_only(france: types.ModuleType, episode: Make,
                                                age: object) -> None:
    error = rejection_of(france, json.dumps(episode(patient={"age": age})).encode()).error
    assert error.field == "patient.age"


@pytest.mark.parametrize("day", ["20250314", "2025-W11-5", "2025-3-14", "２０２５-03-14",
                                 "2025-03-14T00:00", " 2025-03-14", "2025-02-30"])
def test_dates_are_iso_calendar_days_only(france: types.ModuleType, episode: Make,
                                          day: str) -> None:
    error = rejection_of(france, line(episode(date=day))).error
    assert error.field == "date"


@pytest.mark.parametrize("kind, text", [
    ("int", "4_0"), ("int", "٤٠"), ("int", "４０"), ("int", "1e1"), ("int", "+-4"),
    ("int", "9" * 5000), ("date", "20250314"), ("date", "2025-W11-5"), ("date", "٢٠٢٥-03-14"),
    ("money", "3_0.00"), ("money", "３０"), ("money", "1e1"), ("money", "NaN"),
    ("money", "Infinity"), ("rate", "NaN"), ("rate", "0.7e0"), ("rate", "٠.٥"),
])
def test_what_if_values_are_as_strict_as_episodes(kind: str, text: str) -> None:
    spec = ParamSpec("p", kind, "p_p", False, low=0, high=130)
    with pytest.raises(OverrideError) as info:
        parse_value(spec, text)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize("kind, text, value", [
    ("int", "40", 40), ("int", "-0", 0), ("date", "2025-03-14", date(2025, 3, 14)),
    ("money", "25.00", Decimal("25.00")), ("money", "25.00 EUR", Decimal("25.00")),
    ("money", "-0", Decimal("0.00")), ("rate", "0.70", Decimal("0.70")),
])
def test_what_if_values_still_parse(kind: str, text: str, value: object) -> None:
    result = parse_value(ParamSpec("p", kind, "p_p", False, low=0, high=130), text)
    assert result == value and str(result) == str(value)


# ---- 4, 5. duplicate and empty field names ---------------------------------------------------


@pytest.mark.parametrize("raw, message", [
    (b'"patient": {"age": 500, "age": 40, ', "duplicate field patient.age"),
    (b'"date": "2025-01-01", "date": "2025-03-14", ', "duplicate field date"),
    (b'"extra": [1, {"a": 1, "a": 2}], ', "duplicate field extra[1].a"),
    (b'"extra": {"b": {"c": {"d": 1, "d": 1}}}, ', "duplicate field extra.b.c.d"),
])
def test_duplicate_fields_are_rejected_by_name_at_any_depth(
        france: types.ModuleType, episode: Make, raw: bytes, message: str) -> None:
    text = line(episode(id="dup"))
    if raw.startswith(b'"patient"'):
        text = text.replace(b'"patient": {', raw)
    else:
        text = text.replace(b'{"id"', b"{" + raw + b'"id"', 1)
    rejection = rejection_of(france, text)
    assert str(rejection) == f"episode dup (line 1): {message}"


def test_a_duplicate_id_names_no_episode(france: types.ModuleType, episode: Make) -> None:
    text = line(episode(id="b")).replace(b'{"id"', b'{"id": "a", "id"', 1)
    assert str(rejection_of(france, text)) == "line 1: duplicate field id"


@pytest.mark.parametrize("section, where", [("patient", "in patient"), ("visit", "in visit"),
                                            ("", "at the top of the episode")])
def test_an_empty_field_name_is_said_so(france: types.ModuleType, episode: Make,
                                        section: str, where: str) -> None:
    data = episode(id="e")
    (data[section] if section else data)[""] = 1
    rejection = rejection_of(france, line(data))
    assert str(rejection) == f"episode e (line 1): empty field name {where}"


# ---- 6. values are cut in messages ----------------------------------------------------------


def test_shown_and_quoted_cut_long_values() -> None:
    assert shown("9" * 4000) == "9" * 40 + "…(4000 characters)"
    assert shown(10 ** 3999) == "1" + "0" * 39 + "…(4000 characters)"
    assert shown("short") == "short"
    assert quoted("x" * 41) == repr("x" * 40) + "…(41 characters)"
    assert one_line("a\nb\u2028c\ud800") == "a\\u000ab\\u2028c\\ud800"


@pytest.mark.parametrize("patch", [
    {"patient": {"age": 10 ** 3999}},
    {"visit": {"fee": "1" * 1_000_000}},
    {"visit": {"fee": "1" * 1_000_000 + ".5"}},
    {"visit": {"fee": "x" * 1_000_000}},
    {"visit": {"specialty": "y" * 1_000_000}},
    {"date": "z" * 1_000_000},
    {"id": "i" * 1_000_000, "patient": {"age": -1}},
    {"patient": {"k" * 1_000_000: 1}},
])
def test_messages_never_echo_a_huge_value(france: types.ModuleType, episode: Make,
                                          patch: dict[str, Any]) -> None:
    data = episode(**{k: v for k, v in patch.items() if k not in ("patient", "visit")},
                   patient=patch.get("patient"), visit=patch.get("visit"))
    rejection = rejection_of(france, line(data))
    assert len(str(rejection)) < 500, str(rejection)[:600]
    assert "characters)" in str(rejection)


def test_a_number_too_long_for_python_is_not_json(france: types.ModuleType,
                                                  episode: Make) -> None:
    raw = line(episode(patient={"age": 0})).replace(b'"age": 0', b'"age": ' + b"9" * 5000)
    assert str(rejection_of(france, raw)) == "line 1: not valid JSON (a number with too many digits)"


def test_deep_nesting_is_one_rejection(france: types.ModuleType) -> None:
    assert str(rejection_of(france, b"[" * 100_000 + b"]" * 100_000)) \
        == "line 1: not valid JSON (nested too deeply)"


# ---- 7. explain: the same strictness -------------------------------------------------------


def test_explain_rejects_a_duplicate_field_by_name(episode: Make) -> None:
    text = json.dumps(episode(id="a")).replace('"age": 34', '"age": 500, "age": 34')
    result = invoke("explain", str(FRANCE), "--episode", text)
    assert result.exit_code == 1
    assert result.stderr.strip() == "rejected: episode a: duplicate field patient.age"


@pytest.mark.parametrize("content", [b'{"id": "\xff"}', b"\xef\xbb\xbf{NaN}", b"[1]", b"{"])
def test_explain_reports_an_unreadable_file_cleanly(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "ep.json"
    path.write_bytes(content)
    result = invoke("explain", str(FRANCE), "--episode", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --episode: ")
    assert "Traceback" not in result.output


def test_explain_reports_undecodable_argument_bytes(episode: Make) -> None:
    # what the shell gives for an argument holding the byte 0xff
    text = json.dumps(episode(id="a")).replace('"a"', '"\udcff"')
    result = invoke("explain", str(FRANCE), "--episode", text)
    assert result.exit_code == 2
    assert "not UTF-8 (byte 0xff" in result.stderr


def test_explain_accepts_a_bom_and_escapes_its_output(tmp_path: Path, episode: Make) -> None:
    path = tmp_path / "ep.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(episode(id="a\u2028\ud800")).encode())
    for fmt in ("text", "json"):
        result = invoke("explain", str(FRANCE), "--episode", str(path), "--format", fmt)
        assert result.exit_code == 0, result.output
        result.stdout.encode("utf-8")
        assert "\u2028" not in result.stdout
        assert "a\\u2028\\ud800" in result.stdout
