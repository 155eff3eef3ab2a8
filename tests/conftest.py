"""Shared fixtures: the France policy compiled once, and a builder of contract episodes."""

from __future__ import annotations

import copy
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from parcours.compiler.pipeline import load_policy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
FRANCE = POLICIES / "france.parcours"
EPISODE_SCHEMA = POLICIES / "episode.parcours"

SEED_FILES = (
    "000_f978cb8ce6365d30.txt",
    "001_264f89428c423238.txt",
    "002_d8b8ab370c5ec4a0.txt",
    "003_2fed5c8b8ed5c71d.txt",
)

# The contract's example episode, adjusted to the France check values' reference
# case: 2025-03-14, sector 1, an adult with a declared doctor and no CSS.
BASE_EPISODE: dict[str, Any] = {
    "id": "ep-000001",
    "date": "2025-03-14",
    "patient": {
        "age": 34,
        "declared_doctor": True,
        "chronic_condition": False,
        "low_income_cover": False,
    },
    "visit": {
        "specialty": "general_practice",
        "with_declared_doctor": True,
        "referred": False,
        "emergency": False,
        "away_from_home": False,
        "doctor_unavailable": False,
        "for_chronic_condition": False,
        "sector": "1",
        "fee": "30.00",
    },
}


def make_episode(patient: Mapping[str, Any] | None = None,
                 visit: Mapping[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid contract episode; `patient` and `visit` entries are merged into the nested
    objects, other keyword arguments replace top-level fields."""
    out = copy.deepcopy(BASE_EPISODE)
    if patient:
        out["patient"].update(patient)
    if visit:
        out["visit"].update(visit)
    out.update(overrides)
    return out


EpisodeFactory = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def episode() -> EpisodeFactory:
    """`episode(patient={...}, visit={...}, **top_level)`: a valid contract episode with
    nested overrides (test modules annotate it as ``Callable[..., dict[str, Any]]``)."""
    return make_episode


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def seed_files() -> tuple[str, ...]:
    return SEED_FILES


@pytest.fixture(scope="session")
def france() -> types.ModuleType:
    """The France policy, compiled in memory once per session."""
    return load_policy(FRANCE)


@pytest.fixture()
def schema_dir(tmp_path: Path) -> Path:
    """A temporary directory holding a copy of the shared episode schema."""
    (tmp_path / "episode.parcours").write_bytes(EPISODE_SCHEMA.read_bytes())
    return tmp_path


# The JSON Lines reader has two paths, msgspec's decoder when installed and the standard
# library's; these modules run once on each (the fixture is autouse, so every test has it).
BOTH_JSON_PATHS = frozenset({"test_hostile_episodes", "test_episodes", "test_batch"})


@pytest.fixture(autouse=True)
def json_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    path: str = getattr(request, "param", "fast")
    if path == "stdlib":
        monkeypatch.setenv("PARCOURS_STDLIB_JSON", "1")
    return path


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.module.__name__ in BOTH_JSON_PATHS and "json_path" in metafunc.fixturenames:
        metafunc.parametrize("json_path", ["fast", "stdlib"], indirect=True)
