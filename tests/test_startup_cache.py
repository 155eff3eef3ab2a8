"""The compiled-module cache's start-up parts (backends/python/cache.py, loader.py): the
compiler's fingerprint kept by its files' names, sizes and times, and the lookup without
pathlib or hashlib."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from parcours.compiler.backends.python import cache, loader


@pytest.fixture
def private(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A private cache folder, and a fingerprint computed afresh."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PARCOURS_NO_CACHE", raising=False)
    cache.fingerprint.cache_clear()
    yield tmp_path / "cache" / "parcours" / "modules"
    cache.fingerprint.cache_clear()


def kept(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.fingerprint"))


def test_the_kept_fingerprint_is_the_content_fingerprint(private: Path) -> None:
    first = cache.fingerprint()
    assert first == cache._content_fingerprint(cache._roots())
    assert len(kept(private)) == 1 and kept(private)[0].read_text() == first
    cache.fingerprint.cache_clear()
    kept(private)[0].write_text("f" * 64)  # what a second run reads, not recomputes
    assert cache.fingerprint() == "f" * 64


def test_a_changed_file_or_a_damaged_entry_is_fingerprinted_again(
        private: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "a.py").write_text("one\n")
    (tree / "__pycache__").mkdir()
    (tree / "__pycache__" / "a.pyc").write_bytes(b"ignored")
    monkeypatch.setattr(cache, "_roots", lambda: [str(tree)])
    before = cache.fingerprint()
    assert before == cache._content_fingerprint([str(tree)])
    (tree / "sub" / "a.py").write_text("two, longer\n")
    cache.fingerprint.cache_clear()
    after = cache.fingerprint()
    assert after != before and after == cache._content_fingerprint([str(tree)])
    assert len(kept(private)) == 2
    for entry in kept(private):
        entry.write_text("not a digest")
    cache.fingerprint.cache_clear()
    assert cache.fingerprint() == after
    (tree / "__pycache__" / "a.pyc").write_bytes(b"bytecode changes nothing")
    cache.fingerprint.cache_clear()
    assert cache.fingerprint() == after


def test_without_a_cache_folder_the_fingerprint_is_computed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARCOURS_NO_CACHE", "1")
    cache.fingerprint.cache_clear()
    try:
        assert cache.fingerprint() == cache._content_fingerprint(cache._roots())
    finally:
        cache.fingerprint.cache_clear()


@pytest.mark.parametrize("path", [
    "france.py", "./france.py", "out//france.py", "/x/./y/france.py", "//a/b.py", "///a.py",
    ".", "", "a/", "x/.py", "f.tar.py", "../f.py", "a.", "/", "//", "..", "a/./b/../c.py",
])
def test_the_paths_are_those_pathlib_gives(path: str) -> None:
    assert loader.plain(path) == str(Path(path))
    assert loader.stem(path) == Path(path).stem


def test_the_digests_are_hashlib_s() -> None:
    data = os.urandom(70_000)
    assert loader.sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
    digest = loader.sha256()
    digest.update(data[:10])
    digest.update(data[10:])
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
