"""Deciding Arrow tables with a columnar module, and decisions as Arrow tables.

An episode table mirrors the JSON contract: one row per episode, the top-level fields
(`id`, `date`, optionally `currency`) as columns, each section (`patient`, `visit`) a
struct column of its fields; amounts are strings (`"30.00"`) or decimals, dates strings
(`"2026-09-03"`) or `date32`, enum members strings, booleans and ints as such.  A null
cell is an absent field: the field's default applies, or the row is rejected as the
row engine rejects an episode without it.  `episodes(table)` gives the JSON episodes a
table stands for, and deciding a table means deciding those episodes.

`decide_table` turns the columns into the arrays a columnar module expects (money in
minor units, dates as day numbers, members as indexes), runs its `decide_columns` on the
whole batch, and decides with the Python backend (the row engine) every row that either
step marked: a cell that does not parse by the fast rules, a broken constraint, a
division by zero, and the like.  Those rows get exactly the row engine's decision or
rejection, by construction; the others are the batch's.  The decisions come out as a
table with the columns and values of the JSON decisions (`decision_schema`): money and
rates as their JSON strings, sources as a list of strings, the strings that repeat
(rules, amounts, members, documents) dictionary-encoded.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parcours.runtime import UNDECIDED, Decision, EpisodeError, PolicyMeta, Rejection, undecided

from .decision_tables import EPOCH, columnar_decisions
from .decision_tables import REPEATED as REPEATED  # what callers take from here
from .decision_tables import decision_schema as decision_schema
from .decision_tables import decisions_table as decisions_table
from .decision_tables import numpy_of as numpy_of

ID_MAX_LENGTH = 200  # characters of an id (the row engine's bound, ir.ID_MAX_LENGTH)
MIN_DAY = date.min.toordinal() - EPOCH
_DATE_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


@dataclass(frozen=True, slots=True)
class ColumnarPolicy:
    """A policy's two modules: `columnar` decides batches, `row` (the Python backend's
    module, the row engine) decides the rows the batch leaves and holds the metadata."""

    columnar: types.ModuleType
    row: types.ModuleType

    @property
    def meta(self) -> PolicyMeta:
        meta: PolicyMeta = self.row.POLICY
        return meta


def keep_freed_memory() -> None:
    """Ask the C allocator (glibc's) to keep the memory numpy frees for the next array
    rather than hand it back to the system: a batch's temporaries (half a megabyte each)
    are then reused pages, not fresh ones the kernel zeroes on first touch, which cost
    `decide_columns` about half its time.  Freed memory stays with the process (up to a
    gigabyte at the top of the heap).  Elsewhere (another C library) it does nothing."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: arrays under 32 MiB come from the heap
    mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: the heap's free top is kept up to 1 GiB


# ---- episodes as the JSON contract has them ---------------------------------------


def _json_value(value: object) -> object:
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def episodes(table: pa.Table | pa.RecordBatch) -> list[dict[str, object]]:
    """The JSON episodes a table stands for: null cells left out, decimals as strings,
    dates as ISO strings."""
    return [_json_value(row) for row in table.to_pylist()]  # type: ignore[misc]


# ---- columns a columnar module reads -----------------------------------------------


class _Batch:
    """The input arrays of one table and the rows that need the row engine."""

    def __init__(self, table: pa.Table, fields: Iterable[Any], currency: str,
                 decimals: int, validity: tuple[int, int | None] = (MIN_DAY, None)) -> None:
        self.validity = validity
        self.n = table.num_rows
        self.bad = np.zeros(self.n, dtype=np.bool_)
        self.columns: dict[str, Any] = {}
        self.decimals = decimals
        self.all_bad = False
        fields = tuple(fields)
        sections: dict[str, set[str]] = {}
        top = {"id", "currency"}
        for f in fields:
            head, _, key = f.path.rpartition(".")
            if head:
                sections.setdefault(head, set()).add(key)
            else:
                top.add(key)
        names = set(table.column_names)
        if not names <= top | set(sections) or len(names) != table.num_columns:
            self.all_bad = True  # an unknown or repeated column: the row engine says which
            return
        structs: dict[str, pa.StructArray | None] = {}
        for section, keys in sections.items():
            if section not in names:
                structs[section] = None
                continue
            column = table.column(section).combine_chunks()
            if not pa.types.is_struct(column.type) or not \
                    {column.type.field(i).name for i in range(column.type.num_fields)} <= keys:
                self.all_bad = True
                return
            self.bad |= _nulls(column)
            structs[section] = column
        for name, ok in (("id", pa.types.is_string), ("currency", pa.types.is_string)):
            if name in names and not ok(table.schema.field(name).type):
                self.all_bad = True
                return
        if "currency" in names:
            other = pc.not_equal(table.column("currency"), currency).combine_chunks()
            self.bad |= numpy_of(other.fill_null(False))
        for f in fields:
            head, _, key = f.path.rpartition(".")
            array: pa.Array | None
            if head:
                struct = structs[head]
                names_in = set() if struct is None else \
                    {struct.type.field(i).name for i in range(struct.type.num_fields)}
                array = struct.field(key) if struct is not None and key in names_in else None
            else:
                array = table.column(key).combine_chunks() if key in names else None
            if f.kind == "id":
                self.key(array)
            else:
                self.columns[f.path] = self.convert(f, array)
            if f.path == "date" and not self.all_bad:
                self.day(self.columns[f.path])
            if self.all_bad:
                return

    def key(self, array: pa.Array | None) -> None:
        """An id (an accumulator's key, optional): a non-empty string of at most
        ID_MAX_LENGTH characters when present; not an input of the batch."""
        if array is None or pa.types.is_null(array.type):
            return
        if pa.types.is_dictionary(array.type) and pa.types.is_string(array.type.value_type):
            length = pc.utf8_length(array.dictionary)
            wrong = pc.or_(pc.equal(length, 0), pc.greater(length, ID_MAX_LENGTH))
            indices = _filled(array.indices, 0).astype(np.intp)
            if len(array.dictionary):
                self.bad |= _filled(wrong, False)[indices] & ~_nulls(array)
            return
        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            self.all_bad = True
            return
        length = pc.utf8_length(array)
        wrong = pc.or_(pc.equal(length, 0), pc.greater(length, ID_MAX_LENGTH))
        self.bad |= _filled(wrong, False)

    def convert(self, f: Any, array: pa.Array | None) -> Any:
        if (array is None or array.null_count == len(array)) and f.default is not None \
                and self.n > 1 and f.kind in ("money", "enum", "date"):
            return self.constant(f)  # absent, or null on every row: the default
        if array is None:
            array = pa.nulls(self.n)
        missing = _nulls(array)
        if pa.types.is_dictionary(array.type):
            if not missing.any() or f.default is None:
                return self.by_dictionary(f, array, missing)
            array = array.dictionary_decode()
        if missing.any():
            if f.default is None:
                self.bad |= missing
            elif pa.types.is_null(array.type):
                array = pa.array([f.default] * self.n)
            else:
                try:
                    array = array.fill_null(pa.scalar(f.default, array.type))
                except (pa.ArrowInvalid, pa.ArrowTypeError):  # not the field's type
                    self.all_bad = True
                    return None
        kind, t = f.kind, array.type
        if kind == "bool" and pa.types.is_boolean(t):
            return _filled(array, False)
        if kind == "int" and pa.types.is_integer(t):
            values = _filled(pc.cast(array, pa.int64(), safe=False), 0)
            if f.low is not None:
                self.bad |= values < f.low
            if f.high is not None:
                self.bad |= values > f.high
            return values
        if kind == "enum" and (pa.types.is_string(t) or pa.types.is_large_string(t)):
            codes = pc.index_in(array, value_set=pa.array(f.members, t))
            self.bad |= _nulls(codes)
            return _filled(codes, 0).astype(np.intp)  # what fancy indexing takes as is
        if kind == "date":
            return self.dates(array)
        if kind == "money":
            return self.money(array)
        self.all_bad = True  # a column of another type: the row engine names the field
        return None

    def constant(self, f: Any) -> Any:
        """A field's default on every row, converted once."""
        outer_bad, outer_n = self.bad, self.n
        self.bad, self.n = np.zeros(1, dtype=np.bool_), 1
        try:
            value = self.convert(f, pa.array([f.default]))
        finally:
            inner_bad, self.bad, self.n = self.bad, outer_bad, outer_n
        if value is None:
            return None
        self.bad |= bool(inner_bad[0])
        return np.full(self.n, value[0], dtype=value.dtype)

    def by_dictionary(self, f: Any, array: pa.DictionaryArray, missing: Any) -> Any:
        """A dictionary-encoded column (Parquet's strings read as such): its distinct
        values converted once, then looked up by index."""
        self.bad |= missing
        outer_bad, outer_n = self.bad, self.n
        self.bad = np.zeros(len(array.dictionary), dtype=np.bool_)
        self.n = len(array.dictionary)
        try:
            values = self.convert(f, array.dictionary)
        finally:
            inner_bad, self.bad, self.n = self.bad, outer_bad, outer_n
        if values is None:
            return None
        indices = _filled(array.indices, 0).astype(np.intp)
        if not len(values):  # every row null: each is bad already
            return np.zeros(self.n, dtype=values.dtype)
        if inner_bad.any():
            self.bad |= inner_bad[indices]
        return values[indices]

    def dates(self, array: pa.Array) -> Any:
        t = array.type
        if pa.types.is_date32(t):
            days = _filled(pc.cast(array, pa.int32()), 0)
        elif pa.types.is_string(t) and (fast := _iso_days(array)) is not None:
            days, wrong = fast
            self.bad |= wrong
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            shaped = pc.match_substring_regex(array, _DATE_TEXT)
            text = pc.if_else(shaped, array, "1970-01-01")
            parsed = pc.cast(pc.strptime(text, format="%Y-%m-%d", unit="s",
                                         error_is_null=True), pa.date32())
            # a day that does not exist (2025-02-30) parses to another: write it back
            same = pc.equal(pc.cast(parsed, pa.string()), text)
            self.bad |= ~_filled(shaped, False) | ~_filled(same, False)
            days = _filled(pc.cast(parsed, pa.int32()), 0)
        else:
            self.all_bad = True
            return None
        days = days.astype(np.int64)
        self.bad |= days < MIN_DAY
        return days

    def day(self, days: Any) -> Any:
        """The day of the episode: inside the policy's validity, else the row engine's."""
        start, end = self.validity
        self.bad |= days < start
        if end is not None:
            self.bad |= days > end
        return days

    def money(self, array: pa.Array) -> Any:
        t, d = array.type, self.decimals
        if pa.types.is_decimal(t) and t.scale == d and t.byte_width == 16:
            array = pc.cast(array, pa.decimal128(38, d))
        elif pa.types.is_decimal(t):
            array = pc.cast(array, pa.string())
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            pattern = r"^[0-9]{1,9}(\.[0-9]{1," + str(d) + "})?$" if d else r"^[0-9]{1,9}$"
            shaped = pc.match_substring_regex(array, pattern)
            self.bad |= ~_filled(shaped, False)
            array = pc.cast(pc.if_else(shaped, array, "0"), pa.decimal128(18, d))
        elif not pa.types.is_decimal(array.type):
            self.all_bad = True
            return None
        words = np.frombuffer(array.buffers()[1], dtype=np.int64)
        words = words[2 * array.offset: 2 * (array.offset + len(array))].reshape(-1, 2)
        minor, high = words[:, 0].copy(), words[:, 1]
        self.bad |= (high != 0) | (minor < 0) | (minor >= 10 ** (9 + d)) | _nulls(array)
        minor[self.bad] = 0
        return minor


_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)


def _iso_days(array: pa.Array) -> tuple[Any, Any] | None:
    """Day numbers of `YYYY-MM-DD` strings read from the array's bytes with array
    arithmetic, and the rows that are not such a day (2025-02-30, 2025-13-01, 0000-01-01
    ...); None when some value is not 10 bytes long (the caller's general path)."""
    n = len(array)
    if n == 0 or array.null_count:
        return None
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset:array.offset + n + 1]
    if offsets[-1] - offsets[0] != 10 * n or not (np.diff(offsets) == 10).all():
        return None
    text = np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    chars = text.reshape(n, 10)
    wrong = (chars[:, 4] != 45) | (chars[:, 7] != 45)  # "-"
    digit = {}
    for place in (0, 1, 2, 3, 5, 6, 8, 9):
        value = chars[:, place].astype(np.int32) - 48
        wrong |= (value < 0) | (value > 9)
        digit[place] = value
    year = digit[0] * 1000 + digit[1] * 100 + digit[2] * 10 + digit[3]
    month = digit[5] * 10 + digit[6]
    day = digit[8] * 10 + digit[9]
    wrong |= (year < 1) | (month < 1) | (month > 12) | (day < 1)
    month = np.where(wrong, 1, month)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    wrong |= day > _MONTH_DAYS[month] + ((month == 2) & leap)
    year, month, day = np.where(wrong, 1970, year), np.where(wrong, 1, month), \
        np.where(wrong, 1, day)
    # days from 1970-01-01 of a proleptic Gregorian date (years from March, in eras)
    year = year - (month <= 2)
    era = year // 400
    of_era = year - era * 400
    of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    days = era * 146097 + of_era * 365 + of_era // 4 - of_era // 100 + of_year - 719468
    return days.astype(np.int64), wrong


def _nulls(array: pa.Array) -> Any:
    if array.null_count == 0:
        return np.zeros(len(array), dtype=np.bool_)
    return numpy_of(array.is_null())


def _filled(array: pa.Array, value: object) -> Any:
    """The values as numpy, nulls replaced by `value` (a copy only when there are nulls)."""
    if array.null_count:
        array = array.fill_null(value)
    return numpy_of(array)


# ---- deciding -----------------------------------------------------------------------


def read_batch(policy: ColumnarPolicy, table: pa.Table) -> _Batch:
    """The input arrays of `table` and the rows the batch cannot take (`bad`, `all_bad`)."""
    col = policy.columnar
    return _Batch(table, col.FIELDS, col.CURRENCY, col.DECIMALS,
                  (col.VALID_FROM, col.VALID_UNTIL))


def input_columns(policy: ColumnarPolicy, table: pa.Table) -> tuple[dict[str, Any], Any]:
    """The arrays `decide_columns` reads from `table`, and the rows to leave to the row
    engine (every row when the table's columns do not have the contract's shape)."""
    batch = read_batch(policy, table)
    return batch.columns, np.ones(batch.n, dtype=np.bool_) if batch.all_bad else batch.bad


def episode_schema(policy: ColumnarPolicy) -> pa.Schema:
    """The episode table's columns, as the JSON contract has them: amounts, dates and
    members as strings, sections as structs."""
    kinds = {"int": pa.int64(), "bool": pa.bool_()}
    top: list[pa.Field] = [pa.field("id", pa.string())]
    sections: dict[str, list[pa.Field]] = {}
    for f in policy.columnar.FIELDS:
        head, _, key = f.path.rpartition(".")
        field = pa.field(key, kinds.get(f.kind, pa.string()))
        if head:
            if head not in sections:
                sections[head] = []
                top.append(pa.field(head, pa.null()))  # a placeholder for the order
            sections[head].append(field)
        else:
            top.append(field)
    return pa.schema([pa.field(f.name, pa.struct(sections[f.name])) if f.name in sections
                      else f for f in top])


def decide_one(decide: Any, episode: Mapping[str, object]) -> Decision | EpisodeError:
    """The row engine on one episode: its decision, or its rejection as `decide_stream`
    reports it (the same classes of error, the same messages)."""
    try:
        decision: Decision = decide(episode)
        return decision
    except UNDECIDED as exc:
        return undecided(episode, exc)


def decide_table(policy: ColumnarPolicy, table: pa.Table | pa.RecordBatch,
                 numbers: Sequence[int] | int = 1,
                 originals: Sequence[Mapping[str, object]] | None = None,
                 force: Any = None) -> tuple[pa.Table, list[Rejection]]:
    """Decide every row of `table`: the decisions (in row order) and the rejections, each
    by its number (`numbers[row]`, or `numbers + row` for an int).  With `originals`, the
    episodes the rows were built from: the row engine decides those (not `episodes(table)`)
    for the rows it takes, and every row `force` marks.  (A policy with accumulators:
    `waves.decide_table`.)"""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    col = policy.columnar
    batch = read_batch(policy, table)
    n = batch.n
    if force is not None:
        batch.bad |= force
    if batch.all_bad:
        bad = np.ones(n, dtype=np.bool_)
        result = None
    else:
        result = col.decide_columns(batch.columns, n)
        bad = batch.bad | result["bad"]
    rows = np.flatnonzero(bad)
    decided: list[Decision] = []
    decided_rows: list[int] = []
    rejections: list[Rejection] = []
    if len(rows):
        decide = policy.row.decide
        chosen = episodes(table.take(rows)) if originals is None else \
            [originals[r] for r in rows.tolist()]
        for row, episode in zip(rows.tolist(), chosen):
            outcome = decide_one(decide, episode)
            if isinstance(outcome, EpisodeError):
                number = numbers + row if isinstance(numbers, int) else numbers[row]
                rejections.append(Rejection(number, outcome))
            else:
                decided.append(outcome)
                decided_rows.append(row)
    return assembled(policy, table, result, bad, decided, decided_rows), rejections


def assembled(policy: ColumnarPolicy, table: pa.Table, result: Mapping[str, Any] | None,
               bad: Any, decided: list[Decision], decided_rows: list[int]) -> pa.Table:
    """The decisions in row order: the batch's (`result`, where `bad` is not set) and the
    row engine's (`decided`, of the rows `decided_rows`)."""
    if result is None:
        return decisions_table(policy.meta, decided)
    ids = table.column("id").combine_chunks() if "id" in table.column_names else pa.array([])
    good = np.flatnonzero(~bad)
    good_table = columnar_decisions(policy, ids, result,
                                     slice(None) if len(good) == len(bad) else good)
    if not decided:
        return good_table
    merged = pa.concat_tables([good_table, decisions_table(policy.meta, decided)]) \
        .unify_dictionaries()
    order = np.argsort(np.concatenate([good, np.asarray(decided_rows)]),
                       kind="stable")
    return merged.take(order)


def decide_row_table(row: types.ModuleType, decide: Any, table: pa.Table | pa.RecordBatch,
                     first_row: int = 1) -> tuple[pa.Table, list[Rejection]]:
    """The row engine over a table: each row's episode decided one by one."""
    return decide_episodes(row, decide, episodes(table),
                           range(first_row, first_row + table.num_rows))


def decide_episodes(row: types.ModuleType, decide: Any,
                    items: Sequence[Mapping[str, object]],
                    numbers: Sequence[int]) -> tuple[pa.Table, list[Rejection]]:
    """The row engine over episodes, as a decision table and rejections by number
    (without a ledger: a policy with accumulators goes through `waves`)."""
    decided: list[Decision]
    rejections: list[Rejection]
    decided = []
    rejections = []
    for number, episode in zip(numbers, items):
        outcome = decide_one(decide, episode)
        if isinstance(outcome, EpisodeError):
            rejections.append(Rejection(number, outcome))
        else:
            decided.append(outcome)
    return decisions_table(row.POLICY, decided), rejections
