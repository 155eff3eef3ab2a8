"""Hostile policies: deep expressions, huge numbers, odd imports and odd files.

Every case ends in diagnostics (`FILE:LINE:COL: error[CODE]: …`) and the exit code
docs/cli.md gives (check and compile 1, decide 2), never a traceback; and a policy that
checks clean compiles, imports and passes mypy --strict, however deep it is within the
documented limits (docs/language.md: 64 levels, 18 digits, 8 MiB per file).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from parcours.compiler.backends.python.loader import load_module
from parcours.compiler.cli import main
from parcours.compiler.pipeline import analyse, compile_policy
from parcours.compiler.sema.load import MAX_FILE_BYTES, import_paths
from parcours.compiler.syntax.build import MAX_DEPTH, MAX_DIGITS, MAX_OPERANDS

ROOT = Path(__file__).resolve().parent.parent
NHS = (ROOT / "policies" / "nhs.parcours").read_text(encoding="utf-8")
SCHEMA = (ROOT / "policies" / "episode.parcours").read_bytes()
HEADLINE = re.compile(r"^\S.*:\d+:\d+: (error|warning)\[[EW]\d{3}\]: .+$")
RULE = "    when visit.emergency\n"  # the NHS emergency rule's condition


def nhs(extra: str = "", rule: str | None = None, import_line: str | None = None) -> str:
    """The NHS policy, plus declarations, with the emergency rule's condition extended."""
    text = NHS
    if rule is not None:
        assert RULE in text
        text = text.replace(RULE, f"    when visit.emergency or {rule}\n")
    if import_line is not None:
        text = text.replace('import "episode.parcours"', import_line)
    return text + "\n" + extra + "\n"


@pytest.fixture()
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    (tmp_path / "episode.parcours").write_bytes(SCHEMA)

    def write(text: str, name: str = "hostile.parcours") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def cli(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def codes(result: Result) -> set[str]:
    lines = [line for line in result.output.splitlines()
             if re.search(r"(error|warning)\[", line) and not re.match(r"^\s*\d* \|", line)]
    for line in lines:
        assert HEADLINE.match(line), line
    return {re.search(r"\[([EW]\d{3})\]", line).group(1) for line in lines}  # type: ignore[union-attr]


# ---- expressions past the limits: one diagnostic, no traceback -----------------------

REFUSED = {
    "not_300": ("let deep = " + "not " * 300 + "patient.chronic_condition", "E105"),
    "min_150": ("let deep = " + "min(" * 150 + "patient.age" + ", 1)" * 150 + " > 3", "E105"),
    "lookup_and_calls": ("let deep = " + "round_half_up(" * 70 + "visit.fee * 0.5"
                         + ", 0.01)" * 70 + " > 1.00 GBP", "E105"),
    "int_5000_digits": ("let huge = patient.age > " + "9" * 5000, "E104"),
    "int_19_digits": ("let huge = patient.age > " + "1" * (MAX_DIGITS + 1), "E104"),
    "decimal_digits": ("param tiny: rate = 0." + "0" * 30 + "1", "E104"),
    "money_digits": ("param big: money = " + "9" * 30 + ".00 GBP", "E104"),
    "int_range": ("input visit.count: int[0.." + "9" * 40 + "] = 0", "E104"),
    "plus_1001": ("let long = " + " + ".join(["patient.age"] * (MAX_OPERANDS + 1)) + " > 3",
                  "E105"),
    "plus_3000_in_rule": ("let long = " + " + ".join(["patient.age"] * 3000) + " > 3100",
                          "E105"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_past_a_limit_is_one_named_diagnostic(name: str, write: Callable[..., Path]) -> None:
    extra, code = REFUSED[name]
    path = write(nhs(extra))
    checked = cli("check", str(path))
    assert checked.exit_code == 1
    assert codes(checked) == {code}  # the declaration is left out quietly: no cascade
    assert "(the limit)" in checked.output
    assert f"{path}:" in checked.output
    compiled = cli("compile", str(path), "-o", str(path.with_suffix(".py")))
    assert compiled.exit_code == 1 and codes(compiled) == {code}
    decided = cli("decide", str(path), "--input", os.devnull)
    assert decided.exit_code == 2


def test_a_huge_priority_is_e104(write: Callable[..., Path]) -> None:
    path = write(NHS.replace("rule emergency priority 1:", "rule emergency priority "
                             + "7" * 40 + ":"))
    assert codes(cli("check", str(path))) == {"E104"}


def test_the_depth_limit_is_exact(write: Callable[..., Path]) -> None:
    # `not` × k around a condition nests k + 1 levels.
    ok = write(nhs("let deep = " + "not " * (MAX_DEPTH - 1) + "patient.chronic_condition"), "a.parcours")
    assert analyse(ok).ok
    over = write(nhs("let deep = " + "not " * MAX_DEPTH + "patient.chronic_condition"), "b.parcours")
    assert [d.code for d in analyse(over).diagnostics] == ["E105"]


# ---- deep but allowed: check clean ⇒ compile, import, mypy --strict ------------------

ALLOWED = {
    "and_500": ("let deep = " + " and ".join(["patient.chronic_condition"] * 500), "deep"),
    "or_500": ("let deep = " + " or ".join(["patient.age > 3"] * 500), "deep"),
    "plus_300": ("let deep = " + " + ".join(["patient.age"] * 300) + " > 3", None),
    "plus_minus_250_in_rule": (None, " + ".join(["patient.age"] * 125) + " - "
                               + " - ".join(["1"] * 124) + " > 3"),
    "parens_300": ("let deep = " + "(" * 300 + "patient.age" + ")" * 300 + " > 3", "deep"),
    "min_63": ("let deep = " + "min(" * 62 + "patient.age" + ", 1)" * 62 + " > 3", "deep"),
    "max3_63": ("let deep = " + "max(" * 62 + "patient.age" + ", 1, 2)" * 62 + " > 3", "deep"),
    "not_63": ("let deep = " + "not " * 63 + "patient.chronic_condition", "deep"),
    "min_plus_31": ("let deep = " + "min(patient.age + " * 31 + "patient.age" + ", 1)" * 31
                    + " > 3", "deep"),
    "round_60": ("let deep = " + "round_half_up(" * 60 + "visit.fee * 0.5" + ", 0.01)" * 60
                 + " > 3.00 GBP", "deep"),
    "times_200": ("let deep = " + " * ".join(["patient.age"] * 200) + " > 3", None),
    "lets_3000_reversed": ("\n".join(f"let v{i} = v{i - 1} + 1" for i in range(2999, 0, -1))
                           + "\nlet v0 = patient.age", None),
    # read by a rule: the verifier, the citations and both engines follow them
    "lets_3000_in_rule": ("\n".join(f"let v{i} = v{i - 1} + 1" for i in range(2999, 0, -1))
                          + "\nlet v0 = patient.age", "v2999 > 3040"),
    "plus_1000_in_rule": (None, " + ".join(["patient.age"] * MAX_OPERANDS) + " > 3100"),
    # each let read once, by the next: the Python backend writes such a let where it is
    # read, but not without end (`lets.MAX_MOVED_DEPTH`)
    "flags_3000_in_rule": ("\n".join(f"let b{i} = b{i - 1} and patient.age > {i % 90}"
                                      for i in range(2999, 0, -1))
                           + "\nlet b0 = patient.chronic_condition", "b2999"),
    # a rounded product of a let at the end of a chain: whether it takes few values is
    # worked out let after let, not by a recursion 3000 deep
    "rounded_after_3000_lets": ("\n".join(f"let m{i} = m{i - 1} + 1.00 GBP"
                                           for i in range(2999, 0, -1))
                                + "\nlet m0 = 1.00 GBP",
                                "round_half_up(m2999 * 0.5, 0.01) > 3.00 GBP"),
}


def _allowed_text(name: str) -> str:
    extra, rule = ALLOWED[name]
    return nhs(extra or "", rule)


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_deep_but_allowed_checks_compiles_and_imports(name: str,
                                                      write: Callable[..., Path]) -> None:
    path = write(_allowed_text(name))
    analysis = analyse(path)
    assert analysis.ok, analysis.render()
    _, text = compile_policy(path)
    module = load_module(f"hostile_{name}", text, f"<{name}>")
    assert module.POLICY.id == "nhs"
    checked = cli("check", str(path))
    assert checked.exit_code == 0


@pytest.mark.parametrize("name", ["lets_3000_in_rule", "plus_1000_in_rule",
                                  "flags_3000_in_rule", "rounded_after_3000_lets"])
def test_deep_rules_decide_alike_in_both_engines(name: str, write: Callable[..., Path],
                                                 tmp_path: Path) -> None:
    path = write(_allowed_text(name))
    samples = str(ROOT / "policies" / "samples" / "episodes.jsonl")
    outputs = []
    for engine in ("compiled", "interpreted"):
        out = tmp_path / f"{engine}.jsonl"
        result = cli("decide", str(path), "-i", samples, "-o", str(out), "--engine", engine)
        assert result.exit_code == 0, result.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert b'"rule":"emergency"' in outputs[0]  # the deep condition does decide some


def test_deep_but_allowed_modules_pass_mypy_strict(write: Callable[..., Path],
                                                   tmp_path: Path) -> None:
    targets = []
    for name in ("min_63", "max3_63", "not_63", "min_plus_31", "round_60",
                 "plus_minus_250_in_rule", "and_500"):
        _, text = compile_policy(write(_allowed_text(name), f"{name}.parcours"))
        target = tmp_path / f"{name}_policy.py"
        target.write_text(text, encoding="utf-8")
        targets.append(str(target))
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *targets],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_let_cycle_is_e345_not_a_recursion(write: Callable[..., Path]) -> None:
    lets = "\n".join(f"let c{i} = c{(i + 1) % 3000} + 1" for i in range(3000))
    result = cli("check", str(write(nhs(lets))))
    assert result.exit_code == 1 and codes(result) == {"E345"}


# ---- imports -------------------------------------------------------------------------

def _import(write: Callable[..., Path], target: str, *options: str) -> Result:
    return cli("check", *options, str(write(nhs(import_line=f'import "{target}"'))))


def test_an_absolute_import_is_e206(write: Callable[..., Path]) -> None:
    result = _import(write, "/dev/zero")
    assert result.exit_code == 1 and "E206" in codes(result)
    assert "absolute" in result.output


def test_climbing_out_with_dotdot_is_e206(write: Callable[..., Path], tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "episode.parcours").write_bytes(SCHEMA)
    result = _import(write, f"../{outside.name}/episode.parcours")
    assert result.exit_code == 1 and "E206" in codes(result)


def test_dotdot_inside_the_tree_is_fine(write: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "shared.parcours").write_text(
        'schema shared\nimport "../episode.parcours"\n', encoding="utf-8")
    result = _import(write, "sub/shared.parcours")
    assert result.exit_code == 0, result.output


def test_a_symlink_out_of_the_tree_is_e206(write: Callable[..., Path], tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    outside.mkdir()
    (outside / "episode.parcours").write_bytes(SCHEMA)
    (tmp_path / "linked.parcours").symlink_to(outside / "episode.parcours")
    result = _import(write, "linked.parcours")
    assert result.exit_code == 1 and "E206" in codes(result)
    # The same file is fine once its folder is an import folder.
    assert _import(write, "linked.parcours", "--import-path", str(outside)).exit_code == 0


def test_import_path_finds_a_schema(write: Callable[..., Path], tmp_path: Path) -> None:
    library = tmp_path.parent / f"{tmp_path.name}-library"
    library.mkdir()
    (library / "shared_episode.parcours").write_bytes(SCHEMA)
    assert _import(write, "shared_episode.parcours").exit_code == 1  # E002: not beside it
    assert _import(write, "shared_episode.parcours", "--import-path", str(library)).exit_code == 0
    path = write(nhs(import_line='import "shared_episode.parcours"'))
    with import_paths([library]):
        assert analyse(path).ok
    assert not analyse(path).ok


def test_an_import_path_that_is_not_a_folder_is_usage(write: Callable[..., Path]) -> None:
    result = cli("check", "--import-path", "no-such-folder", str(write(nhs())))
    assert result.exit_code == 2


def test_a_symlink_to_a_device_is_e003(write: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "zero.parcours").symlink_to(os.devnull)
    result = _import(write, "zero.parcours", "--import-path", str(Path(os.devnull).parent))
    assert result.exit_code == 1 and "E003" in codes(result)


def test_a_folder_is_e003(write: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "folder.parcours").mkdir()
    assert "E003" in codes(_import(write, "folder.parcours"))
    # `check FOLDER` checks the policies under it; a folder named like a policy holds none
    result = cli("check", str(tmp_path / "folder.parcours"))
    assert result.exit_code == 2 and "no .parcours files in" in result.stderr


def test_a_file_over_the_size_limit_is_e004(write: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "big.parcours").write_bytes(b"schema big\n" + b"#" * MAX_FILE_BYTES + b"\n")
    assert "E004" in codes(_import(write, "big.parcours"))
    root = write("#" * (MAX_FILE_BYTES + 1), "big_root.parcours")
    assert codes(cli("check", str(root))) == {"E004"}


def test_imports_together_over_the_total_limit_are_e004(write: Callable[..., Path],
                                                        tmp_path: Path) -> None:
    lines = []
    for i in range(5):
        (tmp_path / f"part{i}.parcours").write_bytes(
            b"schema part%d\n" % i + (b"#" * 200 + b"\n") * ((MAX_FILE_BYTES - 100) // 201))
        lines.append(f'import "part{i}.parcours"')
    result = cli("check", str(write(nhs("\n".join(lines)))))
    assert result.exit_code == 1 and "E004" in codes(result)
    assert "imports hold more than" in result.output


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_fifos_never_hang(write: Callable[..., Path], tmp_path: Path) -> None:
    """A FIFO as an import or as the policy: E003 at once (subprocesses, so that a hang
    fails the test on its timeout instead of hanging the suite)."""
    fifo = tmp_path / "pipe.parcours"
    os.mkfifo(fifo)
    policy = write(nhs(import_line='import "pipe.parcours"'))
    script = Path(sys.executable).parent / "parcours"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "parcours.compiler.cli"]
    for args, exit_code in (([ "check", str(policy)], 1), (["check", str(fifo)], 1),
                            (["decide", str(fifo), "--input", os.devnull], 2)):
        result = subprocess.run(command + args, capture_output=True, text=True, timeout=60)
        assert result.returncode == exit_code, result.stderr
        assert "Traceback" not in result.stderr
        assert "error[E003]" in result.stderr and "FIFO" in result.stderr


def test_a_device_as_the_policy_is_a_clean_error() -> None:
    checked = cli("check", os.devnull)
    assert checked.exit_code == 1 and codes(checked) == {"E003"}
    assert cli("compile", os.devnull, "-o", os.devnull).exit_code == 1
    assert cli("decide", os.devnull, "--input", os.devnull).exit_code == 2
    assert cli("explain", os.devnull, "--episode", "{}").exit_code == 2
