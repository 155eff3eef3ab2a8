"""The fast batch: msgspec's reader agrees with the standard library's on any line, `--jobs`
changes nothing in the output, a run on a generated module stays light, and the
compiled-module cache never serves a module compiled from other files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from parcours.compiler import pipeline
from parcours.compiler.cli import main
from parcours.compiler.tools.population import write_population
from parcours.runtime import EpisodeError, read_episodes
from parcours.runtime.lines import fast_decoder

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"
FRANCE = POLICIES / "france.parcours"
GOOD = json.dumps({"id": "e1", "date": "2025-03-14", "patient": {"age": 34},
                   "visit": {"fee": "30.00", "codes": [1, 2.50, {"x": None}]}}).encode()

needs_msgspec = pytest.mark.skipif(fast_decoder() is None and not os.environ.get(
    "PARCOURS_STDLIB_JSON"), reason="msgspec is not installed")


def outcomes(lines: list[bytes], fast: bool) -> list[tuple[int, str]]:
    """Each line's outcome, as text precise enough to tell 1.5 from 1.50 and 1 from True."""
    out = []
    for number, item in read_episodes(lines, fast=fast):
        if isinstance(item, EpisodeError):
            out.append((number, f"{type(item).__name__}: {item.to_dict()}"))
        else:
            out.append((number, repr(item)))
    return out


HOSTILE = [
    GOOD, GOOD + b"\n", b"\xef\xbb\xbf" + GOOD, b"  " + GOOD + b" \r\n", b"", b"\n", b" \t\r\n",
    b'{"id": "a", "id": "b"}', b'{"p": {"age": 1, "age": 2}}', b'{"l": [{"a": 1, "a": 1}]}',
    b'{"id": "a:b", "x": 1}', b'{"a": "x", "a:": 1}', b'{"a": NaN}', b'{"a": -Infinity}',
    b'{"a": 1e5, "b": 1E-2, "c": -0, "d": -0.0, "e": 1.50}', b'{"a": "\xff"}', b'{"a": "\xed\xa0\x80"}',
    b'{"a": "\\ud800"}', b'{"a": "\\u00e9\\n"}', b'{"a": "\xc3\xa9"}', b'[1, 2]', b'"text"', b"3",
    b'{"a": 1} x', b'{"a": ' + b"9" * 4301 + b"}", b'{"a": ' + b"9" * 4300 + b"}",
    b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}", b"[" * 5000 + b"]" * 5000, b'{"a": 1,}', b"{",
    b'{"a":\n', b"\xef\xbb\xbf\xef\xbb\xbf{}", b"{}", b'{"": 1}', b'{"a": "\x01"}', b'{"a": 01}',
    b"\x00", "{\"a\": \"\u2028\"}".encode(),
    # No `[`: keys are counted two levels deep only (`fast_keys`); deeper ones fall short.
    b'{"a": {"b": {"c": 1, "c": 2}}}', b'{"a": {"b": {}}, "c": 1}', b'{"a": {"b": {"c": {}}}}',
    b'{"p": {"a": {"b": 1}}, "q": {"c": 1, "c": 2}}', b'{"p": {"x": 1, "x": 2}, "q": {}}',
    b'{"a": ' + b'{"a": ' * 40 + b"1" + b"}" * 41, b'{"a": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3001,
    b'{"id": "x[", "p": {"a": 1, "a": 2}}', b'{"id": "x[", "p": {"a": {"b": 1}}}',
    b'{"p": {"a": 1, "a": 2}, "q": "x:y"}', b'{"p": {"a": "1", "b": "x:"}}',
]


@needs_msgspec
@pytest.mark.parametrize("index", range(len(HOSTILE)))
def test_both_readers_agree_on_hostile_lines(index: int) -> None:
    line = HOSTILE[index]
    for batch in ([line], [GOOD, line], [line, GOOD]):  # first line or not (the BOM)
        assert outcomes(batch, fast=True) == outcomes(batch, fast=False)
        text = [b.decode("utf-8", "surrogateescape") for b in batch]
        assert outcomes(text, fast=True) == outcomes(text, fast=False)  # type: ignore[arg-type]


@needs_msgspec
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=12), st.integers(min_value=0, max_value=len(GOOD)),
       st.sampled_from([b"", b":", b'"', b"{", b"}", b"\\", b",", b'"id":1,', b"\xff"]))
def test_both_readers_agree_on_mangled_lines(noise: bytes, at: int, token: bytes) -> None:
    line = GOOD[:at] + token + noise + GOOD[at:]
    assert outcomes([line], fast=True) == outcomes([line], fast=False)


@needs_msgspec
def test_the_fast_reader_is_used_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a tautology: the stdlib path would build its decoder for this line."""
    import parcours.runtime.lines as lines

    def no_stdlib() -> Callable[[str], object]:
        raise AssertionError("the standard library path was taken")

    monkeypatch.delenv("PARCOURS_STDLIB_JSON", raising=False)
    monkeypatch.setattr(lines, "parse_line", no_stdlib)
    assert [number for number, _ in read_episodes([GOOD, GOOD])] == [1, 2]


@needs_msgspec
@pytest.mark.parametrize(("line", "deep"), [
    (b'{"id": "e1", "patient": {"age": 34}, "visit": {"fee": "30.00", "x": {}}}', False),
    (b'{"id": "a[1]", "patient": {"age": 3}}', True),  # `[` in a string: every depth
    (GOOD, True),
])
def test_keys_are_counted_two_levels_deep_without_a_list(line: bytes, deep: bool,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A line without `[` never has its keys counted at every depth; one with it does."""
    import parcours.runtime.lines as lines
    from parcours.runtime.lines import fast_keys

    calls: list[int] = []
    every_depth = lines._keys

    def counted(node: Any, depth: int) -> int:
        calls.append(depth)
        return every_depth(node, depth)

    monkeypatch.setattr(lines, "_keys", counted)
    value = json.loads(line)
    assert fast_keys(value, line) == line.count(b":") == fast_keys(value, line.decode())
    assert bool(calls) is deep


# ---- --jobs ------------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "parcours.compiler.cli", *args],
                          capture_output=True, env={**os.environ, **(env or {})}, check=False)


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 4,000 episodes (several blocks) with bad lines among them, and no final newline."""
    import io

    buffer = io.StringIO()
    write_population(buffer, 4000, 11, "fr")
    lines = buffer.getvalue().splitlines()
    lines[5] = '{"id": "dup", "id": "dup"}'
    lines[1500] = "not json"
    lines[2999] = json.dumps({**json.loads(lines[2999]), "date": "2025-02-30"})
    path = tmp_path_factory.mktemp("jobs") / "episodes.jsonl"
    path.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe\n" + lines[0].encode())
    return path


@pytest.mark.slow
def test_jobs_change_nothing_in_the_output(population: Path, tmp_path: Path) -> None:
    module = tmp_path / "france.py"
    assert run_cli("compile", str(FRANCE), "-o", str(module), "-q").returncode == 0
    results = {}
    for jobs in ("1", "2", "3"):
        done = run_cli("decide", str(module), "-i", str(population), "--jobs", jobs, "--summary")
        results[jobs] = done
        assert done.returncode == 1  # rejections
    one = results["1"]
    lines = one.stdout.decode().splitlines()
    assert len(lines) == 4001 - 3 and json.loads(lines[-1])["id"] == json.loads(lines[0])["id"]
    rejected = [x for x in one.stderr.decode().splitlines() if x.startswith("rejected:")]
    assert "line 6" in rejected[0] and "line 1501" in rejected[1] and "(line 3000)" in rejected[2]
    assert "line 4001" in rejected[3] and len(rejected) == 4
    for jobs in ("2", "3"):
        assert results[jobs].stdout == one.stdout
        assert results[jobs].stderr == one.stderr  # rejections in order, same summary
    piped = subprocess.run([sys.executable, "-m", "parcours.compiler.cli", "decide", str(module),
                            "--jobs", "2", "--summary"], input=population.read_bytes(),
                           capture_output=True, check=False)  # a pipe: blocks as they come
    assert (piped.stdout, piped.stderr) == (one.stdout, one.stderr)


def test_a_small_input_is_decided_in_process_whatever_the_jobs(tmp_path: Path) -> None:
    sample = POLICIES / "samples" / "episodes.jsonl"
    a = CliRunner().invoke(main, ["decide", str(FRANCE), "-i", str(sample), "--jobs", "1", "-q"])
    b = CliRunner().invoke(main, ["decide", str(FRANCE), "-i", str(sample), "--jobs", "4", "-q"])
    assert a.exit_code == b.exit_code and a.stdout == b.stdout and a.stdout.count("\n") > 100


# ---- start-up ----------------------------------------------------------------------------


def test_deciding_with_a_generated_module_imports_no_compiler(tmp_path: Path) -> None:
    module = tmp_path / "france.py"
    assert run_cli("compile", str(FRANCE), "-o", str(module), "-q").returncode == 0
    probe = ("import sys\nfrom parcours.compiler.cli import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('lark', 'jinja2')"
             " or m.startswith(('parcours.compiler.pipeline', 'parcours.compiler.sema',"
             " 'parcours.compiler.tools', 'parcours.compiler.cli.compare', 'multiprocessing')))\n"
             "print(heavy, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe, "decide", str(module), "-i",
                           str(POLICIES / "samples" / "episodes.jsonl"), "-q"],
                          capture_output=True, check=False)
    assert done.stdout.count(b"\n") > 100
    assert done.stderr.decode().strip().splitlines()[-1] == "[]"


# ---- the compiled-module cache -----------------------------------------------------------


@pytest.fixture
def counted_compiles(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """A private cache folder, and the policies compiled (by path) in this test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PARCOURS_NO_CACHE", raising=False)
    compiled: list[str] = []
    real = pipeline.compile_policy

    def counting(path: Any, *args: Any, **kwargs: Any) -> Any:
        compiled.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pipeline, "compile_policy", counting)
    return compiled


def decide_one(policy: Path, *extra: str) -> dict[str, Any]:
    episode = (POLICIES / "samples" / "episodes.jsonl").read_text().splitlines()[0]
    result = CliRunner().invoke(main, ["decide", str(policy), "-q", *extra], input=episode)
    assert result.exit_code == 0, result.output
    decision: dict[str, Any] = json.loads(result.stdout)
    return decision


def test_a_second_run_reuses_the_compiled_module(counted_compiles: list[str],
                                                 tmp_path: Path) -> None:
    first = decide_one(FRANCE)
    second = decide_one(FRANCE)
    assert first == second and counted_compiles == [str(FRANCE)]
    assert list((tmp_path / "cache" / "parcours" / "modules").glob("*.json"))


def test_an_edited_policy_or_import_is_compiled_anew(counted_compiles: list[str],
                                                     tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    for name in ("france.parcours", "episode.parcours"):
        shutil.copy(POLICIES / name, folder / name)
    policy = folder / "france.parcours"
    before = decide_one(policy)
    text = policy.read_text(encoding="utf-8")
    assert "param normal_rate: rate = 0.70" in text
    policy.write_text(text.replace("param normal_rate: rate = 0.70",
                                   "param normal_rate: rate = 0.60"), encoding="utf-8")
    after = decide_one(policy)
    assert after["policy_version"] != before["policy_version"]
    assert after != before and len(counted_compiles) == 2
    assert decide_one(policy) == after and len(counted_compiles) == 2
    schema = folder / "episode.parcours"
    schema.write_text(schema.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    edited = decide_one(policy)
    assert len(counted_compiles) == 3 and edited["policy_version"] != after["policy_version"]


def test_the_cache_can_be_turned_off_and_skips_import_folders(
        counted_compiles: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    decide_one(FRANCE, "--import-path", str(POLICIES))
    decide_one(FRANCE, "--import-path", str(POLICIES))
    assert len(counted_compiles) == 2
    monkeypatch.setenv("PARCOURS_NO_CACHE", "1")
    decide_one(FRANCE)
    decide_one(FRANCE)
    assert len(counted_compiles) == 4
    assert not (tmp_path / "cache" / "parcours" / "modules").exists() or not list(
        (tmp_path / "cache" / "parcours" / "modules").glob("*.json"))


# ---- the writer's caches -----------------------------------------------------------------


def test_reused_decision_texts_keep_negative_zeros_apart() -> None:
    """Equal decisions share a text, but -0.00 and 0.00 (and rates -0 and 0) are equal and
    written apart: whichever comes first, each is written as the plain encoder writes it."""
    from datetime import date
    from decimal import Decimal

    from parcours.runtime import Decision, DecisionWriter, OutputField, PolicyMeta, decision_json

    policy = PolicyMeta("p", "P", "v", "EUR", "proposal", lambda path: ((),), {},
                        pathways=("a",), outputs=(OutputField("x", "money"),
                                                  OutputField("r", "rate"),
                                                  OutputField("d", "date")))
    for order in (("0.00", "-0.00", "0", "-0"), ("-0.00", "0.00", "-0", "0")):
        writer = DecisionWriter()
        for _ in range(2):
            for amount in order:
                for rate in order:
                    decision = Decision(f"e{amount}{rate}", policy, "a", "rule", (
                        Decimal(amount), Decimal(rate), date(2025, 1, 2)), (0, 0))
                    assert writer(decision) == decision_json(decision), (amount, rate)


def test_reused_texts_of_amounts_and_rates_only_are_those_of_the_plain_encoder() -> None:
    """A policy whose outputs are all amounts and rates has its texts reused by the values'
    own text: equal values written apart (0.00 and -0.00, 1.5 and 1.50, 7 and 7.00, 1E+1),
    in a currency of two places and of three, each written as the plain encoder writes it
    the first time and every next time."""
    from decimal import Decimal

    from parcours.runtime import Decision, DecisionWriter, OutputField, PolicyMeta, decision_json

    def meta(currency: str, decimals: int) -> PolicyMeta:
        return PolicyMeta("p", "P", "v", currency, "proposal", lambda path: (("doc",),), {},
                          pathways=("a",), decimals=decimals,
                          outputs=(OutputField("x", "money"), OutputField("r", "rate"),
                                   OutputField("y", "money")))
    amounts = ("0.00", "-0.00", "0", "-0", "1.5", "1.50", "1.505", "7", "7.00", "1E+1", "0.005")
    rates = ("0.7", "0.70", "-0", "0", "1", "1E-7", "0.955")
    for policy in (meta("EUR", 2), meta("TND", 3)):
        for order in (amounts, amounts[::-1]):
            writer = DecisionWriter()
            for _ in range(2):
                for amount in order:
                    for rate in rates:
                        decision = Decision(f"e{amount}", policy, "a", "rule",
                                            (Decimal(amount), Decimal(rate), Decimal("2.50")),
                                            (0, 1))
                        assert writer(decision) == decision_json(decision), (amount, rate)


# ---- compare --jobs ----------------------------------------------------------------------


@pytest.mark.slow
def test_compare_jobs_change_nothing(tmp_path: Path) -> None:
    import io

    buffer = io.StringIO()
    write_population(buffer, 3000, 5, "ma")
    lines = buffer.getvalue().splitlines()
    lines[7] = "not json"
    data = tmp_path / "ma.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    outputs = []
    for jobs in ("1", "2"):
        report = tmp_path / f"report-{jobs}.html"
        done = run_cli("compare", str(POLICIES / "morocco.parcours"),
                       str(POLICIES / "morocco_proposal.parcours"), "-i", str(data),
                       "--format", "json", "--jobs", jobs, "--report", str(report), "-q")
        assert done.returncode == 0, done.stderr
        outputs.append((done.stdout, report.read_bytes()))
    assert outputs[0] == outputs[1]
    result = json.loads(outputs[0][0])
    assert result["episodes"] == 3000
    assert all(p["rejected"] >= 1 and "line 8" in p["rejection_examples"][0]
               for p in result["policies"].values())


def test_the_change_distribution_does_not_depend_on_order_or_blocks() -> None:
    import random
    from decimal import Decimal

    from parcours.compiler.tools.compare import MAX_BUCKETS, Distribution

    rng = random.Random(3)
    values = [Decimal(rng.randrange(-400_000, 400_000)) / 100 for _ in range(6 * MAX_BUCKETS)]
    values += [Decimal("0.00")] * 5
    results = []
    for order in range(3):
        shuffled = values[:]
        random.Random(order).shuffle(shuffled)
        whole = Distribution()
        for value in shuffled:
            whole.add(value)
        halves = [Distribution(), Distribution(), Distribution()]
        for index, value in enumerate(shuffled):
            halves[index * 3 // len(shuffled)].add(value)
        halves[0].merge(halves[1])
        halves[0].merge(halves[2])
        assert (halves[0].step, sorted(halves[0].counts.items())) == (
            whole.step, sorted(whole.counts.items()))
        results.append((whole.step, sorted(whole.counts.items())))
    assert results[0] == results[1] == results[2] and results[0][0] > Decimal("0.01")


@needs_msgspec
def test_a_block_reads_alike_on_both_paths(france: Any, episode: Any) -> None:
    """decide_block's own loop (the C reader first) against the standard library path, on
    hostile lines among good episodes, a byte order mark first and a BOM later."""
    from parcours.runtime import DecisionWriter, decide_block

    good = json.dumps(episode()).encode()
    odd = json.dumps(episode(visit={"fee": 12.5}, id="a:b")).encode()
    lines = [b"\xef\xbb\xbf" + good]
    for line in HOSTILE:
        lines += [line if line.endswith(b"\n") else line + b"\n", odd, good]
    block = b"\n".join(x.rstrip(b"\n") for x in lines) + b"\n" + b"\xef\xbb\xbf" + good
    for first in (1, 10):
        fast = decide_block(france.decide, DecisionWriter(), block, first, fast=True)
        slow = decide_block(france.decide, DecisionWriter(), block, first, fast=False)
        assert fast == slow and fast.decided > 70 and fast.rejected > 20
