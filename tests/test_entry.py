"""The console script's entry (cli/entry.py): a short `parcours decide` is decided without
click, with the same output bytes, messages and exit codes as the click command; every
other command line goes to click."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from parcours.compiler.cli import entry, main
from parcours.compiler.cli.jobs import PARALLEL_BYTES, cores
from parcours.runtime import DEFAULT_BUFFER

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"
FRANCE = POLICIES / "france.parcours"
MOROCCO = POLICIES / "morocco.parcours"  # no accumulator: the run goes through jobs.Run
SAMPLES = POLICIES / "samples" / "episodes.jsonl"
SAMPLES_MA = POLICIES / "samples" / "episodes-ma.jsonl"

# The console script's way in, and the click command alone (the reference).
FAST = [sys.executable, "-c",
        "import sys; sys.argv[0] = 'parcours'; from parcours.compiler.cli.entry import main; "
        "main()"]
CLICK = [sys.executable, "-c",
         "import sys; sys.argv[0] = 'parcours'; from parcours.compiler.cli import main; main()"]
# Says on stderr, at exit, whether click was imported.
PROBE = [sys.executable, "-c",
         "import atexit, sys; atexit.register(lambda: sys.stderr.write("
         "f'click imported: {\"click\" in sys.modules}\\n')); sys.argv[0] = 'parcours'; "
         "from parcours.compiler.cli.entry import main; main()"]


# ---- the options read here are decide's ---------------------------------------------------


def test_the_options_read_without_click_mean_what_they_mean_in_decide() -> None:
    decide = main.commands["decide"]
    by_option = {option: param for param in decide.params for option in param.opts}
    for option, (name, takes_value) in entry.OPTIONS.items():
        param = by_option[option]
        assert param.name == name, option
        assert isinstance(param, click.Option) and param.is_flag is not takes_value, option
        assert not param.multiple and param.expose_value, option
    # Every option of decide not read here is at the default `entry.decide` runs with.
    parsed = decide.make_context("decide", [str(FRANCE)], parent=group_context()).params
    assert parsed == {"policy": str(FRANCE), "input_path": "-", "output_path": "-",
                      "explain": False, "sets": (), "engine": "compiled", "fmt": None,
                      "summary": False, "state_in": None, "state_out": None,
                      "sort_buffer": DEFAULT_BUFFER, "jobs": cores(), "quiet": False}


def group_context() -> click.Context:
    """The context `parcours` gives its commands (its settings: `-h` for help), so that a
    command parsed here is the command the group runs (click keeps its help option)."""
    return click.Context(main, info_name="parcours", **main.context_settings)


@pytest.mark.parametrize("arguments", [
    ["P"], ["P", "-i", "ONE"], ["-q", "--input", "ONE", "P", "-o", "out.jsonl", "-j", "2"],
    ["P", "--input=ONE", "--output=-", "--jobs=1", "--quiet"], ["-o", "-", "P", "--jobs", "07"],
    ["-i", "-", "P", "-o", "x.txt"], ["P", "-i", "ONE", "-o", "/dev/null"],
])
def test_what_is_read_here_is_what_click_reads(arguments: list[str], tmp_path: Path) -> None:
    one = tmp_path / "one.jsonl"
    one.write_bytes(SAMPLES.read_bytes().splitlines(keepends=True)[0])
    arguments = [{"P": str(FRANCE), "ONE": str(one)}.get(a, a.replace("ONE", str(one)))
                 for a in arguments]
    with open(one, "rb") as handle:  # standard input: a short file
        saved = sys.stdin
        sys.stdin = handle
        try:
            short = entry.short_decide(arguments)
        finally:
            sys.stdin = saved
    assert short is not None, arguments
    policy, input_path, output_path, jobs, quiet = short
    parsed = main.commands["decide"].make_context("decide", list(arguments),
                                                  parent=group_context()).params
    assert (parsed["policy"], parsed["input_path"], parsed["output_path"], parsed["quiet"]) == \
        (policy, input_path, output_path, quiet)
    assert parsed["jobs"] == (cores() if jobs is None else jobs)


def test_a_plain_short_decide_is_read_here(tmp_path: Path) -> None:
    one = tmp_path / "one.jsonl"
    one.write_bytes(SAMPLES.read_bytes().splitlines(keepends=True)[0])
    policy = str(FRANCE)
    assert entry.short_decide([policy, "-i", str(one)]) == (policy, str(one), "-", None, False)
    assert entry.short_decide(["-q", "--input", str(one), policy, "-o", "out.jsonl", "-j", "2"]
                              ) == (policy, str(one), "out.jsonl", 2, True)
    assert entry.short_decide([policy, f"--input={one}", "--output=-", "--jobs=1", "--quiet"]
                              ) == (policy, str(one), "-", 1, True)


@pytest.mark.parametrize("arguments", [
    ["--summary"], ["--explain"], ["--set", "a=1"], ["-h"], ["--help"], ["--engine", "compiled"],
    ["--format", "jsonl"], ["--state-in", "s"], ["--state-out", "s"], ["--sort-buffer", "9"],
    ["--import-path", "."], ["-i", "ONE", "-i", "ONE"], ["-q", "-q"], ["-qj1"], ["-j0"],
    ["-j", "0"], ["-j", "x"], ["--jobs", "+2"], ["--jobs", "٣"], ["--quiet=1"], ["-i=ONE"],
    ["-o", "out.parquet"], ["-o", "out.arrow"], ["-o", "--quiet"], ["-o"], ["--"],
    ["extra-positional"], ["-i", "MISSING"], ["-i", "BIG"], ["-i", "FOLDER"],
])
def test_anything_else_goes_to_click(arguments: list[str], tmp_path: Path) -> None:
    one = tmp_path / "one.jsonl"
    one.write_bytes(SAMPLES.read_bytes().splitlines(keepends=True)[0])
    big = tmp_path / "big.jsonl"
    big.write_bytes(SAMPLES.read_bytes() * (PARALLEL_BYTES // SAMPLES.stat().st_size + 1))
    places = {"ONE": str(one), "MISSING": str(tmp_path / "missing.jsonl"), "BIG": str(big),
              "FOLDER": str(tmp_path)}
    arguments = [places.get(argument, argument) for argument in arguments]
    base = [str(FRANCE)] + ([] if any(a in ("-i", "--input") or a.startswith("-i=")
                                      for a in arguments) else ["-i", str(one)])
    assert entry.short_decide([str(FRANCE), "-i", str(one)]) is not None
    assert entry.short_decide(base + arguments) is None, arguments


def test_standard_input_is_read_here_when_it_is_a_short_file(tmp_path: Path) -> None:
    one = tmp_path / "one.jsonl"
    one.write_bytes(SAMPLES.read_bytes().splitlines(keepends=True)[0])
    code = ("import sys; from parcours.compiler.cli.entry import short_decide; "
            "print(short_decide(sys.argv[1:]) is not None)")
    with open(one, "rb") as handle:
        from_file = subprocess.run([sys.executable, "-c", code, str(FRANCE)], stdin=handle,
                                   capture_output=True, check=True)
    from_pipe = subprocess.run([sys.executable, "-c", code, str(FRANCE)], input=one.read_bytes(),
                               capture_output=True, check=True)
    assert from_file.stdout == b"True\n" and from_pipe.stdout == b"False\n"


# ---- the same bytes, messages and exit codes as the click command ----------------------------


def both(arguments: list[str], tmp_path: Path, stdin: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run `parcours ARGUMENTS` through the entry and through click alone; they must
    agree (exit code, stdout, stderr, and the output file when there is one); the entry's
    run is returned."""
    runs = []
    for way in (FAST, CLICK):
        output = tmp_path / "out.jsonl"
        output.unlink(missing_ok=True)
        with open(stdin if stdin is not None else os.devnull, "rb") as handle:
            done = subprocess.run(way + arguments, stdin=handle, capture_output=True,
                                  check=False, cwd=tmp_path, env={**os.environ, **(env or {})})
        runs.append((done, output.read_bytes() if output.exists() else None))
    (fast, fast_file), (slow, slow_file) = runs
    assert (fast.returncode, fast.stderr, fast.stdout, fast_file) == \
        (slow.returncode, slow.stderr, slow.stdout, slow_file)
    return fast


@pytest.fixture
def cache(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CACHE_HOME": str(tmp_path / "cache")}


def test_good_input_with_accumulators(tmp_path: Path, cache: dict[str, str]) -> None:
    done = both(["decide", str(FRANCE), "-i", str(SAMPLES)], tmp_path, env=cache)
    assert done.returncode == 0 and done.stdout.count(b"\n") > 100
    assert done.stderr.endswith(b" decided, 0 rejected\n")
    done = both(["decide", str(FRANCE), "--input", str(SAMPLES), "-o", "out.jsonl", "-q"],
                tmp_path, env=cache)
    assert done.returncode == 0 and done.stdout == b"" and done.stderr == b""


def test_good_input_without_accumulators(tmp_path: Path, cache: dict[str, str]) -> None:
    done = both(["decide", str(MOROCCO), "-i", str(SAMPLES_MA), "-o", "out.jsonl", "-j", "2"],
                tmp_path, env=cache)
    assert done.returncode == 0 and done.stderr.endswith(b" decided, 0 rejected\n")


def test_a_generated_module_from_standard_input_to_standard_output(
        tmp_path: Path, cache: dict[str, str]) -> None:
    module = tmp_path / "france.py"
    subprocess.run(FAST + ["compile", str(FRANCE), "-o", str(module), "-q"], check=True,
                   env={**os.environ, **cache})
    done = both(["decide", str(module), "-i", "-", "-o", "-"], tmp_path, stdin=SAMPLES, env=cache)
    assert done.returncode == 0 and done.stdout.count(b"\n") > 100


def test_rejected_episodes(tmp_path: Path, cache: dict[str, str]) -> None:
    lines = SAMPLES.read_bytes().splitlines(keepends=True)[:5]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(lines[0] + b"{not json\n" + lines[1] + b'{"id": "x"}\n' + b"\xff\n"
                    + lines[2])
    done = both(["decide", str(FRANCE), "-i", str(bad)], tmp_path, env=cache)
    assert done.returncode == 1 and done.stderr.count(b"rejected: ") == 3
    done = both(["decide", str(MOROCCO), "-i", str(bad), "-q"], tmp_path, env=cache)
    assert done.returncode == 1 and b"rejected: " in done.stderr


def test_what_cannot_run(tmp_path: Path, cache: dict[str, str]) -> None:
    broken = tmp_path / "broken.parcours"
    broken.write_text("policy broken {\n", encoding="utf-8")
    garbage = tmp_path / "garbage.py"
    garbage.write_text("def (:\n", encoding="utf-8")
    raising = tmp_path / "raising.py"
    raising.write_text("raise NameError('no such name')\n", encoding="utf-8")
    foreign = tmp_path / "foreign.py"
    foreign.write_text("x = 1\n", encoding="utf-8")
    for arguments in (["decide", str(tmp_path / "missing.parcours"), "-i", str(SAMPLES)],
                      ["decide", str(broken), "-i", str(SAMPLES)],
                      ["decide", str(garbage), "-i", str(SAMPLES)],
                      ["decide", str(raising), "-i", str(SAMPLES)],
                      ["decide", str(foreign), "-i", str(SAMPLES)],
                      ["decide", str(FRANCE), "-i", str(tmp_path / "missing.jsonl")],
                      ["decide", str(FRANCE), "-i", str(SAMPLES), "-o", "no/such/folder.jsonl"],
                      ["decide", str(FRANCE), "-i", str(SAMPLES), "-j", "0"],
                      ["decide", str(FRANCE), "-i", str(SAMPLES), "--no-such-option"],
                      ["decide", str(FRANCE), str(FRANCE), "-i", str(SAMPLES)]):
        done = both(arguments, tmp_path, env=cache)
        assert done.returncode == 2 and b"error" in done.stderr.lower(), arguments
        assert b"Traceback" not in done.stderr, arguments


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_full_output(tmp_path: Path, cache: dict[str, str]) -> None:
    done = both(["decide", str(FRANCE), "-i", str(SAMPLES), "-o", "/dev/full"], tmp_path,
                env=cache)
    assert done.returncode == 2 and done.stderr.startswith(b"error: cannot write /dev/full")


def test_a_short_decide_imports_no_click_and_the_rest_goes_to_click(tmp_path: Path) -> None:
    short = subprocess.run(PROBE + ["decide", str(FRANCE), "-i", str(SAMPLES), "-q"],
                           capture_output=True, check=False)
    assert short.returncode == 0 and short.stderr == b"click imported: False\n"
    summary = subprocess.run(PROBE + ["decide", str(FRANCE), "-i", str(SAMPLES), "-q",
                                      "--summary"], capture_output=True, check=False)
    assert summary.returncode == 0 and summary.stderr.startswith(b"france: ")
    assert summary.stderr.endswith(b"click imported: True\n")
    helped = subprocess.run(PROBE + ["--help"], capture_output=True, check=False)
    assert helped.returncode == 0 and helped.stdout.startswith(b"Usage: parcours [OPTIONS]")
    helped = subprocess.run(PROBE + ["decide", "--help"], capture_output=True, check=False)
    assert helped.returncode == 0 and helped.stdout.startswith(b"Usage: parcours decide")
