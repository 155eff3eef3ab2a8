"""JSON Lines in and out, safe against whatever a line holds.

In: each line is decoded on its own, as bytes → strict UTF-8 → strict JSON, so that a
bad line costs only itself.  One `json.JSONDecoder` per stream: decimals stay exact
(`parse_float`), a number written with an exponent stays text (`json_number`), the
`NaN` and `Infinity` literals are refused, and so is an object that names a field
twice, at any depth (`duplicate field patient.age`).

Out: `json_safe` escapes what `json.dumps(ensure_ascii=False)` leaves raw but a line of
UTF-8 cannot hold or a line splitter would break on (lone surrogates, U+0085, U+2028,
U+2029), so that every record is one line of valid UTF-8.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping

from .episode import episode_id
from .errors import EpisodeError, shown
from .money import json_number

BOM = "\ufeff"
_JSON_SPACE = " \t\r\n"


class Unreadable(EpisodeError):
    """A line that is not UTF-8, not JSON, or not a JSON object: no episode at all."""

    def __init__(self, message: str) -> None:
        super().__init__(None, "", message)


class _Duplicate(ValueError):
    """Raised by the strict object hook; the slow path then finds where."""


def _strict_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Duplicate
    return result


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not allowed")


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


def read_episodes(lines: Iterable[bytes | str]
                  ) -> Iterator[tuple[int, Mapping[str, object] | EpisodeError]]:
    """(line number, episode or error) for each non-blank line; decimals stay exact.

    Lines may be bytes (decoded here, strictly, one by one) or text.  A UTF-8 byte
    order mark at the start of the first line is skipped; anywhere else it is an error.
    """
    decode = decoder()
    for number, raw in enumerate(lines, 1):
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
