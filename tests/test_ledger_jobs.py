"""A run with accumulators on several processes (`decide --jobs N`): the keys split across
workers by a hash of their bytes, and the output, the rejections, the summary and the state
file the same byte for byte as in one process, whatever the order of the lines."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from parcours.compiler.cli import jobs, main
from parcours.runtime import AccumulatorSpec, key_owner, key_reader, slot_owner

ROOT = Path(__file__).resolve().parent.parent
FRANCE = ROOT / "policies" / "france.parcours"

OWNERS = [1, 0, 0, 1, 1, 1, 2, 0]  # zlib.crc32(b"p-N") % 3

BAD = [b"not json\n", b'{"id":"x1","date":"2025-02-30","patient":{"id":"p-1"}}\n',
       b"\n", b'{"id":"x2","date":"2025-01-01","patient":{"id":"","age":40}}\n',
       '{"id":"x3","date":"2025-03-01","patient":{"id":"p-\u00e9"},"visit":1}\n'.encode()]


@pytest.fixture(scope="module")
def persons(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """Episodes of persons with ids, several visits a year each, in person order."""
    path = tmp_path_factory.mktemp("ledger-jobs") / "fr.jsonl"
    result = CliRunner().invoke(main, ["population", "--size", "1500", "--seed", "3",
                                       "--profile", "fr", "-o", str(path), "-q"])
    assert result.exit_code == 0, result.output
    lines = path.read_bytes().splitlines(keepends=True)
    assert sum(b'"patient":{"id":' in line for line in lines) > 1000
    return lines


def without_key(line: bytes) -> bytes:
    value = json.loads(line)
    del value["patient"]["id"]
    return (json.dumps(value, separators=(",", ":")) + "\n").encode()


def decide(tmp_path: Path, name: str, lines: list[bytes], jobs_: int,
           *extra: str) -> tuple[int, bytes, str, bytes]:
    """(exit code, decisions, stderr, state file) of `decide --jobs N --summary`."""
    source = tmp_path / f"{name}.jsonl"
    source.write_bytes(b"".join(lines))
    out, state = tmp_path / f"{name}-{jobs_}.out", tmp_path / f"{name}-{jobs_}.state"
    result = CliRunner().invoke(main, ["decide", str(FRANCE), "-i", str(source), "-o", str(out),
                                       "--summary", "--state-out", str(state),
                                       "--jobs", str(jobs_), *extra])
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    return result.exit_code, out.read_bytes(), result.stderr, state.read_bytes()


def shuffled(lines: list[bytes], seed: int) -> list[bytes]:
    copy = list(lines)
    random.Random(seed).shuffle(copy)
    return copy


@pytest.mark.parametrize("case", ["in order", "bad lines", "no key on some", "out of order",
                                  "out of order, spilled", "state in",
                                  "state in, out of order"])
def test_every_number_of_jobs_gives_the_same_bytes(persons: list[bytes], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   case: str) -> None:
    monkeypatch.setattr(jobs, "PARALLEL_BYTES", 1 << 12)  # the workers start after 4 KiB
    lines, extra = list(persons), []
    if case == "bad lines":
        for at, bad in zip((400, 401, 900, 1200, 1499), BAD):
            lines.insert(at, bad)
    elif case == "no key on some":
        lines = [without_key(line) if n % 3 == 0 else line for n, line in enumerate(lines)]
    elif case.startswith("out of order"):
        lines = lines[:5] + shuffled(lines[5:], 11) + BAD
        if case.endswith("spilled"):
            extra = ["--sort-buffer", "97"]
    elif case.startswith("state in"):
        if case.endswith("out of order"):
            lines = shuffled(lines, 5)
        state = tmp_path / "in.jsonl"
        keys = sorted({json.loads(line)["patient"]["id"] for line in lines})
        state.write_text("".join(
            json.dumps({"accumulator": "participations", "key": [key], "period": year,
                        "used": "45.00"}) + "\n" for key in keys[::7] for year in ("2025", "2026")
        ) + '{"accumulator":"participations","key":["nobody"],"period":"2020","used":"3"}\n',
                         encoding="utf-8")
        extra = ["--state-in", str(state)]
    one = decide(tmp_path, "run", lines, 1, *extra)
    assert one[1].count(b"\n") > 1000 and b"participations" in one[3]
    if case == "bad lines":
        assert one[0] == 1 and one[2].count("rejected:") == 4
    for count in (2, 3):
        assert decide(tmp_path, "run", lines, count, *extra) == one, f"--jobs {count}"


def test_a_run_without_any_key_needs_no_ledger(persons: list[bytes], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "PARALLEL_BYTES", 1 << 12)
    lines = [without_key(line) for line in persons]
    one = decide(tmp_path, "keyless", lines, 1)
    assert one[3] == b""  # no state: every episode a person of its own
    assert decide(tmp_path, "keyless", lines, 2) == one


@pytest.mark.parametrize("line", [
    b'{"id":"a","date":"2025-01-01","patient":{"id":"p-1","age":3}}',
    b'{"id":"a","date":"2025-01-01","patient":{"age":3,"id":"p-2"}}',
    b'{"date":"2025-01-01","id":"a","patient":{"id":"p-3"}}',
    b'{"id":"a","date":"2025-01-01","patient":{"age":3}}',
    b'{"id":"a","date":"2025-01-01","patient":{"age":3},"x":{"id":"no"}}',
    b'{"id":"a","date":"2025-01-01","patient":{"id":"p\\u00e9"}}',
    '{"id":"a","date":"2025-01-01","patient":{"id":"p\u00e9"}}'.encode(),
    b'{"id":"a","date":"2025-01-01","patient":{"id":""}}',
    b'{"id":"a","date":"2025-01-01","patient":{"id":7}}',
    b'\xef\xbb\xbf{"id":"a","date":"2025-01-01","patient":{"id":"p-4"}}',
    b"[1, 2]", b"not json", b"",
])
def test_the_quick_key_is_the_ledgers_key(line: bytes) -> None:
    spec = AccumulatorSpec("pf", "pf_used", ("patient.id",), "calendar_year", "fee", ())
    read = key_reader(spec.keys)
    try:
        value = json.loads(line.removeprefix(b"\xef\xbb\xbf"))
    except ValueError:
        value = None
    key = spec.key_of(value) if isinstance(value, dict) else None
    assert read(line) == (None if key is None else key[0].encode())
    if key is not None:  # a line's key and its slot go to the same worker
        for count in (2, 3, 5):
            assert key_owner(read(line) or b"", count) == slot_owner(("pf", key, "2025"), count)


def test_a_key_goes_to_the_same_worker_in_every_run() -> None:
    """A hash of the key's bytes (CRC-32), not Python's `hash` (another in each process)."""
    assert [key_owner(f"p-{n}".encode(), 3) for n in range(8)] == OWNERS


# ---- the first pass, a block at a time ------------------------------------------------

def first_pass(lines: list[bytes], block: int) -> tuple[bool, bool, list[int], list[bytes]]:
    """`ledger_lines` on a binary file (read in blocks of `block` bytes): (sorted, keyed,
    numbers, the lines of the second pass)."""
    import io

    from parcours.runtime import ledger_lines, order

    specs = specs_of_france()
    numbers, keyed = [0], [True]
    saved, order.FIRST_PASS_BYTES = order.FIRST_PASS_BYTES, block
    try:
        again, sorted_ = ledger_lines(io.BytesIO(b"".join(lines)), specs, 50, numbers,
                                      keyed=keyed)
        return sorted_, keyed[0], numbers[1:], list(again)
    finally:
        order.FIRST_PASS_BYTES = saved


@pytest.mark.parametrize("case", ["in order", "keyless", "mixed", "odd lines", "out of order",
                                  "out of order late"])
def test_a_first_pass_by_blocks_says_what_one_by_lines_says(persons: list[bytes],
                                                            case: str) -> None:
    from parcours.runtime import in_key_order

    lines = list(persons[:600])
    if case == "keyless":
        lines = [without_key(line) for line in lines]
    elif case == "mixed":
        lines = [without_key(line) if n % 50 else line for n, line in enumerate(lines)]
    elif case == "odd lines":
        lines = [b"\xef\xbb\xbf" + lines[0]] + [without_key(line) for line in lines[1:]]
        lines[300:300] = [b"\r\n", b'{"id":"a\\u0041","date":"2025-01-01","patient":{}}\r\n',
                          b"[]\n", lines[10].replace(b"\n", b"\r\n")]
        lines[-1] = lines[-1].rstrip(b"\n")
    elif case.startswith("out of order"):
        at = 550 if case.endswith("late") else 20
        lines[at], lines[at + 1] = lines[at + 1], lines[at]
        if lines[at].split(b'"patient":{"id":')[1][:12] != \
                lines[at + 1].split(b'"patient":{"id":')[1][:12]:
            lines.insert(at + 2, lines[at])  # the same episode twice: its key out of order
    keyed = [False]
    in_order = in_key_order(iter(lines), specs_of_france(), keyed)
    for block in (64, 4096, 1 << 20):
        sorted_, seen_keyed, count, again = first_pass(lines, block)
        assert (not sorted_, seen_keyed) == (in_order, keyed[0]), block
        assert count == [len(lines)]
        if in_order:
            assert b"".join(again) == b"".join(lines)
    assert in_order == (not case.startswith("out of order"))
    assert keyed[0] == (case != "keyless")


def specs_of_france() -> tuple[AccumulatorSpec, ...]:
    return (AccumulatorSpec("participations", "participations_used", ("patient.id",),
                            "calendar_year", "flat_fee", ()),)


def test_without_a_state_file_the_workers_keep_their_totals(persons: list[bytes],
                                                           tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setattr(jobs, "PARALLEL_BYTES", 1 << 12)
    source = tmp_path / "e.jsonl"
    outputs = []
    for lines in (persons, shuffled(persons, 2)):
        source.write_bytes(b"".join(lines))
        for count in ("1", "2"):
            result = CliRunner().invoke(main, ["decide", str(FRANCE), "-i", str(source),
                                               "--jobs", count, "--summary"])
            assert result.exit_code == 0, result.output
            outputs.append((result.stdout, result.stderr))
    assert outputs[0] == outputs[1] and outputs[2] == outputs[3]
    assert sorted(outputs[0][0].splitlines()) == sorted(outputs[2][0].splitlines())


def test_a_failed_worker_is_a_clear_error(persons: list[bytes], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from parcours.compiler.cli.partition import Partition

    monkeypatch.setattr(jobs, "PARALLEL_BYTES", 1 << 12)
    work = Partition.work

    def failing(self: Partition, index: int, jobs_: int, part: tuple[int, bytes]) -> object:
        if index == 1:
            raise MemoryError("no room")
        return work(self, index, jobs_, part)

    monkeypatch.setattr(Partition, "work", failing)
    source = tmp_path / "e.jsonl"
    source.write_bytes(b"".join(persons))
    result = CliRunner().invoke(main, ["decide", str(FRANCE), "-i", str(source), "--jobs", "2",
                                       "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 2
    assert "error: a worker process failed: MemoryError: no room" in result.stderr
    assert "Traceback" not in result.output
