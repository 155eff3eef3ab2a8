"""Policy tests: example episodes with their expected decisions, and rule coverage.

A test file (``policies/france.tests.toml``, see docs/policy-tests.md) names the
policy it tests, a few named *base* episodes, and tests that each start from a
base, override some fields by dotted path, and list the decision fields they
expect.  :func:`run` compiles each policy once, decides every test episode with
its trace, compares, and counts which pathway rules and output branches the
tests exercised (a rule or branch is exercised when the trace says "applied").
"""

from __future__ import annotations

import copy
import datetime
import functools
import re
import tomllib
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from parcours.runtime import (Decision, EpisodeError, Ledger, OverrideError, PolicyGap, period_of,
                              render, specs_of)

SUFFIX = ".tests.toml"
TEXT_FIELDS = ("rule", "pathway")
# Besides these and `rejected`, a test may expect any output the policy's decision declares;
# which ones exist is known once the policy is loaded (`_check_expected`).
FILE_KEYS = {"policy", "bases", "test"}
TEST_KEYS = {"name", "base", "given", "expect", "set", "before", "state"}
MAX_REPEAT = 1000  # episodes one `before` item may stand for


class PolicyTestError(Exception):
    """A test file that cannot be run: bad TOML, unknown base or field, a missing policy.

    ``details`` holds extra text to show first (a policy's compile diagnostics)."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.details = details


@dataclass(slots=True)
class TestCase:
    name: str
    where: str  # "policies/france.tests.toml:12"
    episode: dict[str, Any]
    expect: dict[str, str]
    sets: dict[str, str]
    before: list[dict[str, Any]] = field(default_factory=list)  # decided first, in order
    state: dict[str, str] = field(default_factory=dict)  # accumulator -> amount used before


@dataclass(slots=True)
class TestFile:
    path: Path
    policy: Path
    tests: list[TestCase]


@dataclass(slots=True)
class Failure:
    test: str
    where: str
    mismatches: list[tuple[str, str, str]]  # (field, expected, actual)
    trace: str = ""  # the rendered trace of the decision that differed


@dataclass(slots=True)
class PolicyResult:
    """One policy's tests, over every test file that names it."""

    id: str
    policy: str
    files: list[str] = field(default_factory=list)
    passed: int = 0
    failed: int = 0
    rules: dict[str, int] = field(default_factory=dict)
    branches: dict[str, int] = field(default_factory=dict)
    branch_labels: dict[str, str] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)

    @property
    def rule_coverage(self) -> float:
        """The percentage of pathway rules that at least one test exercised."""
        if not self.rules:
            return 0.0
        return 100.0 * sum(1 for hits in self.rules.values() if hits) / len(self.rules)

    @property
    def branch_coverage(self) -> float:
        if not self.branches:
            return 0.0
        return 100.0 * sum(1 for hits in self.branches.values() if hits) / len(self.branches)

    def count(self, decision: Decision) -> None:
        """Add one decision's trace to the coverage counts."""
        if decision.trace is None:
            return
        positions: dict[str, int] = {}
        for step in decision.trace.steps:
            info = step.info
            applied = 1 if step.status == "applied" else 0
            if info.target == "pathway":
                self.rules[info.name] = self.rules.get(info.name, 0) + applied
                continue
            positions[info.target] = positions.get(info.target, 0) + 1
            key = f"{info.target}#{positions[info.target]}"
            self.branches[key] = self.branches.get(key, 0) + applied
            self.branch_labels.setdefault(
                key, f"{info.name} {info.condition}".strip() if info.name == "when" else info.name)


# ---- reading test files -------------------------------------------------------


def discover(paths: Iterable[str]) -> list[Path]:
    """The test files named, and every ``*.tests.toml`` under the directories named."""
    found: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found.extend(sorted(path.rglob(f"*{SUFFIX}")))
        elif path.suffix == ".parcours":  # a policy named for its tests: say where they are
            tests = path.with_name(path.stem + SUFFIX)
            raise PolicyTestError(f"{text} is a .parcours file, not a test file: a policy's "
                                  f"tests are in a {SUFFIX} file"
                                  + (f" ({tests})" if tests.is_file() else "")
                                  + "; give that file or its folder")
        elif path.is_file():
            found.append(path)
        else:
            raise PolicyTestError(f"no such file or directory: {text}")
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path, None)
    return list(unique)


def _toml_error(path: Path, exc: tomllib.TOMLDecodeError) -> PolicyTestError:
    message = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if match:
        text = message[:match.start()].strip()
        return PolicyTestError(f"{path}:{match.group(1)}:{match.group(2)}: invalid TOML: {text}")
    line = getattr(exc, "lineno", None)
    return PolicyTestError(f"{path}{f':{line}' if line else ''}: invalid TOML: {message}")


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"visit": {"referred": true}}`` and ``{"visit.referred": true}`` alike, as dotted paths."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _episode_value(value: Any) -> Any:
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def _set_path(episode: dict[str, Any], dotted: str, value: Any, where: str) -> None:
    *parents, last = dotted.split(".")
    target = episode
    for part in parents:
        child = target.setdefault(part, {})
        if not isinstance(child, dict):
            raise PolicyTestError(f"{where}: {dotted}: {part} is not an object")
        target = child
    target[last] = _episode_value(value)


def _expected_text(name: str, value: Any, where: str) -> str:
    if name == "rejected":
        if value is True:
            return "*"
        if isinstance(value, str):
            return value
        raise PolicyTestError(f"{where}: expect.rejected is a field path or true")
    if name in TEXT_FIELDS:
        if not isinstance(value, str):
            raise PolicyTestError(f"{where}: expect.{name} is a string")
        return value
    if isinstance(value, float):
        raise PolicyTestError(f"{where}: expect.{name}: write amounts and rates as strings, "
                              f'e.g. {name} = "{value}" (compared exactly)')
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise PolicyTestError(f"{where}: expect.{name} is a string, a whole number or a bool")
    return value


def _check_expected(module: types.ModuleType, case: TestCase) -> None:
    """Every expected field is `pathway`, `rule`, `rejected` or a declared output; an
    amount or a rate is a decimal string."""
    outputs = {o.name: o.kind for o in module.POLICY.outputs}
    for name, value in case.expect.items():
        if name in TEXT_FIELDS or name == "rejected":
            continue
        kind = outputs.get(name)
        if kind is None:
            known = ", ".join([*TEXT_FIELDS, *outputs, "rejected"])
            raise PolicyTestError(f"{case.where}: test {case.name!r}: unknown expected field "
                                  f"{name!r} (expected one of {known})")
        if kind in ("money", "rate", "decimal"):
            try:
                Decimal(value)
            except InvalidOperation:
                raise PolicyTestError(f"{case.where}: test {case.name!r}: expect.{name}: "
                                      f"{value!r} is not a number") from None


def _set_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def parse_file(path: Path) -> TestFile:
    """Read one test file; every problem is a PolicyTestError naming file and line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyTestError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise PolicyTestError(f"{path}: not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(path, exc) from None
    unknown = sorted(set(data) - FILE_KEYS)
    if unknown:
        raise PolicyTestError(f"{path}: unknown key {unknown[0]!r} "
                              f"(expected {', '.join(sorted(FILE_KEYS))})")
    policy = data.get("policy")
    if not isinstance(policy, str):
        raise PolicyTestError(f'{path}: missing policy = "FILE.parcours" (relative to the test file)')
    bases_raw = data.get("bases", {})
    if not isinstance(bases_raw, dict):
        raise PolicyTestError(f"{path}: [bases.NAME] are tables of episodes")
    bases: dict[str, dict[str, Any]] = {}
    for name, base in bases_raw.items():
        if not isinstance(base, dict):
            raise PolicyTestError(f"{path}: bases.{name} is not a table")
        episode: dict[str, Any] = {}
        for dotted, value in _flatten(base).items():
            _set_path(episode, dotted, value, f"{path}: bases.{name}")
        bases[name] = episode
    tests_raw = data.get("test", [])
    if not isinstance(tests_raw, list):
        raise PolicyTestError(f"{path}: write each test as [[test]]")
    lines = [number for number, line in enumerate(text.splitlines(), 1)
             if re.match(r"\s*\[\[\s*test\s*\]\]", line)]
    tests: list[TestCase] = []
    seen: set[str] = set()
    for index, item in enumerate(tests_raw):
        where = f"{path}:{lines[index]}" if index < len(lines) else f"{path}: test {index + 1}"
        if not isinstance(item, dict):
            raise PolicyTestError(f"{where}: a test is a table")
        extra = sorted(set(item) - TEST_KEYS)
        if extra:
            raise PolicyTestError(f"{where}: unknown key {extra[0]!r} in a test "
                                  f"(expected {', '.join(sorted(TEST_KEYS))})")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise PolicyTestError(f"{where}: a test needs a name")
        if name in seen:
            raise PolicyTestError(f"{where}: two tests are named {name!r}")
        seen.add(name)
        base_name = item.get("base")
        if base_name is None:
            episode = {}
        elif isinstance(base_name, str) and base_name in bases:
            episode = copy.deepcopy(bases[base_name])
        else:
            known = ", ".join(sorted(bases)) or "none"
            raise PolicyTestError(f"{where}: test {name!r}: unknown base {base_name!r} "
                                  f"(bases: {known})")
        given = item.get("given", {})
        if not isinstance(given, dict):
            raise PolicyTestError(f"{where}: test {name!r}: given is a table of field = value")
        for dotted, value in _flatten(given).items():
            _set_path(episode, dotted, value, f"{where}: test {name!r}: given")
        episode.setdefault("id", name)
        expect_raw = item.get("expect")
        if not isinstance(expect_raw, dict) or not expect_raw:
            raise PolicyTestError(f"{where}: test {name!r}: expect is a table of decision fields")
        expect: dict[str, str] = {}
        for key, value in expect_raw.items():
            expect[key] = _expected_text(key, value, f"{where}: test {name!r}")
        if "rejected" in expect and len(expect) > 1:
            raise PolicyTestError(f"{where}: test {name!r}: a rejected episode has no decision "
                                  "fields to expect")
        sets_raw = item.get("set", {})
        if not isinstance(sets_raw, dict):
            raise PolicyTestError(f"{where}: test {name!r}: set is a table of NAME = VALUE")
        sets = {key: _set_text(value) for key, value in sets_raw.items()}
        before = _before(item.get("before", []), episode, f"{where}: test {name!r}")
        state_raw = item.get("state", {})
        if not isinstance(state_raw, dict) or not all(
                isinstance(v, (str, int)) and not isinstance(v, bool) for v in state_raw.values()):
            raise PolicyTestError(f"{where}: test {name!r}: state is a table of ACCUMULATOR = "
                                  "\"AMOUNT\" (the amount used before this episode)")
        state = {key: str(value) for key, value in state_raw.items()}
        tests.append(TestCase(name, where, episode, expect, sets, before, state))
    return TestFile(path, (path.parent / policy), tests)


def _before(raw: Any, episode: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """The episodes a sequence test decides first: each item is the test's episode with
    its own `given` on top, `repeat` times (ids numbered)."""
    if not isinstance(raw, list):
        raise PolicyTestError(f"{where}: before is a list of tables {{ given = {{…}}, repeat = N }}")
    out: list[dict[str, Any]] = []
    for number, item in enumerate(raw, 1):
        if not isinstance(item, dict) or set(item) - {"given", "repeat"}:
            raise PolicyTestError(f"{where}: before item {number}: expected "
                                  "{ given = {…}, repeat = N }")
        repeat = item.get("repeat", 1)
        if type(repeat) is not int or not 1 <= repeat <= MAX_REPEAT:
            raise PolicyTestError(f"{where}: before item {number}: repeat is a whole number "
                                  f"1..{MAX_REPEAT}")
        given = item.get("given", {})
        if not isinstance(given, dict):
            raise PolicyTestError(f"{where}: before item {number}: given is a table")
        for copy_number in range(repeat):
            earlier = copy.deepcopy(episode)
            earlier["id"] = f"{episode['id']} / before {number}.{copy_number + 1}"
            for dotted, value in _flatten(given).items():
                _set_path(earlier, dotted, value, f"{where}: before item {number}: given")
            out.append(earlier)
    return out


def _with_history(module: types.ModuleType, case: TestCase, params: Any
                  ) -> Mapping[str, Any]:
    """The test's episode as the ledger fills it in after `state` and the `before`
    episodes (decided in order through the same ledger)."""
    specs = specs_of(module)
    if not specs:
        raise PolicyTestError(f"{case.where}: test {case.name!r}: before and state need a "
                              "policy with accumulators")
    ledger = Ledger(specs)
    for name, amount in case.state.items():
        spec = next((s for s in specs if s.name == name), None)
        key = spec.key_of(case.episode) if spec is not None else None
        if spec is None or key is None:
            raise PolicyTestError(f"{case.where}: test {case.name!r}: state: "
                                  + (f"unknown accumulator {name!r}" if spec is None else
                                     f"the episode has no {', '.join(spec.keys)}"))
        period = period_of(spec, case.episode)
        try:
            ledger.used[(name, key, period or "")] = Decimal(amount)
        except ArithmeticError:
            raise PolicyTestError(f"{case.where}: test {case.name!r}: state: {name} is not "
                                  "an amount") from None
    decide = module.decide if params is None else functools.partial(module.decide, params=params)
    for earlier in case.before:
        try:
            ledger.decide(decide, earlier)
        except (EpisodeError, PolicyGap) as exc:
            raise PolicyTestError(f"{case.where}: test {case.name!r}: episode "
                                  f"{earlier['id']!r} is not decided: {exc}") from None
    filled, _ = ledger.prepare(case.episode)
    return filled


# ---- running ----------------------------------------------------------------------


Loader = Callable[[Path], types.ModuleType]


def _check_paths(module: types.ModuleType, case: TestCase) -> None:
    """Every field the episode sets is one the policy knows (unless the test expects the
    rejection of that very field)."""
    shape = getattr(module, "SHAPE", None)
    if not shape:
        return
    sections: dict[str, frozenset[str]] = dict(shape)
    for dotted, _ in _flatten(case.episode).items():
        parent, _, last = dotted.rpartition(".")
        allowed = sections.get(parent)
        if allowed is not None and last in allowed:
            continue
        if case.expect.get("rejected") in (dotted, "*"):
            continue
        raise PolicyTestError(f"{case.where}: test {case.name!r}: unknown field path {dotted!r} "
                              f"for policy {module.POLICY.id}")


def _compare(case: TestCase, decision: Decision) -> list[tuple[str, str, str]]:
    mismatches: list[tuple[str, str, str]] = []
    for name, expected in case.expect.items():
        if name == "rejected":
            mismatches.append((name, expected if expected != "*" else "rejected",
                               f"decided: {decision.pathway} by rule {decision.rule}"))
            continue
        value = decision.to_dict()[name]
        actual = ("true" if value else "false") if isinstance(value, bool) else str(value)
        kind = next((o.kind for o in decision.policy.outputs if o.name == name), "")
        if kind in ("money", "rate", "decimal"):
            same = Decimal(expected) == decision.number(name)
        else:
            same = actual == expected
        if not same:
            mismatches.append((name, expected, actual))
    return mismatches


def _load(path: Path, loader: Loader) -> types.ModuleType:
    from ..diagnostics import CompileError

    if not path.exists():
        raise PolicyTestError(f"policy file not found: {path}")
    try:
        return loader(path)
    except CompileError as exc:
        raise PolicyTestError(f"{path} does not compile ({exc})", exc.render()) from None
    except (OSError, SyntaxError, ImportError) as exc:
        raise PolicyTestError(f"cannot load {path}: {exc}") from None


def run(paths: Iterable[str], loader: Loader | None = None) -> list[PolicyResult]:
    """Run every test found under `paths`; raises PolicyTestError when one cannot run."""
    from ..pipeline import load_policy

    load: Loader = loader or load_policy
    files = [parse_file(path) for path in discover(paths)]
    if not files:
        raise PolicyTestError(f"no test files (*{SUFFIX}) found")
    modules: dict[Path, types.ModuleType] = {}
    results: dict[str, PolicyResult] = {}
    for test_file in files:
        key = test_file.policy.resolve()
        if key not in modules:
            modules[key] = _load(test_file.policy, load)
        module = modules[key]
        policy_id = str(module.POLICY.id)
        result = results.setdefault(policy_id, PolicyResult(policy_id, str(test_file.policy)))
        result.files.append(str(test_file.path))
        for case in test_file.tests:
            _check_paths(module, case)
            _check_expected(module, case)
            params: Any = None
            if case.sets:
                try:
                    params = module.with_overrides(case.sets)
                except OverrideError as exc:
                    raise PolicyTestError(f"{case.where}: test {case.name!r}: set: {exc}") from None
            episode = _with_history(module, case, params) if case.before or case.state \
                else case.episode
            try:
                decision: Decision = (module.explain(episode) if params is None
                                      else module.explain(episode, params))
            except EpisodeError as exc:
                expected = case.expect.get("rejected")
                if expected is not None and expected in ("*", exc.field):
                    result.passed += 1
                else:
                    result.failed += 1
                    shown = expected if expected is not None else "a decision"
                    result.failures.append(Failure(case.name, case.where, [
                        ("rejected", shown, f"rejected on {exc.field or 'the episode'}: {exc}")]))
                continue
            except PolicyGap as exc:
                result.failed += 1
                result.failures.append(Failure(case.name, case.where, [
                    ("decision", "a decision", f"policy gap: {exc}")]))
                continue
            result.count(decision)
            mismatches = _compare(case, decision)
            if mismatches:
                result.failed += 1
                trace = render(decision.trace) if decision.trace is not None else ""
                result.failures.append(Failure(case.name, case.where, mismatches, trace))
            else:
                result.passed += 1
    return list(results.values())


# ---- reporting ------------------------------------------------------------------


def below(results: Iterable[PolicyResult], min_coverage: float | None) -> list[PolicyResult]:
    """The policies whose rule coverage is under the threshold."""
    if min_coverage is None:
        return []
    return [r for r in results if r.rule_coverage + 1e-9 < min_coverage]


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def render_text(results: list[PolicyResult], min_coverage: float | None) -> str:
    lines: list[str] = []
    short = below(results, min_coverage)
    for result in results:
        lines.append(f"{result.id} ({result.policy}; {', '.join(result.files)})")
        for failure in result.failures:
            lines.append(f"  FAIL {failure.test}  [{failure.where}]")
            width = max(len("field"), *(len(m[0]) for m in failure.mismatches))
            ewidth = max(len("expected"), *(len(m[1]) for m in failure.mismatches))
            lines.append(f"    {'field':<{width}}  {'expected':<{ewidth}}  actual")
            for name, expected, actual in failure.mismatches:
                lines.append(f"    {name:<{width}}  {expected:<{ewidth}}  {actual}")
            if failure.trace:
                lines.append("    trace of the decision:")
                lines.append(_indent(failure.trace, "      "))
        hit_rules = sum(1 for h in result.rules.values() if h)
        hit_branches = sum(1 for h in result.branches.values() if h)
        lines.append(f"  {result.passed} passed, {result.failed} failed; "
                     f"rules {hit_rules}/{len(result.rules)} ({result.rule_coverage:.0f}%), "
                     f"branches {hit_branches}/{len(result.branches)} "
                     f"({result.branch_coverage:.0f}%)")
        lines.append("  rules (tests that applied each):")
        width = max((len(name) for name in result.rules), default=0)
        for name, hits in result.rules.items():
            lines.append(f"    {name:<{width}}  {hits:>4}" + ("  ← not reached" if not hits else ""))
        lines.append("  branches:")
        width = max((len(k) for k in result.branches), default=0)
        for key, hits in result.branches.items():
            label = result.branch_labels.get(key, "")
            lines.append(f"    {key:<{width}}  {hits:>4}  {label}"
                         + ("  ← not reached" if not hits else ""))
        missing = [name for name, hits in result.rules.items() if not hits]
        missing_branches = [key for key, hits in result.branches.items() if not hits]
        if missing:
            lines.append("  rules no test reaches: " + ", ".join(missing))
        if missing_branches:
            lines.append("  branches no test reaches: " + ", ".join(missing_branches))
        if result in short:
            lines.append(f"  rule coverage {result.rule_coverage:.1f}% is below "
                         f"--min-coverage {min_coverage:g}%")
        lines.append("")
    passed = sum(r.passed for r in results)
    failed = sum(r.failed for r in results)
    verdict = "ok" if not failed and not short else "FAILED"
    lines.append(f"{verdict}: {passed} passed, {failed} failed, {len(results)} policies"
                 + (f"; {len(short)} below {min_coverage:g}% rule coverage" if short else ""))
    return "\n".join(lines)


def to_json(results: list[PolicyResult], min_coverage: float | None) -> dict[str, object]:
    short = below(results, min_coverage)
    return {
        "ok": not any(r.failed for r in results) and not short,
        "min_coverage": min_coverage,
        "policies": {
            r.id: {
                "policy": r.policy,
                "files": r.files,
                "passed": r.passed,
                "failed": r.failed,
                "rule_coverage": round(r.rule_coverage, 1),
                "branch_coverage": round(r.branch_coverage, 1),
                "rules": dict(r.rules),
                "branches": dict(r.branches),
                "branch_labels": dict(r.branch_labels),
                "failures": [
                    {"test": f.test, "where": f.where,
                     "fields": [{"field": n, "expected": e, "actual": a}
                                for n, e, a in f.mismatches],
                     "trace": f.trace}
                    for f in r.failures
                ],
            }
            for r in results
        },
    }
