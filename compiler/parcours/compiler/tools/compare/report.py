"""The HTML report of `parcours compare`: who pays more, how much, per visit, and for whom.

Everything shown is computed here from a `CompareResult` and rendered by
`templates/report.html.jinja` (Jinja2, autoescaped) into one self-contained page: inline CSS,
inline SVG charts, no script, no network.  Money stays `Decimal` from the decisions to the
text: thousands separators come from `Decimal.__format__`, per-visit figures are totals
divided by visits rounded half-up to the cent (`mean`), percentages half-up to 0.1.

Signs are shown from the patient's side: a change in what patients pay is "more" (▲, +,
vermillion) or "less" (▼, −, blue), so that colour is never the only cue; the palette is
Okabe–Ito's, readable with the common colour-vision deficiencies.  Neutral figures are grey.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, localcontext

import jinja2

from ...meta import VERSION
from . import ZERO, CompareResult, Distribution, Group, PairTotals, mean

MINUS = "\u2212"  # the minus sign, wider than a hyphen
TENTH = Decimal("0.1")
NICE = (Decimal(1), Decimal(2), Decimal(5))
MIN_GROUP = 10  # visits a group needs to be named the largest increase or decrease


# ---- numbers as text ----------------------------------------------------------------------


def amount(value: Decimal, currency: str = "") -> str:
    """`1,234.56 MAD`: exact, grouped by thousands, at least two decimals, `−` for negatives."""
    exponent = value.as_tuple().exponent
    shown = value if isinstance(exponent, int) and exponent < -2 else value.quantize(Decimal("0.01"))
    text = f"{abs(shown):,f}"
    sign = MINUS if shown < 0 else ""
    return f"{sign}{text} {currency}".rstrip()


def signed(value: Decimal, currency: str = "") -> str:
    """`+1,234.56 MAD`, `−3.00 MAD` or `0.00 MAD`: the sign always written."""
    return ("+" if value > 0 else "") + amount(value, currency)


def count(value: int) -> str:
    return f"{value:,}"


def visits(value: int) -> str:
    return f"{value:,} visit" + ("" if value == 1 else "s")


def percent(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """`part / |whole|` in percent, half-up to 0.1 (None when `whole` is zero)."""
    if whole == 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        return (Decimal(part) * 100 / abs(Decimal(whole))).quantize(TENTH,
                                                                      rounding=ROUND_HALF_UP)


def share(part: int, whole: int) -> str:
    value = percent(part, whole)
    return "" if value is None else f"{value}%"


def tone(value: Decimal) -> str:
    """The CSS class of a change in what patients pay."""
    return "more" if value > 0 else "less" if value < 0 else "same"



# ---- the headline: one sentence per pair ---------------------------------------------------


@dataclass(frozen=True)
class Part:
    """A piece of a sentence; `css` marks what is emphasised ("more", "less", "strong")."""

    text: str
    css: str = ""


@dataclass(frozen=True)
class Row:
    """One group of a pair, as its table row and its chart bar show it."""

    name: str
    group: Group
    per_visit: Decimal  # change in what patients pay, per visit


@dataclass(frozen=True)
class PairView:
    pair: PairTotals
    headline: list[Part]
    whom: list[list[Part]]  # sentences
    per_visit: Decimal
    specialties: list[Row]
    age_bands: list[Row]
    histogram: Histogram
    charts: list[Chart]

    @property
    def sentence(self) -> str:
        return "".join(part.text for part in self.headline)


def _per_visit(total: Decimal, visits: int) -> Decimal:
    return mean(total, visits) or ZERO


def _rows(groups: list[tuple[str, Group]]) -> list[Row]:
    return [Row(name, g, _per_visit(g.patient_change, g.episodes)) for name, g in groups]


def _how_much(change: Decimal, per_visit: Decimal, currency: str) -> tuple[str, str]:
    word = "more" if change > 0 else "less"
    if per_visit == 0:
        visit = f"under {amount(Decimal('0.01'), currency)} {word} per visit"
    else:
        visit = f"{amount(abs(per_visit), currency)} {word} per visit"
    return f"{amount(abs(change), currency)} {word}", visit


def headline(pair: PairTotals) -> list[Part]:
    """"Under NEW, patients pay X more than under OLD (+p%): Y more per visit, over N visits.
    The insurer pays Z less (−q%)."  Signs come from the words, never from a double negative."""
    whole, cur = pair.whole, pair.currency
    change, visits = whole.patient_change, whole.episodes
    if visits == 0:
        return [Part(f"No episode was decided by both {pair.old} and {pair.new}.")]
    out = [Part("Under "), Part(pair.new, "strong"), Part(", patients pay ")]
    if change == 0:
        out += [Part("the same in total", "strong"), Part(" as under "), Part(pair.old, "strong"),
                Part(f", over {count(visits)} visits.")]
    else:
        total, visit = _how_much(change, _per_visit(change, visits), cur)
        out += [Part(total, tone(change)), Part(" than under "), Part(pair.old, "strong")]
        pct = percent(change, whole.old_patient_pays)
        out += [Part(f" ({'+' if change > 0 else MINUS}{abs(pct)}%)" if pct is not None else "")]
        out += [Part(": "), Part(visit, tone(change)), Part(f", over {count(visits)} visits.")]
    insurer = pair.net_transfer
    if insurer == 0:
        out.append(Part(" The insurer pays the same in total."))
    else:
        word = "more" if insurer > 0 else "less"
        pct = percent(insurer, whole.old_reimbursed)
        out.append(Part(f" The insurer pays {amount(abs(insurer), cur)} {word}"
                        + (f" ({'+' if insurer > 0 else MINUS}{abs(pct)}%)." if pct is not None
                           else ".")))
    return out


def for_whom(pair: PairTotals, dimensions: list[tuple[str, list[Row]]]) -> list[list[Part]]:
    whole, cur = pair.whole, pair.currency
    if whole.episodes == 0:
        return []
    first = [Part(f"{count(whole.pays_more)} visits ({share(whole.pays_more, whole.episodes)})"
                  " cost patients "), Part("more", "more"),
             Part(f", {count(whole.pays_less)} ({share(whole.pays_less, whole.episodes)}) "),
             Part("less", "less"),
             Part(f", {count(whole.pays_same)} ({share(whole.pays_same, whole.episodes)}) the same;"
                  f" {count(pair.pathway_changed)} change pathway.")]
    out = [first]
    if pair.persons:
        persons = len(pair.persons)
        more, less, same = pair.person_counts()
        change = whole.patient_change
        _, each = _how_much(change, _per_visit(change, persons), cur)
        out.append([Part(f"{count(persons)} persons (by patient.id): patients pay "),
                    Part(each.replace("per visit", "per person") if change else
                         "the same per person", tone(change)),
                    Part(f"; {count(more)} ({share(more, persons)}) pay "), Part("more", "more"),
                    Part(f", {count(less)} ({share(less, persons)}) "), Part("less", "less"),
                    Part(f", {count(same)} the same.")])
    for what, every in dimensions:
        rows = [r for r in every if r.group.episodes >= MIN_GROUP] or every  # not a lone visit
        up = max((r for r in rows if r.per_visit > 0), key=lambda r: r.per_visit, default=None)
        down = min((r for r in rows if r.per_visit < 0), key=lambda r: r.per_visit, default=None)
        if up is None and down is None:
            continue
        parts = [Part(f"By {what}: ")]
        if up is not None:
            parts += [Part("the largest increase per visit is "), Part(up.name, "strong"),
                      Part(f" ({signed(up.per_visit, cur)} per visit, "
                           f"{visits(up.group.episodes)})", "more")]
        if down is not None:
            parts += [Part("; " if up is not None else ""),
                      Part("the largest decrease per visit is "), Part(down.name, "strong"),
                      Part(f" ({signed(down.per_visit, cur)} per visit, "
                           f"{visits(down.group.episodes)})", "less")]
        small = len(rows) < len(every)
        parts.append(Part(f" (among the {what} groups of {MIN_GROUP} visits or more)." if small
                          else "."))
        out.append(parts)
    return out


# ---- charts: geometry computed here, drawn by the template ---------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    text: str  # the value as shown
    x: float
    y: float
    width: float
    height: float
    tone: str  # "more", "less", "same" or "neutral"


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    label_width: int
    zero_x: float
    bars: list[Bar]


def bar_chart(title: str, items: list[tuple[str, Decimal, str, str]],
              width: int = 720, bar_height: int = 18, gap: int = 6) -> Chart:
    """Horizontal bars from a zero line (negative values go left); items: label, value,
    text, tone."""
    label_width = min(220, 12 + 7 * max((len(label) for label, _, _, _ in items), default=4))
    value_room = 150
    plot = width - label_width - 2 * value_room if any(v < 0 for _, v, _, _ in items) \
        else width - label_width - value_room
    low = min([ZERO] + [value for _, value, _, _ in items])
    high = max([ZERO] + [value for _, value, _, _ in items])
    span = (high - low) or Decimal(1)
    left = label_width + (value_room if low < 0 else 0)
    zero_x = left + float((-low) / span) * plot
    bars = []
    for index, (label, value, text, kind) in enumerate(items):
        length = float(abs(value) / span) * plot
        x = zero_x - length if value < 0 else zero_x
        bars.append(Bar(label, text, round(x, 2), index * (bar_height + gap) + 4,
                        round(length, 2), bar_height, kind))
    height = len(items) * (bar_height + gap) + 8
    return Chart(title, width, height, label_width, round(zero_x, 2), bars)


@dataclass(frozen=True)
class Histogram:
    title: str
    width: int
    height: int
    base_y: float  # the x axis
    bars: list[Bar]
    ticks: list[Tick]  # under the x axis
    levels: list[Tick]  # counts, left of the plot
    summary: str


def _nice_step(span: Decimal, bins: int, least: Decimal) -> Decimal:
    """The smallest 1, 2 or 5 × 10ⁿ (at least `least`) that covers `span` in `bins` bins."""
    raw = span / bins
    power = Decimal(1).scaleb(raw.adjusted())
    for multiple in NICE + (Decimal(10),):
        step = multiple * power
        if step >= raw:
            return max(step, least)
    return max(Decimal(10) * power, least)  # pragma: no cover (10 × power always covers raw)


def histogram(distribution: Distribution, currency: str, width: int = 860,
              height: int = 260, bins: int = 15) -> Histogram:
    """Visits by change in what the patient pays: bins of a nice width on each side of zero,
    and a bin of their own for the visits whose share did not change."""
    counts = distribution.counts
    low = min([ZERO] + list(counts))
    high = max([ZERO] + list(counts))
    step = _nice_step(max(high, -low) or Decimal(1), bins, distribution.step)
    binned: dict[int, int] = {}
    for value, n in counts.items():
        # positive v in ((i-1)·step, i·step] → i; negative in [-i·step, -(i-1)·step) → -i
        index = 0 if value == 0 else int((abs(value) / step).to_integral_value(ROUND_CEILING))
        index = -index if value < 0 else index
        binned[index] = binned.get(index, 0) + n
    first, last = min(binned, default=0), max(binned, default=0)
    left, right, top, bottom = 56, 40, 12, 40
    slots = last - first + 1
    slot = (width - left - right) / slots
    tallest = max(binned.values(), default=1)
    plot = height - top - bottom
    base_y = float(top + plot)
    bars: list[Bar] = []
    for position, index in enumerate(range(first, last + 1)):
        n = binned.get(index, 0)
        if index == 0:
            label = "unchanged"
        elif index > 0:
            label = f"{signed((index - 1) * step)} to {signed(index * step, currency)}"
        else:
            label = f"{signed(index * step)} to {signed((index + 1) * step, currency)}"
        h = plot * n / tallest
        kind = "same" if index == 0 else "more" if index > 0 else "less"
        bars.append(Bar(label, f"{count(n)} visits", round(left + position * slot + 1, 2),
                        round(base_y - h, 2), round(max(slot - 2, 1), 2), round(h, 2), kind))
    # ticks: the bin edges, thinned so that labels do not overlap (about 70 px apart)
    every = max(1, int(70 // slot) + 1)
    ticks = []
    for position, index in enumerate(range(first, last + 1)):
        if index == 0:
            ticks.append(Tick(round(left + (position + 0.5) * slot, 2), base_y + 16, "0"))
        elif index > 0 and index % every == 0:
            ticks.append(Tick(round(left + (position + 1) * slot, 2), base_y + 16,
                              signed(index * step)))
        elif index < 0 and (-index) % every == 0:
            ticks.append(Tick(round(left + position * slot, 2), base_y + 16, signed(index * step)))
    levels = [Tick(left - 6, round(base_y - plot * level / tallest, 2), count(level))
              for level in sorted({0, tallest // 2, tallest})]
    total = sum(binned.values())
    summary = (f"{count(total)} visits; the change per visit goes from {signed(low, currency)} "
               f"to {signed(high, currency)}; bins of {amount(step, currency)}")
    if distribution.step > Decimal("0.01"):
        summary += f" (values grouped to {amount(distribution.step, currency)} first)"
    title = f"Change in what the patient pays per visit ({currency}): number of visits"
    return Histogram(title, width, height, base_y, bars, ticks, levels, summary)


def _group_chart(title: str, rows: list[Row], currency: str) -> Chart:
    return bar_chart(title, [(r.name, r.per_visit, signed(r.per_visit, currency),
                              tone(r.per_visit)) for r in rows])


def pair_view(pair: PairTotals) -> PairView:
    specialties = sorted(_rows(pair.specialties()), key=lambda r: (-r.per_visit, r.name))
    age_bands = _rows(pair.age_bands())
    cur = pair.currency
    charts = [
        _group_chart(f"Change in what the patient pays, per visit, by specialty ({cur})",
                     specialties, cur),
        _group_chart(f"Change in what the patient pays, per visit, by age band ({cur})",
                     age_bands, cur),
    ]
    return PairView(pair, headline(pair),
                    for_whom(pair, [("specialty", specialties), ("age band", age_bands)]),
                    _per_visit(pair.whole.patient_change, pair.whole.episodes),
                    specialties, age_bands, histogram(pair.patient_changes, cur), charts)


# ---- the page -----------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("parcours.compiler.tools.compare", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(amount=amount, signed=signed, count=count, tone=tone)
    return env


def render_report(result: CompareResult, input_sha256: str | None = None) -> str:
    """One self-contained HTML page (no script, no external resource); the same input gives
    the same bytes (no date, no timing)."""
    pathways = sorted({k for p in result.policies for k in p.by_pathway})
    pathway_charts = [bar_chart(f"{p.id}: visits by pathway", [
        (name, Decimal(n), count(n), "neutral") for name, n in sorted(p.by_pathway.items())])
        for p in result.policies if p.by_pathway]
    # The totals table: one column per role (or, for a policy that marks none, per output).
    labels = {"role:insurer": "insurer pays", "role:patient": "patients pay"}
    total_columns = [(key, labels.get(key, key.split(":", 1)[1].replace("_", " ")))
                     for key in dict.fromkeys(p.column(n) for p in result.policies
                                              for n in p.amounts)]
    policy_columns = {p.id: {p.column(n): n for n in p.amounts} for p in result.policies}
    template = _environment().get_template("report.html.jinja")
    return template.render(result=result, pathways=pathways, pairs=[pair_view(p) for p in
                                                                     result.pairs],
                           total_columns=total_columns, policy_columns=policy_columns,
                           pathway_charts=pathway_charts, mean=mean, share=share,
                           version=VERSION, input_sha256=input_sha256)
