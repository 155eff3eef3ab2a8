"""`parcours doc`: the documentation site, from the shipped policies' IR."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from click.testing import CliRunner

from parcours.compiler.cli import main
from parcours.compiler.ir import nodes as n
from parcours.compiler.pipeline import analyse
from parcours.compiler.tools.site import Site, build_site
from parcours.compiler.tools.site.words import words

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"
SHIPPED = sorted(str(p) for p in POLICIES.glob("*.parcours") if p.name != "episode.parcours")


@pytest.fixture(scope="module")
def site() -> Site:
    return build_site(SHIPPED)


def program(name: str) -> n.Program:
    analysis = analyse(POLICIES / f"{name}.parcours", verify=False)
    assert analysis.program is not None
    return analysis.program


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def row(html: str, anchor: str) -> str:
    match = re.search(rf'<tr id="{re.escape(anchor)}">(.*?)</tr>', html, re.S)
    assert match, anchor
    return match.group(1)


def test_france_rules_in_words() -> None:
    said = {r.name: words(r.condition) for r in program("france").rules}
    assert said["under_16"] == "the patient is under 16"
    assert said["emergency"] == "the visit is marked emergency"
    assert said["act_outside_pathway"] == "the visit's act is not consultation"
    assert said["not_a_physician"] == "the visit's specialty is one of dentistry or midwifery"
    assert said["no_declared_doctor"] == "the patient is not marked declared doctor"
    assert said["doctor_unavailable"] == ("the visit is marked doctor unavailable and the "
                                          "patient is marked declared doctor")
    assert said["direct_access_psychiatry"] == (
        "the visit's specialty is one of neuropsychiatry or psychiatry, and the patient is 16 "
        "or older, and the patient is 25 or younger, and the patient is marked declared doctor")
    assert said["not_referred"].startswith("always")


def test_words_of_other_shapes() -> None:
    age = n.Input("patient.age", n.IntT(0, 130))
    emergency = n.Input("visit.emergency", n.BoolT())
    sixteen = n.Const(16, n.IntT())
    mirrored = n.Compare(n.CompareOp.GT, sixteen, age)  # 16 > patient.age
    assert words(mirrored) == "the patient is under 16"
    either = n.BoolOp(n.BoolOpKind.OR, (emergency, mirrored))
    both = n.BoolOp(n.BoolOpKind.AND, (either, n.Not(emergency)))
    assert words(both) == ("(either the visit is marked emergency or the patient is under 16) "
                           "and the visit is not marked emergency")
    day = n.Compare(n.CompareOp.GE, n.Input("date", n.DateT()),
                    n.Const(__import__("datetime").date(2024, 1, 1), n.DateT()))
    assert words(day) == "the date is on or after 2024-01-01"
    sum_ = n.Compare(n.CompareOp.GT, n.Arith(n.ArithOp.ADD, age, sixteen, n.IntT()), sixteen)
    assert words(sum_) == "`patient.age + 16` is more than 16"  # no paraphrase of arithmetic


def test_a_page_per_policy_listing_every_rule_with_its_sources(site: Site) -> None:
    assert set(site.files) == {"index.html"} | {f"{Path(p).stem}.html" for p in SHIPPED}
    for path in SHIPPED:
        prog = program(Path(path).stem)
        html = site.files[f"{prog.policy.id}.html"]
        for rule in prog.rules:
            cells = row(html, f"rule-{rule.name}")
            assert f"<code>{rule.name}</code>" in cells
            cited = re.findall(r'href="#source-([^"]+)"', cells.split("through the values")[0])
            assert cited == list(rule.notes.cites), rule.name
            assert words(rule.condition) in text_of(cells)
        for source in prog.sources:  # each source listed once, with what cites it
            assert html.count(f'<tr id="source-{source.id}">') == 1


def test_the_rule_row_shows_priority_pathway_notes_and_flags_side_by_side(site: Site) -> None:
    cells = text_of(row(site.files["france.html"], "rule-not_a_physician"))
    assert cells.startswith("3 not_a_physician")
    assert "direct_access" in cells and "visit.specialty in {dentistry, midwifery}" in cells
    assert "L162-5-3 governs physicians" in cells
    flagged = row(site.files["tunisia.html"], "rule-replacement")
    assert '<span class="flag assumption">assumption</span>' in flagged
    assert "a replacement of the family doctor is in the filière" in text_of(flagged)


def _flags_in_source(*files: Path) -> int:
    return sum(len(re.findall(r'\b(unconfirmed|assumption) "', f.read_text(encoding="utf-8")))
               for f in files)


def test_every_unconfirmed_and_assumption_is_an_open_question(site: Site) -> None:
    for page in site.pages:
        expected = _flags_in_source(POLICIES / page.file, POLICIES / "episode.parcours")
        assert len(page.questions) == expected, page.id
        html = site.files[f"{page.id}.html"]
        section = html.split('<h2 id="questions">')[1].split('<h2 id="sources">')[0]
        assert section.count('<tr><td><span class="flag ') == expected
    france = next(p for p in site.pages if p.id == "france")
    assert sum(q.kind == "unconfirmed" for q in france.questions) > 0
    assert sum(q.kind == "assumption" for q in france.questions) > 0
    psychiatry = [q for q in france.questions if "psychiatry" in q.where]
    assert psychiatry and psychiatry[0].where.endswith("from 2017-05-01")


def test_dated_values_as_a_timeline(site: Site) -> None:
    france = next(p for p in site.pages if p.id == "france")
    fee = next(v for v in france.params if v.name == "participation_forfaitaire")
    assert [(p.start, p.until, p.value) for p in fee.periods] == [
        ("2017-05-01", "2024-05-14", "1.00 EUR"), ("2024-05-15", "", "2.00 EUR")]
    first, second = fee.periods
    assert float(first.left) == 0 and float(first.width) > float(second.width) > 0
    assert abs(float(second.left) - float(first.width)) < 0.1  # end to end, no gap
    base = next(t for t in france.tables if t.name == "base_inside")
    psychiatry = next(r for r in base.rows if r.name == "psychiatry, neuropsychiatry")
    assert [p.value for p in psychiatry.periods] == ["51.70 EUR", "55.00 EUR", "57.00 EUR"]
    assert psychiatry.periods[0].remarks.flags[0][0] == "unconfirmed"
    html = site.files["france.html"]
    assert html.count('<div class="timeline"') == (  # constants are listed without one
        sum(not v.constant for v in france.params) + sum(len(t.rows) for t in france.tables)
        + sum(bool(a.cap_periods) for a in france.accumulators))  # a cap's, shown again
    constant = next(v for v in france.params if v.name == "penalty_cap")
    assert constant.constant and not fee.constant
    cells = text_of(row(html, "param-penalty_cap"))
    assert "10.00 EUR" in cells and "unconfirmed seed 003 only" in cells


def test_the_decision_contract(site: Site) -> None:
    france = next(p for p in site.pages if p.id == "france")
    prog = program("france")
    assert [i.path for i in france.inputs] == [i.path for i in prog.inputs]
    act = next(i for i in france.inputs if i.path == "visit.act")
    assert act.default == "consultation" and act.declared_in == "france.parcours"
    age = next(i for i in france.inputs if i.path == "patient.age")
    assert age.declared_in == "episode.parcours" and age.type == "int[0..130]"
    assert {o.name: o.role for o in france.contract}["patient_pays"] == "patient"
    section = text_of(site.files["france.html"].split('<h2 id="contract">')[1]
                      .split('<h2 id="questions">')[0])
    for pathway in prog.decision.pathways:
        assert pathway in section
    assert "totals insurer" in section and "age in whole years" in section


def test_each_accumulator_has_a_section(site: Site) -> None:
    france = next(p for p in site.pages if p.id == "france")
    [acc] = france.accumulators
    assert (acc.name, acc.keys, acc.period, acc.adds, acc.cap, acc.cap_kind, acc.field) == (
        "participations", ("patient.id",), "calendar_year", "flat_fee",
        "participation_annual_cap", "parameter", "participations_used")
    assert [(p.start, p.until, p.value) for p in acc.cap_periods] == [
        ("2017-05-01", "", "50.00 EUR")]
    assert [c.id for c in acc.remarks.cites] == ["ameli_pf", "css_l160_13"]
    html = site.files["france.html"]
    assert '<a href="#accumulators">Accumulators</a>' in html
    card = html.split('<div class="card" id="accumulator-participations">')[1].split("</div>\n")
    said = text_of("</div>".join(card[:3]))
    for part in ("accumulator participations : money EUR", "per patient.id",
                 "over calendar_year", "adds flat_fee", "cap parameter participation_annual_cap",
                 "participations_used", "2017-05-01 open 50.00 EUR",
                 "not modelled: the limit of 4 participations per day"):
        assert part in said, part
    cited = re.findall(r'href="#source-([^"]+)"', card[0].split("<th>sources</th>")[1])
    assert cited == ["ameli_pf", "css_l160_13"]
    assert 'href="#output-flat_fee"' in card[0]
    assert 'href="#param-participation_annual_cap"' in card[0]
    # the sources say the accumulator cites them; the cap's value is cited once, by its parameter
    ameli = next(s for s in france.sources if s.id == "ameli_pf")
    assert ("accumulator participations", "accumulator-participations") in ameli.cited_by
    assert sum(what.startswith("parameter participation_annual_cap")
               for what, _ in ameli.cited_by) == 1
    # a cap computed by a let: its expression; the accumulator's assumption is a question
    tunisia = next(p for p in site.pages if p.id == "tunisia")
    [household] = tunisia.accumulators
    assert household.keys == ("patient.household",) and household.cap_kind == "let"
    assert household.cap_periods == () and "plafond_assure[" in household.cap_text
    assert household.remarks.flags[0][0] == "assumption"
    assert [q.anchor for q in tunisia.questions].count("accumulator-remboursements_menage") == 1
    assert "Accumulators" not in site.files["nhs.html"]  # no accumulator, no section


def test_policies_sharing_a_schema_link_to_each_other(site: Site) -> None:
    ids = ["france", "morocco", "morocco_proposal", "nhs"]  # tunisia has a contract of its own
    assert site.schemas == {"episode": ids}
    assert "shared with" not in site.files["tunisia.html"]
    assert 'href="tunisia.html"' not in site.files["france.html"]
    html = site.files["france.html"]
    for other in ids:
        if other != "france":
            assert f'href="{other}.html"' in html
    index = site.files["index.html"]
    for policy_id in ids:
        assert f'<a href="{policy_id}.html">{policy_id}</a>' in index


def test_pages_are_self_contained_escaped_and_reproducible(site: Site, tmp_path: Path) -> None:
    for name, html in site.files.items():
        assert "<script" not in html and "<link" not in html, name
        assert not re.search(r'(src|href)="(https?:)?//', html), name
        assert str(ROOT) not in html and "/work" not in html, name
    again = build_site(list(reversed(SHIPPED)))
    assert again.files == site.files
    # a note with markup is shown as text
    policy = (POLICIES / "france.parcours").read_text(encoding="utf-8").replace(
        "dentists and midwives are not physicians", "<b>dentists</b> & midwives")
    (tmp_path / "episode.parcours").write_bytes((POLICIES / "episode.parcours").read_bytes())
    (tmp_path / "france.parcours").write_text(policy, encoding="utf-8")
    html = build_site([str(tmp_path / "france.parcours")]).files["france.html"]
    assert "&lt;b&gt;dentists&lt;/b&gt; &amp; midwives" in html and "<b>dentists" not in html


def test_parcours_doc_on_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = CliRunner().invoke(main, ["doc", str(POLICIES), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["index.html"] + [f"{Path(p).stem}.html" for p in SHIPPED])  # no page for the schema
    assert "5 policies" in result.stderr
    broken = tmp_path / "broken.parcours"
    broken.write_text("policy broken {\n  title \"x\"\n", encoding="utf-8")
    failed = CliRunner().invoke(main, ["doc", str(broken), "-o", str(tmp_path / "none")])
    assert failed.exit_code == 1 and "broken.parcours:" in failed.stderr
    assert not (tmp_path / "none").exists()
    missing = CliRunner().invoke(main, ["doc", str(tmp_path / "nope.parcours"), "-o",
                                        str(tmp_path / "none")])
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    only_schema = CliRunner().invoke(main, ["doc", str(POLICIES / "episode.parcours"), "-o",
                                            str(tmp_path / "none")])
    assert only_schema.exit_code == 2 and "only schema" in only_schema.stderr
