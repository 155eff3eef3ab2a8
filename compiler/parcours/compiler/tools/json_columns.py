"""JSON Lines through the columnar engine, a block of lines at a time, with the row
engine's bytes: `parcours decide --engine columnar` on JSON Lines in and out.

Reading.  Each line is decoded by msgspec into typed structs built from the policy's
input fields (`Shape`): booleans, integers within 64 bits, strings, an amount as its raw
JSON text, sections as structs, an unknown field refused; a field the contract makes
optional is `UNSET` when absent.  A line msgspec refuses (bad JSON, a wrong type, an
explicit `null` where a value is wanted, a byte order mark, a blank line) is not the
batch's: the row engine reads and decides it, and alone words its error.  msgspec keeps
the last value of a field named twice, so a decoded line is the batch's only when its
colons are as many as the keys it holds; a colon inside a string sends its line to the
row engine too.  The columns then go through `columns.read_batch`, which marks the rows
whose values the batch cannot take (an unknown member, an amount with too many places,
a date outside the policy...), and those rows are decided by the row engine as well.

Writing.  The batch's decisions are written by `decision_tables.json_lines` (each piece
of text worked out once per distinct value or path, the rows joined by Arrow); the
lines the row engine decided are its `DecisionWriter`'s, put back in their places.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from itertools import repeat
from operator import is_not
from typing import Annotated, Any, NamedTuple

import msgspec
from msgspec.structs import astuple
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parcours.runtime import DecisionWriter, Encoded, decide_block, key_reader, specs_of

from .columns import ColumnarPolicy, read_batch
from .decision_tables import joined, json_lines, rule_pathway
from .waves import key_column

_INT64 = Annotated[int, msgspec.Meta(ge=-(1 << 63), le=(1 << 63) - 1)]
# An amount is kept as its JSON text (`msgspec.Raw`): a string's or a number's, exactly.
_TYPES: dict[str, Any] = {"bool": bool, "int": _INT64, "enum": str, "date": str, "id": str,
                          "money": msgspec.Raw}

_ARROW = {"bool": pa.bool_(), "int": pa.int64(), "enum": pa.string(), "date": pa.string(),
          "id": pa.string()}


class _Section(NamedTuple):
    name: str
    optional: bool
    fields: tuple[tuple[str, str, bool], ...]  # (key, kind, optional)


class Shape:
    """The structs msgspec decodes an episode into, and how to count its keys."""

    def __init__(self, policy: ColumnarPolicy) -> None:
        top: list[tuple[str, str, bool]] = []
        sections: dict[str, list[tuple[str, str, bool]]] = {}
        for f in policy.columnar.FIELDS:
            head, _, key = f.path.rpartition(".")
            entry = (key, f.kind, f.default is not None or f.kind == "id")
            (sections.setdefault(head, []) if head else top).append(entry)
        self.top_fields = (("id", "id", True), ("currency", "enum", True), *top)
        self.sections = tuple(_Section(name, all(opt for _, _, opt in fields), tuple(fields))
                              for name, fields in sections.items())
        allowed = {"id", "currency", *(k for k, _, _ in top), *sections}
        shape = dict(policy.row.SHAPE)
        self.supported = shape.get("", frozenset()) == allowed and all(
            shape.get(s.name) == {k for k, _, _ in s.fields} for s in self.sections) and \
            len(shape) == 1 + len(self.sections)
        structs: dict[str, type] = {}
        fields: list[Any] = [_field(*f) for f in self.top_fields]
        for section in self.sections:
            struct = msgspec.defstruct(f"_{section.name}", [_field(*f) for f in section.fields],
                                       forbid_unknown_fields=True, gc=False, kw_only=True)
            structs[section.name] = struct
            fields.append((section.name, struct | msgspec.UnsetType, msgspec.UNSET)
                          if section.optional else (section.name, struct))
        self.structs = structs
        self.episode = msgspec.defstruct("_episode", fields, forbid_unknown_fields=True,
                                         gc=False, kw_only=True)
        # keys every decoded line holds: the required ones, at both levels
        self.required = sum(not opt for _, _, opt in top) + sum(
            0 if s.optional else 1 + sum(not opt for _, _, opt in s.fields)
            for s in self.sections)


def _field(key: str, kind: str, optional: bool) -> Any:
    kind_type = _TYPES[kind]
    return (key, kind_type | msgspec.UnsetType, msgspec.UNSET) if optional else (key, kind_type)


class _Columns:
    """Decoded rows as the arrays of an episode table, and each row's count of keys."""

    def __init__(self, shape: Shape, rows: list[Any]) -> None:
        self.n = len(rows)
        self.keys = np.full(self.n, shape.required, dtype=np.int64)
        self.arrays: dict[str, pa.Array] = {}
        # the rows transposed (C loops): a tuple of values per field, in the struct's order
        columns = dict(zip(shape.episode.__struct_fields__, zip(*map(astuple, rows))))
        for name, kind, optional in shape.top_fields:
            array = self.column(columns[name], kind, optional)
            if array is not None:
                self.arrays[name] = array
        for section in shape.sections:
            values: Sequence[Any] = columns[section.name]
            if section.optional:
                present = self.presence(values)
                if present is not None and not present.any():
                    continue
                empty = shape.structs[section.name]()
                values = [empty if v is msgspec.UNSET else v for v in values]
            inner = zip(*map(astuple, values))
            arrays, names = [], []
            for (key, kind, optional), found in zip(section.fields, inner):
                array = self.column(found, kind, optional)
                if array is not None:
                    arrays.append(array)
                    names.append(key)
            if arrays:
                self.arrays[section.name] = pa.StructArray.from_arrays(arrays, names)

    def presence(self, values: Sequence[Any]) -> Any:
        """Where an optional value is present (counted as a key); None: everywhere."""
        unset = values.count(msgspec.UNSET)
        if not unset:
            self.keys += 1
            return None
        if unset == self.n:
            return np.zeros(self.n, dtype=np.bool_)
        present = np.fromiter(map(is_not, values, repeat(msgspec.UNSET)), np.bool_, self.n)
        self.keys += present
        return present

    def column(self, values: Sequence[Any], kind: str, optional: bool) -> pa.Array | None:
        """The values as an Arrow array (None: absent on every row)."""
        absent = None  # where the value is absent: a null
        if optional:
            present = self.presence(values)
            if present is not None:
                if not present.any():
                    return None
                absent = ~present
        if kind == "money":
            return _amounts(pa.array(list(map(bytes, values)) if absent is None else
                                     [None if v is msgspec.UNSET else bytes(v) for v in values],
                                     pa.binary()))
        return pa.array(values, _ARROW[kind], mask=absent)


def _amounts(raw: pa.Array) -> pa.Array:
    """Amounts' JSON texts as the strings the batch reads: a string's content, a number's
    text (`26.5` and `"26.5"` are the same amount to the row engine); a string with an
    escape becomes one the batch refuses (`\\`), so that the row engine reads it."""
    try:
        text = raw.cast(pa.string())
    except pa.ArrowInvalid:  # msgspec does not check the UTF-8 of what it keeps raw
        text = pa.array([None if v is None else _utf8(v) for v in raw.to_pylist()], pa.string())
    inner = pc.if_else(pc.starts_with(text, '"'), pc.utf8_slice_codeunits(text, 1, -1), text)
    return pc.if_else(pc.match_substring(text, "\\"), "\\", inner)


def count(block: bytes, byte: int) -> int:
    """How many times `byte` is in `block`: numpy counts about three times faster than
    `bytes.count`."""
    return int(np.count_nonzero(np.frombuffer(block, np.uint8) == byte))


def newlines(block: bytes) -> int:
    """How many newlines a block holds (the command counts them in every block before
    handing it out)."""
    return count(block, 10)


def _has_key(table: pa.Table, paths: tuple[str, ...]) -> bool:
    """Whether a row of an episode table has every part of a key (a non-empty string)."""
    found: Any = True
    for path in paths:
        column = key_column(table, path)
        if column is None:
            return False
        found = pc.and_(found, pc.fill_null(pc.greater(pc.utf8_length(column), 0), False))
    return bool(pc.any(found).as_py())


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return "\\"  # refused by the batch: the row engine words the error


class ColumnarLines:
    """`function(block, first line number, fast)` for `jobs.Run`: a block of JSON Lines
    decided by the columnar engine, the rows it cannot take by the row engine, into the
    bytes `parcours decide` writes with the row engine."""

    def __init__(self, policy: ColumnarPolicy, tally: Callable[[], Any] | None = None) -> None:
        """`tally`: what `parcours decide --summary` adds up (`jobs.Tally`), a new one for
        each block; the block's `state()` is then in `summary`."""
        self.policy, self.tally = policy, tally
        self.counted: Any = None  # the block's tally
        self.summary: object = None
        self.totalled = [name for name, _ in policy.meta.totalled()]
        self.scales = {spec.name: spec.scale for spec in policy.columnar.OUTPUTS}
        # each accumulator's key fields, and a reader of its key from a line's text
        self.keys = [(spec.keys, key_reader(spec.keys)) for spec in specs_of(policy.row)]
        self.keyed = False  # whether a line of the last block has an accumulator's key
        self.shape = Shape(policy)
        self.decode: Callable[[bytes], Any] = msgspec.json.Decoder(self.shape.episode).decode
        self.decide = policy.row.decide
        self.writer = DecisionWriter()
        self.handed_over = 0  # lines the row engine read, so far (a figure for tests)

    def __call__(self, block: bytes, first: int = 1, fast: bool = True) -> Encoded:
        self.keyed = False
        self.counted = self.tally() if self.tally is not None else None
        lines = block.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        rows, places, others = self.each_line(lines)
        if not rows or not self.shape.supported:
            return self.assembled(lines, first, list(range(len(lines))), None)
        columns = _Columns(self.shape, rows)
        # A row's keys are never more than its line's colons: equal sums, equal rows.
        colons = count(block, 58) - sum(lines[i].count(b":") for i in others)
        if colons != int(columns.keys.sum()):  # a field named twice, or a colon in a string
            fine = columns.keys == np.fromiter((lines[i].count(b":") for i in places),
                                               np.int64, len(places))
            keep = np.flatnonzero(fine).tolist()
            others = sorted(others + [places[i] for i in np.flatnonzero(~fine).tolist()])
            rows, places = [rows[i] for i in keep], [places[i] for i in keep]
            if not rows:
                return self.assembled(lines, first, others, None)
            columns = _Columns(self.shape, rows)
        table = pa.table(columns.arrays)
        self.keyed = any(_has_key(table, paths) for paths, _ in self.keys)
        batch = read_batch(self.policy, table)
        if batch.all_bad:
            return self.assembled(lines, first, list(range(len(lines))), None)
        result = self.policy.columnar.decide_columns(batch.columns, columns.n)
        bad = batch.bad | result["bad"]
        good: Any = slice(None)
        if bad.any():
            others = sorted(others + [places[i] for i in np.flatnonzero(bad).tolist()])
            good = np.flatnonzero(~bad)
            places = [places[i] for i in good.tolist()]
        if self.counted is not None:
            self.add(result, good)
        ids = table.column("id").combine_chunks() if "id" in table.column_names else \
            pa.array([], pa.string())
        return self.assembled(lines, first, others,
                               (places, json_lines(self.policy, ids, result, good)))

    def add(self, result: Any, rows: Any) -> None:
        """The counts by pathway and totals of the batch's decisions (the rows `rows` of
        `result`), added to the block's tally as a state of its own."""
        col = self.policy.columnar
        counts = np.bincount(rule_pathway(col)[np.asarray(result["rule"])[rows]],
                             minlength=len(col.PATHWAYS))
        by_pathway = {pathway: count for pathway, count in zip(col.PATHWAYS, counts.tolist())
                      if count}
        totals = {name: Decimal(int(np.asarray(result[name])[rows].sum(dtype=np.int64)))
                  .scaleb(-self.scales[name]) for name in self.totalled}
        self.counted.merge((by_pathway, totals))

    def each_line(self, lines: list[bytes]) -> tuple[list[Any], list[int], list[int]]:
        """The lines decoded (one by one: msgspec's `decode_lines` would take two values on
        one line, and skip a blank one): the rows and their places in `lines`, and the
        places of the lines msgspec refuses."""
        try:  # the usual block: every line is read (in a C loop)
            return list(map(self.decode, lines)), list(range(len(lines))), []
        except Exception:
            pass
        rows: list[Any] = []
        places: list[int] = []
        others: list[int] = []
        decode = self.decode
        for index, raw in enumerate(lines):
            try:
                rows.append(decode(raw))
            except Exception:  # every refusal is the row engine's to word
                others.append(index)
                continue
            places.append(index)
        return rows, places, others

    def assembled(self, lines: list[bytes], first: int, indexes: list[int],
                  batch: tuple[list[int], pa.Array] | None) -> Encoded:
        """The block's decisions and rejections: the row engine's of the lines `indexes`,
        and the batch's lines (`batch`: their indexes and texts) in their places."""
        rejections: list[str] = []
        decided = 0
        own: dict[int, str] = {}
        self.handed_over += len(indexes)
        if self.keys and not self.keyed:
            self.keyed = any(read(lines[index]) is not None for index in indexes
                             for _, read in self.keys)
        for index in indexes:
            done = decide_block(self.decide, self.writer, lines[index] + b"\n",
                                first + index,
                                None if self.counted is None else self.counted.add, False)
            rejections += done.rejections
            decided += done.decided
            if done.text:
                own[index] = done.text
        self.summary = None if self.counted is None else self.counted.state()
        if batch is None:
            text = "".join(own[i] for i in sorted(own)).encode()
            return Encoded(text, rejections, decided, len(rejections))
        places, array = batch
        decided += len(array)
        if own:  # the row engine's lines put in their places
            array = pa.concat_arrays([array, pa.array(list(own.values()), pa.string())])
            order = np.argsort(np.concatenate([np.asarray(places, dtype=np.int64),
                                               np.fromiter(own, np.int64, len(own))]))
            array = array.take(pa.array(order))
        return Encoded(joined(array), rejections, decided, len(rejections))
