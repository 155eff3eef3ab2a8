"""Decisions as Arrow tables: the columns of a JSON decision, from a columnar module's
result or from the row engine's decisions (see `columns`, which decides the tables).

Money and rates are their JSON strings, sources a list of strings; the strings that
repeat (policy, version, pathway, rule, currency, the text outputs, the documents) are
dictionary-encoded: one copy of each distinct string, an index per row, each distinct
amount's text worked out once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parcours.runtime import Decision, PolicyMeta, format_rate, json_safe

EPOCH = date(1970, 1, 1).toordinal()
# `policy` below: a columns.ColumnarPolicy (its columnar module and its metadata)


# ---- decisions as a table ------------------------------------------------------


# The columns whose values repeat (a policy, a pathway, a rule, a document) are
# dictionary-encoded: one copy of each string, an index per row.
REPEATED = pa.dictionary(pa.int32(), pa.string())


def decision_schema(meta: PolicyMeta) -> pa.Schema:
    """The columns of a decision, in the JSON decision's order.  Outputs written as text
    (money, rates, decimals, members, dates) take few distinct values: dictionary-encoded
    too."""
    kinds = {"int": pa.int64(), "bool": pa.bool_()}
    fields = [pa.field("id", pa.string())]
    fields += [pa.field(name, REPEATED) for name in
               ("policy", "policy_version", "pathway", "rule", "currency")]
    fields += [pa.field(o.name, kinds.get(o.kind, REPEATED)) for o in meta.outputs]
    fields.append(pa.field("sources", pa.list_(REPEATED)))
    return pa.schema(fields)


def decisions_table(meta: PolicyMeta, decisions: Sequence[Decision]) -> pa.Table:
    """Row-engine decisions as a table (their JSON values, column by column)."""
    schema = decision_schema(meta)
    rows = [d.to_dict() for d in decisions]
    return pa.table({f.name: pa.array([r[f.name] for r in rows], f.type) for f in schema},
                    schema=schema)


def _repeat(value: str, n: int) -> pa.Array:
    return _coded(np.zeros(n, dtype=np.int32), [value])


def _coded(indices: Any, values: Sequence[str]) -> pa.Array:
    """A dictionary-encoded string column: `values[indices[row]]` on each row."""
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(indices, dtype=np.int32)),
                                          pa.array(list(values), pa.string()))


def _money_text(minor: Any, decimals: int) -> pa.Array:
    """Integer minor units as the JSON text of the amounts ("27.50"), each distinct
    amount written once (through decimal128), dictionary-encoded."""
    distinct, indices = _distinct(minor)
    pairs = np.empty((len(distinct), 2), dtype=np.int64)
    pairs[:, 0] = distinct
    pairs[:, 1] = distinct >> 63  # the high word of a two's complement 128-bit integer
    amounts = pa.Array.from_buffers(pa.decimal128(18, decimals), len(distinct),
                                    [None, pa.py_buffer(pairs)])
    return pa.DictionaryArray.from_arrays(indices, pc.cast(amounts, pa.string()))


def _distinct(values: Any) -> tuple[Any, pa.Array]:
    """The distinct values (int64, numpy) and each row's index among them (by hashing)."""
    encoded = pa.array(np.ascontiguousarray(values, dtype=np.int64)).dictionary_encode()
    return numpy_of(encoded.dictionary), encoded.indices


def _by_value(values: Any, text: Any) -> pa.Array:
    """Each value's text, computed once per distinct value (a hash, not a sort)."""
    distinct, indices = _distinct(values)
    return pa.DictionaryArray.from_arrays(
        indices, pa.array([text(v) for v in distinct.tolist()], pa.string()))


def columnar_decisions(policy: Any, ids: pa.Array, result: Mapping[str, Any],
                        rows: Any) -> pa.Table:
    """The table of the rows `rows` (indexes, or `slice(None)`: every row, without a
    copy) of a `decide_columns` result."""
    col, meta = policy.columnar, policy.meta
    rule = np.asarray(result["rule"])[rows]
    n = len(rule)
    out: dict[str, pa.Array] = {
        "id": pa.nulls(n, pa.string()) if not len(ids) else
        ids if isinstance(rows, slice) else pc.take(ids, rows),
        "policy": _repeat(meta.id, n), "policy_version": _repeat(meta.version, n),
        "pathway": _coded(rule_pathway(col)[rule], col.PATHWAYS),
        "rule": _coded(rule, col.RULE_NAMES),
        "currency": _repeat(meta.currency, n),
    }
    for spec in col.OUTPUTS:
        out[spec.name] = _output(col, spec, result, rows)
    out["sources"] = _sources(policy, result, rows)
    return pa.table(out, schema=decision_schema(meta))


def _output(col: Any, spec: Any, result: Mapping[str, Any], rows: Any) -> pa.Array:
    """The column of one output: its JSON values (text outputs dictionary-encoded)."""
    values = np.asarray(result[spec.name])[rows]
    if spec.kind == "money":
        return _money_text(values, col.DECIMALS)
    if spec.kind == "rate":
        scale = spec.scale
        return _by_value(values, lambda v: format_rate(Decimal(v).scaleb(-scale)))
    if spec.kind == "decimal":
        exps = np.asarray(result[spec.name + ":exponent"])[rows]
        return _decimal_text(values, exps, spec.scale)
    if spec.kind == "enum":
        return _coded(values, spec.members)
    if spec.kind == "date":
        return _by_value(values, lambda v: date.fromordinal(v + EPOCH).isoformat())
    if spec.kind == "bool":
        return pa.array(values, pa.bool_())
    return pa.array(values, pa.int64())


def _decimal_text(values: Any, exps: Any, scale: int) -> pa.Array:
    """Decimals as the row engine writes them (`format(value, "f")`): each value (an
    integer at `scale`) with the digits of its exponent, worked out once per distinct
    (value, exponent)."""
    pairs = np.stack([np.asarray(values, dtype=np.int64), np.asarray(exps, dtype=np.int64)],
                     axis=1)
    if not len(pairs):
        return pa.array([], REPEATED)
    distinct, inverse = np.unique(pairs, axis=0, return_inverse=True)
    texts = [format(Decimal(value).scaleb(-scale).quantize(Decimal(1).scaleb(exp)), "f")
             for value, exp in distinct.tolist()]
    return _coded(inverse.reshape(-1), texts)


def rule_pathway(col: Any) -> Any:
    """Each rule's pathway, as an index in PATHWAYS."""
    return np.array([col.PATHWAYS.index(p) for p in col.RULE_PATHWAYS], dtype=np.int32)


def _paths(col: Any, result: Mapping[str, Any], rows: Any) -> Any:
    """Each row's path (rule, branches, period) as one integer (mixed radix)."""
    names = ["rule"] + [f"b_{name}" for name in col.BRANCHED] + ["period"]
    key = np.zeros(len(np.asarray(result["rule"])[rows]), dtype=np.int64)
    for name, radix in zip(names, col.RADICES):
        key *= radix
        key += np.asarray(result[name])[rows]
    return key


def _unpacked(col: Any, key: int) -> tuple[int, ...]:
    path = []
    for radix in reversed(col.RADICES):
        key, part = divmod(key, radix)
        path.append(part)
    return tuple(reversed(path))


# Per policy (its metadata, whose id keys it), the texts that depend on a decision's path
# only, by packed path: its documents, and the JSON text around its outputs.
_BY_PATH: dict[int, tuple[PolicyMeta, dict[int, list[str]], dict[int, tuple[str, str]]]] = {}


def _by_path(meta: PolicyMeta) -> tuple[dict[int, list[str]], dict[int, tuple[str, str]]]:
    known = _BY_PATH.get(id(meta))
    if known is None or known[0] is not meta:
        known = _BY_PATH[id(meta)] = (meta, {}, {})
    return known[1], known[2]


def _documents(policy: Any, key: int) -> list[str]:
    """The documents of the decisions of a packed path, each once, in order."""
    cache = _by_path(policy.meta)[0]
    found = cache.get(key)
    if found is None:
        seen: dict[str, None] = {}
        for group in policy.meta.sources_of(_unpacked(policy.columnar, key)):
            seen.update(dict.fromkeys(group))
        cache[key] = found = list(seen)
    return found


def _sources(policy: Any, result: Mapping[str, Any], rows: Any) -> pa.Array:
    """Each decision's documents, from its path, worked out once per distinct path
    (distinct ones by hashing)."""
    encoded = pa.array(_paths(policy.columnar, result, rows)).dictionary_encode()
    lists = [_documents(policy, k) for k in encoded.dictionary.to_pylist()]
    return _lists(lists, numpy_of(encoded.indices))


def _lists(lists: list[list[str]], index: Any) -> pa.Array:
    """The column whose row r holds `lists[index[r]]`, its strings dictionary-encoded: the
    distinct lists as one small list array, taken by each row's index (no string is
    copied per row)."""
    names = list(dict.fromkeys(name for found in lists for name in found))
    number = {name: i for i, name in enumerate(names)}
    offsets = np.zeros(len(lists) + 1, dtype=np.int32)
    np.cumsum([len(found) for found in lists], out=offsets[1:])
    flat = np.array([number[name] for found in lists for name in found], dtype=np.int32)
    distinct = pa.ListArray.from_arrays(pa.array(offsets), _coded(flat, names))
    return distinct.take(pa.array(np.asarray(index, dtype=np.int64)))


def numpy_of(array: pa.Array) -> Any:
    """A primitive array without nulls (booleans, integers) as numpy, read from its
    buffers: pyarrow's `to_numpy` would import pandas (a third of a second) first."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    n, start, kind = len(array), array.offset, array.type
    if array.null_count or not (pa.types.is_boolean(kind) or pa.types.is_integer(kind)):
        return array.to_numpy(zero_copy_only=False)
    data = array.buffers()[1]
    if pa.types.is_boolean(kind):
        if data is None or n == 0:
            return np.zeros(n, dtype=np.bool_)
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        return bits[start:start + n].view(np.bool_)
    dtype = np.dtype(kind.to_pandas_dtype())
    if data is None or n == 0:
        return np.zeros(n, dtype=dtype)
    return np.frombuffer(data, dtype=dtype)[start:start + n]


# ---- decisions as JSON Lines -----------------------------------------------------------


# What encode_basestring escapes, and what json_safe escapes besides (RE2 syntax).
_ESCAPED = r'["\\\x00-\x1f\x{0085}\x{2028}\x{2029}]'


def _json_text(value: object) -> str:
    """A value's JSON text as `decision_json` writes it."""
    return json_safe(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _texts(column: pa.Array) -> pa.Array:
    """Each row's JSON text of one column of a decision table."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        return _texts(column.dictionary).take(column.indices)
    if pa.types.is_boolean(kind):
        return pc.if_else(column, "true", "false")
    if pa.types.is_integer(kind):
        return pc.cast(column, pa.string())
    if pa.types.is_list(kind):  # sources: the items' texts joined, in brackets
        items = _texts(column.values)
        lists = pa.ListArray.from_arrays(column.offsets, items)
        return pc.binary_join_element_wise("[", pc.binary_join(lists, ","), "]", "")
    escaped = pc.match_substring_regex(column, _ESCAPED)
    if pc.any(escaped).as_py():  # a string that JSON escapes: each row as json writes it
        return pa.array([_json_text(v) for v in column.to_pylist()], pa.string())
    quoted = pc.binary_join_element_wise('"', column, '"', "")
    return quoted.fill_null("null") if column.null_count else quoted


def json_lines(policy: Any, ids: pa.Array, result: Mapping[str, Any], rows: Any) -> pa.Array:
    """The decisions of the rows `rows` of a `decide_columns` result (`ids`: the table's
    ids, empty for none) as the row engine writes them (`decision_json`, with its
    newline), as one string array.  What depends on a decision's path only (the text
    from `"policy"` to `"currency"`, and the sources) is written once per path and kept;
    each output's distinct values once per call; the rows' texts are joined by Arrow,
    without a Python string per row."""
    col, meta = policy.columnar, policy.meta
    paths = pa.array(_paths(col, result, rows)).dictionary_encode()
    if not len(paths):
        return pa.array([], pa.string())
    texts = _by_path(meta)[1]
    around = [texts.get(k) or _around(policy, k) for k in paths.dictionary.to_pylist()]
    heads = pa.array([a[0] for a in around], pa.string())
    tails = pa.array([a[1] for a in around], pa.string())
    parts: list[pa.Array | str] = [
        '{"id":', _texts(pa.nulls(len(paths), pa.string()) if not len(ids) else
                         ids if isinstance(rows, slice) else pc.take(ids, rows)),
        heads.take(paths.indices)]
    for spec in col.OUTPUTS:
        parts += ["," + _json_text(spec.name) + ":", _texts(_output(col, spec, result, rows))]
    parts.append(tails.take(paths.indices))
    return pc.binary_join_element_wise(*parts, "")


def table_lines(batch: pa.RecordBatch) -> pa.Array:
    """Each decision of a batch of a decision table as the row engine writes it
    (`decision_json`, with its newline), as one string array: each column's distinct
    texts worked out once, the rows' texts joined by Arrow.  (A string array holds at
    most 2 GiB: batches of `LINES_BATCH` rows.)"""
    if not batch.num_rows:
        return pa.array([], pa.string())
    parts: list[pa.Array | str] = []
    for index, name in enumerate(batch.schema.names):
        parts += [("{" if index == 0 else ",") + _json_text(name) + ":",
                  _texts(batch.column(name))]
    parts.append("}\n")
    return pc.binary_join_element_wise(*parts, "")


LINES_BATCH = 1 << 16  # decisions a `table_lines` call writes


def _around(policy: Any, key: int) -> tuple[str, str]:
    """The text between a decision's id and its first output, and the text after its last
    output, for the decisions of a packed path; kept."""
    col, meta = policy.columnar, policy.meta
    rule = _unpacked(col, key)[0]
    head = {"policy": meta.id, "policy_version": meta.version,
            "pathway": col.PATHWAYS[rule_pathway(col)[rule]], "rule": col.RULE_NAMES[rule],
            "currency": meta.currency}
    found = ("," + _json_text(head)[1:-1],
             ',"sources":' + _json_text(_documents(policy, key)) + "}\n")
    _by_path(meta)[1][key] = found
    return found


def joined(array: pa.Array) -> bytes:
    """The bytes of a string array without nulls, end to end (its data buffer)."""
    if not len(array):
        return b""
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)
    start, end = offsets[array.offset], offsets[array.offset + len(array)]
    data: bytes = array.buffers()[2].slice(start, end - start).to_pybytes()
    return data
