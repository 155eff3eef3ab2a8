"""Parameters and what-if overrides (`NAME=VALUE`, `TABLE[KEY]=VALUE`; `--set` on the command line)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from .errors import OverrideError, shown
from .money import CENT, MAX_AMOUNT, format_money, parse_decimal, unit_of
from .record import Frozen


_INT_TEXT = re.compile(r"-?[0-9]+").fullmatch
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}").fullmatch


class ParamSpec(Frozen):
    """A parameter or table a what-if run may override."""

    __slots__ = ("name", "kind", "field", "dated", "keys", "members", "low", "high", "decimals")
    name: str
    kind: str  # "bool" | "int" | "date" | "money" | "rate" | "decimal" | "enum"
    field: str  # the attribute of the generated Parameters class
    dated: bool  # stored per period (a tuple indexed by period)
    keys: tuple[str, ...]  # a table: its keys
    members: tuple[str, ...]  # an enum value: its members
    low: int | None
    high: int | None
    decimals: int  # money: the currency's minor unit (2 unless given)

    def __init__(self, name: str, kind: str, field: str, dated: bool,
                 keys: tuple[str, ...] = (), members: tuple[str, ...] = (),
                 low: int | None = None, high: int | None = None, decimals: int = 2) -> None:
        self._fill(name, kind, field, dated, keys, members, low, high, decimals)


class HasOverrides(Protocol):
    @property
    def overrides(self) -> tuple[tuple[str, str], ...]: ...


P = TypeVar("P", bound=HasOverrides)


def parse_value(spec: ParamSpec, text: str) -> object:
    """The override's text as a value of the parameter's type, or an OverrideError."""
    given = f"{spec.name}={shown(text)}"
    if spec.kind == "bool":
        if text.lower() in ("true", "yes", "1", "on"):
            return True
        if text.lower() in ("false", "no", "0", "off"):
            return False
        raise OverrideError(given, f"{spec.name} is true or false")
    if spec.kind == "int":
        if _INT_TEXT(text) is None or len(text) > 100:
            raise OverrideError(given, f"{spec.name} is a whole number")
        value = int(text)
        if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
            raise OverrideError(given, f"{spec.name} is within {spec.low}..{spec.high}")
        return value
    if spec.kind == "date":
        try:
            if _DATE_TEXT(text) is None:
                raise ValueError(text)
            return date.fromisoformat(text)
        except ValueError:
            raise OverrideError(given, f"{spec.name} is a date YYYY-MM-DD") from None
    if spec.kind == "enum":
        if text not in spec.members:
            raise OverrideError(given, f"{spec.name} is one of " + ", ".join(spec.members))
        return text
    amount_text = text.split()[0] if spec.kind == "money" and text.split() else text
    number = parse_decimal(amount_text)
    if spec.kind == "decimal":
        if number is None or number < 0 or number >= MAX_AMOUNT:
            raise OverrideError(given, f"{spec.name} is a decimal number, e.g. 1.5")
        return number.copy_abs()
    if spec.kind == "rate":
        if number is None or not 0 <= number <= 1:
            raise OverrideError(given, f"{spec.name} is a rate between 0 and 1, e.g. 0.70")
        return number.copy_abs()  # "-0" is zero
    unit = CENT if spec.decimals == 2 else unit_of(spec.decimals)
    if number is None or number < 0 or number >= MAX_AMOUNT or number.quantize(unit) != number:
        example = format_money(Decimal(25), spec.decimals)
        raise OverrideError(given, f"{spec.name} is an amount exact to the currency's unit "
                            f"({unit}), e.g. {example}")
    return number.quantize(unit).copy_abs()


# A table keyed by several values (`table t: (specialty, sector) -> rate`) or by a bool
# holds one entry per combination, under a key that joins the parts' spellings with this
# separator (`"general_practice\x1f1"`); an enum member is printable, so never holds it.
KEY_SEPARATOR = "\x1f"


def key_text(key: str) -> str:
    """A table key as a policy writes it: `general_practice` or `(general_practice, 1)`."""
    return "(" + ", ".join(key.split(KEY_SEPARATOR)) + ")" if KEY_SEPARATOR in key else key


def split_name(name: str) -> tuple[str, str | None]:
    if name.endswith("]") and "[" in name:
        base, key = name[:-1].split("[", 1)
        parts = _key_parts(key.strip())
        if len(parts) > 1:  # `t[general_practice, "1"]`: one entry of a table keyed by several
            return base.strip(), KEY_SEPARATOR.join(parts)
        return base.strip(), key.strip().strip('"')
    return name.strip(), None


def _key_parts(key: str) -> list[str]:
    """`general_practice, "1"` or `(general_practice, 1)` as its parts, unquoted; a comma
    inside quotes belongs to its part."""
    if key.startswith("(") and key.endswith(")"):
        key = key[1:-1]
    parts, current, quoted = [], "", False
    for char in key:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append(current.strip())
            current = ""
            continue
        current += char
    parts.append(current.strip())
    return [part.strip('"') for part in parts]


def apply_overrides(defaults: P, specs: tuple[ParamSpec, ...], periods: int,
                    overrides: Mapping[str, str]) -> P:
    """A copy of `defaults` with each override applied to every period it covers."""
    by_name = {spec.name: spec for spec in specs}
    changes: dict[str, Any] = {}
    for raw_name, text in overrides.items():
        name, key = split_name(raw_name)
        spec = by_name.get(name)
        if spec is None:
            import difflib  # here: only a misspelt name needs it (start-up)

            close = difflib.get_close_matches(name, sorted(by_name), n=1) if len(name) <= 100 \
                else []
            hint = f" (did you mean {close[0]}?)" if close else ""
            known = ", ".join(sorted(by_name)) or "none"
            raise OverrideError(shown(raw_name), f"no parameter named {shown(name)}{hint}; "
                                                 f"parameters: {known}")
        value = parse_value(spec, text.strip())
        if spec.keys:
            table = dict(changes.get(spec.field, getattr(defaults, spec.field)))
            if key is None:
                chosen = spec.keys
            elif key in spec.keys:
                chosen = (key,)
            else:
                raise OverrideError(shown(raw_name), f"{shown(key_text(key))} is not a key of "
                                                     f"{name}; keys: "
                                                     + ", ".join(map(key_text, spec.keys)))
            for k in chosen:
                table[k] = (value,) * periods
            changes[spec.field] = table
        elif key is not None:
            raise OverrideError(shown(raw_name), f"{name} is not a table")
        else:
            changes[spec.field] = (value,) * periods if spec.dated else value
    record = tuple(defaults.overrides) + tuple((k, v.strip()) for k, v in overrides.items())
    # A copy with the changes: every field of the class (its `__slots__`, the generated
    # module's `Parameters` and the interpreter's alike), as given to its `__init__`.
    names: tuple[str, ...] = getattr(type(defaults), "__slots__")
    fields = {name: getattr(defaults, name) for name in names}
    fields.update(changes)
    fields["overrides"] = record
    make: Callable[..., P] = type(defaults)
    return make(**fields)
