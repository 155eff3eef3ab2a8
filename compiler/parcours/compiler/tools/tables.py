"""Episode and decision files in Parquet, Arrow IPC or JSON Lines, and the columnar engine.

The format is chosen by the file's extension (`.parquet`; `.arrow`, `.feather`, `.ipc`;
anything else JSON Lines) or named (`--format`).  Tables are read and written a batch
at a time (`BATCH_ROWS` rows), so memory stays bounded whatever the file's size.

`load_columnar(path)` compiles a `.parcours` policy with both backends (the columnar
module and the Python module it hands the rows it cannot decide); `decide_file` runs a
policy over a file with the columnar or the row engine and writes the decisions in any
of the formats.  See docs/performance.md and docs/cli.md.
"""

from __future__ import annotations

import os
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from parcours.runtime import (EpisodeError, Ledger, PolicyMeta, Rejection, read_episodes,
                              specs_of)

from ..backends.python.loader import load_module
from .columns import ColumnarPolicy, decision_schema, episode_schema, keep_freed_memory
from .decision_tables import LINES_BATCH, joined, table_lines
from .waves import decide_episodes, decide_row_table, decide_table

FORMATS = ("jsonl", "parquet", "arrow")
BATCH_ROWS = 1 << 18
_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".arrow": "arrow", ".feather": "arrow",
             ".ipc": "arrow", ".arrows": "arrow"}


def format_of(path: str, named: str | None = None) -> str:
    """The format named, or the one the extension says (JSON Lines by default)."""
    if named is not None:
        return named
    return _SUFFIXES.get(Path(path).suffix.lower(), "jsonl")


def load_columnar(path: str | os.PathLike[str], cache: bool = False) -> ColumnarPolicy:
    """A `.parcours` policy compiled by both backends, from one analysis.  Raises
    CompileError for a policy with errors, `Unsupported` (a CodegenError) for a construct
    the columnar backend does not decide yet.  With `cache`, the two modules are kept in
    the compiled-module cache (`backends/python/cache.py`, entries of their own beside
    `decide`'s) and taken from it while the policy and its imports are unchanged: a run
    then neither parses nor checks the policy."""
    from ..backends.python import cache as modules

    keep_freed_memory()
    keys = (f"{path}#columnar", f"{path}#row")  # entries of their own
    if cache:
        found = [modules.cached(key) for key in keys]
        if found[0] is not None and found[1] is not None:
            return ColumnarPolicy(found[0], found[1])
    files, name, columnar_text, row_text = generate_both(path)
    if cache:
        modules.store(keys[0], files, name + "_columnar", columnar_text)
        modules.store(keys[1], files, name, row_text)
    return ColumnarPolicy(load_module(name + "_columnar", columnar_text, f"<{path} columnar>"),
                          load_module(name, row_text, f"<{path}>"))


def generate_both(path: str | os.PathLike[str]
                  ) -> tuple[list[tuple[Path, bytes]], str, str, str]:
    """One analysis of a `.parcours` policy and both backends' modules: (the files it
    read, the row module's name, the columnar module's text, the row module's text).
    Raises CompileError for a policy with errors, `Unsupported` as `load_columnar`."""
    from .. import backends
    from ..pipeline import analyse, not_compiled

    analysis = analyse(path, verify=False)
    if analysis.program is None:
        raise not_compiled(analysis)
    program = analysis.program
    return (analysis.files, f"parcours_{program.policy.id}",
            backends.get("columnar").generate(program), backends.get("python").generate(program))


# ---- reading -------------------------------------------------------------------------


def read_batches(path: str, fmt: str, strings: Iterable[str] = ()) -> Iterator[pa.Table]:
    """The episode table of a Parquet or Arrow IPC file, a batch at a time.  The Parquet
    columns `strings` names (paths such as `visit.specialty`) that hold strings are read
    dictionary-encoded: each distinct value once, an index per row.  They are read a
    row group at a time (Arrow reads a dictionary inside a struct only within one); a row
    group whose dictionary changes inside it is read as plain strings."""
    if fmt == "parquet":
        import pyarrow.parquet as pq  # here: a JSON Lines run never imports it (20 ms)

        names = set(strings)
        schema = pq.read_schema(path)
        encoded = sorted(name for name in names if _is_string(schema, name.split(".")))
        if not encoded:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
                yield pa.Table.from_batches([batch])
            return
        parquet = pq.ParquetFile(path, read_dictionary=encoded)
        for group in range(parquet.metadata.num_row_groups):
            try:
                parts = list(parquet.iter_batches(batch_size=BATCH_ROWS, row_groups=[group]))
            except pa.ArrowNotImplementedError:
                parts = list(pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS,
                                                               row_groups=[group]))
            for batch in parts:
                yield pa.Table.from_batches([batch])
        return
    with pa.memory_map(path) as source:
        try:
            reader: Any = ipc.open_file(source)
            for i in range(reader.num_record_batches):
                yield pa.Table.from_batches([reader.get_batch(i)])
            return
        except pa.ArrowInvalid:
            source.seek(0)
        stream = ipc.open_stream(source)
        for batch in stream:
            yield pa.Table.from_batches([batch])


def _is_string(schema: Any, parts: list[str]) -> bool:
    kind: Any = schema
    for part in parts:
        fields = [kind.field(i) for i in range(kind.num_fields)] \
            if isinstance(kind, pa.StructType) else list(kind) \
            if isinstance(kind, pa.Schema) else []
        found = next((f for f in fields if f.name == part), None)
        if found is None:
            return False
        kind = found.type
    return bool(pa.types.is_string(kind))


def _plain(schema: pa.Schema) -> pa.Schema:
    """The schema with each dictionary-encoded column (in a struct too) as its values."""
    def plain(kind: Any) -> Any:
        if pa.types.is_dictionary(kind):
            return kind.value_type
        if pa.types.is_struct(kind):
            return pa.struct([kind.field(i).with_type(plain(kind.field(i).type))
                              for i in range(kind.num_fields)])
        return kind
    return pa.schema([f.with_type(plain(f.type)) for f in schema])


def dictionary_fields(policy: ColumnarPolicy) -> list[str]:
    """The inputs worth reading dictionary-encoded: dates, amounts, members and keys
    repeat (a few thousand distinct values in a million rows)."""
    return [f.path for f in policy.columnar.FIELDS if f.kind in ("date", "money", "enum", "id")]


def read_json_table(path: str, policy: ColumnarPolicy) -> pa.Table:
    """A JSON Lines file of well-formed episodes as one episode table (Arrow's JSON reader
    with `episode_schema`): the way to turn a population into Parquet.  Raises
    pyarrow.ArrowInvalid on a line that does not fit the schema."""
    from pyarrow import json as pa_json

    options = pa_json.ParseOptions(explicit_schema=episode_schema(policy),
                                   unexpected_field_behavior="error")
    return pa_json.read_json(path, parse_options=options)


def write_episodes(handle: IO[bytes], items: Iterable[dict[str, object]], fmt: str,
                   batch_rows: int = 1 << 16) -> int:
    """Episodes (JSON-decoded) as a Parquet or Arrow IPC table, a batch at a time: the
    columns the first batch shows (a field absent from an episode is a null); how many."""
    writer: Any = None
    count = 0
    kind: Any = None
    for batch in _chunks(items, batch_rows):
        table = pa.Table.from_struct_array(pa.array(batch, type=kind))
        if writer is None:
            import pyarrow.parquet as pq

            kind = pa.struct(list(table.schema))
            writer = pq.ParquetWriter(handle, table.schema) if fmt == "parquet" else \
                ipc.new_file(handle, table.schema)
        writer.write_table(table) if fmt == "parquet" else writer.write(table)
        count += table.num_rows
    if writer is not None:
        writer.close()
    return count


def _chunks(items: Iterable[dict[str, object]], size: int) -> Iterator[list[dict[str, object]]]:
    chunk: list[dict[str, object]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ---- writing -------------------------------------------------------------------------


class DecisionSink:
    """Decision tables into one file: Parquet, Arrow IPC or JSON Lines (the row engine's
    bytes: one `decision_json` line per decision)."""

    def __init__(self, handle: IO[bytes] | IO[str], fmt: str, meta: PolicyMeta) -> None:
        self.fmt, self.handle = fmt, handle
        self.schema = decision_schema(meta)
        self.writer: Any = None
        if fmt == "parquet":  # no min/max statistics: a third of the time to write
            import pyarrow.parquet as pq

            self.writer = pq.ParquetWriter(handle, self.schema, write_statistics=False)
        elif fmt == "arrow":
            self.writer = ipc.new_file(handle, self.schema)

    def write(self, table: pa.Table) -> None:
        if self.writer is not None:
            self.writer.write_table(table) if self.fmt == "parquet" else \
                self.writer.write(table)
            return
        for batch in table.to_batches(max_chunksize=LINES_BATCH):
            self.handle.write(joined(table_lines(batch)).decode())  # type: ignore[call-overload]

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass(slots=True)
class Counts:
    decided: int = 0
    rejected: int = 0


def decide_file(policy: ColumnarPolicy | types.ModuleType, decide: Callable[..., Any] | None,
                input_path: IO[bytes] | str, input_format: str, sink: DecisionSink,
                reject: Callable[[Rejection], object],
                observe: Callable[[pa.Table], object] | None = None,
                ledger: Ledger | None = None) -> Counts:
    """Decide every episode of a file with the columnar engine (a ColumnarPolicy) or the
    row engine (a Python module and its bound `decide`), writing the decisions to `sink`
    in input order and reporting each rejection by its row (or line) number.  A policy
    with accumulators decides the whole file as one run, in the ledger's order (the
    columnar engine to a fixed point, `waves`), from `ledger`'s totals when given, which then
    hold the run's."""
    counts = Counts()

    def done(decisions: pa.Table, rejections: list[Rejection]) -> None:
        for rejection in rejections:
            reject(rejection)
        counts.rejected += len(rejections)
        counts.decided += decisions.num_rows
        if observe is not None:
            observe(decisions)
        sink.write(decisions)

    row = policy.row if isinstance(policy, ColumnarPolicy) else policy
    whole = bool(specs_of(row))  # accumulators: one run over the whole input
    if input_format == "jsonl":
        assert not isinstance(input_path, str)
        chunks: Iterable[list[_Item]] = _json_batches(input_path)
        if whole:
            chunks = [[item for chunk in chunks for item in chunk]]
        for chunk in chunks:
            _decide_json(policy, decide, chunk, done, ledger)
        return counts
    assert isinstance(input_path, str)
    first = 1
    tables: Iterable[pa.Table] = read_batches(
        input_path, input_format,
        dictionary_fields(policy) if isinstance(policy, ColumnarPolicy) else ())
    if whole:
        parts = list(tables)
        if len({part.schema for part in parts}) > 1:  # some row groups read as plain strings
            parts = [part.cast(_plain(part.schema)) for part in parts]
        tables = [pa.concat_tables(parts) if parts else pa.table({})]
    for table in tables:
        if table.num_rows == 0 and whole:
            continue
        if isinstance(policy, ColumnarPolicy):
            done(*decide_table(policy, table, first, ledger=ledger))
        else:
            done(*decide_row_table(policy, decide, table, first, ledger))
        first += table.num_rows
    return counts


_Item = tuple[int, "dict[str, object] | Rejection"]


def _json_batches(source: IO[bytes]) -> Iterator[list[_Item]]:
    """JSON Lines parsed as the row engine parses them (`read_episodes`), a batch at a
    time: each episode, or the rejection of a line that holds none, by line number."""
    chunk: list[_Item] = []
    for number, item in read_episodes(source):
        chunk.append((number, Rejection(number, item) if isinstance(item, EpisodeError)
                      else item))  # type: ignore[arg-type]
        if len(chunk) >= BATCH_ROWS // 4:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _has_null(value: object) -> bool:
    if isinstance(value, dict):
        return any(v is None or _has_null(v) for v in value.values())
    return False


def _table(items: list[dict[str, object]]) -> pa.Table | None:
    try:
        return pa.Table.from_struct_array(pa.array(items)) if items else None
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return None


_KINDS: dict[str, type] = {"money": str, "date": str, "enum": str, "bool": bool, "int": int,
                           "id": str}


def _shape(policy: ColumnarPolicy) -> dict[str, dict[str, type] | type]:
    """The type each JSON value has in a well-formed episode, by section."""
    shape: dict[str, dict[str, type] | type] = {"id": str, "currency": str}
    for f in policy.columnar.FIELDS:
        head, _, key = f.path.rpartition(".")
        if head:
            section = shape.setdefault(head, {})
            assert isinstance(section, dict)
            section[key] = _KINDS[f.kind]
        else:
            shape[key] = _KINDS[f.kind]
    return shape


def _fits(item: dict[str, object], shape: dict[str, dict[str, type] | type]) -> bool:
    for key, value in item.items():
        expected = shape.get(key)
        if isinstance(expected, dict):
            if type(value) is not dict or not all(
                    type(v) is expected.get(k) for k, v in value.items()):
                return False
        elif expected is None or type(value) is not expected:
            return False
    return True


def _decide_json(policy: ColumnarPolicy | types.ModuleType, decide: Callable[..., Any] | None,
                 chunk: list[_Item],
                 done: Callable[[pa.Table, list[Rejection]], None],
                 ledger: Ledger | None = None) -> None:
    """One batch of JSON episodes.  The columnar engine takes them as a table; an explicit
    `null` (which the row engine reads as a value, not as an absent field) sends its
    episode to the row engine, and so does a value of another JSON type than the
    contract's (an amount as a number).  Unreadable lines are rejected in their place."""
    unreadable = [item for _, item in chunk if isinstance(item, Rejection)]

    def finish(decisions: pa.Table, rejections: list[Rejection]) -> None:
        done(decisions, sorted(unreadable + rejections, key=lambda r: r.line))

    numbers = [number for number, item in chunk if not isinstance(item, Rejection)]
    items: list[dict[str, object]] = [item for _, item in chunk
                                      if not isinstance(item, Rejection)]
    if not isinstance(policy, ColumnarPolicy):
        finish(*decide_episodes(policy, decide, items, numbers, ledger))
        return
    force = np.array([_has_null(item) for item in items], dtype=np.bool_)
    table = _table(items)
    if table is None and items:
        # Some values do not fit one type per field (an amount as a JSON number, say):
        # those episodes go to the row engine, a well-formed one stands in their rows.
        shape = _shape(policy)
        fits = [_fits(item, shape) for item in items]
        stand_in = next((item for item, ok in zip(items, fits) if ok), None)
        if stand_in is not None:
            force |= ~np.array(fits, dtype=np.bool_)
            table = _table([item if ok else stand_in for item, ok in zip(items, fits)])
    if table is None:
        finish(*decide_episodes(policy.row, policy.row.decide, items, numbers, ledger))
        return
    finish(*decide_table(policy, table, numbers, items, force, ledger))
