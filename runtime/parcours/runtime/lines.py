"""JSON Lines in and out, safe against whatever a line holds.

In: each line is decoded on its own, as bytes → strict UTF-8 → strict JSON, so that a
bad line costs only itself.  One `json.JSONDecoder` per stream: decimals stay exact
(`parse_float`), a number written with an exponent stays text (`json_number`), the
`NaN` and `Infinity` literals are refused, and so is an object that names a field
twice, at any depth (`duplicate field patient.age`).

Out: `json_safe` escapes what `json.dumps(ensure_ascii=False)` leaves raw but a line of
UTF-8 cannot hold or a line splitter would break on (lone surrogates, U+0085, U+2028,
U+2029), so that every record is one line of valid UTF-8.

Fast path: when msgspec is installed (the `fast` extra), each line is first decoded by
its C decoder, which checks UTF-8 and JSON syntax and refuses `NaN`; its result is
taken only when it is an object whose keys are as many as the line's colons (so that
no field was named twice, and no string holds a colon).  A line without `[` holds no
list, and its keys are counted in the object and the objects it holds only
(`fast_keys`: an episode's sections), which is never more than the keys at every
depth, themselves never more than the colons, so equal counts mean no key was left
uncounted; a line with `[` has its keys counted at every depth, with no deeper nesting
than `FAST_DEPTH`.  Any other line, good or bad, goes through the standard library
path above, which alone writes error messages: both paths give the same episodes and
the same errors (docs/performance.md).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping

from .episode import episode_id
from .errors import EpisodeError, shown
from .money import json_number

BOM = "\ufeff"
_JSON_SPACE = " \t\r\n"
FAST_DEPTH = 32  # deeper objects and lists go through the standard library path


class Unreadable(EpisodeError):
    """A line that is not UTF-8, not JSON, or not a JSON object: no episode at all."""

    def __init__(self, message: str) -> None:
        super().__init__(None, "", message)


class _Duplicate(ValueError):
    """Raised by the strict object hook; the slow path then finds where."""


def lines_in(block: bytes) -> int:
    """How many lines a block of whole lines holds (its last may lack its newline)."""
    return block.count(b"\n") + (not block.endswith(b"\n"))


def _strict_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Duplicate
    return result


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not allowed")


def fast_decoder() -> Callable[[bytes | str], object] | None:
    """msgspec's JSON decoder with exact decimals; None when msgspec is not installed or
    the environment sets `PARCOURS_STDLIB_JSON` (the standard library path alone)."""
    if os.environ.get("PARCOURS_STDLIB_JSON"):
        return None
    try:
        from msgspec.json import Decoder
    except ImportError:
        return None
    return Decoder(float_hook=json_number).decode


def _keys(node: dict[str, object] | list[object], depth: int) -> int:
    """How many keys `node` and everything in it hold; -1 when nested too deeply."""
    if type(node) is dict:
        count, values = len(node), node.values()
    else:
        count, values = 0, node  # type: ignore[assignment]
    for value in values:
        if type(value) is dict or type(value) is list:
            if depth >= FAST_DEPTH:
                return -1
            inner = _keys(value, depth + 1)
            if inner < 0:
                return -1
            count += inner
    return count


def fast_keys(value: dict[str, object], line: bytes | str) -> int:
    """The keys of `value`, decoded from `line`, to compare with the line's colons: counted
    in `value` and the objects it holds when the line has no `[` (no list, so any deeper
    object either has no key or makes the count fall short of the colons); else at every
    depth (`_keys`), -1 when nested too deeply."""
    if line.find(b"[" if type(line) is bytes else "[") >= 0:  # type: ignore[arg-type]
        return _keys(value, 0)
    count = len(value)
    for inner in value.values():
        if type(inner) is dict:
            count += len(inner)
    return count


def decoder() -> Callable[[str], object]:
    """A strict JSON decoder for one line (one per stream; it holds no state)."""
    return json.JSONDecoder(parse_float=json_number, parse_constant=_no_constant,
                            object_pairs_hook=_strict_object).decode


class _Marked(dict[str, object]):
    """An object that named a field twice (the slow path's hook builds one)."""

    duplicate: str = ""


def _mark_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    seen: set[str] = set()
    marked = _Marked(result)
    for key, _ in pairs:
        if key in seen:
            marked.duplicate = key
            break
        seen.add(key)
    return marked


def _duplicate_error(line: str) -> EpisodeError:
    """The error for a line whose JSON names a field twice: which field, by its path."""
    value = json.JSONDecoder(parse_float=json_number, parse_constant=_no_constant,
                             object_pairs_hook=_mark_object).decode(line)
    stack: list[tuple[object, str]] = [(value, "")]
    while stack:  # depth first, in document order, without recursion
        node, path = stack.pop()
        if isinstance(node, _Marked):
            name = f"{path}.{shown(node.duplicate)}" if path else shown(node.duplicate)
            ident = None if name == "id" else episode_id(value)
            return EpisodeError(ident, "", f"duplicate field {name}")
        if isinstance(node, dict):
            children = [(v, f"{path}.{shown(k)}" if path else shown(k)) for k, v in node.items()]
        elif isinstance(node, list):
            children = [(v, f"{path}[{i}]") for i, v in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))
    return EpisodeError(None, "", "duplicate field")  # not reached: the hook found one


def _json_error(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "not valid JSON (nested too deeply)"
    if isinstance(exc, json.JSONDecodeError):
        where = f"line {exc.lineno} column {exc.colno}" if exc.lineno > 1 else f"column {exc.colno}"
        return f"not valid JSON ({exc.msg} at {where})"
    text = str(exc)
    if "integer string conversion" in text:
        return "not valid JSON (a number with too many digits)"
    return f"not valid JSON ({shown(text.split(':')[0])})"


def parse_line(line: str, decode: Callable[[str], object]) -> Mapping[str, object] | EpisodeError:
    """One line of JSON text as an episode object, or the error that rejects it."""
    try:
        value = decode(line)
    except _Duplicate:
        try:
            return _duplicate_error(line)
        except (ValueError, RecursionError) as exc:  # a duplicate, then worse further on
            return Unreadable(_json_error(exc))
    except (ValueError, RecursionError) as exc:
        return Unreadable(_json_error(exc))
    if not isinstance(value, dict):
        return Unreadable("an episode is a JSON object")
    return value


def not_utf8(raw: bytes, exc: UnicodeDecodeError) -> str:
    return f"not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"


def read_episodes(lines: Iterable[bytes | str], fast: bool = True, first: int = 1
                  ) -> Iterator[tuple[int, Mapping[str, object] | EpisodeError]]:
    """(line number, episode or error) for each non-blank line; decimals stay exact.

    Lines may be bytes (decoded here, strictly, one by one) or text.  A UTF-8 byte
    order mark at the start of the first line is skipped; anywhere else it is an error.
    With `fast` (and msgspec installed), lines are first tried on the C decoder (see
    the module's docstring); the results are the same either way.  `first` numbers the
    first line (a block of a longer input).
    """
    return _read(lines, first, fast_decoder() if fast else None)


def _read(lines: Iterable[bytes | str], first: int, fast: Callable[[bytes | str], object] | None
          ) -> Iterator[tuple[int, Mapping[str, object] | EpisodeError]]:
    decode = decoder()
    for number, raw in enumerate(lines, first):
        if fast is not None:
            body = raw
            if number == 1:  # skip a byte order mark (the slow path words errors on `raw`)
                if type(body) is bytes:
                    if body.startswith(b"\xef\xbb\xbf"):
                        body = body[3:]
                elif body.startswith(BOM):  # type: ignore[arg-type]
                    body = body[1:]
            try:
                value = fast(body)
            except Exception:  # every refusal, whatever its kind, is the slow path's to word
                value = None
            if type(value) is dict and fast_keys(value, body) == (
                    body.count(b":") if type(body) is bytes else body.count(":")):  # type: ignore[arg-type]
                yield number, value
                continue
        if type(raw) is bytes:
            try:
                line = raw.decode()
            except UnicodeDecodeError as exc:
                yield number, Unreadable(not_utf8(raw, exc))
                continue
        else:
            line = str(raw)
        if number == 1 and line.startswith(BOM):
            line = line[1:]
        if not line or line.isspace() and not line.strip(_JSON_SPACE):
            continue
        yield number, parse_line(line, decode)


def parse_episode(text: bytes | str) -> Mapping[str, object] | EpisodeError:
    """One episode given whole (`parcours explain --episode`), with the batch's rules."""
    if isinstance(text, bytes):
        raw = text
        try:
            text = raw.decode()
        except UnicodeDecodeError as exc:
            return Unreadable(not_utf8(raw, exc))
    if text.startswith(BOM):
        text = text[1:]
    return parse_line(text, decoder())


# What json.dumps(ensure_ascii=False) writes raw but one line of UTF-8 cannot hold.
_UNSAFE_JSON = re.compile("[\x85\u2028\u2029\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_safe(text: str) -> str:
    """JSON text with lone surrogates, U+0085, U+2028 and U+2029 written as \\uXXXX."""
    if text.isascii():
        return text
    return _UNSAFE_JSON.sub(_escape, text)
