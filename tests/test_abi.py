"""The runtime ABI, the backend registry, how generated code maps back to the policy and
names its constants, and the definitions that exist once."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import parcours.runtime as runtime
from parcours.compiler import backends, ir
from parcours.compiler.backends.python.spelling import _Names, name_part, source_file
from parcours.compiler.pipeline import analyse, compile_policy
from parcours.runtime import ABI_VERSION, GENERATED_IMPORTS, MAX_AMOUNT, ROUNDING

ROOT = Path(__file__).resolve().parents[1]
COMPILER = ROOT / "compiler" / "parcours" / "compiler"
RUNTIME = ROOT / "runtime" / "parcours" / "runtime"
POLICIES = sorted(p for p in (ROOT / "policies").glob("*.parcours") if p.stem != "episode")
TEMPLATE = COMPILER / "backends" / "python" / "templates" / "module.py.jinja"

EPISODE = ('{"date": "2025-03-14", "patient": {"age": 40, "declared_doctor": true, '
           '"chronic_condition": false, "low_income_cover": false}, "visit": {"specialty": '
           '"general_practice", "with_declared_doctor": true, "referred": false, '
           '"emergency": false, "away_from_home": false, "doctor_unavailable": false, '
           '"for_chronic_condition": false, "fee": "30.00"}}')
IMPORT_MODULE = ("import importlib.util, sys;"
                 "spec = importlib.util.spec_from_file_location('france', sys.argv[1]);"
                 "m = importlib.util.module_from_spec(spec); sys.modules['france'] = m;"
                 "spec.loader.exec_module(m); print('loaded')")


@pytest.fixture(scope="module")
def france_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _, text = compile_policy(ROOT / "policies" / "france.parcours")
    target = tmp_path_factory.mktemp("abi") / "france.py"
    target.write_text(text, encoding="utf-8")
    return target


def generated_tree(policy: Path) -> ast.Module:
    return ast.parse(compile_policy(policy)[1])


# ---- the ABI ---------------------------------------------------------------------------


def test_a_module_loads_against_the_runtime_it_was_generated_for(france_module: Path) -> None:
    run = subprocess.run([sys.executable, "-c", IMPORT_MODULE, str(france_module)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "loaded"


def test_a_runtime_of_another_abi_is_refused_with_both_versions(france_module: Path) -> None:
    patch = "import parcours.runtime as r; r.ABI_VERSION = r.ABI_VERSION + 1;"
    run = subprocess.run([sys.executable, "-c", patch + IMPORT_MODULE, str(france_module)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert (f"ImportError: module generated for parcours runtime ABI {ABI_VERSION}, installed "
            f"runtime has ABI {ABI_VERSION + 1}; regenerate it with `parcours compile`"
            in run.stderr)


def test_an_edited_installed_runtime_is_refused(france_module: Path, tmp_path: Path) -> None:
    """A copy of the runtime whose abi.py says ABI 99, first on the path: the module refuses
    it, and `parcours decide` reports that in one line, without a traceback."""
    portion = tmp_path / "site" / "parcours"
    shutil.copytree(RUNTIME, portion / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
    abi = portion / "runtime" / "abi.py"
    text = abi.read_text(encoding="utf-8")
    assert f"ABI_VERSION = {ABI_VERSION}\n" in text
    abi.write_text(text.replace(f"ABI_VERSION = {ABI_VERSION}\n", "ABI_VERSION = 99\n"),
                   encoding="utf-8")
    episodes = tmp_path / "episodes.jsonl"
    episodes.write_text(EPISODE + "\n", encoding="utf-8")
    env = {"PYTHONPATH": str(tmp_path / "site"), "PATH": str(Path(sys.executable).parent)}
    run = subprocess.run([sys.executable, "-m", "parcours.compiler.cli", "decide",
                          str(france_module), "--input", str(episodes)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert (f"module generated for parcours runtime ABI {ABI_VERSION}, installed runtime has "
            "ABI 99; regenerate it with `parcours compile`") in run.stderr


def test_a_module_generated_for_the_previous_abi_is_refused(france_module: Path,
                                                            tmp_path: Path) -> None:
    """A module of the ABI before (3: its `Parameters` a dataclass, not the runtime's
    `Frozen` record) must stop on import against this runtime, naming both versions, not
    fail later."""
    assert ABI_VERSION == 4
    text = france_module.read_text(encoding="utf-8")
    check = 'if getattr(_runtime, "ABI_VERSION", None) != 4:'
    assert check in text
    stale = tmp_path / "france.py"
    stale.write_text(text.replace(check, check.replace("4", "3")).replace(
        "module generated for parcours runtime ABI 4", "module generated for parcours runtime ABI 3"),
        encoding="utf-8")
    run = subprocess.run([sys.executable, "-c", IMPORT_MODULE, str(stale)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert ("ImportError: module generated for parcours runtime ABI 3, installed runtime has "
            "ABI 4; regenerate it with `parcours compile`") in run.stderr


def test_a_runtime_without_an_abi_is_refused(france_module: Path) -> None:
    patch = "import parcours.runtime as r; del r.ABI_VERSION;"
    run = subprocess.run([sys.executable, "-c", patch + IMPORT_MODULE, str(france_module)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "installed runtime has ABI none" in run.stderr


def test_generated_modules_import_exactly_the_abi_list() -> None:
    assert len(set(GENERATED_IMPORTS)) == len(GENERATED_IMPORTS)
    assert set(GENERATED_IMPORTS) <= set(runtime.__all__)
    assert all(hasattr(runtime, name) for name in runtime.__all__)
    for policy in POLICIES:
        imported: set[str] = set()
        for node in ast.walk(generated_tree(policy)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("parcours"):
                assert node.module == "parcours.runtime", node.module
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name == "parcours.runtime" or not alias.name.startswith(
                        "parcours"), alias.name
        assert imported == set(GENERATED_IMPORTS), policy.stem


def test_every_abi_name_is_used_by_the_template() -> None:
    """No dead names in the ABI: each is called or named somewhere in the template."""
    template = TEMPLATE.read_text(encoding="utf-8")
    unused = [n for n in GENERATED_IMPORTS if not re.search(rf"\b{n}\b", template)]
    assert not unused


def test_the_abi_list_changes_only_with_its_version() -> None:
    """Changing what generated modules import is an ABI change: bump ABI_VERSION and
    record the new list here."""
    assert (ABI_VERSION, GENERATED_IMPORTS) == (4, (
        "Decision", "EpisodeError", "Frozen", "OutputField", "OverrideError", "ParamSpec", "PolicyGap",
        "PolicyMeta", "StepInfo", "Trace", "apply_overrides", "bad_date", "bad_enum", "bad_value", "branch_steps",
        "broken_constraint", "field_error", "missing_field", "money_missing", "out_of_range",
        "outside_validity", "rule_steps", "to_money", "to_rate", "unknown_field",
        "wrong_currency"))


# ---- backends ----------------------------------------------------------------------------


def test_the_python_backend_is_registered() -> None:
    assert "python" in backends.names()
    assert backends.DEFAULT in backends.names()
    python = backends.get("python")
    assert (python.name, python.suffix) == ("python", ".py")
    program = analyse(ROOT / "policies" / "nhs.parcours").program
    assert program is not None
    assert python.generate(program) == compile_policy(ROOT / "policies" / "nhs.parcours")[1]


def test_an_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(backends.UnknownBackend,
                       match="no backend 'nope' .*known: columnar, python"):
        backends.get("nope")
    with pytest.raises(backends.UnknownBackend):
        compile_policy(ROOT / "policies" / "nhs.parcours", backend="nope")


def test_compile_takes_a_backend(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from parcours.compiler.cli import main

    out = tmp_path / "nhs.py"
    result = CliRunner().invoke(main, ["compile", str(ROOT / "policies" / "nhs.parcours"),
                                       "-o", str(out), "--backend", "python"])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == compile_policy(ROOT / "policies" / "nhs.parcours")[1]
    result = CliRunner().invoke(main, ["compile", str(ROOT / "policies" / "nhs.parcours"),
                                       "-o", str(out), "--backend", "nope"])
    assert result.exit_code == 2
    assert "nope" in result.output
    result = CliRunner().invoke(main, ["compile", str(ROOT / "policies" / "nhs.parcours"),
                                       "-o", str(out), "--backend", "columnar"])
    assert result.exit_code == 0, result.output
    assert "def decide_columns(" in out.read_text(encoding="utf-8")


# ---- mapping back to the policy ------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.stem)
def test_every_rule_and_branch_carries_its_place_in_the_policy(policy: Path) -> None:
    program = analyse(policy).program
    assert program is not None
    text = compile_policy(policy)[1]
    decide = text[text.index("\ndef decide("):text.index("\ndef explain(")]
    explain = text[text.index("\ndef explain("):]
    for rule in program.rules:
        comment = f"  # {Path(rule.span.file).name}:{rule.span.line} {rule.name}\n"
        assert comment in decide and comment in explain, comment
        # the line named is the rule's own line in the policy
        source = Path(rule.span.file).read_text(encoding="utf-8").splitlines()
        assert rule.name in source[rule.span.line - 1]
    for output in program.outputs:
        for index, branch in enumerate(output.branches):
            comment = f"  # {Path(branch.span.file).name}:{branch.span.line} {output.name} branch {index}\n"
            assert comment in decide and comment in explain, comment


def test_the_comments_cannot_carry_a_path_or_break_out() -> None:
    assert source_file("/somewhere/else/france.parcours") == "france.parcours"
    assert source_file("a b\nc.parcours") == "a_b_c.parcours"


def test_output_is_the_same_from_any_directory(tmp_path: Path) -> None:
    runs: list[bytes] = []
    for cwd, path in ((ROOT, "policies/france.parcours"),
                      (tmp_path, str(ROOT / "policies" / "france.parcours"))):
        target = tmp_path / f"out-{len(runs)}.py"
        subprocess.run([sys.executable, "-m", "parcours.compiler.cli", "compile", path, "-o",
                        str(target)], check=True, capture_output=True, cwd=cwd, timeout=120)
        runs.append(target.read_bytes())
    assert runs[0] == runs[1]
    assert str(ROOT).encode() not in runs[0]


# ---- constants ------------------------------------------------------------------------------


def test_constant_names_are_identifiers_from_a_safe_alphabet() -> None:
    assert name_part("not_a_physician") == "NOT_A_PHYSICIAN"
    assert name_part("0.70") == "0_70"
    assert name_part("-5.00") == "MINUS_5_00"
    assert name_part("é\"); import os #") == "IMPORT_OS"
    assert name_part("") == "K"
    names = _Names({"_AMOUNT"})
    assert [names.fresh("amount"), names.fresh("amount"), names.fresh("amount", 2),
            names.fresh("rate", "2024-05-15")] == ["_AMOUNT_2", "_AMOUNT_3", "_AMOUNT_2_2",
                                                   "_RATE_2024_05_15"]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.stem)
def test_module_level_names_are_unique_and_meaningful(policy: Path) -> None:
    tree = generated_tree(policy)
    assigned: list[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        assigned += [t.id for t in targets if isinstance(t, ast.Name)]
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            assigned.append(node.name)
    assert len(assigned) == len(set(assigned)), sorted(n for n in assigned
                                                       if assigned.count(n) > 1)
    assert not [n for n in assigned if re.fullmatch(r"_K\d+", n)]
    constants = [n for n in assigned if n.startswith("_") and n.isupper()]
    assert all(re.fullmatch(r"_[A-Z0-9_]+", n) for n in constants)


def test_france_constants_are_named_after_the_policy() -> None:
    text = compile_policy(ROOT / "policies" / "france.parcours")[1]
    assert "\n_NOT_A_PHYSICIAN = frozenset({'dentistry', 'midwifery'})\n" in text
    assert "\n_NORMAL_RATE = Decimal('0.70')\n" in text
    assert "\n_PARTICIPATION_FORFAITAIRE_2024_05_15 = Decimal('2.00')\n" in text
    assert "\n_EUR_0_00 = Decimal('0.00')\n" in text


# ---- one definition each --------------------------------------------------------------------


def sources() -> dict[Path, str]:
    return {p: p.read_text(encoding="utf-8") for root in (COMPILER, RUNTIME)
            for p in sorted(root.rglob("*.py"))}


def test_the_rounding_table_is_the_runtimes() -> None:
    assert set(ROUNDING) == {mode.value for mode in ir.RoundMode}
    import decimal

    assert all(getattr(decimal, name) == name for name in ROUNDING.values())
    for path, text in sources().items():
        if path != RUNTIME / "money.py":
            assert "ROUND_HALF_EVEN" not in text, path


def test_the_money_limit_is_the_runtimes() -> None:
    from parcours.compiler.analysis import regions
    from parcours.compiler.sema import base

    program = analyse(ROOT / "policies" / "nhs.parcours").program  # in GBP: pence
    assert program is not None
    assert regions.full_domain(program, program.input("visit.fee")) == \
        (0, int(MAX_AMOUNT * 100) - 1)
    assert base.MAX_MONEY is MAX_AMOUNT
    for path, text in sources().items():
        if path != RUNTIME / "money.py":
            assert not re.search(r"1_?000_?000_?000|10 \*\* 11", text), path
    module = compile_policy(ROOT / "policies" / "nhs.parcours")[1]
    digits = len(str(int(MAX_AMOUNT))) - 1
    assert f'_AMOUNT = re.compile(r"[0-9]{{1,{digits}}}(?:' in module


def test_the_version_is_defined_once() -> None:
    from importlib.metadata import version

    for path, text in sources().items():
        assert version("parcours") not in text, path
    module = compile_policy(ROOT / "policies" / "nhs.parcours")[1]
    assert f"Generated by parcours {version('parcours')} from nhs.parcours" in module
