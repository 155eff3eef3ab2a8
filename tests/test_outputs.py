"""Outputs never destroy what they point at, and nothing is half-written: every command
that writes a file (compile -o, decide --output, population --output, compare --report)
replaces a regular file atomically, writes a device or a FIFO in place, follows a symbolic
link, and reports a failure in one line with exit 2, leaving no temporary behind."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from parcours.compiler import files
from parcours.compiler.cli import main
from parcours.compiler.files import (OutputError, TEMPORARY_MARK, open_output,
                                     remove_stale_temporaries, write_output)
from parcours.compiler.tools.population import write_population_file

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SAMPLES = POLICIES / "samples"

Args = Callable[[str], list[str]]

COMMANDS: dict[str, Args] = {
    "compile": lambda target: ["compile", str(POLICIES / "morocco.parcours"), "-o", target],
    "decide": lambda target: ["decide", str(POLICIES / "france.parcours"),
                              "--input", str(SAMPLES / "episodes.jsonl"), "--output", target],
    "population": lambda target: ["population", "--size", "40", "--seed", "3",
                                  "--output", target],
    "compare": lambda target: ["compare", str(POLICIES / "morocco.parcours"),
                               str(POLICIES / "morocco_proposal.parcours"),
                               "--input", str(SAMPLES / "episodes-ma.jsonl"),
                               "--report", target],
}


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(main, args)


def clean_failure(result: Result) -> None:
    """Exit 2, one `error:` line, no traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "wrote" not in result.stderr


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TEMPORARY_MARK in p.name)


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """What each command writes into a plain new file."""
    folder = tmp_path_factory.mktemp("expected")
    out: dict[str, bytes] = {}
    for name, args in COMMANDS.items():
        target = folder / f"{name}.out"
        result = invoke(args(str(target)))
        assert result.exit_code == 0, result.output
        out[name] = target.read_bytes()
        assert out[name]
    assert temporaries(folder) == []
    return out


command_names = pytest.mark.parametrize("command", sorted(COMMANDS))


# ---- what is not a regular file is written in place --------------------------------------


@command_names
def test_a_fifo_keeps_its_type_and_gets_the_bytes(command: str, tmp_path: Path,
                                                  expected: dict[str, bytes]) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as handle:
            received.append(handle.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    result = invoke(COMMANDS[command](str(fifo)))
    reader.join(10)  # the command wrote and closed the FIFO: the reader ends
    if reader.is_alive():  # the command never opened the FIFO: release the reader
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # it was finishing after all
            pass
        reader.join(10)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert received == [expected[command]]
    assert temporaries(tmp_path) == []


@command_names
def test_dev_null_stays_a_character_device(command: str) -> None:
    null = Path("/dev/null")
    if not os.access(null, os.W_OK) or not os.access(null.parent, os.W_OK):
        pytest.skip("only meaningful where /dev could be written (as root)")
    result = invoke(COMMANDS[command](str(null)))
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    assert temporaries(null.parent) == []


@command_names
def test_dev_full_is_a_clean_error(command: str) -> None:
    full = Path("/dev/full")
    if not full.exists() or not os.access(full, os.W_OK):
        pytest.skip("no writable /dev/full here")
    result = invoke(COMMANDS[command](str(full)))
    clean_failure(result)
    assert "error: cannot write /dev/full: No space left on device" in result.stderr
    assert stat.S_ISCHR(os.lstat(full).st_mode)


def test_a_full_device_mid_stream_is_a_clean_error() -> None:
    if not Path("/dev/full").exists() or not os.access("/dev/full", os.W_OK):
        pytest.skip("no writable /dev/full here")
    # several megabytes: the error comes from a write in the middle, not the last flush
    result = invoke(["population", "--size", "20000", "--seed", "1", "--output", "/dev/full"])
    clean_failure(result)
    assert "error: cannot write /dev/full: No space left on device" in result.stderr


# ---- symbolic links and permissions --------------------------------------------------------


@command_names
def test_a_symlink_stays_a_link_and_its_target_gets_the_output(
        command: str, tmp_path: Path, expected: dict[str, bytes]) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "file.out"
    target.write_bytes(b"old\n")
    link = tmp_path / "link.out"
    link.symlink_to(Path("real") / "file.out")
    result = invoke(COMMANDS[command](str(link)))
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == os.path.join("real", "file.out")
    assert target.read_bytes() == expected[command]
    assert temporaries(tmp_path) == [] and temporaries(tmp_path / "real") == []


def test_a_dangling_symlink_creates_its_target(tmp_path: Path,
                                               expected: dict[str, bytes]) -> None:
    link = tmp_path / "link.jsonl"
    link.symlink_to("made.jsonl")
    assert invoke(COMMANDS["decide"](str(link))).exit_code == 0
    assert link.is_symlink()
    assert (tmp_path / "made.jsonl").read_bytes() == expected["decide"]


@command_names
def test_a_replaced_file_keeps_its_mode(command: str, tmp_path: Path,
                                        expected: dict[str, bytes]) -> None:
    target = tmp_path / "out"
    target.write_bytes(b"old\n")
    target.chmod(0o604)
    result = invoke(COMMANDS[command](str(target)))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o604
    assert target.read_bytes() == expected[command]


def test_a_new_file_gets_the_umask_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o027)
    try:
        write_output(tmp_path / "new.txt", "x\n")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640


# ---- failures: one line, exit 2, nothing left, the old target untouched --------------------


@command_names
def test_a_missing_folder_is_a_clean_error(command: str, tmp_path: Path) -> None:
    result = invoke(COMMANDS[command](str(tmp_path / "missing" / "out")))
    clean_failure(result)
    assert "No such file or directory" in result.stderr
    assert list(tmp_path.iterdir()) == []


@command_names
def test_a_directory_is_a_clean_error(command: str, tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    result = invoke(COMMANDS[command](str(tmp_path / "folder")))
    clean_failure(result)
    assert "Is a directory" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["folder"]
    assert list((tmp_path / "folder").iterdir()) == []


@command_names
def test_a_file_under_a_file_is_a_clean_error(command: str, tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("keep\n", encoding="utf-8")
    clean_failure(invoke(COMMANDS[command](str(tmp_path / "plain" / "out"))))
    assert (tmp_path / "plain").read_text(encoding="utf-8") == "keep\n"


def test_proc_version_is_a_clean_error() -> None:
    if not Path("/proc/version").exists():
        pytest.skip("no /proc here")
    clean_failure(invoke(COMMANDS["decide"]("/proc/version")))


def test_a_read_only_folder_is_a_clean_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "out.jsonl").write_text("old\n", encoding="utf-8")
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("this user can write a read-only folder (root)")
        clean_failure(invoke(COMMANDS["decide"](str(folder / "out.jsonl"))))
        assert [p.name for p in folder.iterdir()] == ["out.jsonl"]
        assert (folder / "out.jsonl").read_text(encoding="utf-8") == "old\n"
    finally:
        folder.chmod(0o755)


def test_an_exception_mid_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old\n", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with open_output(target) as handle:
            handle.write("new, but only half" * 100_000)
            raise RuntimeError("crash")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def _advice(monkeypatch: pytest.MonkeyPatch, refuse: bool = False) -> list[tuple[int, int]]:
    """The ranges the writer asks the system to send to disk, or to let go of, each step
    1 MB."""
    monkeypatch.setattr(files, "WRITE_BEHIND", 1 << 20)
    asked: list[tuple[int, int]] = []
    real = os.posix_fadvise

    def advise(fd: int, offset: int, length: int, advice: int) -> None:
        assert advice == os.POSIX_FADV_DONTNEED
        asked.append((offset, length))
        if refuse:
            raise OSError(22, "Invalid argument")
        real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", advise)
    return asked


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise here")
def test_a_long_output_is_sent_to_disk_as_it_is_written(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _advice(monkeypatch)
    line = "x" * 99 + "\n"
    target = tmp_path / "out.txt"
    with open_output(target) as handle:
        for _ in range(35_000):  # 3.5 MB
            handle.write(line)
    assert target.read_text(encoding="utf-8") == line * 35_000
    # the ranges sent follow one another from the start, each of at least 1 MB (as the
    # buffers above hand them down), never past the bytes written
    sent = list(dict.fromkeys(asked))
    assert [offset for offset, _ in sent] == [0, *(o + n for o, n in sent[:-1])]
    assert len(sent) >= 2 and all(n >= 1 << 20 for _, n in sent)
    assert sum(n for _, n in sent) <= 3_500_000
    # each range is let go of (asked again) when the next one is sent
    assert asked == [sent[0], *(x for pair in zip(sent, sent[1:]) for x in pair)]


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise here")
def test_a_refused_advice_to_write_to_disk_changes_nothing(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _advice(monkeypatch, refuse=True)
    target = tmp_path / "out.txt"
    write_output(target, "y" * 3_000_000)
    assert target.read_text(encoding="utf-8") == "y" * 3_000_000
    assert len(asked) == 1  # asked once, then no more


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise here")
def test_a_device_is_not_sent_to_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _advice(monkeypatch)
    write_output(os.devnull, "z" * 3_000_000)
    assert asked == []


def test_output_errors_name_the_target_as_given(tmp_path: Path) -> None:
    with pytest.raises(OutputError) as caught:
        write_output(tmp_path / "nowhere" / "x.txt", "x")
    assert str(caught.value) == (f"cannot write {tmp_path / 'nowhere' / 'x.txt'}: "
                                 "No such file or directory")


# ---- temporaries left by a killed process --------------------------------------------------


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path: Path) -> None:
    finished = subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert finished.returncode == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.txt{TEMPORARY_MARK}{dead.pid}"
    alive = tmp_path / f".out.txt{TEMPORARY_MARK}{os.getppid()}"
    other = tmp_path / f".other.txt{TEMPORARY_MARK}{dead.pid}"
    for path in (stale, alive, other):
        path.write_text("half", encoding="utf-8")
    notes: list[str] = []
    write_output(tmp_path / "out.txt", "new\n", notes.append)
    assert not stale.exists()
    assert alive.exists() and other.exists()  # a running writer, another target
    assert len(notes) == 1 and stale.name in notes[0] and str(dead.pid) in notes[0]
    assert remove_stale_temporaries(tmp_path / "out.txt", notes.append) == []


def test_a_killed_decide_leaves_the_old_target_and_the_next_run_cleans_up(
        tmp_path: Path) -> None:
    episodes = tmp_path / "many.jsonl"
    write_population_file(episodes, 50_000, 11, "fr")
    target = tmp_path / "out.jsonl"
    target.write_text("old\n", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "parcours.compiler.cli", "decide",
         str(POLICIES / "france.parcours"), "--input", str(episodes), "--output", str(target)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    temporary = tmp_path / f".out.jsonl{TEMPORARY_MARK}{process.pid}"
    deadline = time.monotonic() + 120
    try:
        while not (temporary.exists() and temporary.stat().st_size > 0):
            assert process.poll() is None, "decide ended before it could be killed"
            assert time.monotonic() < deadline, "decide wrote nothing in two minutes"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert target.read_text(encoding="utf-8") == "old\n"
    assert temporaries(tmp_path) == [temporary.name]

    result = invoke(COMMANDS["decide"](str(target)))
    assert result.exit_code == 0, result.output
    assert f"removed {temporary}" in result.stderr
    assert temporaries(tmp_path) == []
    assert target.read_text(encoding="utf-8").startswith('{"id":')


# ---- standard output -----------------------------------------------------------------------


def test_a_closed_pipe_on_standard_output_exits_quietly() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "parcours.compiler.cli", "decide",
         str(POLICIES / "france.parcours"), "--input", str(SAMPLES / "episodes.jsonl")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().startswith(b'{"id":')
    process.stdout.close()  # like `| head -1`
    stderr = process.stderr.read().decode()
    process.wait()
    assert process.returncode == 2
    assert stderr == "", stderr


@pytest.mark.parametrize("args", [
    ["population", "--size", "10", "--seed", "1"],
    ["decide", str(POLICIES / "france.parcours"), "--input", str(SAMPLES / "episodes.jsonl")],
    ["compare", str(POLICIES / "morocco.parcours"), str(POLICIES / "morocco_proposal.parcours"),
     "--input", str(SAMPLES / "episodes-ma.jsonl")],
], ids=["population", "decide", "compare"])
def test_a_full_standard_output_is_a_clean_error(args: list[str]) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with open("/dev/full", "wb") as full:
        done = subprocess.run([sys.executable, "-m", "parcours.compiler.cli", *args],
                              stdout=full, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 2
    assert done.stderr.endswith("error: cannot write standard output: "
                                "No space left on device\n"), done.stderr
    assert "Traceback" not in done.stderr and "decided" not in done.stderr


@pytest.mark.parametrize("command", [
    ["explain", "policies/france.parcours", "--episode", "@first-sample"],
    ["diff", "policies/france.parcours", "policies/france.parcours"],
    ["check", "--format", "json", "policies/france.parcours"],
    ["test", "policies/france.tests.toml"],
])
def test_standard_output_on_a_full_device_is_a_clean_exit_2(command: list[str]) -> None:
    """Commands that print their result (not only those with --output) fail cleanly when
    standard output cannot be written, instead of a traceback or a silent exit 0."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    first = (ROOT / "policies" / "samples" / "episodes.jsonl").read_text().splitlines()[0]
    args = [first if a == "@first-sample" else a for a in command]
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "parcours.compiler.cli", *args], cwd=ROOT,
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "cannot write standard output: No space left on device" in done.stderr
