"""The grammar itself: conflict-free as LALR(1), and the cached parser is the same parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lark import Lark

from parcours.compiler.syntax import parse
from parcours.grammar import grammar_text

ROOT = Path(__file__).resolve().parents[1]


def test_the_grammar_has_no_conflict() -> None:
    """`strict=True` turns every shift/reduce conflict and terminal collision into an error
    (the parser used at run time is built without it, to start fast)."""
    Lark(grammar_text(), strict=True, **parse.PARSER_OPTIONS)


def test_the_cached_parser_parses_like_a_fresh_one(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    text = (ROOT / "policies" / "france.parcours").read_text(encoding="utf-8")
    fresh = Lark(grammar_text(), **parse.PARSER_OPTIONS)
    cache = parse._cache_file()
    assert isinstance(cache, str) and cache.startswith(str(tmp_path))
    for _ in range(2):  # the first builds and saves the cache, the second loads it
        cached = Lark(grammar_text(), cache=cache, **parse.PARSER_OPTIONS)
        assert cached.parse(text) == fresh.parse(text)
    assert Path(cache).exists() and (Path(cache).parent.stat().st_mode & 0o077) == 0


def test_no_cache_folder_means_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file where a folder should be
    assert parse._cache_file() is False


def _module(text: str) -> object:
    from parcours.compiler.diagnostics import Diagnostics
    from parcours.compiler.syntax.build import build

    diagnostics = Diagnostics()
    module = build(parse.parser().parse(text), "t.parcours", diagnostics)
    assert not list(diagnostics)
    return module


def test_tables_keyed_by_several_values_or_a_bool_sets_of_values_and_decimals() -> None:
    from parcours.compiler.syntax import nodes as n

    module: Any = _module(
        'table t: (specialty, bool, sector) -> decimal {\n'
        '  (cardiology, true, "2"), (dentistry, false, x): 1.5\n'
        '  else: 2\n}\n'
        'table u: bool -> int { true: 1 false: 0 }\n'
        'let a = t[visit.specialty, visit.urgent, visit.sector]\n'
        'let b = patient.age in {1, 3..5, 12} and visit.fee not in {2.00 EUR..3.00 EUR}\n')
    t, u, a, b = module.declarations
    assert (t.key_type, [c for c, _ in t.columns]) == ("(specialty, bool, sector)",
                                                       ["specialty", "bool", "sector"])
    assert t.type.kind == "decimal"
    first = t.rows[0].keys[0]
    assert isinstance(first, n.KeyTuple)
    assert [(p.kind, p.value) for p in first.parts] == [("name", "cardiology"), ("bool", True),
                                                        ("string", "2")]
    assert t.rows[1].keys == ()  # `else`
    assert (u.key_type, [c for c, _ in u.columns]) == ("bool", ["bool"])
    assert [k.value for row in u.rows for k in row.keys] == [True, False]
    assert isinstance(a.expr, n.Lookup) and len(a.expr.more) == 2
    ages = b.expr.operands[0].right
    assert isinstance(ages, n.ValueSet)
    assert [(low.value, high.value if high else None) for low, high in ages.items] == [
        (1, None), (3, 5), (12, None)]


def test_a_table_keyed_by_one_enum_keeps_its_shape() -> None:
    module: Any = _module("table t: specialty -> rate { a, b: 0.5 else: 1 }\n")
    (t,) = module.declarations
    assert (t.key_type, t.columns) == ("specialty", ())
