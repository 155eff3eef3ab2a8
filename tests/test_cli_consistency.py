"""The commands agree with each other: folders, '-', short options, one summary, help texts
with examples and exit codes, progress on a terminal only, and docs/cli.md covering every
command and option with examples that run."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from parcours.compiler.cli import main
from parcours.compiler.cli.progress import NoProgress, Progress, progress_for

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
FRANCE = POLICIES / "france.parcours"
MOROCCO = POLICIES / "morocco.parcours"
PROPOSAL = POLICIES / "morocco_proposal.parcours"
SAMPLES = POLICIES / "samples" / "episodes.jsonl"
SAMPLES_MA = POLICIES / "samples" / "episodes-ma.jsonl"
CLI = [sys.executable, "-m", "parcours.compiler.cli"]


def invoke(*args: str, stdin: str | bytes | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin)


def commands() -> dict[str, click.Command]:
    return dict(sorted(main.commands.items()))


# ---- check takes folders; compile of a folder is a usage error ----------------------------


def test_check_takes_a_folder_recursively(tmp_path: Path) -> None:
    result = invoke("check", str(POLICIES))
    assert result.exit_code == 0, result.output
    for name in ("episode", "france", "morocco", "morocco_proposal", "nhs", "tunisia"):
        assert f"{POLICIES / name}.parcours: ok" in result.stderr
    assert "Is a directory" not in result.stderr
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (nested / "bad.parcours").write_text("policy nope\n", encoding="utf-8")
    result = invoke("check", str(tmp_path))
    assert result.exit_code == 1
    assert f"{nested / 'bad.parcours'}: failed" in result.stderr


def test_check_of_a_folder_without_policies_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("check", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == f"error: no .parcours files in {tmp_path}\n"


def test_compile_of_a_folder_or_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = invoke("compile", str(POLICIES), "-o", str(tmp_path / "x.py"))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {POLICIES} is a folder")
    result = invoke("compile", str(tmp_path / "missing.parcours"), "-o", str(tmp_path / "x.py"))
    assert result.exit_code == 2
    assert "no such file" in result.stderr
    assert list(tmp_path.iterdir()) == []


# ---- '-' is standard input or output, named so -------------------------------------------


def test_compile_dash_writes_standard_output(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("compile", str(FRANCE), "-o", "-", "--emit", "ir")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("policy france ")
    assert "wrote standard output (france, sha256:" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_explain_reads_the_episode_from_standard_input() -> None:
    line = SAMPLES.read_text(encoding="utf-8").splitlines()[0]
    from_stdin = invoke("explain", str(FRANCE), "--episode", "-", stdin=line + "\n")
    from_text = invoke("explain", str(FRANCE), "--episode", line)
    assert from_stdin.exit_code == 0, from_stdin.output
    assert from_stdin.stdout == from_text.stdout
    assert "episode ep-0000001" in from_stdin.stdout


def test_explain_names_a_missing_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.json")
    result = invoke("explain", str(FRANCE), "--episode", missing)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --episode: no such file: {missing}")
    assert "JSON" not in result.stderr.split("(")[0]
    result = invoke("explain", str(FRANCE), "--episode", str(tmp_path))
    assert result.exit_code == 2 and "is a folder" in result.stderr


def test_compare_names_standard_input() -> None:
    text = "".join(SAMPLES_MA.read_text(encoding="utf-8").splitlines(True)[:50])
    result = invoke("compare", str(MOROCCO), str(PROPOSAL), "-i", "-", stdin=text)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("50 episodes from standard input\n")
    assert "from -" not in result.stdout


# ---- decide: one summary, with the what-if overrides ---------------------------------------


def test_decide_summary_is_one_block_with_the_overrides(tmp_path: Path) -> None:
    result = invoke("decide", str(FRANCE), "-i", str(SAMPLES), "-o", str(tmp_path / "d.jsonl"),
                    "--summary", "--set", "penalty_cap_enabled=true")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0] == "france: 500 decided, 0 rejected"
    assert lines[1] == "  what-if: penalty_cap_enabled=true"
    assert result.stderr.count("decided") == 1
    assert "decisions" not in result.stderr
    assert lines[-1].startswith("  patient pays") and lines[-1].endswith(" EUR")


def test_decide_without_summary_prints_the_count_and_quiet_prints_nothing(
        tmp_path: Path) -> None:
    result = invoke("decide", str(FRANCE), "-i", str(SAMPLES), "-o", str(tmp_path / "d.jsonl"))
    assert result.stderr == "500 decided, 0 rejected\n"
    result = invoke("decide", str(FRANCE), "-i", str(SAMPLES), "-o", str(tmp_path / "d.jsonl"),
                    "-q")
    assert result.exit_code == 0 and result.stderr == ""


# ---- the same short options everywhere -----------------------------------------------------


SHORT = {"--input": "-i", "--output": "-o", "--quiet": "-q", "--help": "-h"}


@pytest.mark.parametrize("name", sorted(main.commands))
def test_short_options_mean_the_same_everywhere(name: str) -> None:
    parent = click.Context(main, **main.context_settings)
    for param in main.commands[name].get_params(click.Context(main.commands[name],
                                                              parent=parent)):
        for long, short in SHORT.items():
            if long in param.opts:
                assert short in param.opts, f"{name} {long} has no {short}"
        for opt in param.opts:
            if opt in SHORT.values():
                assert {v: k for k, v in SHORT.items()}[opt] in param.opts, (name, opt)


def test_progress_commands_take_quiet_and_version_has_a_short_option() -> None:
    for name in ("decide", "population", "compare"):
        assert any("--quiet" in p.opts for p in main.commands[name].params), name
    result = invoke("-V")
    assert result.exit_code == 0 and result.stdout.startswith("parcours, version ")


# ---- help: examples, exit codes, every option explained, short summaries -------------------


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_help_has_examples_and_exit_codes(name: str) -> None:
    result = invoke(name, "--help")
    assert result.exit_code == 0
    assert "\nExamples:\n" in result.stdout.replace("  Examples:", "Examples:")
    assert "Exit codes:" in result.stdout
    examples = result.stdout.split("Examples:")[1].split("Exit codes:")[0]
    assert f"parcours {name} " in examples
    for param in main.commands[name].params:
        if isinstance(param, click.Option):
            assert param.help, f"{name} {param.opts} has no help"


def test_the_command_list_is_not_cut() -> None:
    result = invoke("--help")
    listing = result.stdout.split("Commands:\n")[1]
    assert "..." not in listing
    assert sorted(line.split()[0] for line in listing.splitlines() if line.strip()) == \
        sorted(main.commands)
    assert "Examples:" in result.stdout and "Exit codes" in result.stdout


# ---- docs/cli.md covers every command and option; its runnable examples run ----------------


def _sections() -> dict[str, str]:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    parts = re.split(r"^## `parcours (\w+)[^`]*`\n", text, flags=re.M)
    return {parts[i]: parts[i + 1].split("\n## ")[0] for i in range(1, len(parts), 2)}


def test_docs_cover_every_command_and_option() -> None:
    sections = _sections()
    assert sorted(sections) == sorted(main.commands)
    head = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8").split("\n## `parcours")[0]
    shared = [row for row in head.split("## Conventions")[1].split("\n## ")[0].splitlines()
              if row.startswith("| `")]
    for name, command in commands().items():
        assert f"[`{name}`](#parcours-{name})" in head
        for param in command.params:
            if isinstance(param, click.Option):
                for opt in param.opts:
                    # in the command's section, or in a Conventions row naming the command
                    assert f"`{opt}" in sections[name] or any(
                        f"`{opt}" in row and f"`{name}`" in row for row in shared), \
                        f"docs/cli.md: {name} {opt}"
        assert "Exit code" in sections[name], name
    for opt in ("-V", "--version", "-h", "--help"):
        assert f"{opt}" in head


def _runnable() -> list[list[tuple[str, int]]]:
    """The ```console runnable blocks: each `$` line with its expected exit code (0, or
    the line after a following `$ echo $?`)."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    blocks: list[list[tuple[str, int]]] = []
    for block in re.findall(r"^```console runnable\n(.*?)^```", text, flags=re.M | re.S):
        lines = block.splitlines()
        found: list[tuple[str, int]] = []
        for index, line in enumerate(lines):
            if not line.startswith("$ ") or line == "$ echo $?":
                continue
            expected = 0
            following = [i for i in range(index + 1, len(lines)) if lines[i].startswith("$ ")]
            if following and lines[following[0]] == "$ echo $?":
                expected = int(lines[following[0] + 1])
            found.append((line[2:], expected))
        blocks.append(found)
    return blocks


def test_docs_have_runnable_examples_of_every_command() -> None:
    ran = {command.split()[1] for block in _runnable() for command, _ in block
           if command.startswith("parcours ")}
    assert set(main.commands) <= ran


@pytest.mark.parametrize("block", _runnable(), ids=lambda block: block[0][0][:40])
def test_docs_examples_run(block: list[tuple[str, int]], tmp_path: Path) -> None:
    """A block's lines run in order, in one scratch folder (a line may use what an earlier
    one wrote)."""
    shutil.copytree(POLICIES, tmp_path / "policies")
    (tmp_path / "out").mkdir()
    prelude = f'parcours() {{ "{sys.executable}" -m parcours.compiler.cli "$@"; }}\n'
    for command, expected in block:
        result = subprocess.run(["bash", "-c", prelude + command], cwd=tmp_path,
                                capture_output=True, text=True, timeout=300,
                                stdin=subprocess.DEVNULL)
        assert result.returncode == expected, (command, result.stderr)
        assert "Traceback" not in result.stderr


# ---- progress: on a terminal only, never piped, never with --quiet -------------------------


def _run_with_terminal(args: list[str], stdout: Path) -> tuple[int, bytes]:
    """Run with stderr on a pseudo-terminal; what the terminal received."""
    leader, follower = pty.openpty()
    with open(stdout, "wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=follower, stdin=subprocess.DEVNULL)
    os.close(follower)
    received = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other side closed (Linux)
            break
        if not chunk:
            break
        received += chunk
    os.close(leader)
    return process.wait(timeout=60), received


@pytest.fixture(scope="module")
def population_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("population") / "fr.jsonl"
    result = invoke("population", "--size", "30000", "--seed", "3", "-o", str(path), "-q")
    assert result.exit_code == 0, result.output
    return path


PROGRESS_RUNS = {
    "decide": lambda src: ["decide", str(FRANCE), "-i", str(src)],
    "population": lambda src: ["population", "--size", "30000", "--seed", "3"],
    "compare": lambda src: ["compare", str(FRANCE), str(ROOT / "policies" / "nhs.parcours"), "-i",
                           str(src)],
}


@pytest.mark.parametrize("name", sorted(PROGRESS_RUNS))
def test_progress_shows_on_a_terminal(name: str, population_file: Path,
                                      tmp_path: Path) -> None:
    code, received = _run_with_terminal(CLI + PROGRESS_RUNS[name](population_file),
                                        tmp_path / "out")
    assert code == 0, received
    text = received.decode("utf-8")
    drawn = re.findall(r"\r(\w+): ([\d,]+) episodes  ([\d,]+)/s +(\d+)%", text)
    assert drawn, text
    labels = [label for label, *_ in drawn]  # a run with accumulators reads, then decides
    assert set(labels) <= {"reading", labels[-1]} and labels[-1] != "reading", labels
    assert "ETA " in text
    assert text.count("\r") >= 2  # drawn, then cleared before the summary
    assert "Traceback" not in text
    code, received = _run_with_terminal(CLI + PROGRESS_RUNS[name](population_file) + ["-q"],
                                        tmp_path / "out")
    assert code == 0 and b"\r" not in received and b"episodes  " not in received


@pytest.mark.parametrize("name", sorted(PROGRESS_RUNS))
def test_no_progress_when_piped(name: str, population_file: Path) -> None:
    result = subprocess.run(CLI + PROGRESS_RUNS[name](population_file), capture_output=True,
                            stdin=subprocess.DEVNULL, timeout=300)
    assert result.returncode == 0
    assert b"\r" not in result.stderr
    expected = {"decide": b"30000 decided, 0 rejected\n", "population": b"",
                "compare": b""}[name]
    assert result.stderr == expected
    if name == "population":
        assert result.stdout == population_file.read_bytes()


def test_progress_reads_the_clock_by_a_counter_and_redraws_at_most_ten_times_a_second() -> None:
    class Screen:
        def __init__(self) -> None:
            self.text = ""

        def write(self, text: str) -> int:
            self.text += text
            return len(text)

        def flush(self) -> None:
            return None

        def isatty(self) -> bool:
            return True

    now = [0.0]
    reads = [0]

    def clock() -> float:
        reads[0] += 1
        return now[0]

    screen = Screen()
    progress = Progress("deciding", screen, total=100_000, clock=clock)  # type: ignore[arg-type]
    for _ in range(100_000):
        now[0] += 1e-5  # 100,000 episodes a second, for one second
        progress.tick()
    assert reads[0] < 200  # not on every episode
    draws = screen.text.count("\r")
    assert 5 <= draws <= 11
    assert "ETA" in screen.text and "100,000/s" in screen.text
    progress.clear()
    assert screen.text.endswith("\r")
    assert isinstance(progress_for("x", quiet=True), NoProgress)


# ---- the tutorial writes under out/, the README is accurate --------------------------------


def test_tutorial_outputs_go_to_an_ignored_folder() -> None:
    assert "out/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    text = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    commands_ = [line for line in text.splitlines() if line.startswith("$ parcours ")]
    assert commands_
    for line in commands_:
        for target in re.findall(r"(?:--output|-o|--report|>)\s+(\S+)", line):
            assert target.startswith("out/") or target == "-" or target.startswith("/dev/"), line
        for source in re.findall(r"(?:--input|-i)\s+(\S+)", line):
            assert source.startswith(("out/", "policies/", "-")), line


def test_readme_names_files_that_exist() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "parcours.grammar" not in text
    for path in re.findall(r"`((?:grammar|compiler|runtime|policies|docs|bench|tests)/[^`\s]*)`",
                           text):
        assert (ROOT / path).exists(), path
    assert (ROOT / "grammar/parcours/grammar/parcours.lark").is_file()
