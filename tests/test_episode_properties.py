"""Properties of a batch under hostile input (hypothesis): whatever the lines hold, no
exception escapes, every non-blank line yields exactly one record (a decision or a
rejection) in input order, and every record is one line of strict UTF-8 (decisions are
JSON).

The strategies mutate valid episodes: wrong types, random unicode with lone surrogates,
duplicate keys, huge numbers, deep nesting, and lines of random bytes.  Bounded and
derandomized here; `bench/fuzz_episodes.py N` runs the same property for N examples.
"""

from __future__ import annotations

import copy
import io
import json
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcours.runtime import Rejection, decide_stream

SAMPLE = Path(__file__).resolve().parent.parent / "policies" / "samples" / "episodes.jsonl"
BASE: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8").splitlines()[0])

JSON_SPACE = b" \t\r\n"
SECTIONS = {"": ("id", "date", "patient", "visit"),
            "patient": ("age", "declared_doctor", "chronic_condition", "low_income_cover",
                        "pregnancy_month"),
            "visit": ("specialty", "with_declared_doctor", "referred", "emergency",
                      "away_from_home", "doctor_unavailable", "for_chronic_condition",
                      "sector", "fee", "act", "optam")}

# Any code point, lone surrogates included (hypothesis leaves them out by default).
any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=20)
huge_int = st.integers(min_value=-(10 ** 60), max_value=10 ** 60) | st.sampled_from(
    [10 ** 4000, -(10 ** 4000), 2 ** 63, 0])
scalars = (st.none() | st.booleans() | huge_int | any_text
           | st.sampled_from(["30.00", "３０", "1e1", "3_0", " 30 ", "NaN", "-1", "2025-03-14",
                              "general_practice", "\ud800", "a\u2028b", ""]))
# Ids made of what breaks lines, UTF-8 or JSON strings, mixed with anything else.
hostile_ids = st.lists(st.sampled_from(["\ud800", "\udfff", "\u2028", "\u2029", "\x85", "\n",
                                        "\r", "\x00", "é", '"', "\\", "a"])
                       | st.characters(exclude_categories=()), max_size=8).map("".join)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(any_text, inner, max_size=3), max_leaves=8)


def encode(data: object, raw: bool = False) -> bytes:
    """JSON as a batch line: ASCII with \\u escapes, or (`raw`) every character as its
    UTF-8 bytes, lone surrogates included (then the line is not UTF-8)."""
    if raw:
        return json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return json.dumps(data).encode("ascii")


@st.composite
def mutated_episode(draw: st.DrawFn) -> bytes:
    """A valid episode with a hostile id and up to three fields changed, removed or added."""
    data: dict[str, Any] = copy.deepcopy(BASE)
    data["id"] = draw(hostile_ids)
    for _ in range(draw(st.integers(0, 3))):
        section = draw(st.sampled_from(sorted(SECTIONS)))
        target = data if not section else data.get(section)
        if not isinstance(target, dict):
            continue
        name = draw(st.sampled_from(SECTIONS[section]) | any_text)
        action = draw(st.sampled_from(["set", "set", "drop"]))
        if action == "drop":
            target.pop(name, None)
        else:
            target[name] = draw(json_values)
    text = encode(data, draw(st.booleans()))
    if draw(st.booleans()):
        text = text.replace(b'"age": ', b'"age": 1, "age": ', 1)  # a duplicate key
    if draw(st.booleans()):
        text = text.replace(b'"fee": "30.00"', b'"fee": ' + draw(st.sampled_from(
            [b"NaN", b"Infinity", b"1e1", b"30.5", b"9" * 5000, b"-0"])), 1)
    return text


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth if depth % 2 else b"[" * depth + b"]" * depth


raw_bytes = st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" "))
lines = st.one_of(
    st.just(json.dumps(BASE).encode()),
    hostile_ids.map(lambda ident: encode({**BASE, "id": ident})),  # valid, a hostile id
    mutated_episode(),
    raw_bytes,
    st.integers(1, 50_000).map(nested),
    st.builds(encode, json_values, st.booleans()),
    any_text.map(lambda t: t.encode("utf-8", "surrogatepass").replace(b"\n", b" ")),
)
batches = st.lists(lines, min_size=1, max_size=6)


def expected_lines(batch: list[bytes]) -> list[int]:
    """The numbers of the lines that must yield a record: all but JSON-blank ones."""
    numbers = []
    for number, raw in enumerate(batch, 1):
        text = raw[3:] if number == 1 and raw.startswith(b"\xef\xbb\xbf") else raw
        if text.strip(JSON_SPACE):
            numbers.append(number)
    return numbers


def check_batch(decide: Callable[..., Any], batch: list[bytes]) -> None:
    """The property: one strict-UTF-8 one-line record per non-blank line, in order."""
    records: list[tuple[str, object]] = []
    decide_stream(decide, io.BytesIO(b"\n".join(batch) + b"\n"),
                  lambda text: records.append(("decision", text)),
                  lambda rejection: records.append(("rejection", rejection)))
    numbers = expected_lines(batch)
    assert len(records) == len(numbers), (records, numbers)
    for (kind, record), number in zip(records, numbers):
        if kind == "rejection":
            assert isinstance(record, Rejection)
            assert record.line == number
            text = str(record) + "\n"
        else:
            assert isinstance(record, str)
            text = record
            assert json.loads(text)["id"] == json.loads(batch[number - 1]).get("id")
        text.encode("utf-8")  # strict: no lone surrogate
        assert len(text.splitlines()) == 1, text


@settings(max_examples=150, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=batches)
def test_no_batch_is_lost_to_hostile_lines(france: types.ModuleType, batch: list[bytes]) -> None:
    check_batch(france.decide, batch)


@settings(max_examples=40, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=batches)
def test_explained_batches_hold_the_same_property(france: types.ModuleType,
                                                  batch: list[bytes]) -> None:
    check_batch(france.explain, batch)
