"""`parcours fmt`: the shipped policies are formatted; any respacing of a policy formats
back to the same text byte for byte; formatting keeps comments and meaning (the IR), is
idempotent, and refuses (exit 2, file untouched) what it cannot format faithfully."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Token, Tree

from parcours.compiler.cli import main
from parcours.compiler.format import FormatError, _parse, decls, format_text
from parcours.compiler.format.layout import Out
from parcours.compiler.ir.printer import print_program
from parcours.compiler.pipeline import analyse

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SHIPPED = sorted(POLICIES.glob("*.parcours"))
FIXTURES = sorted((ROOT / "tests" / "fixtures").glob("*.parcours"))
# every construct of the grammar, most in an unusual place, with comments everywhere (not a
# policy that checks: a text to lay out)
EDGES = (ROOT / "tests" / "fixtures" / "format-edges.txt").read_text(encoding="utf-8")


def mangle(text: str, rng: random.Random) -> str:
    """The same tokens and comments with every gap between them respaced at random: other
    spaces, tabs, indentation and line breaks, a line break where there was none, none
    where there was one; only what the layout reads is kept (a blank line stays a blank
    line, a comment keeps its line to itself or its place after code)."""
    tree, comments = _parse(text)
    elements = sorted([t for t in tree.scan_values(lambda v: isinstance(v, Token))]
                      + comments, key=lambda t: t.start_pos or 0)
    pieces: list[str] = []
    end = 0
    for i, element in enumerate(elements):
        start = element.start_pos or 0
        gap = text[end:start]
        after_comment = i > 0 and elements[i - 1].type == "COMMENT"
        if element.type == "COMMENT" and "\n" not in gap and i > 0:
            new = rng.choice([" ", "  ", "\t", "    "])  # stays after its code
        elif gap.count("\n") >= 2:
            new = rng.choice(["", " ", "\t"]) + "\n" + rng.choice(["", "  ", "\t "]) + "\n" * \
                rng.randint(1, 3) + rng.choice(["", " ", "      ", "\t"])
        elif after_comment or (element.type == "COMMENT" and i > 0):
            new = rng.choice(["", " "]) + "\n" + rng.choice(["", " ", "        ", "\t"])
        elif i == 0:
            new = rng.choice(["", " ", "\n", "\t\n  "])
        else:
            new = rng.choice(["", " ", "  ", "\t", "\n", "\n    ", " \n\t", "\n\t\t "])
            if gap and not new:
                new = " "  # two words must not merge
        pieces.append(new)
        pieces.append(str(element) if element.type != "COMMENT" else str(element).rstrip())
        end = element.end_pos or start
    pieces.append(rng.choice(["", "\n", "  \n\n", "\t"]))
    return "".join(pieces)


def ir(path: Path, text: str) -> str:
    analysis = analyse(path, text.encode("utf-8"), verify=False)
    assert analysis.program is not None, analysis.render()
    return print_program(analysis.program)


# ---- the shipped policies -----------------------------------------------------------------


def test_the_shipped_policies_are_formatted() -> None:
    result = CliRunner().invoke(main, ["fmt", "--check", str(POLICIES)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_a_mangled_copy_formats_back_byte_for_byte(path: Path) -> None:
    shipped = path.read_text(encoding="utf-8")
    for seed in range(3):
        mangled = mangle(shipped, random.Random(seed))
        assert mangled != shipped
        assert format_text(mangled) == shipped, seed
    if path.name != "episode.parcours":  # the shared schema is no policy of its own
        assert ir(path, mangle(shipped, random.Random(7))) == ir(path, shipped)


@pytest.mark.parametrize("path", SHIPPED + FIXTURES, ids=lambda p: p.name)
def test_formatting_is_idempotent_and_keeps_the_ir(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    once = format_text(text)
    assert format_text(once) == once
    if path.name != "episode.parcours":
        assert ir(path, once) == ir(path, text)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(SHIPPED) + len(FIXTURES) - 1), seed=st.integers(0, 2**32))
def test_any_respacing_formats_to_the_same_text_and_ir(index: int, seed: int) -> None:
    path = (SHIPPED + FIXTURES)[index]
    text = path.read_text(encoding="utf-8")
    canonical = format_text(text)
    mangled = mangle(text, random.Random(seed))
    assert format_text(mangled) == canonical
    if path.name != "episode.parcours":
        assert ir(path, mangled) == ir(path, text)


# ---- comments, blank lines, long lines ----------------------------------------------------

ODD = """\
# head comment

policy odd {   # after the brace
  title "t"  country "FR" currency EUR status variant
  valid from 2024-01-01
}
source s = "doc"
input date: date
input visit.fee: money   # the fee


input patient.age: int[0..130]
# before a let
let x = patient.age < 16 or patient.age >= 60 or patient.age == 30 or patient.age == 31 or patient.age == 45
let y = { a , b }   # a set
rules pathway {
  # first rule
  rule r priority 1: exempt when x cite s
  default d: coordinated  # the default
  # at the end of the block
}
output base: money = visit.fee
# the end
"""


def test_comments_and_blank_lines_are_kept() -> None:
    formatted = format_text(ODD)
    assert format_text(formatted) == formatted
    for comment in ("# head comment", "# after the brace", "# the fee", "# before a let",
                    "# a set", "# first rule", "# the default", "# at the end of the block",
                    "# the end"):
        assert formatted.count(comment) == 1, comment
    assert "policy odd {  # after the brace\n" in formatted
    assert "input visit.fee: money  # the fee\n\ninput patient.age" in formatted
    assert "\n\n\n" not in formatted
    assert "  rule r priority 1: exempt\n    when x\n    cite s\n" in formatted
    assert "  # at the end of the block\n}\n" in formatted
    assert "let y = {a, b}  # a set\n" in formatted
    assert all(len(line) <= 100 for line in formatted.splitlines())
    assert "\n        or patient.age == 45\n" in formatted  # under the first operand
    assert formatted.endswith("# the end\n")


def test_every_construct_in_odd_places_is_laid_out_and_kept() -> None:
    formatted = format_text(EDGES)
    assert format_text(formatted) == formatted
    for seed in range(5):
        assert format_text(mangle(EDGES, random.Random(seed))) == formatted
    assert "param p: rate\n  cite s\n  note \"pre\"\n  = 0.5   note \"post\"\n" in formatted
    assert "table t: k -> rate\n  note \"pre\"\n{\n  a: 0.1  # c1\n" in formatted
    assert "let m = max(1, case {\n  when patient.age < 3: 1\n  else: 2\n}) + l * 2\n" in formatted
    assert "enum k {a, b, \"c\"}\n" in formatted  # the optional trailing comma goes
    assert "  pathway {exempt, coordinated}\n" in formatted
    assert formatted.endswith("}\n# trailing\n")


def test_blank_and_comment_only_texts() -> None:
    assert format_text("") == "" and format_text("\n\n  \n") == ""
    assert format_text("  # c\n\n\n# d") == "# c\n\n# d\n"


def test_deep_expressions_are_laid_out_or_refused_never_crash() -> None:
    """Long chains are broken line by line; nesting too deep for the layout's recursion is
    a refusal, as the checker's own depth limit is a diagnostic."""
    header = "input patient.age: int[0..130]\n"
    chain = header + "let x = " + " + ".join(["patient.age"] * 1000) + " > 3\n"
    formatted = format_text(chain)
    assert formatted.count("\n") > 100 and format_text(formatted) == formatted
    assert all(len(line) <= 100 for line in formatted.splitlines())
    deep = header + "let y = " + "(" * 2000 + "patient.age" + ")" * 2000 + "\n"
    with pytest.raises(FormatError, match="nests too deep"):
        format_text(deep)


# ---- refusing ------------------------------------------------------------------------------


def test_a_construct_the_formatter_does_not_know_is_refused(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A construct added to the grammar without a layout: fmt says so and writes nothing."""
    monkeypatch.delitem(decls.DECLS, "let_decl")
    with pytest.raises(FormatError, match="does not know the construct `let_decl`"):
        format_text(ODD)
    target = tmp_path / "odd.parcours"
    target.write_text(ODD, encoding="utf-8")
    result = CliRunner().invoke(main, ["fmt", str(target)])
    assert result.exit_code == 2
    assert "let_decl" in result.stderr and "Traceback" not in result.output
    assert target.read_text(encoding="utf-8") == ODD


def test_a_known_construct_in_an_unknown_shape_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A construct whose grammar rule changed (say, a table key that is now a tree): the
    layout's expectations fail, and that is a refusal with a position, not a traceback."""
    def strict(node: Tree[Token], out: Out, indent: int) -> None:
        assert all(isinstance(c, Token) for c in node.children), "a key that is not a token"

    monkeypatch.setitem(decls.DECLS, "let_decl", strict)
    with pytest.raises(FormatError, match=r"^14:1: .* this form of `let_decl` \(a key that is not a token\); the file"):
        format_text(ODD)


def test_a_layout_that_drops_a_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def lossy(node: object, out: Out, indent: int) -> None:
        out.start(indent)
        out.write("let")  # writes text, not the tokens: the check sees them missing

    monkeypatch.setitem(decls.DECLS, "let_decl", lossy)
    with pytest.raises(FormatError, match="leave a token out"):
        format_text(ODD)


def test_a_layout_that_changes_the_tree_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    original = decls.DECLS["let_decl"]

    def swapped(node: Tree[Token], out: Out, indent: int) -> None:
        original(node, out, indent)
        out.current.text = out.current.text.replace(" or ", " and ", 1)

    monkeypatch.setitem(decls.DECLS, "let_decl", swapped)
    with pytest.raises(FormatError, match="same tree"):
        format_text(ODD)


def test_a_layout_that_loses_a_comment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    place = Out.place_comments

    def forgetful(self: Out, comments: list[Token], tokens: list[int]) -> None:
        place(self, comments[1:], tokens)

    monkeypatch.setattr(Out, "place_comments", forgetful)
    with pytest.raises(FormatError, match="lose or reorder a comment"):
        format_text(ODD)


def test_an_output_with_another_ir_is_refused(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    """The last guard, on the IR: were the layout to change a value and the tree check to
    miss it, `parcours fmt` would still refuse to write."""
    from parcours.compiler.tools import formatting

    shutil.copy(POLICIES / "episode.parcours", tmp_path / "episode.parcours")
    target = tmp_path / "nhs.parcours"
    text = (POLICIES / "nhs.parcours").read_text(encoding="utf-8")
    target.write_text(text.replace("\n\n", "\n\n\n"), encoding="utf-8")
    monkeypatch.setattr(formatting, "format_text",
                        lambda t: format_text(t).replace("= 1.00", "= 0.90", 1))
    with pytest.raises(FormatError, match="same IR"):
        formatting.format_policy(target, target.read_text(encoding="utf-8"))
    result = CliRunner().invoke(main, ["fmt", str(target)])
    assert result.exit_code == 2 and "same IR" in result.stderr
    assert target.read_text(encoding="utf-8") == text.replace("\n\n", "\n\n\n")


def test_a_syntax_error_is_refused_with_its_position(tmp_path: Path) -> None:
    target = tmp_path / "bad.parcours"
    target.write_text("policy p {\n  title\n}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["fmt", str(target)])
    assert result.exit_code == 2
    assert "3:1" in result.stderr and "Traceback" not in result.output
    assert "1 file(s): 0 reformatted, 0 unchanged, 1 not formatted" in result.stderr
    assert target.read_text(encoding="utf-8") == "policy p {\n  title\n}\n"


# ---- the command ---------------------------------------------------------------------------


def test_check_diff_and_rewrite(tmp_path: Path) -> None:
    shutil.copy(POLICIES / "nhs.parcours", tmp_path / "nhs.parcours")
    shutil.copy(POLICIES / "episode.parcours", tmp_path / "episode.parcours")
    target = tmp_path / "nhs.parcours"
    shipped = target.read_text(encoding="utf-8")
    mangled = mangle(shipped, random.Random(3))
    target.write_text(mangled, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["fmt", "--check", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stdout.startswith("--- ") and "+++ " in result.stdout
    assert f"would reformat {target}" in result.stderr
    assert target.read_text(encoding="utf-8") == mangled
    result = runner.invoke(main, ["fmt", "--diff", str(target)])
    assert result.exit_code == 0 and "+++ " in result.stdout
    assert target.read_text(encoding="utf-8") == mangled
    result = runner.invoke(main, ["fmt", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == shipped
    assert runner.invoke(main, ["fmt", "--check", str(tmp_path)]).exit_code == 0


def test_standard_input_to_standard_output() -> None:
    result = CliRunner().invoke(main, ["fmt", "-"], input=ODD)
    assert result.exit_code == 0
    assert result.stdout == format_text(ODD)
