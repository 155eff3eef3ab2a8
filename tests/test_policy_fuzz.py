"""Policy fuzzing: the shipped policies, mutated (tokens dropped, duplicated or swapped;
numbers made huge, negative or odd; names made keywords or unicode; strings given
quotes, newlines, `{{`, `\"\"\"` and backslashes; expressions nested deep; imports of odd
files), must only ever give diagnostics.

Properties, for every mutant:

- `analyse` never raises;
- every diagnostic reads `FILE:LINE:COL: error[CODE]: message` with a registered code;
- when the check is clean, the generated module compiles (the `compile` builtin), imports
  and is the same bytes twice, and no text of the policy appears in its code outside
  string literals and comments (no injection).

The test run is bounded and deterministic; `bench/fuzz_policies.py N` runs N mutants.
"""

from __future__ import annotations

import io
import re
import tempfile
import tokenize
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcours.compiler.backends.python.emit import generate
from parcours.compiler.backends.python.loader import load_module
from parcours.compiler.diagnostics.codes import CODES
from parcours.compiler.pipeline import analyse

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ("france", "morocco", "morocco_proposal", "nhs")
TEXTS = {name: (ROOT / "policies" / f"{name}.parcours").read_text(encoding="utf-8")
         for name in POLICIES}
SCHEMA = (ROOT / "policies" / "episode.parcours").read_bytes()

TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|\d{4}-\d{2}-\d{2}|\d+(?:\.\d+)?|[A-Za-z_]\w*'
                   r"|==|!=|<=|>=|->|\.\.|\s+|.", re.S)
HEADLINE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning)"
                      r"\[(?P<code>[EW]\d{3})\]: \S")
MARKER = "zq_injected"  # appears in hostile strings; must never reach code outside literals

NUMBERS = ("0", "00", "1", "-1", "-0.01", "99999999999999999999", "9" * 400, "1e5", "0.5",
           "3.", ".5", "1_000", "18446744073709551616", "0.0000000000000000001",
           "999999999.99", "1000000000.00", "2024-02-30", "0000-00-00", "9999-12-31")
NAMES = ("policy", "rules", "and", "not", "in", "when", "else", "default", "import", "case",
         "class", "def", "lambda", "None", "True", "__import__", "pathway", "_", "é", "ñame",
         "Δ", "x" * 300, "date", "patient", "min", "round_half_up", f"{MARKER}_name")
STRINGS = ('"a\\"b"', '"{{ x }}"', '"{% raw %}"', '"\\"\\"\\""', '"\\\\"', '"line\\nbreak"',
           "\"'''\"", f'"\\"); import os; {MARKER}() #"', f'"{{{{ {MARKER} }}}}"',
           f'"\\\\\\"\\n{MARKER}\\t"', '""', '"\u202e\u0000"', '"' + "x" * 2000 + '"', '"\\q"')
IMPORTS = ("/dev/zero", "../episode.parcours", "", ".", "episode.parcours/",
           "no-such.parcours", "\\\\server\\share", "C:/x.parcours", "sub/../episode.parcours",
           "episode.parcours\\n", "ʼepisode.parcours", "fifo.parcours", "self.parcours")


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def _positions(toks: list[str], keep: Callable[[str], bool]) -> list[int]:
    return [i for i, t in enumerate(toks) if keep(t)]


@st.composite
def deep_expression(draw: st.DrawFn) -> str:
    depth = draw(st.sampled_from((1, 5, 63, 64, 65, 200)))
    shape = draw(st.sampled_from(("not", "paren", "min", "plus", "and")))
    if shape == "not":
        return "not " * depth + "patient.chronic_condition"
    if shape == "paren":
        return "(" * depth + "patient.age" + ")" * depth + " > 3"
    if shape == "min":
        return "min(" * depth + "patient.age" + ", 1)" * depth + " > 3"
    if shape == "plus":
        return " + ".join(["patient.age"] * (depth * 5)) + " > 3"
    return " and ".join(["patient.age > 3"] * (depth * 5))


@st.composite
def mutated_policy(draw: st.DrawFn) -> tuple[str, str]:
    """(policy name, mutated text)."""
    name = draw(st.sampled_from(POLICIES))
    toks = tokens(TEXTS[name])
    for _ in range(draw(st.sampled_from((1, 1, 1, 2, 3)))):
        kind = draw(st.sampled_from(("string", "deep", "number", "drop", "duplicate", "swap",
                                     "name", "string", "deep", "import", "insert")))
        words = _positions(toks, lambda t: not t.isspace() and not t.startswith("#"))
        if kind == "drop":
            del toks[draw(st.sampled_from(words))]
        elif kind == "duplicate":
            i = draw(st.sampled_from(words))
            toks.insert(i, toks[i])
        elif kind == "swap":
            i = draw(st.sampled_from(words[:-1]))
            j = words[words.index(i) + 1]
            toks[i], toks[j] = toks[j], toks[i]
        elif kind == "number":
            spots = _positions(toks, lambda t: t[:1].isdigit())
            toks[draw(st.sampled_from(spots))] = draw(st.sampled_from(NUMBERS))
        elif kind == "name":
            spots = _positions(toks, lambda t: t[:1].isalpha() or t[:1] == "_")
            toks[draw(st.sampled_from(spots))] = draw(st.sampled_from(NAMES))
        elif kind == "string":
            spots = _positions(toks, lambda t: t.startswith('"'))
            toks[draw(st.sampled_from(spots))] = draw(st.sampled_from(STRINGS))
        elif kind == "deep":
            toks.append(f"\nlet fuzz_deep_{len(toks)} = {draw(deep_expression())}\n")
        elif kind == "import":
            toks.append(f'\nimport "{draw(st.sampled_from(IMPORTS))}"\n')
        else:
            toks.append(f"\nlet fuzz_{len(toks)} = {draw(st.sampled_from(STRINGS + NUMBERS))}\n")
    return name, "".join(toks)


def code_outside_literals(text: str) -> str:
    """The module's code with string literals and comments left out."""
    out: list[str] = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type not in (tokenize.STRING, tokenize.COMMENT):
            out.append(tok.string)
    return " ".join(out)


def policy_strings(text: str) -> set[str]:
    """The bodies of the policy's string literals worth looking for in code."""
    bodies = {m[1:-1] for m in re.findall(r'"(?:[^"\\\n]|\\.)*"', text)}
    return {b for b in bodies if len(b) >= 4 and not b.isidentifier() and not b.isdigit()}


def check_mutant(folder: Path, name: str, text: str) -> str:
    """Run the properties on one mutant; returns "clean" or "diagnostics"."""
    (folder / "episode.parcours").write_bytes(SCHEMA)
    path = folder / f"{name}.parcours"
    path.write_text(text, encoding="utf-8")
    (folder / "self.parcours").write_text(text, encoding="utf-8")
    analysis = analyse(path)  # must not raise
    for diagnostic in analysis.diagnostics:
        headline = diagnostic.headline()
        match = HEADLINE.match(headline)
        assert match, headline
        assert match["code"] in CODES, headline
        assert int(match["line"]) >= 1 and int(match["col"]) >= 1, headline
        assert "\n" not in headline, headline
    if not analysis.ok:
        assert analysis.program is None
        return "diagnostics"
    assert analysis.program is not None
    module_text = generate(analysis.program)
    assert generate(analysis.program) == module_text  # deterministic
    compile(module_text, f"<{name}>", "exec")
    module = load_module(f"fuzz_{name}", module_text, f"<fuzz {name}>")
    assert callable(module.decide)
    code = code_outside_literals(module_text)
    assert MARKER not in code
    for body in policy_strings(text):
        assert body not in code, body
    for word in re.findall(r"\w+", code):
        assert word.isascii(), word  # a unicode name never becomes code
    return "clean"


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_policy())
def test_mutated_policies_give_diagnostics_or_a_safe_module(mutant: tuple[str, str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        check_mutant(Path(folder), *mutant)


def test_the_fuzzer_reaches_both_outcomes(tmp_path: Path) -> None:
    """The mutants are neither all broken nor all clean: the properties are exercised."""
    clean = check_mutant(tmp_path, "nhs", TEXTS["nhs"].replace("1.00", "0.99"))
    broken = check_mutant(tmp_path, "nhs", TEXTS["nhs"] + '\nlet x = "{{ oops }}"\n')
    assert (clean, broken) == ("clean", "diagnostics")
