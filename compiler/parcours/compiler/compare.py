"""Compare several policies over one population of episodes (the logic of `parcours compare`).

One pass over the episodes, in constant memory: each episode is decided by every policy and
only running totals are kept.  All money is `Decimal`; means are rounded half-up to the cent.

A policy accepts only the fields it declares (its module's `SHAPE`), so each policy sees the
episode stripped of the keys it does not declare but another compared policy does; a key no
compared policy declares is left in place, so that the episode is rejected with a clear error.

Pairs: for every two policies of the same currency (in the order given, the first is "old"),
how many episodes decided by both change pathway, and the net transfer from the insurer to
patients (the sum of new reimbursed − old reimbursed), by specialty and by age band.
"""

from __future__ import annotations

import csv
import io
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, localcontext

import jinja2

from parcours.runtime import Decision, EpisodeError, OverrideError, PolicyGap, read_episodes
from parcours.runtime.episode import episode_id
from parcours.runtime.params import split_name

CENT = Decimal("0.01")
ZERO = Decimal(0)
AGE_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("0-15", 0, 15), ("16-17", 16, 17), ("18-25", 18, 25), ("26-59", 26, 59), ("60+", 60, None),
)
UNKNOWN = "unknown"
MAX_EXAMPLES = 5  # rejection messages kept per policy (the rest are only counted)

Shape = dict[str, frozenset[str]]
DecideFn = Callable[[Mapping[str, object]], Decision]


class CompareError(ValueError):
    """The comparison cannot run (a usage error: exit 2)."""


# ---- money --------------------------------------------------------------------------------


def money(amount: Decimal) -> str:
    """An exact decimal string with at least two decimals (no float ever involved)."""
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        return str(amount)
    return str(amount.quantize(CENT))


def mean(total: Decimal, count: int) -> Decimal | None:
    """`total / count` rounded half-up to 0.01 (None when there is nothing to average)."""
    if count == 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        return (total / count).quantize(CENT, rounding=ROUND_HALF_UP)


def age_band(age: object) -> str:
    if type(age) is not int or age < 0:
        return UNKNOWN
    for name, low, high in AGE_BANDS:
        if age >= low and (high is None or age <= high):
            return name
    return UNKNOWN


# ---- policies and their inputs ------------------------------------------------------------


@dataclass(frozen=True)
class Compared:
    """One policy ready to decide: its module, its bound decide, and its input filter."""

    module: types.ModuleType
    decide: DecideFn
    shape: Shape
    strip: Shape  # per section: the keys to remove before deciding (declared only by others)

    @property
    def id(self) -> str:
        return str(self.module.POLICY.id)

    def prepare(self, episode: Mapping[str, object]) -> Mapping[str, object]:
        if not self.strip:
            return episode
        top = self.strip.get("", frozenset())
        out = {k: v for k, v in episode.items() if k not in top}
        for section, keys in self.strip.items():
            if section and keys:
                value = out.get(section)
                if isinstance(value, dict):
                    out[section] = {k: v for k, v in value.items() if k not in keys}
        return out


def shape_of(module: types.ModuleType) -> Shape:
    return {section: frozenset(keys) for section, keys in module.SHAPE}


def split_overrides(modules: Sequence[types.ModuleType],
                    sets: Mapping[str, str]) -> dict[str, list[str]]:
    """For each `--set` name, the ids of the compared policies that declare it."""
    applies: dict[str, list[str]] = {}
    for raw in sets:
        name, _ = split_name(raw)
        applies[raw] = [str(m.POLICY.id) for m in modules
                        if any(spec.name == name for spec in m.PARAMETERS)]
        if not applies[raw]:
            known = sorted({spec.name for m in modules for spec in m.PARAMETERS})
            raise CompareError(f"--set {raw}: no compared policy has a parameter named {name}; "
                               f"parameters: {', '.join(known) or 'none'}")
    return applies


def prepare(modules: Sequence[types.ModuleType], sets: Mapping[str, str]) -> list[Compared]:
    """The policies to compare, with `--set` overrides bound to those that declare them."""
    ids = [str(m.POLICY.id) for m in modules]
    for policy_id in ids:
        if ids.count(policy_id) > 1:
            raise CompareError(f"policy {policy_id} is given more than once")
    applies = split_overrides(modules, sets)
    shapes = [shape_of(m) for m in modules]
    union: dict[str, set[str]] = {}
    for shape in shapes:
        for section, keys in shape.items():
            union.setdefault(section, set()).update(keys)
    out: list[Compared] = []
    for module, shape in zip(modules, shapes):
        strip = {section: frozenset(keys - shape.get(section, frozenset()))
                 for section, keys in union.items()}
        strip = {section: keys for section, keys in strip.items() if keys}
        mine = {raw: value for raw, value in sets.items() if str(module.POLICY.id) in applies[raw]}
        decide: DecideFn = module.decide
        if mine:
            try:
                params = module.with_overrides(mine)
            except OverrideError as exc:
                raise CompareError(f"{module.POLICY.id}: {exc}") from None
            function = module.decide

            def decide(episode: Mapping[str, object], _f: Callable[..., Decision] = function,
                       _p: object = params) -> Decision:
                return _f(episode, _p)
        out.append(Compared(module, decide, shape, strip))
    return out


# ---- running totals -----------------------------------------------------------------------


@dataclass
class PolicyTotals:
    id: str
    title: str
    status: str
    currency: str
    decided: int = 0
    rejected: int = 0
    by_pathway: dict[str, int] = field(default_factory=dict)
    reimbursed: Decimal = ZERO
    patient_pays: Decimal = ZERO
    rejection_examples: list[str] = field(default_factory=list)

    def add(self, decision: Decision) -> None:
        self.decided += 1
        self.by_pathway[decision.pathway] = self.by_pathway.get(decision.pathway, 0) + 1
        self.reimbursed += decision.reimbursed
        self.patient_pays += decision.patient_pays

    def reject(self, message: str) -> None:
        self.rejected += 1
        if len(self.rejection_examples) < MAX_EXAMPLES:
            self.rejection_examples.append(message)

    @property
    def mean_reimbursed(self) -> Decimal | None:
        return mean(self.reimbursed, self.decided)

    @property
    def mean_patient_pays(self) -> Decimal | None:
        return mean(self.patient_pays, self.decided)

    def to_dict(self) -> dict[str, object]:
        def opt(value: Decimal | None) -> str | None:
            return None if value is None else money(value)

        return {
            "title": self.title,
            "status": self.status,
            "currency": self.currency,
            "decided": self.decided,
            "rejected": self.rejected,
            "by_pathway": dict(sorted(self.by_pathway.items())),
            "reimbursed": money(self.reimbursed),
            "patient_pays": money(self.patient_pays),
            "mean_reimbursed": opt(self.mean_reimbursed),
            "mean_patient_pays": opt(self.mean_patient_pays),
            "rejection_examples": list(self.rejection_examples),
        }


@dataclass
class Group:
    """One slice (a specialty, an age band) of a pair."""

    episodes: int = 0
    pathway_changed: int = 0
    net_transfer: Decimal = ZERO

    def to_dict(self) -> dict[str, object]:
        return {"episodes": self.episodes, "pathway_changed": self.pathway_changed,
                "net_transfer_to_patients": money(self.net_transfer)}


@dataclass
class PairTotals:
    old: str
    new: str
    currency: str
    both_decided: int = 0
    pathway_changed: int = 0
    net_transfer: Decimal = ZERO
    by_specialty: dict[str, Group] = field(default_factory=dict)
    by_age_band: dict[str, Group] = field(default_factory=dict)

    def add(self, old: Decision, new: Decision, specialty: str, band: str) -> None:
        changed = int(old.pathway != new.pathway)
        delta = new.reimbursed - old.reimbursed
        self.both_decided += 1
        self.pathway_changed += changed
        self.net_transfer += delta
        for groups, key in ((self.by_specialty, specialty), (self.by_age_band, band)):
            group = groups.get(key)
            if group is None:
                group = groups[key] = Group()
            group.episodes += 1
            group.pathway_changed += changed
            group.net_transfer += delta

    def age_bands(self) -> list[tuple[str, Group]]:
        order = [name for name, _, _ in AGE_BANDS] + [UNKNOWN]
        return [(name, self.by_age_band[name]) for name in order if name in self.by_age_band]

    def specialties(self) -> list[tuple[str, Group]]:
        return sorted(self.by_specialty.items())

    def to_dict(self) -> dict[str, object]:
        return {
            "old": self.old,
            "new": self.new,
            "currency": self.currency,
            "both_decided": self.both_decided,
            "pathway_changed": self.pathway_changed,
            "net_transfer_to_patients": money(self.net_transfer),
            "by_specialty": {k: g.to_dict() for k, g in self.specialties()},
            "by_age_band": {k: g.to_dict() for k, g in self.age_bands()},
        }


@dataclass
class CompareResult:
    episodes: int
    policies: list[PolicyTotals]
    pairs: list[PairTotals]
    overrides: dict[str, list[str]] = field(default_factory=dict)  # name=value → policy ids
    override_values: dict[str, str] = field(default_factory=dict)
    input_name: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "episodes": self.episodes,
            "overrides": {name: {"value": self.override_values[name], "policies": ids}
                          for name, ids in self.overrides.items()},
            "policies": {p.id: p.to_dict() for p in self.policies},
            "pairs": [pair.to_dict() for pair in self.pairs],
        }


def _specialty(episode: Mapping[str, object]) -> str:
    visit = episode.get("visit")
    value = visit.get("specialty") if isinstance(visit, dict) else None
    return value if isinstance(value, str) else UNKNOWN


def _age(episode: Mapping[str, object]) -> object:
    patient = episode.get("patient")
    return patient.get("age") if isinstance(patient, dict) else None


def _rejection(number: int, error: EpisodeError) -> str:
    who = f"episode {error.episode_id} (line {number})" if error.episode_id is not None \
        else f"line {number}"
    return f"{who}: field {error.field}: {error.message}" if error.field else f"{who}: {error.message}"


def compare(policies: Sequence[Compared], lines: Iterable[str],
            progress: Callable[[int], object] | None = None,
            sets: Mapping[str, str] | None = None, input_name: str = "") -> CompareResult:
    """Decide every episode of `lines` with every policy, keeping only running totals.

    `progress(n)` is called with the number of lines read since its last call."""
    totals = [PolicyTotals(p.id, str(p.module.POLICY.title), str(p.module.POLICY.status),
                           str(p.module.POLICY.currency)) for p in policies]
    pair_index = [(i, j) for i in range(len(policies)) for j in range(i + 1, len(policies))
                  if totals[i].currency == totals[j].currency]
    pairs = [PairTotals(totals[i].id, totals[j].id, totals[i].currency) for i, j in pair_index]
    episodes = 0
    last_line = 0
    decisions: list[Decision | None] = [None] * len(policies)
    for number, item in read_episodes(lines):
        if progress is not None and number - last_line >= 64:
            progress(number - last_line)
            last_line = number
        episodes += 1
        if isinstance(item, EpisodeError):
            message = _rejection(number, item)
            for total in totals:
                total.reject(message)
            continue
        for index, policy in enumerate(policies):
            decisions[index] = None
            try:
                decision = policy.decide(policy.prepare(item))
            except EpisodeError as error:
                totals[index].reject(_rejection(number, error))
                continue
            except PolicyGap as gap:
                totals[index].reject(_rejection(number, EpisodeError(
                    episode_id(item), "", f"undecided: {gap}")))
                continue
            except (ArithmeticError, TypeError, KeyError, AttributeError) as exc:
                totals[index].reject(_rejection(number, EpisodeError(
                    episode_id(item), "", f"cannot be decided: {exc}")))
                continue
            decisions[index] = decision
            totals[index].add(decision)
        if pairs:
            specialty, band = _specialty(item), age_band(_age(item))
            for pair, (i, j) in zip(pairs, pair_index):
                old, new = decisions[i], decisions[j]
                if old is not None and new is not None:
                    pair.add(old, new, specialty, band)
    if progress is not None:
        progress(max(0, episodes and (number - last_line)))  # the remainder
    values = dict(sets or {})
    applies = split_overrides([p.module for p in policies], values) if values else {}
    return CompareResult(episodes, totals, pairs, applies, values, input_name)


# ---- text outputs -------------------------------------------------------------------------


def _opt(value: Decimal | None) -> str:
    return "—" if value is None else money(value)


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    out = []
    for r, row in enumerate(rows):
        cells = [cell.rjust(widths[c]) if c in right else cell.ljust(widths[c])
                 for c, cell in enumerate(row)]
        out.append("  ".join(cells).rstrip())
        if r == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def render_table(result: CompareResult) -> str:
    lines = [f"{result.episodes} episodes" + (f" from {result.input_name}" if result.input_name
                                              else "")]
    for name, ids in result.overrides.items():
        lines.append(f"what-if: {name}={result.override_values[name]} ({', '.join(ids)})")
    lines.append("")
    rows = [["policy", "currency", "decided", "rejected", "reimbursed", "patient pays",
             "mean reimbursed", "mean patient pays"]]
    for p in result.policies:
        rows.append([p.id, p.currency, str(p.decided), str(p.rejected), money(p.reimbursed),
                     money(p.patient_pays), _opt(p.mean_reimbursed), _opt(p.mean_patient_pays)])
    lines += _table(rows, {2, 3, 4, 5, 6, 7})
    pathways = sorted({k for p in result.policies for k in p.by_pathway})
    if pathways:
        lines.append("")
        rows = [["pathway"] + [p.id for p in result.policies]]
        for pathway in pathways:
            rows.append([pathway] + [str(p.by_pathway.get(pathway, 0)) for p in result.policies])
        lines += _table(rows, set(range(1, len(result.policies) + 1)))
    for pair in result.pairs:
        lines += ["", f"{pair.old} → {pair.new} ({pair.currency}): {pair.both_decided} decided by "
                  f"both, {pair.pathway_changed} change pathway, net transfer to patients "
                  f"{money(pair.net_transfer)} {pair.currency}"]
        for title, groups in (("specialty", pair.specialties()), ("age band", pair.age_bands())):
            rows = [[title, "episodes", "pathway changed", "net transfer"]]
            rows += [[k, str(g.episodes), str(g.pathway_changed), money(g.net_transfer)]
                     for k, g in groups]
            lines += [""] + ["  " + line for line in _table(rows, {1, 2, 3})]
    for p in result.policies:
        if p.rejection_examples:
            lines += ["", f"{p.id}: {p.rejected} rejected, e.g."]
            lines += [f"  {message}" for message in p.rejection_examples]
    return "\n".join(lines)


def render_csv(result: CompareResult) -> str:
    pathways = sorted({k for p in result.policies for k in p.by_pathway})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["policy", "currency", "episodes", "decided", "rejected", "reimbursed",
                     "patient_pays", "mean_reimbursed", "mean_patient_pays"]
                    + [f"pathway:{name}" for name in pathways])
    for p in result.policies:
        writer.writerow([p.id, p.currency, result.episodes, p.decided, p.rejected,
                         money(p.reimbursed), money(p.patient_pays),
                         "" if p.mean_reimbursed is None else money(p.mean_reimbursed),
                         "" if p.mean_patient_pays is None else money(p.mean_patient_pays)]
                        + [p.by_pathway.get(name, 0) for name in pathways])
    return buffer.getvalue()


# ---- the HTML report: bar charts as inline SVG, computed here -----------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    text: str  # the value as shown
    x: float
    y: float
    width: float
    negative: bool


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    bar_height: int
    label_width: int
    zero_x: float
    bars: list[Bar]


def bar_chart(title: str, items: Sequence[tuple[str, Decimal, str]],
              width: int = 640, bar_height: int = 18, gap: int = 6) -> Chart:
    """Horizontal bars (negative values go left of the zero line); geometry only."""
    label_width = min(220, 12 + 7 * max((len(label) for label, _, _ in items), default=4))
    value_room = 110
    plot = width - label_width - value_room
    low = min([ZERO] + [value for _, value, _ in items])
    high = max([ZERO] + [value for _, value, _ in items])
    span = (high - low) or Decimal(1)
    zero_x = label_width + float((-low) / span) * plot
    bars = []
    for index, (label, value, text) in enumerate(items):
        length = float(abs(value) / span) * plot
        x = zero_x - length if value < 0 else zero_x
        bars.append(Bar(label, text, round(x, 2), index * (bar_height + gap) + 4,
                        round(length, 2), value < 0))
    height = len(items) * (bar_height + gap) + 8
    return Chart(title, width, height, bar_height, label_width, round(zero_x, 2), bars)


def charts(result: CompareResult) -> list[Chart]:
    out = []
    for p in result.policies:
        if p.by_pathway:
            out.append(bar_chart(f"{p.id}: episodes by pathway", [
                (name, Decimal(count), str(count)) for name, count in sorted(p.by_pathway.items())]))
    for currency in sorted({p.currency for p in result.policies}):
        same = [p for p in result.policies if p.currency == currency]
        out.append(bar_chart(f"Total reimbursed ({currency})", [
            (p.id, p.reimbursed, f"{money(p.reimbursed)} {currency}") for p in same]))
        out.append(bar_chart(f"Total patient share ({currency})", [
            (p.id, p.patient_pays, f"{money(p.patient_pays)} {currency}") for p in same]))
    for pair in result.pairs:
        for what, groups in (("specialty", pair.specialties()), ("age band", pair.age_bands())):
            out.append(bar_chart(
                f"{pair.old} → {pair.new}: net transfer to patients by {what} ({pair.currency})",
                [(k, g.net_transfer, money(g.net_transfer)) for k, g in groups]))
    return out


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("parcours.compiler", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(result: CompareResult) -> str:
    """One self-contained HTML page (no script, no external resource)."""
    pathways = sorted({k for p in result.policies for k in p.by_pathway})
    template = _environment().get_template("report.html.jinja")
    return template.render(result=result, pathways=pathways, charts=charts(result),
                           money=money, opt=_opt)
