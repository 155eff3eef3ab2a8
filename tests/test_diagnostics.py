"""Diagnostics: broken policies are reported (FILE:LINE:COL, code, excerpt, hint), never raised."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from parcours.compiler.cli import main
from parcours.compiler.backends.python.loader import load_module
from parcours.compiler.pipeline import Analysis, analyse, compile_policy

HEADER = """\
policy t {
  title "T"
  country "FR"
  currency EUR
  status in_force
  valid from 2017-05-01
}
import "episode.parcours"
source s1 = "001_264f89428c423238.txt"
"""

BODY = """\
rules pathway {
  rule young priority 1: exempt
    when patient.age < 16
    cite s1
  default adult: coordinated
    cite s1
}
output rate: rate = 0.70
output base: money = 25.00 EUR
output flat_fee: money = 0.00 EUR
output reimbursed: money = max(0.00 EUR, round_half_up(base * rate, 0.01) - flat_fee)
output patient_pays: money = visit.fee - reimbursed
"""

GOOD = HEADER + BODY
HEADLINE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning)"
                      r"\[(?P<code>E\d{3})\]: (?P<message>.+)$")


def run(directory: Path, text: str | bytes, name: str = "policy.parcours") -> Analysis:
    """Analyse `text` as a file of `directory`, both in memory and from the disk."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    path = directory / name
    path.write_bytes(data)
    in_memory = analyse(path, data=data)
    from_disk = analyse(path)
    assert [d.headline() for d in in_memory.diagnostics] == \
        [d.headline() for d in from_disk.diagnostics]
    return in_memory


def codes(analysis: Analysis) -> list[str]:
    return [d.code for d in analysis.diagnostics]


def errors(analysis: Analysis) -> list[str]:
    return [d.code for d in analysis.diagnostics if d.is_error]


def headlines(analysis: Analysis) -> list[re.Match[str]]:
    out = []
    for line in analysis.render().splitlines():
        match = HEADLINE.match(line)
        if match:
            out.append(match)
    return out


def test_good_policy_has_no_diagnostics(schema_dir: Path) -> None:
    analysis = run(schema_dir, GOOD)
    assert analysis.ok
    assert analysis.diagnostics == []
    assert analysis.program is not None


def test_france_has_no_diagnostics(repo_root: Path) -> None:
    analysis = analyse(repo_root / "policies" / "france.parcours")
    assert analysis.ok, analysis.render()
    assert analysis.diagnostics == []


# ---- syntax ------------------------------------------------------------------------------


def test_syntax_error_has_position_and_code(schema_dir: Path) -> None:
    analysis = run(schema_dir, GOOD.replace("priority 1: exempt", "priority 1 exempt"))
    assert analysis.program is None
    assert not analysis.ok
    [diagnostic] = analysis.diagnostics
    assert re.fullmatch(r"E1\d\d", diagnostic.code)
    assert diagnostic.severity == "error"
    assert (diagnostic.span.line, diagnostic.span.column) == (11, 25)
    assert diagnostic.span.file == str(schema_dir / "policy.parcours")
    assert analysis.render().startswith(f"{schema_dir / 'policy.parcours'}:11:25: error[E1")


def test_several_syntax_errors_in_one_pass(schema_dir: Path) -> None:
    text = (GOOD.replace("priority 1: exempt", "priority 1 exempt")
            .replace("output rate: rate =", "output rate rate =")
            .replace("output base: money = 25.00 EUR", "output base: money = 25.00 EUR )"))
    analysis = run(schema_dir, text)
    found = headlines(analysis)
    lines = sorted({int(m["line"]) for m in found})
    assert len(lines) >= 3, analysis.render()
    assert {11, 17, 18} <= set(lines)
    assert all(re.fullmatch(r"E1\d\d", m["code"]) for m in found)


@pytest.mark.parametrize("broken", [
    GOOD.replace("}\nimport", "\nimport", 1),  # header never closed
    GOOD.replace('title "T"', 'title "T'),  # unterminated string
    GOOD.replace("round_half_up(base * rate, 0.01)", "round_half_up(base * rate, 0.01"),
    GOOD.replace("when patient.age < 16", "when patient.age <"),
    GOOD + "rule stray priority 1: exempt\n",
    GOOD + "@@@\n",
])
def test_syntax_errors_never_raise(schema_dir: Path, broken: str) -> None:
    analysis = run(schema_dir, broken)
    assert analysis.program is None
    assert errors(analysis)
    for match in headlines(analysis):
        assert int(match["line"]) >= 1 and int(match["col"]) >= 1


# ---- names and types ---------------------------------------------------------------------


def test_unknown_name_with_did_you_mean(schema_dir: Path) -> None:
    analysis = run(schema_dir, GOOD.replace("round_half_up(base * rate", "round_half_up(base * rat"))
    [diagnostic] = analysis.diagnostics
    assert diagnostic.code == "E360"
    assert "`rat`" in diagnostic.message
    assert diagnostic.hint is not None and "did you mean `rate`" in diagnostic.hint
    assert "= help: did you mean `rate`?" in analysis.render()


def test_unknown_input_with_did_you_mean(schema_dir: Path) -> None:
    analysis = run(schema_dir, GOOD.replace("patient.age < 16", "patient.age < 16 and visit.emergncy"))
    [diagnostic] = analysis.diagnostics
    assert diagnostic.code == "E356"
    assert diagnostic.hint is not None and "visit.emergency" in diagnostic.hint


def test_currency_mix(schema_dir: Path) -> None:
    analysis = run(schema_dir, GOOD.replace("max(0.00 EUR,", "max(2.00 MAD,"))
    assert "E352" in errors(analysis)
    diagnostic = next(d for d in analysis.diagnostics if d.code == "E352")
    assert "MAD" in diagnostic.message and "EUR" in diagnostic.message
    assert (diagnostic.span.line, diagnostic.span.column) == (20, 32)


def test_currency_mix_in_a_param(schema_dir: Path) -> None:
    text = HEADER + "param p: money = 2.00 MAD cite s1\n" + BODY.replace(
        "output flat_fee: money = 0.00 EUR", "output flat_fee: money = p")
    assert "E352" in errors(run(schema_dir, text))


def test_rate_used_as_money(schema_dir: Path) -> None:
    analysis = run(schema_dir, GOOD.replace("output base: money = 25.00 EUR",
                                            "output base: money = rate"))
    [diagnostic] = analysis.diagnostics
    assert diagnostic.code.startswith("E3")
    assert "rate" in diagnostic.message
    assert diagnostic.span.line == 18


def test_rate_added_to_money(schema_dir: Path) -> None:
    analysis = run(schema_dir, GOOD.replace("visit.fee - reimbursed", "visit.fee - rate"))
    assert errors(analysis)
    assert analysis.program is None


def test_unrounded_money_output(schema_dir: Path) -> None:
    analysis = run(schema_dir, GOOD.replace("round_half_up(base * rate, 0.01)", "base * rate"))
    [diagnostic] = analysis.diagnostics
    assert diagnostic.code == "E342"
    assert "unrounded" in diagnostic.message
    assert diagnostic.hint is not None and "round_half_up" in diagnostic.hint
    assert "round_half_up" in analysis.render().split("= help:")[1]


def test_rate_out_of_range(schema_dir: Path) -> None:
    analysis = run(schema_dir, GOOD.replace("output rate: rate = 0.70", "output rate: rate = 1.70"))
    assert "E351" in errors(analysis)


# ---- dated values ------------------------------------------------------------------------


def test_dated_value_hole_at_start(schema_dir: Path) -> None:
    text = HEADER + "param p: money {\n  from 2018-01-01: 1.00 EUR cite s1\n}\n" + BODY
    analysis = run(schema_dir, text)
    [diagnostic] = analysis.diagnostics
    assert diagnostic.code == "E322"
    assert "2017-05-01" in diagnostic.message and "2017-12-31" in diagnostic.message
    assert diagnostic.span.line == 11


def test_dated_value_hole_in_the_middle(schema_dir: Path) -> None:
    text = HEADER + ("param p: money {\n"
                     "  from 2017-05-01 until 2019-12-31: 1.00 EUR cite s1\n"
                     "  from 2020-06-01: 2.00 EUR cite s1\n}\n") + BODY
    analysis = run(schema_dir, text)
    assert errors(analysis) == ["E322"]
    assert "2020-01-01" in analysis.diagnostics[0].message


def test_dated_value_overlap(schema_dir: Path) -> None:
    text = HEADER + ("param p: money {\n"
                     "  from 2017-05-01 until 2020-12-31: 1.00 EUR cite s1\n"
                     "  from 2020-01-01: 2.00 EUR cite s1\n}\n") + BODY
    analysis = run(schema_dir, text)
    [diagnostic] = analysis.diagnostics
    assert diagnostic.code == "E321"
    assert "2020-01-01" in diagnostic.message
    assert diagnostic.notes and diagnostic.notes[0][0].line == 11
    assert "note:" in analysis.render()


def test_dated_value_same_start_twice(schema_dir: Path) -> None:
    text = HEADER + ("param p: money {\n  from 2017-05-01: 1.00 EUR cite s1\n"
                     "  from 2017-05-01: 2.00 EUR cite s1\n}\n") + BODY
    assert errors(run(schema_dir, text)) == ["E321"]


def test_table_with_a_hole(schema_dir: Path, repo_root: Path) -> None:
    france = (repo_root / "policies" / "france.parcours").read_text(encoding="utf-8")
    broken = france.replace("from 2017-05-01: 51.70 EUR", "from 2018-05-01: 51.70 EUR")
    assert broken != france
    analysis = run(schema_dir, broken, "france.parcours")
    assert "E322" in errors(analysis)


# ---- declarations ------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [
    "param p: money = 1.00 EUR\nparam p: money = 2.00 EUR\n",
    'source s1 = "002_d8b8ab370c5ec4a0.txt"\n',
    "let x = patient.age < 3\nlet x = patient.age < 4\n",
])
def test_duplicate_declarations(schema_dir: Path, extra: str) -> None:
    analysis = run(schema_dir, HEADER + extra + BODY)
    assert "E204" in errors(analysis)
    diagnostic = next(d for d in analysis.diagnostics if d.code == "E204")
    assert "twice" in diagnostic.message
    assert diagnostic.notes  # points at the first declaration


def test_duplicate_rule(schema_dir: Path) -> None:
    text = GOOD.replace("  default adult", "  rule young priority 2: exempt\n    when patient.age < 3\n"
                        "    cite s1\n  default adult")
    analysis = run(schema_dir, text)
    assert errors(analysis)
    assert analysis.program is None


def test_rule_without_source(schema_dir: Path) -> None:
    analysis = run(schema_dir, GOOD.replace("when patient.age < 16\n    cite s1\n",
                                            "when patient.age < 16\n"))
    assert "E337" in errors(analysis)


# ---- files that are not policy text ------------------------------------------------------


@pytest.mark.parametrize(("data", "code"), [
    (b"\x00\x01\x02\xff\xfe garbage", "E001"),
    (bytes(range(256)) * 4, "E001"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "E001"),
    (GOOD.encode()[:40] + b"\xc3\x28" + GOOD.encode()[40:], "E001"),
    (b"\xff\xfe" + GOOD.encode("utf-16-le"), "E001"),
])
def test_not_text(schema_dir: Path, data: bytes, code: str) -> None:
    analysis = run(schema_dir, data)
    assert analysis.program is None
    assert code in errors(analysis)
    assert analysis.render()  # renders without raising


def test_invalid_utf8_position(schema_dir: Path) -> None:
    analysis = run(schema_dir, GOOD.encode()[:40] + b"\xc3\x28" + GOOD.encode()[40:])
    [diagnostic] = analysis.diagnostics
    assert diagnostic.code == "E001"
    assert "UTF-8" in diagnostic.message
    assert diagnostic.span.line == 4


@pytest.mark.parametrize("data", [b"", b"\n\n", b"   ", b"# only a comment\n", b"\xef\xbb\xbf"])
def test_empty_file(schema_dir: Path, data: bytes) -> None:
    analysis = run(schema_dir, data)
    assert analysis.program is None
    assert errors(analysis)


def test_missing_file(tmp_path: Path) -> None:
    analysis = analyse(tmp_path / "nope.parcours")
    assert analysis.program is None
    assert errors(analysis)


def test_truncated_france_in_the_middle(schema_dir: Path, repo_root: Path) -> None:
    data = (repo_root / "policies" / "france.parcours").read_bytes()
    analysis = run(schema_dir, data[: len(data) // 2], "france.parcours")
    assert analysis.program is None
    assert errors(analysis)
    assert analysis.render()


def test_truncated_inside_a_multibyte_character(schema_dir: Path, repo_root: Path) -> None:
    data = (repo_root / "policies" / "france.parcours").read_bytes()
    cut = data.index("—".encode("utf-8")) + 1
    analysis = run(schema_dir, data[:cut], "france.parcours")
    assert "E001" in errors(analysis)


@pytest.mark.slow
def test_truncated_france_at_every_point(schema_dir: Path, repo_root: Path) -> None:
    data = (repo_root / "policies" / "france.parcours").read_bytes()
    path = schema_dir / "france.parcours"
    for cut in range(0, len(data), 53):
        analysis = analyse(path, data=data[:cut])
        assert analysis.program is None, cut
        assert errors(analysis), cut
        analysis.render()


# ---- rendering ---------------------------------------------------------------------------


def test_rendering_has_excerpt_caret_and_help(schema_dir: Path) -> None:
    analysis = run(schema_dir, GOOD.replace("round_half_up(base * rate", "round_half_up(base * rat"))
    lines = analysis.render().splitlines()
    assert HEADLINE.match(lines[0])
    assert lines[0] == f"{schema_dir / 'policy.parcours'}:20:63: error[E360]: unknown name `rat`"
    excerpt = next(line for line in lines if line.startswith("20 | "))
    assert "round_half_up(base * rat, 0.01)" in excerpt
    caret = next(line for line in lines if "^" in line)
    # the caret sits under the name, as wide as the name
    assert caret.index("^") == excerpt.index("rat,")
    assert caret.strip(" |") == "^^^"
    assert any(line.strip().startswith("= help:") for line in lines)


def test_rendering_every_diagnostic(schema_dir: Path) -> None:
    text = (GOOD.replace("round_half_up(base * rate, 0.01)", "base * rate")
            .replace("max(0.00 EUR,", "max(2.00 MAD,"))
    analysis = run(schema_dir, text)
    assert len(analysis.diagnostics) >= 1
    assert len(headlines(analysis)) == len(analysis.diagnostics)


# ---- the check command -------------------------------------------------------------------


def test_check_command_on_a_broken_file(schema_dir: Path) -> None:
    path = schema_dir / "broken.parcours"
    path.write_text(GOOD.replace("priority 1: exempt", "priority 1 exempt"), encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in output
    assert f"{path}:11:25: error[E1" in output


def test_check_command_subprocess(schema_dir: Path, repo_root: Path) -> None:
    path = schema_dir / "garbage.parcours"
    path.write_bytes(b"\x00\xff" * 50)
    good = schema_dir / "good.parcours"
    good.write_text(GOOD, encoding="utf-8")
    script = Path(sys.executable).parent / "parcours"
    if not script.exists():
        pytest.skip("the parcours script is not installed next to the interpreter")
    result = subprocess.run([str(script), "check", str(good), str(path)], capture_output=True,
                            text=True, cwd=repo_root, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "error[E001]" in result.stderr


def test_check_command_on_a_good_file(schema_dir: Path) -> None:
    path = schema_dir / "good.parcours"
    path.write_text(GOOD, encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 0


# ---- injection through strings -----------------------------------------------------------

PAYLOAD = '\\"); import os; os.system(\\"x'
EVIL = (HEADER
        .replace('title "T"', 'title "T \\"quoted\\" \\\\ back\\\\ \\n newline\\t ' + PAYLOAD + '"')
        .replace('source s1 = "001_264f89428c423238.txt"',
                 'source s1 = "001' + PAYLOAD + '.txt" title "\'\'\' \\\\\\" \\n ' + PAYLOAD + '"')
        + 'source s2 = "002_d8b8ab370c5ec4a0.txt \\\\" title "a\\\\"\n'
        + BODY.replace("    when patient.age < 16\n    cite s1\n",
                       '    when patient.age < 16\n    cite s1, s2 note "' + PAYLOAD + '"\n'
                       '    unconfirmed "\\\\\\\\\\" + __import__(\\"os\\") + \\""\n'))
PAYLOAD_TEXT = '"); import os; os.system("x'


def imports_of(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module or "")
    return found


def test_injection_stays_inside_string_literals(schema_dir: Path) -> None:
    path = schema_dir / "evil.parcours"
    path.write_text(EVIL, encoding="utf-8")
    analysis, text = compile_policy(path)
    assert analysis.ok, analysis.render()
    tree = ast.parse(text)
    assert "os" not in imports_of(tree)
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert "os" not in names and "__import__" not in names
    calls = [node for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr == "system"]
    assert calls == []
    strings = [node.value for node in ast.walk(tree)
               if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    assert any(PAYLOAD_TEXT in s for s in strings)
    module = load_module("evil", text, str(path))
    assert PAYLOAD_TEXT in module.POLICY.title
    assert '"quoted"' in module.POLICY.title and "\\" in module.POLICY.title
    assert "\n" in module.POLICY.title and "\t" in module.POLICY.title
    assert any(PAYLOAD_TEXT in doc for doc in module.POLICY.source_documents)


def test_injected_policy_still_decides(schema_dir: Path) -> None:
    path = schema_dir / "evil.parcours"
    path.write_text(EVIL, encoding="utf-8")
    _, text = compile_policy(path)
    module = load_module("evil", text, str(path))
    episode = {
        "id": "x", "date": "2025-03-14",
        "patient": {"age": 10, "declared_doctor": True, "chronic_condition": False,
                    "low_income_cover": False},
        "visit": {"specialty": "general_practice", "with_declared_doctor": False,
                  "referred": False, "emergency": False, "away_from_home": False,
                  "doctor_unavailable": False, "for_chronic_condition": False, "fee": "30.00"},
    }
    decision = module.explain(episode)
    d = decision.to_dict()
    assert (d["rule"], d["pathway"], d["reimbursed"]) == ("young", "exempt", "17.50")
    assert "001" + PAYLOAD_TEXT + ".txt" in d["sources"]
    assert "002_d8b8ab370c5ec4a0.txt \\" in d["sources"]
    assert decision.trace is not None
    young = next(step for step in decision.trace.to_list() if step["name"] == "young")
    remarks = young["remarks"]
    assert isinstance(remarks, list)
    assert {"kind": "note", "text": PAYLOAD_TEXT} in remarks


def test_title_with_triple_quotes_compiles(schema_dir: Path) -> None:
    text = HEADER.replace('title "T"', 'title "\\"\\"\\"\\nimport os\\n\\"\\"\\""') + BODY
    path = schema_dir / "triple.parcours"
    path.write_text(text, encoding="utf-8")
    assert analyse(path).ok
    _, module_text = compile_policy(path)
    assert "os" not in imports_of(ast.parse(module_text))


@pytest.mark.parametrize("keys", ["specialty, sector", "visit.specialty"])
def test_a_table_with_several_keys_gets_a_hint_not_a_terminal_name(schema_dir: Path,
                                                                   keys: str) -> None:
    """Lark names the `->` terminal `__ANON_n`; a diagnostic shows what to write instead."""
    analysis = run(schema_dir, GOOD + f"\ntable t: {keys} -> rate {{\n  else: 0.70\n}}\n")
    [diagnostic] = analysis.diagnostics
    assert diagnostic.code == "E102"
    assert "__anon" not in analysis.render().lower()
    assert diagnostic.hint is not None and "`table NAME: ENUM -> TYPE`" in diagnostic.hint


def test_expected_literal_terminals_are_shown_as_written(schema_dir: Path) -> None:
    analysis = run(schema_dir, GOOD + "\ntable t: specialty rate {\n  else: 0.70\n}\n")
    [diagnostic] = analysis.diagnostics
    assert diagnostic.hint == "expected `->`"
