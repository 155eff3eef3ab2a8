"""A policy that declares its own decision: three filières, Tunisian dinars (three decimals),
outputs of every kind (three amounts, a rate, a bool, an int, an enum; a decimal in one
test), one marked `totals patient`.  Compiled, decided by both engines, written, explained, summarised,
compared, tested and diffed; then every diagnostic of the decision block and of the
currency's unit, and an episode in another currency."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from parcours.compiler.cli import main
from parcours.compiler.interpret import as_module
from parcours.compiler.pipeline import analyse, load_policy
from parcours.runtime import (Decision, DecisionWriter, EpisodeError, OutputField, PolicyMeta,
                              decision_json)

POLICY = """\
policy filieres {
  title "Filières (test): public, family doctor, reimbursement"
  country "TN"
  currency TND
  status proposal
  valid from 2024-01-01
}

decision {
  pathway { public, family_doctor, reimbursement }
  output tariff: money                         note "the tariff the rate applies to"
  output rate: rate
  output insurer_share: money
  output ticket: money      totals patient     note "what the patient pays"
  output counts_towards_cap: bool
  output visits_counted: int
  output sector_seen: sector
}

source s1 = "Filières: a test document"

enum sector { public_sector, private_sector }

input date: date
input patient.age: int[0..130]
input patient.family_doctor: bool
input visit.sector: sector
input visit.fee: money

param public_ticket: money = 4.125 TND    cite s1
param family_rate: rate = 0.85            cite s1
param refund_rate: rate = 0.70            cite s1
param public_tariff: money = 45.000 TND   cite s1

rules pathway {
  rule public_care priority 1: public when visit.sector == public_sector   cite s1
  rule with_family_doctor priority 2: family_doctor when patient.family_doctor   cite s1
  default refund: reimbursement   cite s1
}

output tariff: money = case {
  when pathway == public: public_tariff
  else: visit.fee
}

output rate: rate = case {
  when pathway == public: 1
  when pathway == family_doctor: family_rate
  else: refund_rate
}

output insurer_share: money = case {
  when pathway == public: tariff - public_ticket
  else: round_half_up(tariff * rate, unit)
}

output ticket: money = case {
  when pathway == public: public_ticket
  else: max(0.000 TND, visit.fee - insurer_share)
}

output counts_towards_cap: bool = pathway != public
output visits_counted: int = case {
  when pathway == public: 0
  else: 1
}
output sector_seen: sector = visit.sector
"""

OUTPUTS = ("tariff", "rate", "insurer_share", "ticket", "counts_towards_cap", "visits_counted",
           "sector_seen")


def episode(sector: str = "private_sector", family_doctor: bool = False,
            fee: object = "45.125", **top: Any) -> dict[str, Any]:
    return {"id": "e1", "date": "2025-03-14", **top,
            "patient": {"age": 40, "family_doctor": family_doctor},
            "visit": {"sector": sector, "fee": fee}}


@pytest.fixture(scope="module")
def policy_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("filieres") / "filieres.parcours"
    path.write_text(POLICY, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def engines(policy_path: Path) -> tuple[Any, Any]:
    program = analyse(policy_path).program
    assert program is not None
    return load_policy(policy_path), as_module(program)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


# ---- the declared shape ----------------------------------------------------------------


def test_the_ir_and_the_module_carry_the_declared_shape(policy_path: Path,
                                                       engines: tuple[Any, Any]) -> None:
    program = analyse(policy_path).program
    assert program is not None
    assert program.decision.pathways == ("public", "family_doctor", "reimbursement")
    assert tuple(o.name for o in program.decision.outputs) == OUTPUTS
    assert [o.role.value if o.role else "" for o in program.decision.outputs] == \
        ["", "", "", "patient", "", "", ""]
    assert program.decision.outputs[0].note == "the tariff the rate applies to"
    for module in engines:
        assert module.PATHWAYS == ("public", "family_doctor", "reimbursement")
        assert tuple(o.name for o in module.OUTPUTS) == OUTPUTS
        assert tuple(o.kind for o in module.OUTPUTS) == (
            "money", "rate", "money", "money", "bool", "int", "enum")
        assert module.POLICY.decimals == 3
        assert module.POLICY.totalled() == (("ticket", "patient"),)


@pytest.mark.parametrize(("sector", "family", "fee", "expected"), [
    ("public_sector", False, "45.125", {
        "pathway": "public", "rule": "public_care", "tariff": "45.000", "rate": "1.00",
        "insurer_share": "40.875", "ticket": "4.125", "counts_towards_cap": False,
        "visits_counted": 0, "sector_seen": "public_sector"}),
    ("private_sector", True, "45.125", {
        # 45.125 × 0.85 = 38.35625 → 38.356; the patient pays 6.769
        "pathway": "family_doctor", "rule": "with_family_doctor", "tariff": "45.125",
        "rate": "0.85", "insurer_share": "38.356", "ticket": "6.769",
        "counts_towards_cap": True, "visits_counted": 1, "sector_seen": "private_sector"}),
    ("private_sector", False, "15.5", {
        # 15.5 × 0.70 = 10.85 → written with the dinar's three decimals
        "pathway": "reimbursement", "rule": "refund", "tariff": "15.500", "rate": "0.70",
        "insurer_share": "10.850", "ticket": "4.650", "counts_towards_cap": True,
        "visits_counted": 1, "sector_seen": "private_sector"}),
])
def test_both_engines_decide_the_declared_outputs(engines: tuple[Any, Any], sector: str,
                                                  family: bool, fee: str,
                                                  expected: dict[str, object]) -> None:
    compiled, interpreted = engines
    a = compiled.decide(episode(sector, family, fee))
    b = interpreted.decide(episode(sector, family, fee))
    assert a.to_dict() == b.to_dict()
    d = a.to_dict()
    assert list(d) == ["id", "policy", "policy_version", "pathway", "rule", "currency",
                       *OUTPUTS, "sources"]
    assert d["currency"] == "TND"
    assert {k: d[k] for k in expected} == expected
    assert a.value("counts_towards_cap") is expected["counts_towards_cap"]
    assert a.number("ticket") == Decimal(str(expected["ticket"]))
    with pytest.raises(TypeError):
        a.number("counts_towards_cap")
    # the streaming writer writes the same bytes as the plain route
    assert DecisionWriter()(a) == decision_json(a)


def test_the_streaming_writer_caches_never_change_a_byte() -> None:
    """Equal amounts written apart (-0.00 and 0.00; 1.5 and 1.50 are written alike) and
    one amount in two currencies: the writer's caches give decision_json's bytes."""
    def meta(currency: str, decimals: int) -> PolicyMeta:
        return PolicyMeta("p", "P", "v", currency, "proposal", lambda path: ((),), {},
                          pathways=("a",), decimals=decimals,
                          outputs=(OutputField("x", "money"), OutputField("r", "rate"),
                                   OutputField("n", "int"), OutputField("b", "bool"),
                                   OutputField("d", "date")))
    eur, tnd = meta("EUR", 2), meta("TND", 3)
    writer = DecisionWriter()
    for policy in (eur, tnd, eur):
        for amount in ("0.00", "-0.00", "1.5", "1.50", "1.505", "-0.00", "7", "1E+1"):
            decision = Decision("e", policy, "a", "rule", (
                Decimal(amount), Decimal("0.7"), 3, False, date(2025, 1, 2)), (0, 0))
            assert writer(decision) == decision_json(decision), (policy.currency, amount)
    assert '"x":"-0.000"' in writer(Decision("e", tnd, "a", "rule", (
        Decimal("-0.00"), Decimal(1), 0, True, date(2025, 1, 2)), (0, 0)))


def test_three_decimal_amounts_accepted_finer_ones_rejected(engines: tuple[Any, Any]) -> None:
    for module in engines:
        assert module.decide(episode(fee="45.001")).to_dict()["tariff"] == "45.001"
        assert module.decide(episode(fee=Decimal("7.125"))).to_dict()["ticket"] == "2.137"
        with pytest.raises(EpisodeError) as caught:
            module.decide(episode(fee="45.0001"))
        assert caught.value.field == "visit.fee"
        assert "fractions of the currency's unit (0.001 TND)" in caught.value.message


def test_an_episode_in_another_currency_is_rejected_naming_both(
        engines: tuple[Any, Any]) -> None:
    for module in engines:
        with pytest.raises(EpisodeError) as caught:
            module.decide(episode(currency="MAD"))
        assert caught.value.field == "currency"
        assert caught.value.message == "episode in MAD, policy filieres decides in TND"
        with pytest.raises(EpisodeError) as wrong_type:
            module.decide(episode(currency=3))
        assert wrong_type.value.field == "currency"
        # the policy's own currency is accepted, and still no other unknown field
        assert module.decide(episode(currency="TND")).pathway == "reimbursement"
        with pytest.raises(EpisodeError) as unknown:
            module.decide(episode(currency="TND", colour="red"))
        assert unknown.value.field == "colour"


# ---- the command line --------------------------------------------------------------------


def test_decide_summary_totals_the_declared_amount(policy_path: Path, tmp_path: Path) -> None:
    episodes = tmp_path / "episodes.jsonl"
    episodes.write_text("\n".join(json.dumps(e) for e in (
        episode("public_sector"), episode(family_doctor=True), episode(fee="15.5"),
        episode(currency="MAD"))) + "\n", encoding="utf-8")
    result = invoke("decide", str(policy_path), "--input", str(episodes), "--output",
                    str(tmp_path / "out.jsonl"), "--summary")
    assert result.exit_code == 1  # the MAD episode
    assert "episode in MAD, policy filieres decides in TND" in result.output
    # 4.125 + 6.769 + 4.650, with three decimals; only the `totals patient` output
    assert re.search(r"^  ticket\s+15\.544 TND$", result.output, re.M)
    assert "reimbursed" not in result.output and "insurer share" not in result.output
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["ticket"] for line in lines] == ["4.125", "6.769", "4.650"]


def test_explain_lists_every_declared_output(policy_path: Path) -> None:
    result = invoke("explain", str(policy_path), "--episode", json.dumps(episode(fee="15.5")))
    assert result.exit_code == 0, result.output
    assert ("  tariff 15.500 TND; rate 0.70; insurer_share 10.850 TND; ticket 4.650 TND; "
            "counts_towards_cap true; visits_counted 1; sector_seen private_sector"
            in result.output)


def test_compare_totals_the_declared_amounts_and_reports(policy_path: Path,
                                                        tmp_path: Path) -> None:
    other = tmp_path / "filieres_lower.parcours"
    other.write_text(POLICY.replace("policy filieres", "policy filieres_lower").replace(
        "refund_rate: rate = 0.70", "refund_rate: rate = 0.60"), encoding="utf-8")
    episodes = tmp_path / "episodes.jsonl"
    episodes.write_text("\n".join(json.dumps(e) for e in (
        episode("public_sector"), episode(fee="15.5"), episode(fee="20.001"))) + "\n",
        encoding="utf-8")
    result = invoke("compare", str(policy_path), str(other), "--input", str(episodes),
                    "--format", "json", "--report", str(tmp_path / "report.html"))
    assert result.exit_code == 0, result.output
    data = json.JSONDecoder().raw_decode(result.output[result.output.index("{"):])[0]
    first, second = data["policies"]["filieres"], data["policies"]["filieres_lower"]
    # only `ticket` is totalled: 4.125 + 4.650 + 6.000 (20.001 − 14.001: 0.70 × 20.001 is
    # 14.0007, rounded half up to the dinar's unit)
    assert first["ticket"] == "14.775"
    # at 0.60: 4.125 + 6.200 + 8.000 (20.001 − 12.001)
    assert second["ticket"] == "18.325"
    assert "insurer_share" not in first and "reimbursed" not in first
    # the mean per visit, to the dinar's unit: 14.775 / 3 = 4.925
    assert first["mean_ticket"] == "4.925"
    assert second["mean_ticket"] == "6.108"  # 18.325 / 3 = 6.1083…
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "patients pay, total" in page and "insurer pays" not in page
    assert "18.325" in page


def test_policy_tests_expect_any_declared_output(policy_path: Path, tmp_path: Path) -> None:
    tests = tmp_path / "filieres.tests.toml"
    path = tmp_path / "filieres.parcours"
    path.write_text(POLICY, encoding="utf-8")
    tests.write_text(f"""policy = "{path.name}"

[[test]]
name = "public"
given = {{ date = "2025-03-14", patient = {{ age = 40, family_doctor = false }}, visit = {{ sector = "public_sector", fee = "45.125" }} }}
expect = {{ pathway = "public", ticket = "4.125", counts_towards_cap = false, visits_counted = 0, sector_seen = "public_sector" }}
""", encoding="utf-8")
    assert invoke("test", str(tests)).exit_code == 0
    tests.write_text(tests.read_text(encoding="utf-8").replace("visits_counted = 0",
                                                               "visits_counted = 1"))
    failed = invoke("test", str(tests))
    assert failed.exit_code == 1
    assert "visits_counted" in failed.output
    tests.write_text(tests.read_text(encoding="utf-8").replace("visits_counted = 1",
                                                               "reimbursed = \"1.00\""))
    unknown = invoke("test", str(tests))
    assert unknown.exit_code == 2
    assert "unknown expected field 'reimbursed'" in unknown.output
    assert "ticket, counts_towards_cap" in unknown.output


def test_diff_reports_declared_outputs(policy_path: Path, tmp_path: Path) -> None:
    other = tmp_path / "filieres.parcours"
    other.write_text(POLICY.replace("refund_rate: rate = 0.70", "refund_rate: rate = 0.60"),
                     encoding="utf-8")
    result = invoke("diff", str(policy_path), str(other))
    assert result.exit_code == 1, result.output
    assert "insurer_share" in result.output and "ticket" in result.output


def test_without_roles_every_money_output_is_totalled(tmp_path: Path) -> None:
    path = tmp_path / "filieres.parcours"
    path.write_text(POLICY.replace("totals patient", ""), encoding="utf-8")
    module = load_policy(path)
    assert module.POLICY.totalled() == (("tariff", ""), ("insurer_share", ""), ("ticket", ""))
    episodes = tmp_path / "e.jsonl"
    episodes.write_text(json.dumps(episode(fee="15.5")) + "\n", encoding="utf-8")
    result = invoke("decide", str(path), "--input", str(episodes), "--summary")
    assert re.search(r"^  tariff\s+15\.500 TND$", result.output, re.M)
    assert re.search(r"^  insurer share\s+10\.850 TND$", result.output, re.M)


def test_pathway_is_an_ordinary_enum_a_table_may_be_keyed_by(tmp_path: Path) -> None:
    path = tmp_path / "filieres.parcours"
    path.write_text(POLICY.replace("param public_ticket: money = 4.125 TND    cite s1", """\
table tickets: pathway -> money {
  public: 4.250 TND   cite s1
  else: 0.000 TND
}
param public_ticket: money = 4.125 TND    cite s1""").replace(
        "when pathway == public: public_ticket\n  else: max",
        "when pathway == public: tickets[pathway]\n  else: max"), encoding="utf-8")
    program = analyse(path).program
    assert program is not None
    for module in (load_policy(path), as_module(program)):
        assert module.decide(episode("public_sector")).to_dict()["ticket"] == "4.250"


def test_a_decimal_output_is_an_exact_string_in_the_three_decimal_policy(tmp_path: Path) -> None:
    """A `decimal` output: neither money (no currency's unit: not rounded to the millime)
    nor a rate (above 1); declared, defined, written as an exact decimal string."""
    path = tmp_path / "filieres.parcours"
    path.write_text(POLICY.replace("  output sector_seen: sector\n", "  output sector_seen: sector\n"
                                   "  output weight: decimal   note \"visits weighted\"\n")
                    .replace("param public_ticket:", "param weight_of_visit: decimal = 1.0625   "
                             "cite s1\nparam public_ticket:")
                    + "output weight: decimal = visits_counted * weight_of_visit * 2\n",
                    encoding="utf-8")
    program = analyse(path).program
    assert program is not None
    for module in (load_policy(path), as_module(program)):
        assert OutputField("weight", "decimal", "", "visits weighted") in module.POLICY.outputs
        assert module.decide(episode()).to_dict()["weight"] == "2.1250"
        assert module.decide(episode("public_sector")).to_dict()["weight"] == "0.0000"
        assert json.loads(decision_json(module.decide(episode())))["weight"] == "2.1250"


def test_without_money_outputs_there_is_nothing_to_total(tmp_path: Path) -> None:
    text = POLICY
    for name in ("tariff", "insurer_share", "ticket"):
        text = re.sub(rf"output {name}: money[^\n]*\n(?=  output)", "", text)  # the decision
        text = re.sub(rf"\noutput {name}: money = case {{.*?\n}}\n", "\n", text, flags=re.S)
    path = tmp_path / "flags.parcours"
    path.write_text(text.replace("policy filieres", "policy flags"), encoding="utf-8")
    assert codes(tmp_path, path.read_text(encoding="utf-8")) == []
    episodes = tmp_path / "e.jsonl"
    episodes.write_text(json.dumps(episode()) + "\n", encoding="utf-8")
    summary = invoke("decide", str(path), "--input", str(episodes), "--summary")
    assert summary.exit_code == 0, summary.output
    assert "no money output to total" in summary.output
    compared = invoke("compare", str(path), "--input", str(episodes))
    assert compared.exit_code == 0, compared.output
    assert "no money output to total" in compared.output


# ---- diagnostics -------------------------------------------------------------------------


def codes(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    path = tmp_path / "p.parcours"
    path.write_text(text, encoding="utf-8")
    return [(d.code, d.message) for d in analyse(path).diagnostics if d.is_error]


@pytest.mark.parametrize(("old", "new", "code", "message"), [
    # the decision block itself
    ("  pathway { public, family_doctor, reimbursement }\n", "", "E346",
     "the decision declares no pathways"),
    ("  output sector_seen: sector\n}",
     "  output sector_seen: sector\n}\ndecision { pathway { a } }", "E347",
     "a second `decision` block"),
    ("  output rate: rate\n", "  output rate: rate\n  pathway { x }\n", "E347",
     "a second `pathway { … }` in the decision"),
    ("  output rate: rate\n", "  output rate: rate\n  output rate: rate\n", "E348",
     "output `rate` is declared twice in the decision"),
    ("  output rate: rate\n", "  output rate: rate\n  output currency: money\n", "E348",
     "`currency` is a field of every decision"),
    ("totals patient", "totals doctor", "E349", "`totals doctor` is not a role"),
    ("output rate: rate\n", "output rate: rate totals insurer\n", "E349",
     "`rate` is a rate; only money is totalled"),
    ("output tariff: money ", "output tariff: money totals patient", "E349",
     "two outputs total `patient`"),
    ("public, family_doctor, reimbursement", "public, family_doctor, public", "E311",
     "`public` is listed twice in the pathways"),
    # the policy against its decision
    ("default refund: reimbursement", "default refund: refund", "E335",
     "`refund` is not a pathway of the decision"),
    ("output sector_seen: sector = visit.sector",
     "output sector_seen: sector = visit.sector\noutput extra: bool = true", "E340",
     "`extra` is not an output of the decision"),
    ("output visits_counted: int = case", "output visits_counted: rate = case", "E341",
     "output `visits_counted` is rate, the decision declares it int"),
    ("output visits_counted: int = case", "output visits_counted: decimal = case", "E341",
     "output `visits_counted` is decimal, the decision declares it int"),
    ("output sector_seen: sector = visit.sector", "", "E344",
     "the policy does not define output `sector_seen`, which the decision declares"),
    # the currency's unit
    ("currency TND", "currency TNX", "E316", "currency `TNX` has no known minor unit"),
    ("4.125 TND", "4.1255 TND", "E353",
     "4.1255 TND has fractions of the currency's unit (0.001 TND)"),
    ("round_half_up(tariff * rate, unit)", "round_half_up(tariff * rate, 0.0001)", "E371",
     "money is rounded to the currency's unit (0.001 TND) or coarser"),
    ("round_half_up(tariff * rate, unit)", "round_half_up(tariff / 3, 0.0001)", "E371",
     "money is rounded to the currency's unit (0.001 TND) or coarser"),
    ("when pathway == family_doctor: family_rate",
     "when pathway == family_doctor: round_down(family_rate, unit)", "E371",
     "`unit` is the currency's unit: it rounds money"),
])
def test_decision_diagnostics(tmp_path: Path, old: str, new: str, code: str,
                              message: str) -> None:
    assert old in POLICY
    found = codes(tmp_path, POLICY.replace(old, new, 1))
    assert any(c.startswith(code) and message in m for c, m in found), found


def test_the_good_policy_has_no_errors(tmp_path: Path) -> None:
    assert codes(tmp_path, POLICY) == []
    # a quotient rounded to the currency's unit by name
    assert codes(tmp_path, POLICY.replace("round_half_up(tariff * rate, unit)",
                                          "round_half_up(tariff * rate / 1, unit)")) == []
    # 45.000 TND is a dinar amount, exact to its unit
    assert codes(tmp_path, POLICY.replace("4.125 TND", "45.000 TND")) == []


def test_the_verifier_works_in_the_currencys_unit(tmp_path: Path) -> None:
    """Two rules of one priority that overlap only between 45.124 and 45.125 TND: a
    conflict the verifier finds only with amounts in thousandths."""
    text = POLICY.replace("  default refund: reimbursement   cite s1\n", """\
  rule cheap priority 3: reimbursement when visit.fee <= 45.125 TND   cite s1
  rule dear priority 3: family_doctor when visit.fee >= 45.124 TND   cite s1
  default refund: reimbursement   cite s1
""")
    path = tmp_path / "p.parcours"
    path.write_text(text, encoding="utf-8")
    conflicts = [d for d in analyse(path).diagnostics if d.code == "E402"]
    assert len(conflicts) == 1
    assert conflicts[0].counterexample is not None
    visit = conflicts[0].counterexample["visit"]
    assert isinstance(visit, dict) and visit["fee"] in ("45.124", "45.125")


def test_no_decision_block_is_e346(tmp_path: Path) -> None:
    start = POLICY.index("decision {")
    end = POLICY.index("}", POLICY.index("output sector_seen")) + 1
    found = codes(tmp_path, POLICY[:start] + POLICY[end:])
    assert ("E346", "the policy declares no `decision { … }`") in found
