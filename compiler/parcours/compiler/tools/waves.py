"""Accumulators in the columnar engine: a table decided in waves.

A policy's accumulator (an annual cap per person) makes an episode's decision depend on
the episodes of the same key and period decided before it: the amount used so far
reaches the decision as the input `NAME_used`, which the row engine's ledger fills in,
each key's episodes taken in (date, episode id) order whatever the input order
(`parcours.runtime.ledger`).  The columnar engine decides the same way, a wave at a
time:

- each row's slot for each accumulator: its key (`patient.id`) and period (the year of
  its date) as one group number; a row without its key is a person of its own (no
  slot: its `NAME_used` is the one it states, zero when absent);
- the rows in the ledger's order: date, then episode id, then (for two rows with the
  same date and id) the episode's compact JSON text, which is its line for a line
  written compactly, as `parcours population` writes them;
- each row's wave: its rank among the rows of its group (with several accumulators,
  one more than the latest wave among its predecessors in every group it belongs to);
- wave k decides its rows as one batch, `NAME_used` taken from each group's running
  total, then adds each row's output (`adds`) to its group's total.  A row the batch
  leaves is decided in its wave by the row engine, with the same amount used filled
  in, and what it adds counts as well; a rejected episode adds nothing, as in the
  ledger.

The decisions are the ledger's, row for row; the caller writes them in input order.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parcours.runtime import AccumulatorSpec, Decision, EpisodeError, Ledger, Rejection, specs_of

from . import columns
from .columns import (ColumnarPolicy, assembled, decide_one, decisions_table, episodes,
                      read_batch)

_NO_SLOT = -1
Slot = tuple[str, tuple[str, ...], str]  # (accumulator, key values, period), the ledger's


@dataclass(slots=True)
class Totals:
    """The running totals of one accumulator, by group, in minor units, and each
    group's slot (key, period) for a state to start from or to write."""

    spec: AccumulatorSpec
    group: Any  # the group of each row, _NO_SLOT for none
    count: int  # how many groups
    named: Callable[[], list[Slot]]  # each group's slot, worked out when a state needs it
    amount: Any = None  # int64 by group
    seen: Any = None  # whether the group's total is the ledger's sum (not its initial 0)
    _slots: list[Slot] | None = None

    def __post_init__(self) -> None:
        self.amount = np.zeros(self.count, dtype=np.int64)
        self.seen = np.zeros(self.count, dtype=np.bool_)

    @property
    def slots(self) -> list[Slot]:
        if self._slots is None:
            self._slots = self.named()
        return self._slots


@dataclass(slots=True)
class Outcome:
    """What the waves decided: the batch's result over every row, the rows it left to
    the row engine, and those rows' decisions and rejections."""

    result: dict[str, Any] = field(default_factory=dict)
    bad: Any = None
    decided: list[Decision] = field(default_factory=list)
    decided_rows: list[int] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


class Rows:
    """What the ledger reads of each row: its keys, date (a day number) and episode id,
    from the table, or for the rows `patch` names from their JSON episodes."""

    def __init__(self, table: pa.Table, days: Any) -> None:
        self.table, self.n = table, table.num_rows
        self.days = np.array(days, dtype=np.int64)
        self.columns: dict[str, pa.Array | None] = {}
        self.ids: pa.Array | None = None
        if "id" in table.column_names and pa.types.is_string(table.schema.field("id").type):
            self.ids = table.column("id").combine_chunks()

    def column(self, path: str) -> pa.Array | None:
        if path not in self.columns:
            self.columns[path] = _key_column(self.table, path)
        return self.columns[path]

    def patch(self, rows: list[int], items: Sequence[Mapping[str, object]],
              specs: Sequence[AccumulatorSpec]) -> None:
        def replaced(column: pa.Array | None, values: dict[int, object]) -> pa.Array:
            cells: list[object] = [None] * self.n if column is None or not \
                pa.types.is_string(column.type) else column.to_pylist()
            for row, value in values.items():
                cells[row] = value if type(value) is str else None
            return pa.array(cells, pa.string())

        for spec in specs:
            for i, path in enumerate(spec.keys):
                values: dict[int, object] = {}
                for row in rows:
                    key = spec.key_of(items[row])
                    values[row] = None if key is None else key[i]
                self.columns[path] = replaced(self.column(path), values)
        self.ids = replaced(self.ids, {row: items[row].get("id") for row in rows})
        for row in rows:
            day = items[row].get("date")
            try:
                self.days[row] = date.fromisoformat(day).toordinal() - EPOCH \
                    if type(day) is str and len(day) == 10 else 0
            except ValueError:
                self.days[row] = 0  # rejected: the episode adds nothing


EPOCH = date(1970, 1, 1).toordinal()


def _key_column(table: pa.Table, path: str) -> pa.Array | None:
    column: Any = table
    for part in path.split("."):
        names = column.column_names if isinstance(column, pa.Table) else \
            [column.type.field(i).name for i in range(column.type.num_fields)] \
            if pa.types.is_struct(column.type) else []
        if part not in names:
            return None
        column = column.column(part).combine_chunks() if isinstance(column, pa.Table) \
            else pc.struct_field(column, part)
    return column


def _codes(array: pa.Array | None, n: int) -> tuple[Any, list[str]]:
    """Each row's key as an index in the distinct keys (-1: no key: absent, empty or not
    a string), and the distinct keys."""
    if array is None or not (pa.types.is_string(array.type) or
                             pa.types.is_large_string(array.type)):
        return np.full(n, -1, dtype=np.int64), []
    encoded = array.dictionary_encode()
    keys: list[str] = encoded.dictionary.to_pylist()
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    if "" in keys:
        codes[codes == keys.index("")] = -1
    return codes, keys


def years(days: Any) -> Any:
    """The calendar year of each day number (days since 1970-01-01)."""
    return np.asarray(days, dtype="datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def groups(spec: AccumulatorSpec, view: Rows, year: Any) -> Totals:
    """The slot of each row for `spec`: (key, period) as a group number."""
    n = view.n
    code = np.zeros(n, dtype=np.int64)
    missing = np.zeros(n, dtype=np.bool_)
    distinct: list[list[str]] = []
    for path in spec.keys:
        codes, keys = _codes(view.column(path), n)
        missing |= codes < 0
        code = code * max(len(keys), 1) + np.maximum(codes, 0)
        distinct.append(keys)
    code = code * 10000 + np.clip(year, 0, 9999)
    # distinct (key, year) codes by hashing (first seen, first numbered), not by sorting
    encoded = pa.array(code, mask=missing).dictionary_encode()
    unique = encoded.dictionary.to_numpy()
    group = encoded.indices.fill_null(_NO_SLOT).to_numpy(zero_copy_only=False).astype(np.int64)

    def named() -> list[Slot]:
        slots: list[Slot] = []
        for packed in unique.tolist():
            packed, period = divmod(packed, 10000)
            parts = []
            for keys in reversed(distinct):
                packed, index = divmod(packed, max(len(keys), 1))
                parts.append(keys[index])
            slots.append((spec.name, tuple(reversed(parts)), f"{period:04d}"))
        return slots

    return Totals(spec, group, len(unique), named)


def ledger_order(view: Rows, texts: Any) -> Any:
    """The rows in the ledger's order: date, episode id, then the episode's JSON text
    (`texts(rows)`, asked only for rows whose date and id are the same)."""
    n, days = view.n, view.days
    if view.ids is not None:
        rank = pc.rank(view.ids, sort_keys="ascending",
                       tiebreaker="dense").to_numpy().astype(np.int64)
    else:
        rank = np.zeros(n, dtype=np.int64)
    order = np.lexsort((np.arange(n), rank, days))
    same = (days[order][1:] == days[order][:-1]) & (rank[order][1:] == rank[order][:-1])
    if not same.any():
        return order
    runs = np.flatnonzero(np.diff(np.concatenate([[0], same.astype(np.int8), [0]])))
    for begin, end in zip(runs[::2].tolist(), runs[1::2].tolist()):
        rows = order[begin:end + 1]
        text = texts(rows.tolist())
        order[begin:end + 1] = rows[np.argsort(np.array(text, dtype=object), kind="stable")]
    return order


def compact(episode: Mapping[str, object]) -> str:
    return json.dumps(episode, ensure_ascii=False, separators=(",", ":"), default=str)


def waves(totals: Sequence[Totals], order: Any, n: int) -> Any:
    """Each row's wave: its rank in its group (several accumulators: one more than the
    latest wave among its predecessors in each of its groups)."""
    wave = np.zeros(n, dtype=np.int64)
    if len(totals) == 1:
        g = totals[0].group[order]
        keyed = g >= 0
        rows, gk = order[keyed], g[keyed]
        s = np.argsort(gk, kind="stable")
        gs = gk[s]
        starts = np.concatenate([[True], gs[1:] != gs[:-1]]) if len(gs) else \
            np.zeros(0, dtype=np.bool_)
        index = np.arange(len(gs))
        first = np.maximum.accumulate(np.where(starts, index, 0)) if len(gs) else index
        wave[rows[s]] = index - first
        return wave
    last = [np.full(t.count, -1, dtype=np.int64) for t in totals]
    columns = [t.group.tolist() for t in totals]
    for row in order.tolist():
        w = 0
        for a in range(len(totals)):
            g = columns[a][row]
            if g >= 0:
                w = max(w, int(last[a][g]) + 1)
        wave[row] = w
        for a in range(len(totals)):
            g = columns[a][row]
            if g >= 0:
                last[a][g] = w
    return wave


def start_from(totals: Sequence[Totals], ledger: Ledger, decimals: int) -> None:
    """The totals a ledger already holds (`--state-in`)."""
    if not ledger.used:
        return
    for t in totals:
        for g, slot in enumerate(t.slots):
            used = ledger.used.get(slot)
            if used is not None:
                t.amount[g] = int(used.scaleb(decimals).to_integral_value())
                t.seen[g] = True


def into_ledger(totals: Sequence[Totals], ledger: Ledger, decimals: int) -> None:
    """The totals back into a ledger (`--state-out`)."""
    for t in totals:
        for g in np.flatnonzero(t.seen).tolist():
            ledger.used[t.slots[g]] = Decimal(int(t.amount[g])).scaleb(-decimals)


def amount_text(t: Totals, g: int, decimals: int) -> str:
    """The amount used as the ledger writes it into an episode (`0` before anything)."""
    if not t.seen[g]:
        return "0"
    return str(Decimal(int(t.amount[g])).scaleb(-decimals))


def decide_in_waves(col: Any, decide: Any, columns: Mapping[str, Any], base_bad: Any,
                    totals: Sequence[Totals], wave: Any,
                    episode: Any, number: Any) -> Outcome:
    """Decide every row wave by wave (see the module's docstring).  `columns`: the batch's
    input arrays; `base_bad`: the rows the batch cannot take; `episode(row)`: a row's
    JSON episode, for the row engine; `number(row)`: its number, for a rejection."""
    n = len(base_bad)
    out = Outcome(bad=np.zeros(n, dtype=np.bool_))
    decimals = col.DECIMALS
    limit = 10 ** (9 + decimals)  # the largest amount an input may hold, in minor units
    by_wave = np.argsort(wave, kind="stable")
    bounds = np.searchsorted(wave[by_wave], np.arange(int(wave.max(initial=0)) + 2))
    for k in range(len(bounds) - 1):
        rows = by_wave[bounds[k]:bounds[k + 1]]
        if not len(rows):
            continue
        sub = {path: values[rows] for path, values in columns.items()}
        leave = base_bad[rows].copy()
        for t in totals:
            g = t.group[rows]
            keyed = g >= 0
            used = sub[t.spec.field]
            used[keyed] = t.amount[g[keyed]]
            leave |= keyed & (used >= limit)
        result = col.decide_columns(sub, len(rows))
        leave |= result["bad"]
        for name, values in result.items():
            if name not in out.result:
                out.result[name] = np.zeros(n, dtype=np.asarray(values).dtype)
            out.result[name][rows] = values
        out.bad[rows] = leave
        good = rows[~leave]
        for t in totals:
            g = t.group[good]
            keyed = g >= 0
            adds = np.asarray(result[t.spec.adds])[~leave]
            t.amount[g[keyed]] += adds[keyed]
            t.seen[g[keyed]] = True
        for row in rows[leave].tolist():
            filled = dict(episode(row))
            for t in totals:
                g = int(t.group[row])
                if g >= 0:
                    filled[t.spec.field] = amount_text(t, g, decimals)
            outcome = decide_one(decide, filled)
            if isinstance(outcome, EpisodeError):
                out.rejections.append(Rejection(number(row), outcome))
                continue
            out.decided.append(outcome)
            out.decided_rows.append(row)
            for t in totals:
                g = int(t.group[row])
                if g >= 0:
                    added = outcome.values[outcome.policy.index[t.spec.adds]]
                    assert isinstance(added, Decimal)
                    t.amount[g] += int(added.scaleb(decimals).to_integral_value())
                    t.seen[g] = True
    out.rejections.sort(key=lambda r: r.line)
    return out


def decide_accumulated(policy: ColumnarPolicy, table: pa.Table, batch: Any,
                        numbers: Sequence[int] | int,
                        originals: Sequence[Mapping[str, object]] | None,
                        ledger: Ledger | None, forced: Any) -> tuple[pa.Table, list[Rejection]]:
    """A table of a policy with accumulators, decided in waves (`waves`).  A row `forced`
    to the row engine may stand for an episode the table could not hold (`originals`):
    its key, date and id are read from that episode."""
    def episode(row: int) -> Mapping[str, object]:
        return originals[row] if originals is not None else episodes(table.slice(row, 1))[0]

    def number(row: int) -> int:
        return numbers + row if isinstance(numbers, int) else numbers[row]

    col = policy.columnar
    if batch.all_bad:  # the row engine takes every row, through the ledger
        items = list(originals) if originals is not None else episodes(table)
        decided, rejections = decide_ledgered(policy.row, policy.row.decide, items,
                                              [number(r) for r in range(batch.n)], ledger)
        return decisions_table(policy.meta, decided), rejections
    view = Rows(table, batch.columns["date"])
    if originals is not None and forced is not None and forced.any():
        view.patch(np.flatnonzero(forced).tolist(), originals, specs_of(policy.row))
    year = years(view.days)
    totals = [groups(spec, view, year) for spec in specs_of(policy.row)]
    if ledger is not None:
        start_from(totals, ledger, col.DECIMALS)
    order = ledger_order(view, lambda rows: [compact(episode(r)) for r in rows])
    wave = waves(totals, order, batch.n)
    out = decide_in_waves(col, policy.row.decide, batch.columns, batch.bad, totals,
                                wave, episode, number)
    if ledger is not None:
        into_ledger(totals, ledger, col.DECIMALS)
    return assembled(policy, table, out.result, out.bad, out.decided,
                      out.decided_rows), out.rejections


def decide_ledgered(row: types.ModuleType, decide: Any, items: Sequence[Mapping[str, object]],
                    numbers: Sequence[int], ledger: Ledger | None = None
                    ) -> tuple[list[Decision], list[Rejection]]:
    """The row engine over episodes through a ledger, in the ledger's order (date,
    episode id, the episode's JSON text): the decisions in input order, the rejections
    by number."""
    ledger = ledger if ledger is not None else Ledger(specs_of(row))

    def key(i: int) -> tuple[str, str, str]:
        item = items[i]
        day, ident = item.get("date"), item.get("id")
        return (day if type(day) is str else "", ident if type(ident) is str else "",
                compact(item))

    outcomes: dict[int, Decision | EpisodeError] = {}
    for i in sorted(range(len(items)), key=key):
        outcomes[i] = decide_one(lambda e: ledger.decide(decide, e), items[i])
    decided: list[Decision] = []
    rejections: list[Rejection] = []
    for i in range(len(items)):
        outcome = outcomes[i]
        if isinstance(outcome, EpisodeError):
            rejections.append(Rejection(numbers[i], outcome))
        else:
            decided.append(outcome)
    return decided, rejections


# ---- what tables and Dask call: the columns' functions, with a ledger ----------------


def decide_table(policy: ColumnarPolicy, table: pa.Table | pa.RecordBatch,
                 numbers: Sequence[int] | int = 1,
                 originals: Sequence[Mapping[str, object]] | None = None,
                 force: Any = None, ledger: Ledger | None = None
                 ) -> tuple[pa.Table, list[Rejection]]:
    """`columns.decide_table`; for a policy with accumulators the table is one run,
    decided in waves, from `ledger`'s totals when given (which then hold the run's)."""
    specs = specs_of(policy.row)
    if not specs:
        return columns.decide_table(policy, table, numbers, originals, force)
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    batch = read_batch(policy, table)
    if force is not None:
        batch.bad |= force
    return decide_accumulated(policy, table, batch, numbers, originals, ledger, force)


def decide_episodes(row: types.ModuleType, decide: Any, items: Sequence[Mapping[str, object]],
                    numbers: Sequence[int], ledger: Ledger | None = None
                    ) -> tuple[pa.Table, list[Rejection]]:
    """`columns.decide_episodes`, through a ledger for a policy with accumulators."""
    if not specs_of(row):
        return columns.decide_episodes(row, decide, items, numbers)
    decided, rejections = decide_ledgered(row, decide, items, numbers, ledger)
    return decisions_table(row.POLICY, decided), rejections


def decide_row_table(row: types.ModuleType, decide: Any, table: pa.Table | pa.RecordBatch,
                     first_row: int = 1, ledger: Ledger | None = None
                     ) -> tuple[pa.Table, list[Rejection]]:
    return decide_episodes(row, decide, episodes(table),
                           range(first_row, first_row + table.num_rows), ledger)
