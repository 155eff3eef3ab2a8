"""Streaming: the cached JSON writer agrees with the plain encoder, byte for byte."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from parcours.compiler.pipeline import load_policy
from parcours.runtime import DecisionWriter, decide_stream, decision_json

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "policies" / "samples"


@pytest.mark.parametrize("policy, sample", [
    ("france", "episodes.jsonl"), ("nhs", "episodes.jsonl"),
    ("morocco", "episodes-ma.jsonl"), ("morocco_proposal", "episodes-ma.jsonl")])
def test_cached_writer_matches_plain_encoder(policy: str, sample: str) -> None:
    module = load_policy(ROOT / "policies" / f"{policy}.parcours")
    write = DecisionWriter()
    lines = (SAMPLES / sample).read_text(encoding="utf-8").splitlines()
    for line in lines:
        episode = json.loads(line, parse_float=Decimal)
        decision = module.decide(episode)
        assert write(decision) == decision_json(decision)
        # integer fees and ids that need escaping take the same route
        episode["visit"]["fee"] = 30
        episode["id"] = 'quote " and é'
        decision = module.decide(episode)
        assert write(decision) == decision_json(decision)


def test_stream_writes_one_line_per_decision_and_reports_rejections() -> None:
    module = load_policy(ROOT / "policies" / "france.parcours")
    lines = (SAMPLES / "episodes.jsonl").read_text(encoding="utf-8").splitlines()[:20]
    out: list[str] = []
    rejected: list[object] = []
    stats = decide_stream(module.decide, [*lines[:10], "not json", "{}", *lines[10:]],
                          out.append, rejected.append)
    assert (stats.decided, stats.rejected) == (20, 2)
    assert [json.loads(o)["id"] for o in out] == [json.loads(x)["id"] for x in lines]
    assert [str(r).split(":")[0] for r in rejected] == ["line 11", "line 12"]


@pytest.mark.parametrize("ident", ["\ud800", "x\u2028y\u2029", "n\x85l", "é\U0001f600"])
def test_cached_writer_escapes_like_the_plain_encoder(ident: str) -> None:
    module = load_policy(ROOT / "policies" / "france.parcours")
    episode = json.loads((SAMPLES / "episodes.jsonl").read_text(encoding="utf-8").splitlines()[0],
                         parse_float=Decimal)
    episode["id"] = ident
    decision = module.decide(episode)
    text = DecisionWriter()(decision)
    assert text == decision_json(decision)
    text.encode("utf-8")  # strict: a lone surrogate is escaped
    assert len(text.splitlines()) == 1
    assert json.loads(text)["id"] == ident


def test_stream_reads_bytes_lines_and_text_lines_alike() -> None:
    module = load_policy(ROOT / "policies" / "france.parcours")
    lines = (SAMPLES / "episodes.jsonl").read_text(encoding="utf-8").splitlines()[:5]
    from_text: list[object] = []
    from_bytes: list[object] = []
    decide_stream(module.decide, lines, from_text.append, from_text.append)
    decide_stream(module.decide, [x.encode() for x in lines], from_bytes.append,
                  from_bytes.append)
    assert from_bytes == from_text and len(from_text) == 5
