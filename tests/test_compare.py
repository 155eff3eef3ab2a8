"""`parcours compare`: totals, pairs, formats, the HTML report and what-if overrides."""

from __future__ import annotations

import csv
import hashlib
import html as html_lib
import io
import json
import re
import types
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from parcours.compiler.cli import main
from parcours.compiler.tools.compare import (MAX_BUCKETS, CompareResult, Distribution,
                                             PairTotals, PolicyTotals, age_band, render_report)
from parcours.compiler.tools.compare.report import amount, histogram, signed
from parcours.compiler.pipeline import load_policy
from parcours.runtime import Decision, EpisodeError, PolicyGap

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SAMPLES = POLICIES / "samples"
MOROCCO = POLICIES / "morocco.parcours"
PROPOSAL = POLICIES / "morocco_proposal.parcours"
FRANCE = POLICIES / "france.parcours"
NHS = POLICIES / "nhs.parcours"
EPISODES_MA = SAMPLES / "episodes-ma.jsonl"
EPISODES = SAMPLES / "episodes.jsonl"

Make = Callable[..., dict[str, Any]]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def compare_json(*args: str) -> dict[str, Any]:
    result = invoke("compare", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def episodes_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line, parse_float=Decimal)
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def decide_or_none(module: types.ModuleType, episode: dict[str, Any],
                   params: object | None = None) -> Decision | None:
    try:
        if params is None:
            decision: Decision = module.decide(episode)
        else:
            decision = module.decide(episode, params)
    except (EpisodeError, PolicyGap):
        return None
    return decision


def expected_totals(decisions: list[Decision | None]) -> dict[str, Any]:
    decided = [d for d in decisions if d is not None]
    by_pathway: dict[str, int] = {}
    for d in decided:
        by_pathway[d.pathway] = by_pathway.get(d.pathway, 0) + 1
    reimbursed = sum((d.number("reimbursed") for d in decided), Decimal(0))
    patient_pays = sum((d.number("patient_pays") for d in decided), Decimal(0))
    cent = Decimal("0.01")
    return {
        "decided": len(decided),
        "rejected": len(decisions) - len(decided),
        "by_pathway": by_pathway,
        "reimbursed": f"{reimbursed:.2f}",
        "patient_pays": f"{patient_pays:.2f}",
        "mean_reimbursed": f"{(reimbursed / len(decided)).quantize(cent, ROUND_HALF_UP):.2f}",
        "mean_patient_pays": f"{(patient_pays / len(decided)).quantize(cent, ROUND_HALF_UP):.2f}",
    }


def check_policy(got: dict[str, Any], decisions: list[Decision | None], currency: str) -> None:
    want = expected_totals(decisions)
    assert got["currency"] == currency
    for key, value in want.items():
        assert got[key] == value, key


# ---- totals -------------------------------------------------------------------------------


def test_moroccan_pair_totals_and_transfers() -> None:
    old, new = load_policy(MOROCCO), load_policy(PROPOSAL)
    episodes = episodes_of(EPISODES_MA)
    old_d = [decide_or_none(old, ep) for ep in episodes]
    new_d = [decide_or_none(new, ep) for ep in episodes]
    data = compare_json(str(MOROCCO), str(PROPOSAL), "--input", str(EPISODES_MA))
    assert data["episodes"] == len(episodes)
    assert set(data["policies"]) == {"morocco", "morocco_proposal"}
    check_policy(data["policies"]["morocco"], old_d, "MAD")
    check_policy(data["policies"]["morocco_proposal"], new_d, "MAD")

    both = [(ep, a, b) for ep, a, b in zip(episodes, old_d, new_d)
            if a is not None and b is not None]
    changed = sum(1 for _, a, b in both if a.pathway != b.pathway)
    net = sum((b.number("reimbursed") - a.number("reimbursed") for _, a, b in both), Decimal(0))
    by_specialty: dict[str, Decimal] = {}
    by_band: dict[str, Decimal] = {}
    for ep, a, b in both:
        specialty = ep["visit"]["specialty"]
        by_specialty[specialty] = by_specialty.get(specialty, Decimal(0)) + b.number("reimbursed") - a.number("reimbursed")
        age = ep["patient"]["age"]
        band = ("0-15" if age <= 15 else "16-17" if age <= 17 else "18-25" if age <= 25
                else "26-59" if age <= 59 else "60+")
        by_band[band] = by_band.get(band, Decimal(0)) + b.number("reimbursed") - a.number("reimbursed")

    [pair] = data["pairs"]
    assert (pair["old"], pair["new"], pair["currency"]) == ("morocco", "morocco_proposal", "MAD")
    assert pair["both_decided"] == len(both)
    assert pair["pathway_changed"] == changed > 0
    assert pair["net_transfer_to_patients"] == f"{net:.2f}"
    assert {k: Decimal(v["net_transfer_to_patients"]) for k, v in pair["by_specialty"].items()} \
        == by_specialty
    assert {k: Decimal(v["net_transfer_to_patients"]) for k, v in pair["by_age_band"].items()} \
        == by_band
    assert list(pair["by_age_band"]) == [b for b in ("0-15", "16-17", "18-25", "26-59", "60+")
                                         if b in by_band]
    assert sum(v["episodes"] for v in pair["by_specialty"].values()) == len(both)
    # exact strings, never floats
    assert isinstance(pair["net_transfer_to_patients"], str)
    assert "overrides" in data and data["overrides"] == {}


@pytest.mark.slow
def test_france_and_nhs_totals_and_no_pair_across_currencies() -> None:
    france, nhs = load_policy(FRANCE), load_policy(NHS)
    episodes = episodes_of(EPISODES)
    # each policy sees only the fields it declares (france declares more than the nhs)
    nhs_fields = dict(nhs.SHAPE)
    stripped = [{k: ({f: x for f, x in v.items() if f in nhs_fields[k]} if isinstance(v, dict)
                     else v) for k, v in ep.items()} for ep in episodes]
    data = compare_json(str(FRANCE), str(NHS), "--input", str(EPISODES))
    check_policy(data["policies"]["france"], [decide_or_none(france, ep) for ep in episodes], "EUR")
    check_policy(data["policies"]["nhs"], [decide_or_none(nhs, ep) for ep in stripped], "GBP")
    assert data["pairs"] == []


def test_age_bands() -> None:
    assert [age_band(a) for a in (0, 15, 16, 17, 18, 25, 26, 59, 60, 130)] == [
        "0-15", "0-15", "16-17", "16-17", "18-25", "18-25", "26-59", "26-59", "60+", "60+"]
    assert age_band("12") == "unknown"
    assert age_band(True) == "unknown"


# ---- inputs -------------------------------------------------------------------------------


@pytest.mark.slow
def test_field_declared_by_one_policy_is_accepted(tmp_path: Path, episode: Make) -> None:
    with_act = episode(id="ep-act", visit={"act": "consultation"})
    unknown = episode(id="ep-unknown", visit={"colour": "blue"})
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join([json.dumps(with_act), json.dumps(unknown),
                                 '{"id": "broken', ""]) + "\n", encoding="utf-8")
    assert "act" in dict(load_policy(FRANCE).SHAPE)["visit"]
    assert "act" not in dict(load_policy(NHS).SHAPE)["visit"]
    data = compare_json(str(FRANCE), str(NHS), "--input", str(source))
    assert data["episodes"] == 3
    for policy in ("france", "nhs"):
        got = data["policies"][policy]
        assert (got["decided"], got["rejected"]) == (1, 2), policy
        # the field no policy declares is named in the rejection
        assert any("colour" in message for message in got["rejection_examples"])


def test_no_decision_means_no_mean(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("not json\n", encoding="utf-8")
    data = compare_json(str(FRANCE), "--input", str(source))
    got = data["policies"]["france"]
    assert (got["decided"], got["rejected"], got["mean_reimbursed"]) == (0, 1, None)


# ---- what-if ------------------------------------------------------------------------------


def test_set_changes_the_proposal_only() -> None:
    base = compare_json(str(MOROCCO), str(PROPOSAL), "--input", str(EPISODES_MA))
    what_if = compare_json(str(MOROCCO), str(PROPOSAL), "--input", str(EPISODES_MA),
                           "--set", "out_of_pathway_penalty=0.20")
    assert what_if["overrides"] == {"out_of_pathway_penalty": {
        "value": "0.20", "policies": ["morocco_proposal"]}}
    assert what_if["policies"]["morocco"] == base["policies"]["morocco"]
    old, new = base["policies"]["morocco_proposal"], what_if["policies"]["morocco_proposal"]
    assert new["reimbursed"] != old["reimbursed"]
    assert new["patient_pays"] != old["patient_pays"]
    # independently: the module's own what-if parameters
    proposal = load_policy(PROPOSAL)
    params = proposal.with_overrides({"out_of_pathway_penalty": "0.20"})
    decisions = [decide_or_none(proposal, ep, params) for ep in episodes_of(EPISODES_MA)]
    check_policy(new, decisions, "MAD")
    assert what_if["pairs"][0]["net_transfer_to_patients"] != \
        base["pairs"][0]["net_transfer_to_patients"]


def test_unknown_set_name_exits_2() -> None:
    result = invoke("compare", str(MOROCCO), str(PROPOSAL), "--input", str(EPISODES_MA),
                    "--set", "no_such_parameter=1")
    assert result.exit_code == 2
    assert "no_such_parameter" in result.stderr
    assert "Traceback" not in result.output


def test_bad_set_value_and_missing_input_exit_2(tmp_path: Path) -> None:
    result = invoke("compare", str(PROPOSAL), "--input", str(EPISODES_MA),
                    "--set", "out_of_pathway_penalty=lots")
    assert result.exit_code == 2
    result = invoke("compare", str(PROPOSAL), "--input", str(tmp_path / "missing.jsonl"))
    assert result.exit_code == 2
    result = invoke("compare", str(tmp_path / "missing.parcours"), "--input", str(EPISODES_MA))
    assert result.exit_code == 2


# ---- formats ------------------------------------------------------------------------------


@pytest.mark.slow
def test_csv_has_one_row_per_policy() -> None:
    result = invoke("compare", str(FRANCE), str(NHS), "--input", str(EPISODES), "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["policy"] for row in rows] == ["france", "nhs"]
    data = compare_json(str(FRANCE), str(NHS), "--input", str(EPISODES))
    for row in rows:
        want = data["policies"][row["policy"]]
        assert row["currency"] == want["currency"]
        assert int(row["decided"]) == want["decided"]
        assert row["reimbursed"] == want["reimbursed"]
        assert row["mean_patient_pays"] == want["mean_patient_pays"]
        for pathway, count in want["by_pathway"].items():
            assert int(row[f"pathway:{pathway}"]) == count


def test_table_is_readable_and_aligned() -> None:
    result = invoke("compare", str(MOROCCO), str(PROPOSAL), "--input", str(EPISODES_MA))
    assert result.exit_code == 0, result.output
    text = result.stdout
    data = compare_json(str(MOROCCO), str(PROPOSAL), "--input", str(EPISODES_MA))
    assert data["policies"]["morocco_proposal"]["reimbursed"] in text
    assert data["pairs"][0]["net_transfer_to_patients"] in text
    assert "morocco → morocco_proposal" in text
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("policy "))
    rows = lines[header:header + 4]
    assert len({line.index("currency") if "currency" in line else line.index("MAD")
                for line in rows if "---" not in line}) == 1


# ---- the HTML report ----------------------------------------------------------------------
#
# The report's figures are checked against sums computed here, from the decisions, with the
# named rounding: per visit = total / visits, half-up to the cent; percentages half-up to 0.1.

CENT = Decimal("0.01")


def shown(value: Decimal, currency: str = "MAD", sign: bool = False) -> str:
    """How the report writes an amount: thousands separators, `−` for minus, the currency."""
    text = f"{abs(value.quantize(CENT)):,.2f} {currency}"
    if value < 0:
        return "\u2212" + text
    return ("+" if sign and value > 0 else "") + text


def per_visit(total: Decimal, visits: int) -> Decimal:
    return (total / visits).quantize(CENT, ROUND_HALF_UP)


def text_of(fragment: str) -> str:
    return html_lib.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def headline_of(page: str) -> str:
    match = re.search(r'<p class="headline">(.*?)</p>', page, re.DOTALL)
    assert match, "no headline"
    return text_of(match.group(1))


def rows_of(page: str, first_cell: str) -> list[list[str]]:
    """The cells (as text) of every table row whose first cell is `first_cell`."""
    rows = re.findall(r"<tr[^>]*><td>" + re.escape(first_cell) + r"</td>(.*?)</tr>", page,
                      re.DOTALL)
    return [[text_of(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)]
            for row in rows]


def report(tmp_path: Path, *policies: Path, extra: tuple[str, ...] = ()) -> str:
    target = tmp_path / "report.html"
    result = invoke("compare", *map(str, policies), "--input", str(EPISODES_MA),
                    "--report", str(target), *extra)
    assert result.exit_code == 0, result.output
    return target.read_text(encoding="utf-8")


def both_decided(old_path: Path, new_path: Path) -> list[tuple[dict[str, Any], Decision, Decision]]:
    old, new = load_policy(old_path), load_policy(new_path)
    out = []
    for ep in episodes_of(EPISODES_MA):
        a, b = decide_or_none(old, ep), decide_or_none(new, ep)
        if a is not None and b is not None:
            out.append((ep, a, b))
    return out


def test_report_is_self_contained(tmp_path: Path) -> None:
    page = report(tmp_path, MOROCCO, PROPOSAL)
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page
    assert "<script" not in page
    without_xmlns = re.sub(r'xmlns(:\w+)?="[^"]*"', "", page)
    assert "http://" not in without_xmlns and "https://" not in without_xmlns
    assert not re.search(r'(src|href)\s*=\s*["\']?\s*(https?:)?//', page)
    assert not re.search(r"url\(|@import", page)
    assert "@media print" in page
    data = compare_json(str(MOROCCO), str(PROPOSAL), "--input", str(EPISODES_MA))
    assert shown(Decimal(data["policies"]["morocco"]["reimbursed"])) in page
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    # the same input gives the same bytes (no date, no timing)
    assert report(tmp_path, MOROCCO, PROPOSAL) == page


@pytest.mark.parametrize("order", ["status quo first", "proposal first"])
def test_headline_sign_and_amounts_equal_the_decisions(tmp_path: Path, order: str) -> None:
    old_path, new_path = (MOROCCO, PROPOSAL) if order == "status quo first" else (PROPOSAL,
                                                                                  MOROCCO)
    both = both_decided(old_path, new_path)
    patients = sum((b.number("patient_pays") - a.number("patient_pays") for _, a, b in both), Decimal(0))
    insurer = sum((b.number("reimbursed") - a.number("reimbursed") for _, a, b in both), Decimal(0))
    old_patients = sum((a.number("patient_pays") for _, a, _ in both), Decimal(0))
    old_insurer = sum((a.number("reimbursed") for _, a, _ in both), Decimal(0))
    assert patients != 0 and insurer != 0
    word = "more" if patients > 0 else "less"
    pct = (abs(patients) * 100 / abs(old_patients)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    sign = "+" if patients > 0 else "\u2212"
    visit = abs(per_visit(patients, len(both)))
    old_id, new_id = old_path.stem, new_path.stem
    expected = (f"Under {new_id}, patients pay {shown(abs(patients))} {word} than under {old_id} "
                f"({sign}{pct}%): {shown(visit)} {word} per visit, over {len(both):,} visits.")
    headline = headline_of(report(tmp_path, old_path, new_path))
    assert headline.startswith(expected), headline
    insurer_word = "more" if insurer > 0 else "less"
    insurer_pct = (abs(insurer) * 100 / abs(old_insurer)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    assert headline.endswith(f"The insurer pays {shown(abs(insurer))} {insurer_word} "
                             f"({'+' if insurer > 0 else chr(0x2212)}{insurer_pct}%).")
    assert "−−" not in headline and "- -" not in headline  # no double negative


def test_every_group_has_its_per_visit_change(tmp_path: Path) -> None:
    page = report(tmp_path, MOROCCO, PROPOSAL)
    both = both_decided(MOROCCO, PROPOSAL)
    groups: dict[str, list[tuple[Decision, Decision]]] = {}
    for ep, a, b in both:
        groups.setdefault(ep["visit"]["specialty"], []).append((a, b))
    assert len(groups) > 5
    for specialty, pairs in groups.items():
        [cells] = rows_of(page, specialty)
        old = sum((a.number("patient_pays") for a, _ in pairs), Decimal(0))
        new = sum((b.number("patient_pays") for _, b in pairs), Decimal(0))
        change = new - old
        more = sum(1 for a, b in pairs if b.number("patient_pays") > a.number("patient_pays"))
        less = sum(1 for a, b in pairs if b.number("patient_pays") < a.number("patient_pays"))
        assert cells == [f"{len(pairs):,}", f"{sum(a.pathway != b.pathway for a, b in pairs):,}",
                         shown(old), shown(new), shown(change, sign=True),
                         shown(per_visit(change, len(pairs)), sign=True),
                         str(more), str(less), str(len(pairs) - more - less)], specialty
    # the whole population, in each group table
    [everyone, _] = rows_of(page, "all visits")
    total = sum((b.number("patient_pays") - a.number("patient_pays") for _, a, b in both), Decimal(0))
    assert everyone[4:6] == [shown(total, sign=True), shown(per_visit(total, len(both)),
                                                          sign=True)]


def test_gain_and_loss_have_one_colour_and_a_word_each(tmp_path: Path) -> None:
    page = report(tmp_path, MOROCCO, PROPOSAL)
    # cells: the class matches the sign written in them
    for css, value in re.findall(r'<td class="n (more|less|same)">([^<]*)</td>', page):
        assert {"more": "+", "less": "\u2212", "same": "0"}[css] == value[0], (css, value)
    # charts: the same classes, one fill each, and no blue for neutral bars
    fills = dict(re.findall(r"--(more|less|same|neutral)-fill: (#[0-9a-f]{6})", page))
    assert len(set(fills.values())) == 4
    assert 'class="bar more"' in page and 'class="bar less"' in page
    assert "▲ pays more" in page and "▼ pays less" in page


def test_footer_names_versions_input_and_overrides(tmp_path: Path) -> None:
    page = report(tmp_path, MOROCCO, PROPOSAL, extra=("--set", "out_of_pathway_penalty=0.20"))
    footer = page[page.index("<footer"):]
    for path in (MOROCCO, PROPOSAL):
        assert load_policy(path).POLICY.version in footer
    assert str(EPISODES_MA) in footer
    assert hashlib.sha256(EPISODES_MA.read_bytes()).hexdigest() in footer
    assert "out_of_pathway_penalty=0.20" in footer and "morocco_proposal" in footer
    assert re.search(r"parcours \d+\.\d+", text_of(footer))
    plain = report(tmp_path, MOROCCO, PROPOSAL)
    assert "what-if overrides</dt>\n<dd>none" in plain


def test_numbers_are_exact_and_grouped() -> None:
    assert amount(Decimal("1234567.5"), "MAD") == "1,234,567.50 MAD"
    assert amount(Decimal("-1234.5"), "EUR") == "\u22121,234.50 EUR"
    assert amount(Decimal("0.125")) == "0.125"  # never rounded away
    assert amount(Decimal("1E+3"), "GBP") == "1,000.00 GBP"
    assert signed(Decimal("12"), "MAD") == "+12.00 MAD"
    assert signed(Decimal("0"), "MAD") == "0.00 MAD"
    assert signed(Decimal("-0.01")) == "\u22120.01"
    # far beyond a float's 15-16 significant digits: exact
    assert amount(Decimal("12345678901234567.89")) == "12,345,678,901,234,567.89"


def test_histogram_counts_every_visit_once() -> None:
    distribution = Distribution()
    values = [Decimal(v) for v in ("-45", "-40.01", "-0.01", "0", "0", "0.01", "5", "5.01",
                                   "60")]
    for value in values:
        distribution.add(value)
    chart = histogram(distribution, "MAD")
    counts = {bar.label: int(bar.text.split()[0]) for bar in chart.bars}
    assert sum(counts.values()) == len(values)
    assert counts["unchanged"] == 2
    assert {bar.tone for bar in chart.bars} == {"less", "same", "more"}
    # a positive value sits in a bin that ends at or above it: (0, step] holds 0.01 and 5
    first_up = next(bar for bar in chart.bars if bar.tone == "more")
    assert first_up.label == "0.00 to +5.00 MAD" and first_up.text == "2 visits"


def test_distribution_widens_its_buckets_and_keeps_the_count() -> None:
    distribution = Distribution()
    n = MAX_BUCKETS * 3
    for cents in range(n):
        distribution.add(Decimal(cents) / 100)
    assert sum(distribution.counts.values()) == n
    assert len(distribution.counts) <= MAX_BUCKETS
    assert distribution.step > Decimal("0.01")


def test_report_escapes_titles() -> None:
    nasty = PolicyTotals("p<1>", "<script>alert('x')</script>", "proposal", "EUR",
                         decided=1, by_pathway={"<b>": 1}, roles={"reimbursed": "insurer"},
                         amounts={"reimbursed": Decimal("1.50")}, indexes=(0,))
    other = PolicyTotals("p2", "fine", "in_force", "EUR", decided=1, by_pathway={"x": 1},
                         roles={"reimbursed": "insurer"},
                         amounts={"reimbursed": Decimal("-2.00")}, indexes=(0,))
    pair = PairTotals("p<1>", "p2", "EUR")
    result = CompareResult(1, [nasty, other], [pair], input_name="<img src=x>")
    page = render_report(result)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "<b>" not in page and "<img" not in page
    assert "<svg" in page


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_rejections_do_not_fail(tmp_path: Path, fmt: str) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("[]\n{}\n", encoding="utf-8")
    result = invoke("compare", str(FRANCE), str(NHS), "--input", str(source), "--format", fmt)
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_same_policy_twice_exits_2() -> None:
    result = invoke("compare", str(FRANCE), str(FRANCE), "--input", str(EPISODES))
    assert result.exit_code == 2
    assert "more than once" in result.stderr


# ---- Tunisia: a policy with its own decision, amounts in millimes --------------------------

TUNISIA = POLICIES / "tunisia.parcours"
EPISODES_TN = SAMPLES / "episodes-tn.jsonl"


def test_tunisia_against_a_copy_with_one_rate_changed_totals_the_declared_amounts(
        tmp_path: Path) -> None:
    """The reimbursement system's rate 0.70 → 0.75 in a copy: the totals are the declared
    `rembourse` (insurer) and `a_charge_patient` (patient), to the millime, and only the
    reimbursement system's episodes move."""
    text = TUNISIA.read_text(encoding="utf-8")
    changed = (text.replace("policy tunisia {", "policy tunisia_plus {", 1)
                   .replace("param reimbursement_rate: rate = 0.70",
                            "param reimbursement_rate: rate = 0.75", 1))
    assert changed.count("tunisia_plus") == 1 and "rate = 0.75" in changed
    copy = tmp_path / "tunisia_plus.parcours"
    copy.write_text(changed, encoding="utf-8")

    episodes = episodes_of(EPISODES_TN)
    old, new = load_policy(TUNISIA), load_policy(copy)
    old_d = [decide_or_none(old, ep) for ep in episodes]
    new_d = [decide_or_none(new, ep) for ep in episodes]
    assert all(d is not None for d in old_d + new_d)
    target = tmp_path / "r.html"
    data = compare_json(str(TUNISIA), str(copy), "--input", str(EPISODES_TN),
                        "--report", str(target))
    for name, decisions in (("tunisia", old_d), ("tunisia_plus", new_d)):
        totals = data["policies"][name]
        assert totals["currency"] == "TND" and totals["decided"] == len(episodes)
        for output in ("rembourse", "a_charge_patient"):
            expected = sum((d.number(output) for d in decisions if d is not None), Decimal(0))
            assert totals[output] == f"{expected:.3f}", (name, output)
        assert "reimbursed" not in totals and "patient_pays" not in totals
    net = sum((b.number("rembourse") - a.number("rembourse")
               for a, b in zip(old_d, new_d) if a is not None and b is not None), Decimal(0))
    moved = {a.pathway for a, b in zip(old_d, new_d)
             if a is not None and b is not None and a.number("rembourse") != b.number("rembourse")}
    [pair] = data["pairs"]
    assert pair["currency"] == "TND" and pair["pathway_changed"] == 0
    assert pair["net_transfer_to_patients"] == f"{net:.3f}"
    assert net > 0 and moved == {"systeme_remboursement"}
    page = target.read_text(encoding="utf-8")
    assert f"{Decimal(data['policies']['tunisia']['rembourse']):,.3f} TND" in page
    assert f"{net:,.3f} TND" in page


def test_persons_are_counted_by_patient_id(tmp_path: Path) -> None:
    """With `patient.id`, a pair counts persons who pay more, less and the same over their
    episodes, as the decisions say; without it, the report says figures are per visit."""
    episodes = episodes_of(EPISODES_MA)[:120]
    for n, episode in enumerate(episodes):
        episode["patient"]["id"] = f"p-{n % 40}"  # three visits each
    path = tmp_path / "persons.jsonl"
    path.write_text("".join(json.dumps(e, default=str) + "\n" for e in episodes), encoding="utf-8")
    old, new = load_policy(MOROCCO), load_policy(PROPOSAL)
    change: dict[str, Decimal] = {}
    for episode in episodes:
        a, b = decide_or_none(old, episode), decide_or_none(new, episode)
        if a is not None and b is not None:
            person = episode["patient"]["id"]
            change[person] = change.get(person, Decimal(0)) + b.number("patient_pays") \
                - a.number("patient_pays")
    want = {"count": len(change), "pay_more": sum(1 for c in change.values() if c > 0),
            "pay_less": sum(1 for c in change.values() if c < 0),
            "pay_same": sum(1 for c in change.values() if c == 0)}
    (pair,) = compare_json(str(MOROCCO), str(PROPOSAL), "-i", str(path))["pairs"]
    assert pair["persons"] == want and want["pay_more"] and want["pay_less"]
    page = tmp_path / "r.html"
    assert invoke("compare", str(MOROCCO), str(PROPOSAL), "-i", str(path), "--report",
                  str(page)).exit_code == 0
    text = re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8"))
    assert f"{want['count']} persons (by patient.id)" in text
    assert f"{want['pay_more']} ({100 * want['pay_more'] / want['count']:.1f}%) pay more" in text
    plain = tmp_path / "plain.html"
    assert invoke("compare", str(MOROCCO), str(PROPOSAL), "-i", str(EPISODES_MA), "--report",
                  str(plain)).exit_code == 0
    assert "so figures are per visit, not per person" in plain.read_text(encoding="utf-8")
