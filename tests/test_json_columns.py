"""The columnar engine on JSON Lines (`tools/json_columns.py`): the same bytes, rejections
and counts as the row engine, block by block, on every shipped policy's population and on
hostile and mangled lines; and `parcours decide --engine columnar` on JSON Lines, with one
job or two, writes what the row engine writes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("msgspec")
pytest.importorskip("pyarrow")

from parcours.compiler.tools.json_columns import ColumnarLines  # noqa: E402
from parcours.compiler.tools.population import write_population  # noqa: E402
from parcours.compiler.tools.tables import load_columnar  # noqa: E402
from parcours.runtime import DecisionWriter, decide_block  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = {"france": "fr", "morocco": "ma", "morocco_proposal": "ma", "nhs": "uk",
           "tunisia": "tn"}
_LOADED: dict[str, Any] = {}


def policy(name: str) -> Any:
    if name not in _LOADED:
        _LOADED[name] = load_columnar(ROOT / "policies" / f"{name}.parcours")
    return _LOADED[name]


def population(name: str, size: int, seed: int = 5) -> list[bytes]:
    buffer = io.StringIO()
    write_population(buffer, size, seed, SHIPPED[name])
    return [line.encode() for line in buffer.getvalue().splitlines()]


def by_row_engine(name: str, block: bytes, first: int = 1) -> tuple[Any, ...]:
    done = decide_block(policy(name).row.decide, DecisionWriter(), block, first, None, False)
    return done.text.encode(), done.rejections, done.decided, done.rejected


def by_columns(name: str, block: bytes, first: int = 1) -> tuple[tuple[Any, ...], int]:
    """The columnar engine's block, and how many of its lines the row engine read."""
    work = ColumnarLines(policy(name))
    done = work(block, first)
    return (done.text, done.rejections, done.decided, done.rejected), work.handed_over


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_a_population_is_decided_by_the_columns_alike(name: str) -> None:
    lines = population(name, 1500)
    block = b"\n".join(lines) + b"\n"
    ours, handed_over = by_columns(name, block, 7)
    assert ours == by_row_engine(name, block, 7)
    assert ours[2] == len(lines) and handed_over <= len(lines) // 50  # the batch's, nearly all


def variants(episode: dict[str, Any], fields: list[tuple[str, str]]) -> list[bytes]:
    """Lines that break, bend or stress one field of a good episode at a time."""
    values: list[Any] = [None, True, False, 0, 1, -1, 7, "", "x", [], {}, 2 ** 70, "1"]
    by_kind: dict[str, list[Any]] = {
        "money": ["26.5", "26", "26.505", "00026.50", " 26.50", "-0", "-1.00", "999999999",
                  "1000000000", "999999999.99", "26.500", "+26.50", "2.650e1"],
        "date": ["2025-02-30", "2025-2-3", "2030-01-01", "2000-01-01", "2024-02-29",
                 "2023-02-29", 20250101, "2025-03-14T00:00"],
        "enum": ["general_practice", "GP", "1", "2", "3", "consultation"],
        "int": [3, 130, 131, -5, 9, 10, 2 ** 63, -(2 ** 63) - 1],
        "id": ["p1", "a:b", 'q"t', "\u2028", "é", "x" * 200, "x" * 201, "\\"],
    }
    out = [b"", b"   ", b"\xef\xbb\xbf" + json.dumps(episode).encode(), b"not json",
           json.dumps({**episode, "unknown": 1}).encode(),
           json.dumps({**episode, "currency": "EUR"}).encode(),
           json.dumps({**episode, "currency": "XXX"}).encode(),
           json.dumps(episode).encode().replace(b"{", b'{"id": "dup", ', 1),
           json.dumps(episode, separators=(",", ":")).encode() + b"\r",
           json.dumps(episode).encode() + b" " + json.dumps(episode).encode()]
    for ident in by_kind["id"] + [5, None]:
        out.append(json.dumps({**episode, "id": ident}, ensure_ascii=False).encode())
    out.append(json.dumps({k: v for k, v in episode.items() if k != "id"}).encode())
    for path, kind in fields:
        head, _, key = path.rpartition(".")
        for value in values + by_kind.get(kind, []) + ["<absent>"]:
            changed = json.loads(json.dumps(episode))
            section = changed.setdefault(head, {}) if head else changed
            if not isinstance(section, dict):
                continue
            if value == "<absent>":
                section.pop(key, None)
            else:
                section[key] = value
            out.append(json.dumps(changed, ensure_ascii=False).encode())
        if head:  # the section named twice, the field named twice in it
            text = json.dumps(episode).encode()
            out.append(text.replace(f'"{head}": {{'.encode(),
                                    f'"{head}": {{"{key}": 1, '.encode(), 1))
    return out


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_hostile_and_unusual_lines_give_the_row_engines_bytes(name: str) -> None:
    good = population(name, 40, 3)
    fields = [(f.path, f.kind) for f in policy(name).columnar.FIELDS]
    money = next((path for path, kind in fields if kind == "money" and "." in path), None)
    episode = json.loads(good[0])
    marked = json.loads(good[1])
    if money is not None:  # a place for raw amounts: `"@fee@"` replaced by their text
        head, _, key = money.rpartition(".")
        marked[head][key] = "@fee@"
    lines = variants(episode, fields)
    if money is not None:  # amounts as JSON numbers and other raw texts
        lines += [json.dumps(marked).encode().replace(b'"@fee@"', raw) for raw in
                  (b"26.5", b"26", b"1e1", b"2.65E1", b"-0", b"26.50", b"26.500",
                   b"0.1000000000000000000001", b'"2\\u0036.50"', b"null", b"[1]",
                   b'{"a": 1}', b"1" * 30, b"26.50 ", b'"26.5\xff"')]
    for at in (0, 5):  # the first line of the input (a byte order mark) or not
        block = b"\n".join(good[:at] + lines + good[5:20]) + b"\n"
        ours, handed_over = by_columns(name, block, 1)
        assert ours == by_row_engine(name, block, 1)
        assert handed_over < len(lines)  # some of them are the batch's


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=8), st.integers(min_value=0, max_value=400),
       st.sampled_from([b"", b":", b'"', b"{", b"}", b"\\", b",", b'"id":1,', b"\xff", b"1",
                        b".5", b"e1", b"null"]))
def test_mangled_lines_give_the_row_engines_bytes(noise: bytes, at: int, token: bytes) -> None:
    good = population("france", 3, 9)
    line = good[1][:at] + token + noise + good[1][at:]
    block = b"\n".join([good[0], line, good[2]]) + b"\n"
    assert by_columns("france", block, 3)[0] == by_row_engine("france", block, 3)


def run_cli(*args: str, given: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "parcours.compiler.cli", *args],
                          capture_output=True, env=dict(os.environ), check=False, input=given)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["morocco", "france"])
def test_decide_columnar_on_json_lines_writes_the_row_engines_output(name: str,
                                                                    tmp_path: Path) -> None:
    """Several blocks (more than the MiB decided before the workers start), bad lines
    among them; France's episodes name their persons, so its run goes through the
    ledger of its annual cap."""
    lines = [line.decode() for line in population(name, 7000, 13)]
    lines[5] = '{"id": "dup", "id": "dup"}'
    lines[7] = json.dumps({**json.loads(lines[7]), "id": "a:colon"})  # the row engine's
    lines[3100] = "not json"
    lines[6999] = json.dumps({**json.loads(lines[6999]), "date": "2025-02-30"})
    source = tmp_path / "episodes.jsonl"
    source.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe\n")
    assert source.stat().st_size > 2 << 20
    path = str(ROOT / "policies" / f"{name}.parcours")
    row = run_cli("decide", path, "-i", str(source), "--jobs", "1")
    assert row.returncode == 1 and row.stdout.count(b"\n") == 7000 - 3
    for jobs in ("1", "2"):
        done = run_cli("decide", path, "--engine", "columnar", "-i", str(source), "--jobs", jobs)
        assert (done.returncode, done.stdout, done.stderr) == \
            (row.returncode, row.stdout, row.stderr)
    summed = [run_cli("decide", path, *engine, "-i", str(source), "--summary", "--jobs", "2")
              for engine in ((), ("--engine", "columnar"))]
    assert summed[0].stderr == summed[1].stderr and b"6997 decided, 4 rejected" in summed[0].stderr
    piped = run_cli("decide", path, "--engine", "columnar", "--jobs", "2",
                    given=source.read_bytes())  # a pipe: blocks as they come
    assert (piped.returncode, piped.stdout, piped.stderr) == \
        (row.returncode, row.stdout, row.stderr)


@pytest.mark.slow
def test_a_key_found_late_starts_the_run_over_through_the_ledger(tmp_path: Path) -> None:
    """France decided as if no line had a key (no first pass) until a block holds one:
    then from the start again through the ledger, without writing again the rejections
    already written."""
    lines = [json.loads(line) for line in population("france", 9000, 17)]
    for episode in lines[:8000]:  # persons named only in the last lines
        episode["patient"].pop("id", None)
    texts = [json.dumps(episode) for episode in lines]
    texts[10] = '{"id": "dup", "id": "dup"}'
    texts[4000] = "not json"
    texts[8500] = texts[8500].replace('"date": "', '"date": "x', 1)
    source = tmp_path / "episodes.jsonl"
    source.write_text("\n".join(texts) + "\n")
    path = str(ROOT / "policies" / "france.parcours")
    row = run_cli("decide", path, "-i", str(source), "-o", str(tmp_path / "row.jsonl"),
                  "--summary")
    assert row.returncode == 1 and row.stderr.count(b"rejected:") == 3
    for jobs in ("1", "2"):  # the summary counts each episode once
        out = tmp_path / f"columnar-{jobs}.jsonl"
        done = run_cli("decide", path, "--engine", "columnar", "-i", str(source), "-o",
                       str(out), "--jobs", jobs, "--summary")
        assert (done.returncode, done.stderr) == (row.returncode, row.stderr)
        assert out.read_bytes() == (tmp_path / "row.jsonl").read_bytes()


def test_the_command_runs_without_importing_pandas(tmp_path: Path) -> None:
    """pyarrow would import pandas (half of the start-up) only to look for pandas objects;
    the command's own process refuses it, and decides the same."""
    source = tmp_path / "episodes.jsonl"
    source.write_bytes(b"\n".join(population("morocco", 50)) + b"\n")
    code = ("import sys\nfrom parcours.compiler.cli.entry import main\n"
            f"sys.argv = ['parcours', 'decide', {str(ROOT / 'policies' / 'morocco.parcours')!r},"
            f" '--engine', 'columnar', '-i', {str(source)!r}, '-o',"
            f" {str(tmp_path / 'out.jsonl')!r}, '-q']\n"
            "try:\n    main()\nexcept SystemExit as exc:\n"
            "    print(exc.code, 'pandas' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert done.stdout.split() == [b"0", b"False"]
    row = run_cli("decide", str(ROOT / "policies" / "morocco.parcours"), "-i", str(source))
    assert (tmp_path / "out.jsonl").read_bytes() == row.stdout
