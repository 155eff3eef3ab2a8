"""The grammar itself: conflict-free as LALR(1), and the cached parser is the same parser."""

from __future__ import annotations

from pathlib import Path

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
