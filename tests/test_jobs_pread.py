"""`Run --jobs N` from a regular file: workers read their blocks by offset (the command sends
no block's bytes), from a pipe they receive the bytes; worker decisions come back through
shared memory, not the pipe; and those that come back as UTF-8 bytes are written in order
with the text around them."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from parcours.compiler.cli import jobs
from parcours.compiler.files import OutputError, open_output, standard_output
from parcours.runtime import Encoded

pytestmark = pytest.mark.skipif(not jobs.can_fork(), reason="no fork on this system")


def digest(block: bytes, first: int, fast: bool) -> tuple[int, int, str]:
    return first, len(block), hashlib.sha256(block).hexdigest()


def text(count: int) -> bytes:
    return b"".join(b'{"n": %d, "pad": "%s"}\n' % (i, b"x" * (i % 97)) for i in range(count))


def numbered(data: bytes, sizes: list[int]) -> list[int]:
    """The first line number of each block of `sizes` bytes of `data`."""
    firsts, at, line = [], 0, 1
    for size in sizes:
        firsts.append(line)
        line += data[at:at + size].count(b"\n")
        at += size
    return firsts


def results(source: Any, jobs_: int) -> list[Any]:
    out: list[Any] = []
    with jobs.Run(digest, jobs_) as run:
        run.run(source, out.append)
    return out


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[type]:
    """What the command handed to the pool for each block: bytes, or (offset, length)."""
    from concurrent.futures import ProcessPoolExecutor

    monkeypatch.setattr(jobs, "PARALLEL_BYTES", 1 << 14)
    kinds: list[type] = []
    submit = ProcessPoolExecutor.submit

    def spy(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        kinds.append(type(args[0]))
        return submit(self, fn, *args, **kwargs)

    monkeypatch.setattr(ProcessPoolExecutor, "submit", spy)
    return kinds


def test_workers_read_a_regular_file_by_offset(tmp_path: Path, sent: list[type]) -> None:
    data = text(20_000) + b'{"last": "no newline"}'
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    with open(path, "rb") as handle:
        alone = results(handle, 1)
    assert not sent
    with open(path, "rb") as handle:
        two = results(handle, 2)
    assert two == alone and sent and set(sent) == {tuple}
    assert sum(size for _, size, _ in two) == len(data)


def test_a_pipe_sends_the_bytes(tmp_path: Path, sent: list[type]) -> None:
    data = text(20_000)
    read, write = os.pipe()
    writer = subprocess.Popen([sys.executable, "-c",
                               "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())"],
                              stdin=subprocess.PIPE, stdout=write)
    os.close(write)
    assert writer.stdin is not None
    writer.stdin.write(data)
    writer.stdin.close()
    with open(read, "rb") as handle:
        two = results(handle, 2)
    writer.wait()
    assert sent and set(sent) == {bytes}
    assert sum(size for _, size, _ in two) == len(data)  # blocks as they came, numbered
    assert [first for first, _, _ in two] == numbered(data, [size for _, size, _ in two])


def test_a_worker_reads_its_block_by_offset(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"abc\ndef\nghi\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        jobs._WORK.update(function=digest, fd=fd)
        assert jobs._work((4, 4), 2, True) == digest(b"def\n", 2, True)
        with pytest.raises(OSError, match="shrank"):
            jobs._pread(fd, 8, 8)
    finally:
        jobs._WORK.clear()
        os.close(fd)


def decided(block: bytes, first: int, fast: bool) -> tuple[Encoded, int]:
    """A block's "decisions" as a worker's result: its lines upper-cased, and a state."""
    return Encoded(block.upper(), [f"line {first}"], block.count(b"\n"), 1), first


def test_decisions_come_back_through_shared_memory(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipe from a worker carries a `_Parked` result, a few bytes, not the block's
    decisions; the command puts them back: the results equal those of one job."""
    from concurrent.futures import Future

    monkeypatch.setattr(jobs, "PARALLEL_BYTES", 1 << 14)
    parked: list[bool] = []
    result = Future.result

    def spy(self: Any, timeout: Any = None) -> Any:
        value = result(self, timeout)
        parked.append(type(value) is jobs._Parked)
        return value

    monkeypatch.setattr(Future, "result", spy)
    path = tmp_path / "in.jsonl"
    path.write_bytes(text(20_000))
    runs = []
    for count in (1, 2):
        out: list[Any] = []
        with open(path, "rb") as handle, jobs.Run(decided, count) as run:
            run.run(handle, out.append)
        runs.append(out)
    assert runs[0] == runs[1] and len(runs[1]) > 2
    assert parked and all(parked)
    assert b"".join(encoded.text for encoded, _ in runs[1]) == path.read_bytes().upper()


def test_a_result_too_long_for_its_slot_goes_by_the_pipe() -> None:
    arena = jobs._Arena(2, 8)
    short, long_ = decided(b"abc\n", 3, True), decided(b"abcdefghij\n", 4, True)
    assert arena.park(long_, 0) == long_  # as it is
    assert arena.park("other", 0) == "other"
    kept = arena.park(short, 1)
    assert type(kept) is jobs._Parked and kept.result[0].text == b""
    assert arena.unpark(kept) == short and arena.unpark(long_) == long_


def test_bytes_and_text_are_written_in_order(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    with open_output(target) as sink:
        out = jobs.BinaryOut(sink)
        for part in ("é1\n", "é2\n".encode(), "é3\n".encode(), "é4\n", "é5\n".encode()):
            out.write(part)
    assert target.read_text(encoding="utf-8") == "é1\né2\né3\né4\né5\n"


class Closed(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def test_standard_output_takes_bytes_through_its_buffer_and_names_itself(
        monkeypatch: pytest.MonkeyPatch) -> None:
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="utf-8"))
    with standard_output() as sink:
        out = jobs.BinaryOut(sink, sys.stdout)
        for part in ("é1\n", "é2\n".encode(), "é3\n", "é4\n".encode()):
            out.write(part)
        sys.stdout.buffer.flush()
        assert raw.getvalue() == "é1\né2\né3\n".encode() + "é4\n".encode()
    text = io.StringIO()  # no binary layer anywhere: the bytes' text
    jobs.BinaryOut(text).write("é".encode())
    assert text.getvalue() == "é"
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BufferedWriter(Closed())))
    with standard_output() as sink:
        closed = jobs.BinaryOut(sink, sys.stdout)
        with pytest.raises(OutputError) as caught:
            closed.write(b"x" * (1 << 20))
    assert caught.value.errno == errno.EPIPE and "standard output" in str(caught.value)
