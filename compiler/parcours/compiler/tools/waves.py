"""Accumulators in the columnar engine: a table decided to a fixed point.

A policy's accumulator (an annual cap per person) makes an episode's decision depend on
the episodes of the same key and period decided before it: the amount used so far
reaches the decision as the input `NAME_used`, which the row engine's ledger fills in,
each key's episodes taken in (date, episode id) order whatever the input order
(`parcours.runtime.ledger`).  The columnar engine finds the same amounts by iterating:

- each row's slot for each accumulator: its key (`patient.id`) and period (the year of
  its date) as one group number; a row without its key is a person of its own (no
  slot: its `NAME_used` is the one it states, zero when absent);
- the rows of each accumulator's slots in the ledger's order (a chain): slot, date,
  then episode id, then (for two rows with the same date and id) the episode's compact
  JSON text, which is its line for a line written compactly, as `parcours population`
  writes them;
- with u the amount used before each row, the ledger's decisions are the one solution
  of u = start(slot) + the sum of what the rows before it in its slot's chain add
  (`adds`) when decided with their own u.  Round 1 decides every row as one batch with
  u = the slot's starting total (zero, or `--state-in`'s); each round then works out u
  again with a prefix sum of the adds along each chain and decides again only the
  rows whose u changed (every row when more than half did: the others get the same
  results again, which costs less than gathering and scattering most rows), until
  none changes.  After round k the first k rows of every
  chain have their ledger's u, so it ends, at the latest after as many rounds as the
  longest chain has rows, and on annual caps after three or four: the u of a row
  changes only when a row before it stopped adding (its cap reached).
- a row the batch leaves (an amount it cannot read, a broken constraint) is decided by
  the row engine in each round its u changes, with that amount filled in as the
  ledger's text (`0` before anything was added), and what it adds counts as well; a
  rejected episode adds nothing, as in the ledger.

The decisions are the ledger's, row for row; the caller writes them in input order.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parcours.runtime import AccumulatorSpec, Decision, EpisodeError, Ledger, Rejection, specs_of

from . import columns
from .columns import (ColumnarPolicy, assembled, decide_one, decisions_table, episodes,
                      numpy_of, read_batch)
from .decision_tables import EPOCH

_NO_SLOT = -1
Slot = tuple[str, tuple[str, ...], str]  # (accumulator, key values, period), the ledger's


@dataclass(slots=True)
class Totals:
    """One accumulator over a table: each row's group (its slot as a number, _NO_SLOT
    for none), the chain of the keyed rows in the ledger's order, and each group's
    total in minor units (the starting one, then the run's)."""

    spec: AccumulatorSpec
    group: Any  # the group of each row, _NO_SLOT for none
    count: int  # how many groups
    named: Callable[[], list[Slot]]  # each group's slot, worked out when a state needs it
    chain: Any = None  # the keyed rows, group by group, each group's in the ledger's order
    starts: Any = None  # where each group begins in `chain` (groups numbered in that order)
    amount: Any = None  # int64 by group
    seen: Any = None  # whether the group's total is the ledger's sum (not its initial 0)
    _slots: list[Slot] | None = None
    _first: Any = None

    def __post_init__(self) -> None:
        self.amount = np.zeros(self.count, dtype=np.int64)
        self.seen = np.zeros(self.count, dtype=np.bool_)

    @property
    def slots(self) -> list[Slot]:
        if self._slots is None:
            self._slots = self.named()
        return self._slots

    @property
    def first(self) -> Any:
        """For each row of the chain, the position of its group's first row."""
        if self._first is None:
            lengths = np.diff(np.append(self.starts, len(self.chain)))
            self._first = np.repeat(self.starts, lengths)
        return self._first

    def before(self, values: Any) -> Any:
        """For each row of the chain, the sum of `values` (by row) over the rows before
        it in its group."""
        along = values[self.chain]
        total = np.cumsum(along, dtype=np.int64)
        total -= along
        return total - total[self.first]

    def sums(self, values: Any) -> Any:
        """The sum of `values` (by row) over each group."""
        if not len(self.chain):
            return np.zeros(0, dtype=np.int64)
        return np.add.reduceat(values[self.chain].astype(np.int64), self.starts)


@dataclass(slots=True)
class Outcome:
    """What the rounds decided: the batch's result over every row, the rows it left to
    the row engine, and those rows' decisions and rejections."""

    result: dict[str, Any] = field(default_factory=dict)
    bad: Any = None
    decided: list[Decision] = field(default_factory=list)
    decided_rows: list[int] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    rounds: int = 0


class Rows:
    """What the ledger reads of each row: its keys, date (a day number) and episode id,
    from the table, or for the rows `patch` names from their JSON episodes."""

    def __init__(self, table: pa.Table, days: Any) -> None:
        self.table, self.n = table, table.num_rows
        self.days = np.asarray(days, dtype=np.int64)  # copied if `patch` changes a day
        self.columns: dict[str, pa.Array | None] = {}

    @cached_property
    def ids(self) -> pa.Array | None:
        """The episode ids (read when asked: only rows with a key and a day in common)."""
        table = self.table
        if "id" in table.column_names and pa.types.is_string(table.schema.field("id").type):
            return table.column("id").combine_chunks()
        return None

    def column(self, path: str) -> pa.Array | None:
        if path not in self.columns:
            self.columns[path] = key_column(self.table, path)
        return self.columns[path]

    def patch(self, rows: list[int], items: Sequence[Mapping[str, object]],
              specs: Sequence[AccumulatorSpec]) -> None:
        def replaced(column: pa.Array | None, values: dict[int, object]) -> pa.Array:
            if column is not None and pa.types.is_dictionary(column.type):
                column = column.dictionary_decode()
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
        self.days = self.days.copy()
        for row in rows:
            day = items[row].get("date")
            try:
                self.days[row] = date.fromisoformat(day).toordinal() - EPOCH \
                    if type(day) is str and len(day) == 10 else 0
            except ValueError:
                self.days[row] = 0  # rejected: the episode adds nothing


def key_column(table: pa.Table, path: str) -> pa.Array | None:
    """The column of a field (`patient.id`) of an episode table, None when absent."""
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
    if array is not None and pa.types.is_dictionary(array.type) and \
            pa.types.is_string(array.type.value_type):  # Parquet's strings read as such
        distinct = array.dictionary.dictionary_encode()  # a dictionary may repeat a value
        keys: list[str] = distinct.dictionary.to_pylist()
        codes = numpy_of(distinct.indices).astype(np.int64)[
            numpy_of(array.indices.fill_null(0))] if len(keys) else \
            np.zeros(n, dtype=np.int64)
        codes[numpy_of(array.is_null())] = -1
    elif array is None or not (pa.types.is_string(array.type) or
                               pa.types.is_large_string(array.type)):
        return np.full(n, -1, dtype=np.int64), []
    else:
        encoded = array.dictionary_encode()
        keys = encoded.dictionary.to_pylist()
        codes = numpy_of(encoded.indices.fill_null(-1)).astype(np.int64)
    if "" in keys:
        codes[codes == keys.index("")] = -1
    return codes, keys


def years(days: Any) -> Any:
    """The calendar year of each day number (days since 1970-01-01)."""
    return np.asarray(days, dtype="datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def groups(spec: AccumulatorSpec, view: Rows, texts: Callable[[list[int]], list[str]]
           ) -> Totals:
    """The slot of each row for `spec` as a group number, and the chain: the keyed rows
    sorted by key, date, episode id, then `texts(rows)` (the episodes' JSON text, asked
    only for rows whose key, date and id are the same).  The period is the date's year,
    so a key's rows of one year are next to each other in that order."""
    n, days = view.n, view.days
    if any(view.column(path) is None for path in spec.keys):  # no row has this key
        totals = Totals(spec, np.full(n, _NO_SLOT, dtype=np.int64), 0, list)
        totals.chain = totals.starts = np.zeros(0, dtype=np.int64)
        return totals
    code = np.zeros(n, dtype=np.int64)
    missing = np.zeros(n, dtype=np.bool_)
    parts: list[tuple[Any, list[str]]] = []
    for path in spec.keys:
        codes, keys = _codes(view.column(path), n)
        missing |= codes < 0
        parts.append((codes, keys))
        code = code * max(len(keys), 1) + np.maximum(codes, 0)
        if len(spec.keys) > 1:  # numbered again, densely: no product of counts overflows
            code = np.unique(code, return_inverse=True)[1].reshape(-1).astype(np.int64)
    keyed = np.flatnonzero(~missing)
    low = int(days.min(initial=0))
    span = int(days.max(initial=0)) - low + 1
    sort_key = code[keyed] * span + (days[keyed] - low)
    step = np.diff(sort_key)
    if not (step >= 0).all():  # not already in key, date order (a population is)
        by = np.argsort(sort_key, kind="stable")
        keyed, sort_key = keyed[by], sort_key[by]
        step = np.diff(sort_key)
    if (step == 0).any():
        keyed = _ties(view, keyed, sort_key, step == 0, texts)
    year = years(days[keyed])
    new = np.ones(len(keyed), dtype=np.bool_)
    new[1:] = (code[keyed][1:] != code[keyed][:-1]) | (year[1:] != year[:-1])
    starts = np.flatnonzero(new)
    group = np.full(n, _NO_SLOT, dtype=np.int64)
    group[keyed] = np.cumsum(new) - 1
    heads = keyed[starts]

    def named() -> list[Slot]:
        return [(spec.name, tuple(keys[codes[row]] for codes, keys in parts), f"{period:04d}")
                for row, period in zip(heads.tolist(), year[starts].tolist())]

    totals = Totals(spec, group, len(starts), named)
    totals.chain, totals.starts = keyed, starts
    return totals


def _ties(view: Rows, rows: Any, sort_key: Any, same: Any,
          texts: Callable[[list[int]], list[str]]) -> Any:
    """`rows` (sorted by key and date) with each run of the same key and date put in
    the order of the episode ids, then of `texts`."""
    tied = np.zeros(len(rows), dtype=np.bool_)
    tied[1:] |= same
    tied[:-1] |= same
    where = np.flatnonzero(tied)
    rank = np.zeros(len(rows), dtype=np.int64)
    if view.ids is not None:
        ids = view.ids.take(pa.array(rows[where])).fill_null("")
        rank[where] = numpy_of(pc.rank(ids, sort_keys="ascending", tiebreaker="dense"))
    # the tied rows are runs of `rows`: each run is put in order among its own places
    order = where[np.lexsort((where, rank[where], sort_key[where]))]
    rows, rank = rows.copy(), rank.copy()
    rows[where], rank[where] = rows[order], rank[order]
    same = (sort_key[1:] == sort_key[:-1]) & (rank[1:] == rank[:-1])
    if same.any():
        runs = np.flatnonzero(np.diff(np.concatenate([[0], same.astype(np.int8), [0]])))
        for begin, end in zip(runs[::2].tolist(), runs[1::2].tolist()):
            run = rows[begin:end + 1]
            text = texts(run.tolist())
            rows[begin:end + 1] = run[np.argsort(np.array(text, dtype=object), kind="stable")]
    return rows


def compact(episode: Mapping[str, object]) -> str:
    return json.dumps(episode, ensure_ascii=False, separators=(",", ":"), default=str)


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


def amount_text(amount: int, seen: bool, decimals: int) -> str:
    """The amount used as the ledger writes it into an episode (`0` before anything)."""
    if not seen:
        return "0"
    return str(Decimal(amount).scaleb(-decimals))


class _Amounts:
    """Each row's amount used before it, for one accumulator: the one it states, or for
    a row of a slot the prefix sum of what its chain's rows before it add."""

    def __init__(self, t: Totals, stated: Any, n: int) -> None:
        self.t = t
        self.used = np.array(stated, dtype=np.int64)
        self.seen = np.zeros(n, dtype=np.bool_)
        self.adds = np.zeros(n, dtype=np.int64)
        self.used[t.chain] = t.amount[t.group[t.chain]]
        self.seen[t.chain] = t.seen[t.group[t.chain]]
        self.fresh = True  # whether `seen` holds for the amounts `used` holds

    def again(self, counted: Any, changed: Any, engine: Any) -> None:
        """Work out each row's amount from the adds; mark the rows whose amount changed,
        and the rows of the row engine (`engine`, when some are) whose text of it
        changes (`0` until something was added)."""
        t, chain = self.t, self.t.chain
        group = t.group[chain]
        used = t.amount[group] + t.before(self.adds)
        moved = used != self.used[chain]
        rows = chain[moved]
        self.used[rows] = used[moved]
        changed[rows] = True
        self.fresh = engine is not None
        if engine is not None:
            seen = self.seen_before(counted)
            changed |= engine & (seen != self.seen)
            self.seen = seen

    def seen_before(self, counted: Any) -> Any:
        """Whether the ledger holds a total for each row's slot when it comes (a state's,
        or a decided row before it)."""
        t = self.t
        seen = np.zeros(len(counted), dtype=np.bool_)
        seen[t.chain] = t.seen[t.group[t.chain]] | (t.before(counted) > 0)
        return seen

    def close(self, counted: Any) -> None:
        """The run's totals into the group totals."""
        t = self.t
        t.amount += t.sums(self.adds)
        t.seen |= t.sums(counted) > 0


def decide_until_fixed(col: Any, decide: Any, columns: Mapping[str, Any], base_bad: Any,
                       totals: Sequence[Totals], episode: Any, number: Any) -> Outcome:
    """Decide every row, in rounds, until no row's amount used changes (see the module's
    docstring).  `columns`: the batch's input arrays; `base_bad`: the rows the batch
    cannot take; `episode(row)`: a row's JSON episode, for the row engine; `number(row)`:
    its number, for a rejection."""
    n = len(base_bad)
    out = Outcome(bad=np.zeros(n, dtype=np.bool_))
    if not any(t.count for t in totals):  # no row has a key: one round, with what rows state
        result = col.decide_columns(columns, n)
        out.result, out.bad, out.rounds = dict(result), base_bad | result["bad"], 1
        return _settled(out, {row: decide_one(decide, episode(row))
                              for row in np.flatnonzero(out.bad).tolist()}, number)
    decimals = col.DECIMALS
    limit = 10 ** (9 + decimals)  # the largest amount an input may hold, in minor units
    amounts = [_Amounts(t, columns[t.spec.field], n) for t in totals]
    inputs = dict(columns)
    for a in amounts:
        inputs[a.t.spec.field] = a.used
    counted = np.zeros(n, dtype=np.bool_)  # decided (a rejected episode adds nothing)
    engine: dict[int, Decision | EpisodeError] = {}
    by_engine = np.zeros(n, dtype=np.bool_)
    active: Any = None  # every row
    longest = max((int(np.diff(np.append(t.starts, len(t.chain))).max(initial=0))
                   for t in totals), default=0)
    while active is None or len(active):
        out.rounds += 1
        assert out.rounds <= longest + 1, "the amounts used do not settle"  # cannot happen
        # Most rows to decide again: every row, rather than gathering and scattering
        # most of them (a row whose amount did not change gets the same result again).
        every = active is None or 2 * len(active) > n
        if every:
            sub, leave, size = inputs, base_bad.copy(), n
        else:
            sub = {path: values[active] for path, values in inputs.items()}
            leave, size = base_bad[active], len(active)
        for a in amounts:
            keyed = (a.t.group if every else a.t.group[active]) >= 0
            leave |= keyed & (sub[a.t.spec.field] >= limit)
        result = col.decide_columns(sub, size)
        leave |= result["bad"]
        kept = ~leave
        left = bool(leave.any())
        before = counted.copy() if left else None  # what this round's amounts come from
        redo = leave  # the rows for the row engine (in `rows`)
        if every:
            out.result = dict(result)
            out.bad = leave
            rows: Any = slice(None)  # every row, without an array of them
            if active is not None and left:  # the others keep what the row engine gave
                moved = np.zeros(n, dtype=np.bool_)
                moved[active] = True
                redo = leave & moved
        else:
            rows = active
            for name, values in result.items():
                whole = out.result[name]
                if not whole.flags.writeable or whole.base is not None or \
                        any(whole is c for c in inputs.values()):
                    whole = out.result[name] = np.array(whole)
                whole[rows] = values
            out.bad[rows] = leave
        if redo is leave:
            counted[rows] = kept
        else:  # a row the row engine decided keeps its count and adds
            counted[redo] = False
            counted[kept] = True
        for a in amounts:
            adds = np.asarray(result[a.t.spec.adds])
            if not left:
                a.adds[rows] = adds
            elif redo is leave:
                a.adds[rows] = np.where(kept, adds, 0)
            else:
                np.copyto(a.adds, adds, where=kept)
        if engine:
            stale = np.arange(n)[rows][kept & by_engine[rows]]
            for row in stale.tolist():
                del engine[row]
            by_engine[stale] = False
        if left:
            for a in amounts:
                if not a.fresh:
                    a.seen, a.fresh = a.seen_before(before), True
        for row in (np.arange(n)[rows][redo].tolist() if left else []):
            filled = dict(episode(row))
            for a in amounts:
                if a.t.group[row] >= 0:
                    filled[a.t.spec.field] = amount_text(int(a.used[row]), bool(a.seen[row]),
                                                         decimals)
            outcome = engine[row] = decide_one(decide, filled)
            by_engine[row] = True
            decided = not isinstance(outcome, EpisodeError)
            counted[row] = decided
            for a in amounts:
                a.adds[row] = 0
                if decided:
                    assert isinstance(outcome, Decision)
                    added = outcome.values[outcome.policy.index[a.t.spec.adds]]
                    assert isinstance(added, Decimal)
                    a.adds[row] = int(added.scaleb(decimals).to_integral_value())
        changed = np.zeros(n, dtype=np.bool_)
        for a in amounts:
            a.again(counted, changed, by_engine if by_engine.any() else None)
        active = np.flatnonzero(changed)
    for a in amounts:
        a.close(counted)
    return _settled(out, engine, number)


def _settled(out: Outcome, engine: dict[int, Decision | EpisodeError], number: Any) -> Outcome:
    """`out` with the row engine's decisions and rejections (`engine`, by row)."""
    for row in sorted(engine):
        outcome = engine[row]
        if isinstance(outcome, EpisodeError):
            out.rejections.append(Rejection(number(row), outcome))
        else:
            out.decided.append(outcome)
            out.decided_rows.append(row)
    out.rejections.sort(key=lambda r: r.line)
    return out


def decide_accumulated(policy: ColumnarPolicy, table: pa.Table, batch: Any,
                        numbers: Sequence[int] | int,
                        originals: Sequence[Mapping[str, object]] | None,
                        ledger: Ledger | None, forced: Any) -> tuple[pa.Table, list[Rejection]]:
    """A table of a policy with accumulators, decided to a fixed point
    (`decide_until_fixed`).  A row `forced` to the row engine may stand for an episode
    the table could not hold (`originals`): its key, date and id are read from that
    episode."""
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
    texts = lambda rows: [compact(episode(r)) for r in rows]  # noqa: E731
    totals = [groups(spec, view, texts) for spec in specs_of(policy.row)]
    if ledger is not None:
        start_from(totals, ledger, col.DECIMALS)
    out = decide_until_fixed(col, policy.row.decide, batch.columns, batch.bad, totals,
                             episode, number)
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
