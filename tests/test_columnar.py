"""The columnar engine decides and rejects as the row engine does.

For every shipped policy and the expression fixture, batches of episodes drawn from the
policy's own IR (the strategies of tests/test_differential.py: every value it mentions
±1, optional fields left out, bad values, unknown and missing fields) are decided as one
table by the columnar engine and one by one by the row engine (the Python backend);
the decisions must be the same JSON, byte for byte, and the rejections the same lines.
Then Parquet and Arrow files through `parcours decide`, bad rows in a table, a
construct the backend refuses, and a rounding changed in the generated module, which
the comparison must catch.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("pyarrow.json")
np = pytest.importorskip("numpy")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from parcours.compiler import backends  # noqa: E402
from parcours.compiler.backends.columnar.values import Unsupported  # noqa: E402
from parcours.compiler.pipeline import analyse  # noqa: E402
from parcours.compiler.tools import columns, tables  # noqa: E402
from parcours.compiler.tools.columns import ColumnarPolicy  # noqa: E402
from tests.test_differential import Space, episodes, search_settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
POLICIES = {name: ROOT / "policies" / f"{name}.parcours"
            for name in ("france", "morocco", "morocco_proposal", "nhs", "tunisia")}
POLICIES["expressions"] = ROOT / "tests" / "fixtures" / "expressions.parcours"
POLICIES["keys"] = ROOT / "tests" / "fixtures" / "keys.parcours"
SAMPLES = {"france": "episodes.jsonl", "morocco": "episodes-ma.jsonl",
           "morocco_proposal": "episodes-ma.jsonl", "nhs": "episodes.jsonl",
           "tunisia": "episodes-tn.jsonl"}


@lru_cache(maxsize=None)
def policy(name: str) -> ColumnarPolicy:
    return tables.load_columnar(POLICIES[name])


@lru_cache(maxsize=None)
def space(name: str) -> Space:
    program = analyse(POLICIES[name], verify=False).program
    assert program is not None
    return Space(program)


def to_json(value: object) -> str:
    """JSON text, a Decimal written as the number it is (the strategies draw amounts as
    JSON numbers too)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def jsonl(items: Sequence[object]) -> bytes:
    return "".join(to_json(item) + "\n" for item in items).encode()


def run(engine: ColumnarPolicy | Any, data: bytes) -> tuple[str, list[str]]:
    """Decide JSON Lines with the columnar engine (a ColumnarPolicy) or the row engine (a
    module): the decisions' JSON Lines and the rejections."""
    out = io.StringIO()
    rejected: list[str] = []
    meta = engine.meta if isinstance(engine, ColumnarPolicy) else engine.POLICY
    sink = tables.DecisionSink(out, "jsonl", meta)
    decide = None if isinstance(engine, ColumnarPolicy) else engine.decide
    tables.decide_file(engine, decide, io.BytesIO(data), "jsonl", sink,
                       lambda r: rejected.append(str(r)))
    return out.getvalue(), rejected


def columnar_rows(name: str, items: Sequence[dict[str, Any]]) -> int:
    """How many of `items` the batch decides itself (not left to the row engine)."""
    p = policy(name)
    table = pa.Table.from_struct_array(pa.array(list(items)))
    inputs, bad = columns.input_columns(p, table)
    if bad.all():
        return 0
    result = p.columnar.decide_columns(inputs, len(items))
    return int((~(bad | result["bad"])).sum())


# ---- the differential comparison ---------------------------------------------------


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "france" else n
                                  for n in POLICIES])
def test_columnar_and_row_engines_decide_and_reject_alike(name: str) -> None:
    p = policy(name)

    @search_settings(60)
    @given(st.lists(episodes(space(name)), min_size=1, max_size=25))
    def check(batch: list[dict[str, Any]]) -> None:
        data = jsonl(batch)
        assert run(p, data) == run(p.row, data)

    check()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_are_decided_by_the_batch_and_alike(name: str) -> None:
    """The sample populations: every row decided by the columnar compute itself (none
    left to the row engine), with the row engine's bytes."""
    data = (ROOT / "policies" / "samples" / SAMPLES[name]).read_bytes()
    items = [json.loads(line) for line in data.splitlines()]
    texts = [item for item in items if isinstance(item["visit"]["fee"], str)]
    assert len(texts) > 450 * len(items) / 500  # a few amounts are JSON numbers
    assert columnar_rows(name, texts) == len(texts)
    assert run(policy(name), data) == run(policy(name).row, data)


@pytest.mark.parametrize("name", ["morocco", "keys"])
def test_drawn_batches_reach_the_columnar_compute(name: str) -> None:
    """The strategies' valid episodes are decided by the batch, not all left to the row
    engine: the comparison above compares two implementations (for `keys`: tables keyed
    by several values and by a bool, decimal outputs)."""
    seen: list[int] = []
    shape = tables._shape(policy(name))

    @search_settings(30)
    @given(st.lists(episodes(space(name)), min_size=5, max_size=20))
    def count(batch: list[dict[str, Any]]) -> None:
        fitting = [item for item in batch if tables._fits(item, shape)
                   and not tables._has_null(item)]
        seen.append(columnar_rows(name, fitting) if fitting else 0)

    count()
    assert sum(seen) > 50


def test_a_rounding_changed_in_the_generated_module_is_caught(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Rounding half up turned into rounding down in the columnar module only: the
    comparison with the row engine finds decisions that differ (sector 3's bases, 0.61
    and 1.22 EUR, times 0.70 or 0.30 are not whole cents)."""
    p = policy("france")
    data = (ROOT / "policies" / "samples" / "episodes.jsonl").read_bytes()
    data = data.replace(b'"sector":"1"', b'"sector":"3"')
    assert run(p, data) == run(p.row, data)
    monkeypatch.setattr(p.columnar, "_round_magnitude",
                        lambda num, den, mode: num // den)
    assert run(p, data)[0] != run(p.row, data)[0]


# ---- tables -------------------------------------------------------------------------


def sample_lines(name: str = "france") -> bytes:
    """A sample population with every amount as a string (a few are JSON numbers, which
    one column of strings cannot hold)."""
    items = [json.loads(line, parse_float=Decimal) for line in
             (ROOT / "policies" / "samples" / SAMPLES[name]).read_bytes().splitlines()]
    for item in items:
        item["visit"]["fee"] = str(item["visit"]["fee"])
    return jsonl(items)


@lru_cache(maxsize=None)
def sample_table(name: str = "france") -> Any:
    source = pa.BufferReader(sample_lines(name))
    options = pa.json.ParseOptions(explicit_schema=columns.episode_schema(policy(name)),
                                   unexpected_field_behavior="error")
    return pa.json.read_json(source, parse_options=options)


def same(a: Any, b: Any) -> None:
    """Two decision tables with the same columns and the same values, row for row (their
    dictionaries of repeated strings may list the strings in another order)."""
    assert a.schema == b.schema
    assert a.to_pylist() == b.to_pylist()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "parcours.compiler.cli", *args],
                          capture_output=True, text=True, cwd=ROOT)


@pytest.mark.slow
def test_decide_parquet_columnar_equals_the_row_engine(tmp_path: Path) -> None:
    episodes_file = tmp_path / "episodes.parquet"
    pq.write_table(sample_table(), episodes_file)
    france = str(POLICIES["france"])
    col, row = tmp_path / "col.parquet", tmp_path / "row.parquet"
    assert cli("decide", france, "--engine", "columnar", "-i", str(episodes_file),
               "-o", str(col)).returncode == 0
    assert cli("decide", france, "-i", str(episodes_file), "-o", str(row)).returncode == 0
    same(pq.read_table(col), pq.read_table(row))
    # JSON Lines out of the columnar engine: the row engine's bytes
    json_out = tmp_path / "col.jsonl"
    assert cli("decide", france, "--engine", "columnar", "-i", str(episodes_file),
               "-o", str(json_out)).returncode == 0
    lines = tmp_path / "episodes.jsonl"
    lines.write_bytes(sample_lines())
    reference = cli("decide", france, "-i", str(lines))
    assert json_out.read_text(encoding="utf-8") == reference.stdout
    # Arrow IPC in, Parquet out
    arrow_file = tmp_path / "episodes.arrow"
    with pa.OSFile(str(arrow_file), "wb") as sink, \
            pa.ipc.new_file(sink, sample_table().schema) as writer:
        writer.write_table(sample_table())
    arrow_out = tmp_path / "from-arrow.parquet"
    assert cli("decide", france, "--engine", "columnar", "-i", str(arrow_file),
               "-o", str(arrow_out)).returncode == 0
    same(pq.read_table(arrow_out), pq.read_table(row))


@pytest.mark.parametrize("name", ["france", "morocco"])
def test_parquet_row_groups_and_dictionaries_that_change(tmp_path: Path, name: str) -> None:
    """Strings read dictionary-encoded, a row group at a time: a file of many row groups
    (each its own dictionaries) and of pages whose dictionary overflows into plain
    strings is decided as its JSON Lines are (France: one run through the ledger, the
    row groups put together; Morocco: a batch at a time)."""
    lines = tmp_path / "episodes.jsonl"
    lines.write_bytes(sample_lines(name))
    reference = cli("decide", str(POLICIES[name]), "-i", str(lines))
    for options in ({"row_group_size": 7}, {"dictionary_pagesize_limit": 64}):
        source = tmp_path / "episodes.parquet"
        pq.write_table(sample_table(name), source, **options)
        out = tmp_path / "decisions.jsonl"
        done = cli("decide", str(POLICIES[name]), "--engine", "columnar", "-i", str(source),
                   "-o", str(out))
        assert done.returncode == reference.returncode, done.stderr
        assert out.read_text(encoding="utf-8") == reference.stdout, options


def test_decision_table_has_the_json_fields() -> None:
    p = policy("france")
    table, rejections = columns.decide_table(p, sample_table().slice(0, 3))
    assert rejections == []
    first = table.to_pylist()[0]
    reference = json.loads(run(p.row, sample_lines().split(b"\n")[0] + b"\n")[0])
    assert first == reference
    assert table.schema.field("reimbursed").type == columns.REPEATED  # amounts repeat
    assert table.schema.field("sources").type == pa.list_(columns.REPEATED)
    assert table.schema.field("rule").type == columns.REPEATED


def test_bad_rows_of_a_table_get_the_row_engines_rejections() -> None:
    """Bad cells (an unknown member, an age out of range, an amount with too many
    decimals or negative, a null without a default, a date that does not exist) are
    rejected by field as the row engine rejects the same episodes; the others are
    decided."""
    p = policy("france")
    rows = sample_table().slice(0, 8).to_pylist()
    rows[1]["visit"]["specialty"] = "surgery"
    rows[2]["patient"]["age"] = 140
    rows[3]["visit"]["fee"] = "30.005"
    rows[4]["visit"]["fee"] = "-5.00"
    rows[5]["patient"]["declared_doctor"] = None
    rows[6]["date"] = "2025-02-30"
    table = pa.Table.from_pylist(rows, schema=sample_table().schema)
    decisions, rejections = columns.decide_table(p, table)
    expected, expected_rejections = columns.decide_episodes(
        p.row, p.row.decide, columns.episodes(table), range(1, 9))
    assert [str(r) for r in rejections] == [str(r) for r in expected_rejections]
    assert {r.line for r in rejections} == {2, 3, 4, 5, 6, 7}
    assert "field visit.specialty" in str(rejections[0])
    same(decisions, expected)


def test_decimal_amounts_and_date_columns() -> None:
    """Amounts as decimals and days as date32 decide as their text forms do."""
    p = policy("france")
    text = sample_table().slice(0, 50)
    visit = text.column("visit").combine_chunks()
    names = [visit.type.field(i).name for i in range(visit.type.num_fields)]
    children = [pa.compute.cast(visit.field(n), pa.decimal128(12, 2)) if n == "fee"
                else visit.field(n) for n in names]
    typed = text.set_column(text.schema.get_field_index("visit"), "visit",
                            pa.StructArray.from_arrays(children, names=names))
    typed = typed.set_column(typed.schema.get_field_index("date"), "date",
                             pa.compute.cast(pa.compute.strptime(
                                 typed.column("date"), format="%Y-%m-%d", unit="s"),
                                 pa.date32()))
    same(columns.decide_table(p, typed)[0], columns.decide_table(p, text)[0])
    _, bad = columns.input_columns(p, typed)
    assert not bad.any()


def test_an_unknown_column_leaves_every_row_to_the_row_engine() -> None:
    p = policy("france")
    table = sample_table().slice(0, 4)
    table = table.append_column("extra", pa.array([1, 2, 3, 4]))
    decisions, rejections = columns.decide_table(p, table)
    assert decisions.num_rows == 0
    assert len(rejections) == 4 and "unknown field" in str(rejections[0])


# ---- the backend ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_generation_is_deterministic(name: str) -> None:
    program = analyse(POLICIES[name], verify=False).program
    assert program is not None
    backend = backends.get("columnar")
    assert backend.generate(program) == backend.generate(program)
    assert "columnar" in backends.names()


def test_an_unsupported_construct_is_a_compile_error(tmp_path: Path) -> None:
    policy_text = (ROOT / "policies" / "nhs.parcours").read_text(encoding="utf-8")
    policy_text = policy_text.replace('import "episode.parcours"',
                                      'import "episode.parcours"\ninput visit.share: rate = 0.5')
    target = tmp_path / "nhs.parcours"
    target.write_text(policy_text, encoding="utf-8")
    (tmp_path / "episode.parcours").write_text(
        (ROOT / "policies" / "episode.parcours").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(Unsupported, match=r"nhs\.parcours:\d+:\d+: the columnar backend does "
                                          r"not support an input of kind rate"):
        tables.load_columnar(target)
    done = cli("decide", str(target), "--engine", "columnar", "-i",
               str(ROOT / "policies" / "samples" / "episodes.jsonl"))
    assert done.returncode == 2
    assert "does not support an input of kind rate" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", ["france", "keys"])
def test_the_generated_module_passes_mypy_strict(tmp_path: Path, name: str) -> None:
    program = analyse(POLICIES[name], verify=False).program
    assert program is not None
    module = tmp_path / f"{name}_columnar.py"
    module.write_text(backends.get("columnar").generate(program), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(module)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout


def test_iso_dates_read_from_bytes_are_the_calendars() -> None:
    """The fast reading of `YYYY-MM-DD` columns: every 37th day from year 1 to 9999 and
    the leap days give their day numbers; days that do not exist and other shapes are
    marked for the row engine."""
    from datetime import date, timedelta

    days = [date(1, 1, 1) + timedelta(days=i) for i in range(0, 3652059, 37)]
    days += [date(9999, 12, 31), date(2024, 2, 29), date(2000, 2, 29), date(1900, 3, 1)]
    wrong = ["2025-02-30", "2023-02-29", "1900-02-29", "0000-01-01", "2025-13-01",
             "2025-00-10", "2025-01-00", "2025-01-32", "2025/01/01", "20a5-01-01"]
    found = columns._iso_days(pa.array([d.isoformat() for d in days] + wrong))
    assert found is not None
    numbers, bad = found
    epoch = date(1970, 1, 1).toordinal()
    assert numbers[:len(days)].tolist() == [d.toordinal() - epoch for d in days]
    assert not bad[:len(days)].any() and bad[len(days):].all()
    assert columns._iso_days(pa.array(["2025-1-01"])) is None  # not 10 bytes: the general path


def test_table_outputs_that_cannot_be_written(tmp_path: Path) -> None:
    """A full device is an error naming the output, a closed pipe a quiet exit 2, never
    a traceback or an error blamed on the input."""
    episodes_file = tmp_path / "episodes.parquet"
    pq.write_table(sample_table().slice(0, 20), episodes_file)
    full = cli("decide", str(POLICIES["france"]), "--engine", "columnar", "-i",
               str(episodes_file), "-o", "/dev/full", "--format", "parquet")
    assert full.returncode == 2
    assert "cannot write /dev/full" in full.stderr and "Traceback" not in full.stderr
    piped = subprocess.run(
        f'"{sys.executable}" -m parcours.compiler.cli decide "{POLICIES["france"]}" '
        f'--engine columnar -i "{episodes_file}" --format parquet -o - | head -c 4',
        shell=True, capture_output=True, cwd=ROOT)
    assert piped.stdout == b"PAR1"
    assert b"error" not in piped.stderr and b"Traceback" not in piped.stderr


def test_a_negative_zero_is_left_to_the_row_engine(tmp_path: Path) -> None:
    """A negative amount rounded to zero is "-0.00" for the row engine (a decimal keeps
    its sign), which an integer cannot hold: those rows are decided by the row engine,
    and the output is the same bytes."""
    text = POLICIES["expressions"].read_text(encoding="utf-8")
    start = text.index("output flat_fee: money =")
    end = text.index("output reimbursed:")
    text = text[:start] + ("output flat_fee: money = "
                           "round_half_up((0.00 EUR - visit.fee) * 0.1%, 0.01)\n\n") + text[end:]
    target = tmp_path / "signs.parcours"
    target.write_text(text, encoding="utf-8")
    p = tables.load_columnar(target)
    items = [{"id": f"e{fee}", "date": "2025-03-01",
              "patient": {"birth_date": "1980-01-01", "age": 45},
              "visit": {"specialty": "general_practice", "fee": fee, "sessions": 1,
                        "admitted": "2025-02-20"}} for fee in ("1.00", "4.99", "5.00", "30.00")]
    data = jsonl(items)
    row = run(p.row, data)
    assert '"flat_fee":"-0.00"' in row[0] and '"flat_fee":"-0.03"' in row[0]
    assert run(p, data) == row
    assert columnar_rows_of(p, items) == 2  # 5.00 and 30.00; the two "-0.00" rows are not



def test_a_keyed_tables_index_past_a_byte(tmp_path: Path) -> None:
    """A key part known when compiling (the member `m69`) adds a constant to the index of
    a table keyed by several values, here 138, to a bool's or a looked-up member's code:
    codes kept in a byte must not wrap round (the index is computed in np.intp)."""
    text = POLICIES["keys"].read_text(encoding="utf-8")
    members = ", ".join(f"m{i}" for i in range(70))
    extra = (f"enum big {{ {members} }}\n\n"
             "table by_flag: (big, bool) -> money {\n  (m69, true): 3.00 EUR\n"
             "  (m69, false): 4.00 EUR\n  else: 0.00 EUR\n}\n\n"
             "table pick: bool -> sector {\n  true: \"2\"\n  false: \"1\"\n}\n\n"
             "table by_sector: (big, sector) -> money {\n  (m69, \"2\"): 5.00 EUR\n"
             "  (m69, \"1\"): 6.00 EUR\n  else: 0.00 EUR\n}\n\n")
    text = text.replace("let young =", extra + "let young =")
    text = text.replace("output base: money = visit.fee",
                        "output base: money = visit.fee + by_flag[m69, visit.urgent]"
                        " + by_sector[m69, pick[visit.urgent]]")
    target = tmp_path / "wide.parcours"
    target.write_text(text, encoding="utf-8")
    p = tables.load_columnar(target)
    items = [{"id": f"e{n}", "date": "2025-03-01", "patient": {"age": 40},
              "visit": {"specialty": "cardiology", "fee": "30.00", "sessions": 1,
                        "urgent": urgent}} for n, urgent in enumerate((True, False))]
    data = jsonl(items)
    row = run(p.row, data)
    assert '"base":"38.00"' in row[0] and '"base":"40.00"' in row[0]
    assert run(p, data) == row
    assert columnar_rows_of(p, items) == 2

def columnar_rows_of(p: ColumnarPolicy, items: Sequence[dict[str, Any]]) -> int:
    table = pa.Table.from_struct_array(pa.array(list(items)))
    inputs, bad = columns.input_columns(p, table)
    result = p.columnar.decide_columns(inputs, len(items))
    return int((~(bad | result["bad"])).sum())
