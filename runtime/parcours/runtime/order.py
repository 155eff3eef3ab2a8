"""The order a run with accumulators applies its lines in, and where each key's ledger is.

- :func:`sorted_lines` puts a stream of JSON lines in the order a ledger needs (the date,
  then the episode's id, then the line's text) with bounded memory: runs of at most
  `buffer` lines are sorted in memory, spilled to temporary files and merged.  So the same
  episodes give the same decisions whatever order their lines come in.
- :func:`in_key_order` says when no sort is needed: each key's episodes already come in
  (date, id) order (a population written person by person, an export by patient), so
  deciding the lines as they come gives the same decisions.
- :func:`ledger_lines` reads an input once to tell, then gives its lines in that order.
- :class:`InputOrder` puts decisions made in the ledger's order back in the input's.
- :func:`key_reader` and :func:`key_owner`: a line's key, and which of N processes holds
  its ledger (a run split across processes by key).
"""

from __future__ import annotations

import heapq
import io
import json
import os
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from .ledger import DEFAULT_BUFFER, AccumulatorSpec, Slot
from .lines import lines_in


# A line that starts with its id and date, as written by `parcours population` and most
# exports: read without decoding the whole line (a top-level key: the object's first two)
_HEAD = re.compile(rb'\{"id":"([^"\\]*)","date":"([0-9]{4}-[0-9]{2}-[0-9]{2})"').match
_HEAD_START = b'{"id":"'  # how each line of a block settled at once starts (`KeyOrder.block`)


def sort_key(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """(date, episode id, the line), as UTF-8: a total order that does not depend on the
    input's (a line that is not an object with a date sorts first)."""
    head = _HEAD(raw)
    if head is not None:
        return (head.group(2), head.group(1), raw)
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return (b"", b"", raw)
    if not isinstance(value, dict):
        return (b"", b"", raw)
    day, ident = value.get("date"), value.get("id")
    return (day.encode("utf-8", "surrogatepass") if type(day) is str else b"",
            ident.encode("utf-8", "surrogatepass") if type(ident) is str else b"", raw)


Record = tuple[bytes, bytes, bytes, int]  # (date, id, line, line number)


class _QuickValue:
    """The string value at `path` (`section.field`) of a line with no backslash (so no
    quote inside a string: every `"` delimits one): b"" when the line surely has none,
    None when this quick look cannot tell (the caller decodes the line)."""

    def __init__(self, path: str) -> None:
        section, _, name = path.rpartition(".")
        self.token = b'"' + section.encode() + b'"' if section else b""
        self.opening = self.token + b":{"
        self.name = b'"' + name.encode() + b'"'
        self.search = re.compile(b'[{,]' + re.escape(self.name) + b':"([^"]*)"').search

    def __call__(self, raw: bytes) -> bytes | None:
        body = raw
        if self.token:
            start = raw.find(self.opening)
            if start < 0:
                return b"" if self.token not in raw else None
            end = raw.find(b"}", start)
            body = raw[start + len(self.opening) - 1:end]
            if end < 0 or b"{" in body[1:] or raw.count(self.token) > 1:
                return None
        found = self.search(body)
        if found is not None:
            return found.group(1)
        return b"" if self.name not in body else None


def _usual_line(keys: tuple[str, ...]) -> tuple[Callable[[bytes], re.Match[bytes] | None] | None,
                                                Callable[[bytes], bool]]:
    """Two quick looks at the usual line when the key is one field of a section (`patient.id`):
    a match of `{"id":"…","date":"…","patient":{"id":"…",` (groups: id, date, key), and
    whether a line surely has no key: no backslash (so no quote inside a string, and every
    `"id":` is a field name), the id and date first, and no other field of the key's name."""
    if len(keys) != 1 or "." not in keys[0]:
        return None, lambda raw: False
    section, field_name = keys[0].split(".", 1)
    if "." in field_name:
        return None, lambda raw: False
    name = re.escape(field_name.encode())
    fast = re.compile(rb'\{"id":"([^"\\]*)","date":"([0-9]{4}-[0-9]{2}-[0-9]{2})","'
                      + re.escape(section.encode()) + rb'":\{"' + name
                      + rb'":"([^"\\]+)"').match
    token, expected = _field_token(field_name)

    def keyless(raw: bytes) -> bool:
        return raw.count(token) == expected and b"\\" not in raw and _HEAD(raw) is not None
    return fast, keyless


def _field_token(name: str) -> tuple[bytes, int]:
    """`"name":` of the key's field, and how many times the usual line's head holds it
    (once when the field is the head's own `id` or `date`)."""
    return b'"' + name.encode() + b'":', 1 if name in ("id", "date") else 0


def key_reader(keys: tuple[str, ...]) -> Callable[[bytes], bytes | None]:
    """The key of a JSON line (bytes): its values as UTF-8 joined by NUL, or None when a part
    is absent (or the line is not an object).  The usual line is read without decoding it
    (`_usual_line`), any other is decoded: the same key as the ledger reads from the episode."""
    fast, keyless = _usual_line(keys)
    spec = AccumulatorSpec("", "", keys, "", "", ())

    def read(raw: bytes) -> bytes | None:
        if fast is not None:
            line = fast(raw)
            if line is not None:
                return line.group(3)
            if keyless(raw):
                return None
        value = _decoded(raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw)
        key = spec.key_of(value) if value is not None else None
        return None if key is None else "\x00".join(key).encode("utf-8", "surrogatepass")
    return read


def key_owner(key: bytes, jobs: int) -> int:
    """Which of `jobs` workers holds a key's ledger: a hash of its bytes that is the same in
    every process and every run (never Python's `hash`, randomized per process)."""
    return zlib.crc32(key) % jobs


def slot_owner(slot: Slot, jobs: int) -> int:
    """`key_owner` of a slot's key (as `key_reader` reads it from a line)."""
    return key_owner("\x00".join(slot[1]).encode("utf-8", "surrogatepass"), jobs)


def in_key_order(lines: Iterable[bytes], specs: tuple[AccumulatorSpec, ...],
                 keyed: list[bool] | None = None) -> bool:
    """Whether, for every accumulator, each key's episodes already come in (date, id)
    order, strictly: then deciding the lines as they come gives the decisions of the sorted
    order, with no sort.  Reads every line (a quick look at each: its date, id and keys
    without decoding it when it has no backslash, else decoded); memory: one entry per key.
    `keyed`, when given, becomes `[True]` as soon as a line has a key (`[False]` when none
    has: then the ledger neither reads nor records anything in the whole run).

    An episode whose date or id cannot be read this way is taken as out of order (the run
    is then sorted); an episode that breaks the contract is rejected either way and adds
    nothing to any total."""
    order = KeyOrder(specs)
    result = order.lines(lines)
    if keyed is not None:
        keyed[:] = [order.keyed]
    return result


class KeyOrder:
    """`in_key_order` a block or a line at a time: `block` and `lines` say whether the
    lines so far still come in key order; `keyed` whether any of them has a key."""

    def __init__(self, specs: tuple[AccumulatorSpec, ...]) -> None:
        self.specs = specs
        self.last: dict[object, tuple[Any, ...]] = {}  # by key: the last (date, id)
        self.quick = [[_QuickValue(path) for path in spec.keys] for spec in specs]
        self.keyed = False
        self.number = 0  # lines read so far
        # the usual line of one accumulator keyed by one field, its section right after the
        # date and the field first in it: `{"id":"…","date":"…","patient":{"id":"…",`
        self.fast: Callable[[bytes], re.Match[bytes] | None] | None = None
        self.keyless: Callable[[bytes], bool] | None = None
        if len(specs) == 1:
            self.fast, self.keyless = _usual_line(specs[0].keys)
        if self.fast is not None:
            self.token, self.expected = _field_token(specs[0].keys[0].split(".", 1)[1])

    def block(self, block: bytes, count: int) -> bool:
        """A block of whole lines (`count` of them): at once when none of them can have a
        key (no backslash, each line starting with its id, no other field of the key's name;
        see `_usual_line`), else line by line."""
        if self.fast is not None and self.number > 0:  # (the first line may have a BOM)
            if b"\\" not in block and block.count(self.token) == self.expected * count and \
                    block.startswith(_HEAD_START) and block.count(b"\n" + _HEAD_START) == \
                    count - 1:  # every line starts with its id (so no other "id": is a key's)
                self.number += count
                return True
        return self.lines(block.splitlines(keepends=True) if b"\r" not in block
                          else list(_lines_of(block)))

    def lines(self, lines: Iterable[bytes]) -> bool:
        last, fast, keyless, slow = self.last, self.fast, self.keyless, self._line
        number, keyed = self.number, self.keyed
        try:
            for number, raw in enumerate(lines, number + 1):
                if fast is not None:
                    line = fast(raw)
                    if line is not None:
                        keyed = True
                        order, key = line.group(2, 1), line.group(3)
                        previous = last.get(key)
                        if previous is not None and order <= previous:
                            return False
                        last[key] = order
                        continue
                    if keyless is not None and keyless(raw):
                        continue
                seen = slow(number, raw, keyed)
                if seen is None:
                    keyed = True  # a key out of order
                    return False
                keyed = seen
            return True
        finally:
            self.number, self.keyed = number, keyed

    def _line(self, number: int, raw: bytes, keyed: bool) -> bool | None:
        """A line other than the usual one: whether a line has been seen with a key so far,
        or None when this one's key is out of order."""
        last = self.last
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            return keyed
        head = _HEAD(raw)
        encoded: list[bytes | None] | None = None
        if head is not None and b"\\" not in raw:
            order = (head.group(2), head.group(1))
            encoded = []
            for readers in self.quick:
                parts = [read(raw) for read in readers]
                if any(p is None for p in parts):
                    encoded = None  # not found this way: decode the line
                    break
                encoded.append(None if not all(parts)
                               else b"\x00".join(p for p in parts if p is not None))
        if encoded is None:
            value = _decoded(raw)
            if value is None:
                return keyed  # not an object: rejected, adds nothing
            day, ident = value.get("date"), value.get("id")
            if type(day) is not str or type(ident) is not str:
                return None
            order = (day.encode("utf-8", "surrogatepass"), ident.encode("utf-8", "surrogatepass"))
            keys = [spec.key_of(value) for spec in self.specs]
            encoded = [None if k is None else "\x00".join(k).encode("utf-8", "surrogatepass")
                       for k in keys]
        for index, key in enumerate(encoded):
            if key is None:
                continue
            keyed = True
            slot = (index, key) if index else key  # the first accumulator's: the key alone
            previous = last.get(slot)
            if previous is not None and order <= previous:
                return None
            last[slot] = order
        return keyed


def _lines_of(block: bytes) -> Iterator[bytes]:
    """A block's lines as a file gives them (split at "\n" only)."""
    start = 0
    while start < len(block):
        end = block.find(b"\n", start)
        end = len(block) if end < 0 else end + 1
        yield block[start:end]
        start = end


def _decoded(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def sorted_lines(lines: Iterable[bytes], buffer: int = DEFAULT_BUFFER,
                 numbers: list[int] | None = None) -> Iterator[bytes]:
    """`lines` in (date, id, text) order; at most `buffer` lines in memory at once.

    `numbers`, when given, holds the input line number of the line last yielded (for
    rejections that name the line where the episode was), then, once every line is read,
    how many there are."""
    run: list[Record] = []
    spills: list[IO[bytes]] = []
    try:
        for number, raw in enumerate(lines, 1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            raw = raw.rstrip(b"\r\n")
            run.append((*sort_key(raw), number))
            if len(run) >= buffer:
                spills.append(_spill(run))
                run = []
        if numbers is not None:
            numbers[1:] = [len(run) + buffer * len(spills)]
        run.sort()
        merged: Iterable[Record] = heapq.merge(iter(run), *(_read_spill(f) for f in spills)) \
            if spills else run
        for _, _, raw, number in merged:
            if numbers is not None:
                numbers[0] = number
            yield raw
    finally:
        for f in spills:
            f.close()


def ledger_lines(lines: Iterable[bytes | str], specs: tuple[AccumulatorSpec, ...],
                 buffer: int = DEFAULT_BUFFER, numbers: list[int] | None = None,
                 watch: Callable[[Iterator[bytes]], Iterator[bytes]] | None = None,
                 keyed: list[bool] | None = None, tick: Callable[[int], object] | None = None
                 ) -> tuple[Iterator[bytes], bool]:
    """`lines` in the order ledgers apply them, and whether they had to be sorted.

    A first pass (`two_pass`, seen through `watch`, e.g. a progress count) checks whether
    each key's episodes already come in (date, id) order (`in_key_order`): then the lines
    as they come, else `sorted_lines` (`numbers[0]`: the input line number of the line last
    given).  Either way `numbers[1]` is then how many lines the input holds, and `keyed`
    whether any line has a key (`in_key_order`).

    A binary file (without `watch`) is read in blocks the first time (`KeyOrder.block`,
    `tick(lines)` after each), the usual lines checked a block at a time."""
    if watch is None and isinstance(lines, io.BufferedIOBase):
        blocks, again = two_pass(lines, blocks=True)
        order, in_order, read = KeyOrder(specs), True, 0
        for block in blocks:
            count = lines_in(block)
            read += count
            if tick is not None:
                tick(count)
            in_order = in_order and order.block(block, count)
        if keyed is not None:
            keyed[:] = [order.keyed]
        if numbers is not None:
            numbers[1:] = [read]
        return (again(), False) if in_order else (sorted_lines(again(), buffer, numbers), True)
    first, again = two_pass(lines)
    read = 0

    def counting() -> Iterator[bytes]:
        nonlocal read
        for raw in first if watch is None else watch(first):
            read += 1
            yield raw

    seen = counting()
    in_order = in_key_order(seen, specs, keyed)
    for _ in seen:  # the rest of the first pass
        pass
    if numbers is not None:
        numbers[1:] = [read]
    if in_order:
        return again(), False
    return sorted_lines(again(), buffer, numbers), True


class InputOrder:
    """Decisions made in the ledger's order, written back in the input's: (line number,
    text) pairs, at most `buffer` in memory, the rest spilled to disk and merged."""

    def __init__(self, buffer: int = DEFAULT_BUFFER) -> None:
        self.buffer = buffer
        self.run: list[tuple[int, str]] = []
        self.spills: list[IO[bytes]] = []

    def add(self, number: int, text: str) -> None:
        self.run.append((number, text))
        if len(self.run) >= self.buffer:
            self.spills.append(_spill(self.run))
            self.run = []

    def __iter__(self) -> Iterator[str]:
        self.run.sort()
        try:
            merged: Iterable[tuple[int, str]] = heapq.merge(
                iter(self.run), *(_read_spill(f, pairs=True) for f in self.spills)) if self.spills \
                else self.run
            for _, text in merged:
                yield text
        finally:
            for f in self.spills:
                f.close()


_HEAD_SIZE = struct.Struct("<IIII")  # line number, then the lengths of three byte strings


def _spill(run: list[Any]) -> IO[bytes]:
    """Sort `run` and write it to a temporary file: each record is its line number and
    three byte strings, length-prefixed (a `Record`, or an `InputOrder` pair whose text
    is stored as UTF-8 in the first string)."""
    run.sort()
    import tempfile  # here: a run that never spills does without it (start-up)

    f = tempfile.TemporaryFile(prefix="parcours-sort-", buffering=1 << 16)
    pack, write = _HEAD_SIZE.pack, f.write
    parts: list[bytes] = []
    add = parts.extend
    for record in run:
        if len(record) == 2:  # InputOrder: (number, text)
            number, text = record
            first = text.encode("utf-8", "surrogatepass")
            add((pack(number, len(first), 0, 0), first))
        else:
            first, second, third, number = record
            add((pack(number, len(first), len(second), len(third)), first, second, third))
        if len(parts) >= 4096:  # one write for many records
            write(b"".join(parts))
            parts.clear()
    write(b"".join(parts))
    f.flush()
    f.seek(0, os.SEEK_SET)
    return f


def _read_spill(f: IO[bytes], pairs: bool = False) -> Iterator[Any]:
    """The records `_spill` wrote, in order (`pairs`: InputOrder's (number, text))."""
    size, unpack = _HEAD_SIZE.size, _HEAD_SIZE.unpack
    read = f.read  # a buffered temporary file
    while True:
        head = read(size)
        if len(head) < size:
            return
        number, a, b, c = unpack(head)
        if pairs:
            yield (number, read(a).decode("utf-8", "surrogatepass"))
        else:
            body = read(a + b + c)
            yield (body[:a], body[a:a + b], body[a + b:], number)


FIRST_PASS_BYTES = 1 << 20  # a block of the first pass over a binary file


def two_pass(lines: Iterable[bytes | str], blocks: bool = False
             ) -> tuple[Iterator[bytes], Callable[[], Iterator[bytes]]]:
    """Read `lines` twice: (the first pass, a function that starts the second, by lines).
    A regular file is read again from its start; anything else (standard input, a pipe, a
    list) is copied to a temporary file as the first pass reads it.  The first pass must
    be read to its end before the second starts.  `blocks` (a binary file): the first pass
    gives blocks of whole lines rather than lines."""
    seekable = getattr(lines, "seekable", None)
    handle: Any = lines
    if callable(seekable) and seekable() and hasattr(lines, "seek"):
        start = handle.tell()

        def again() -> Iterator[bytes]:
            handle.seek(start)
            return iter(handle)
        return (_blocks(handle) if blocks else iter(handle)), again
    import tempfile  # here: a file input is read again from its start

    spool = tempfile.TemporaryFile(prefix="parcours-input-", buffering=1 << 16)

    def first() -> Iterator[bytes]:
        write = spool.write
        if blocks:
            for block in _blocks(handle):
                write(block if block.endswith(b"\n") else block + b"\n")
                yield block
            return
        for line in lines:
            raw = line if isinstance(line, bytes) else line.encode("utf-8", "surrogateescape")
            if not raw.endswith(b"\n"):
                raw += b"\n"
            write(raw)
            yield raw

    def replay() -> Iterator[bytes]:
        spool.flush()
        spool.seek(0)
        return spool  # a file: read by lines, or in blocks (closed once dropped)
    return first(), replay


def _blocks(handle: Any) -> Iterator[bytes]:
    """A binary file in blocks of whole lines."""
    read, readline = handle.read, handle.readline
    while block := read(FIRST_PASS_BYTES):
        if not block.endswith(b"\n"):
            block += readline()
        yield block
