"""Episode validation, read from the IR's inputs: the contract's checks, field by field.

The same checks, in the same order and with the same errors, as a generated module's
`decide` (`backends/python/templates/module.py.jinja`): the `id` first, then the
top-level fields, then each section's fields and unknown fields, then the episode's
unknown fields; an absent field or a section that is not an object is named by
`runtime.missing_field`; then the constraints.  The first problem found is the one
reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from parcours.runtime import (MINOR_UNITS, bad_date, bad_enum, bad_value, field_error, missing_field,
                              money_missing, out_of_range, outside_validity, to_money, to_rate,
                              unknown_field, wrong_currency)

from .. import ir
from ..ir.ops import value_kind
from .meta import InterpretError

_NO_DEFAULT = object()


@dataclass(frozen=True, slots=True)
class Field:
    path: str  # "visit.fee"
    key: str  # "fee"
    kind: str  # "bool" | "int" | "date" | "money" | "rate" | "enum"
    default: object  # _NO_DEFAULT when the field is required
    low: int | None
    high: int | None
    members: frozenset[str]


@dataclass(frozen=True, slots=True)
class Section:
    name: str  # "" for the top level
    fields: tuple[Field, ...]
    keys: frozenset[str]  # every field the section may hold
    required: int  # how many fields have no default


@dataclass(frozen=True, slots=True)
class Shape:
    top: Section
    sections: tuple[Section, ...]
    shape: tuple[tuple[str, frozenset[str]], ...]  # for runtime.missing_field
    valid_from: date
    valid_until: date | None
    policy: str
    currency: str
    decimals: int  # the currency's minor unit
    # A plain amount exact to the currency's unit is taken as written; anything else goes
    # through to_money.
    amount: Callable[[str], object]


def shape_of(program: ir.Program) -> Shape:
    decimals = MINOR_UNITS[program.policy.currency]
    top: list[Field] = []
    grouped: dict[str, list[Field]] = {}
    for item in program.inputs:
        parts = item.path.split(".")
        t = item.type
        field = Field(item.path, parts[-1], value_kind(t),
                      item.default.value if item.default is not None else _NO_DEFAULT,
                      t.low if isinstance(t, ir.IntT) else None,
                      t.high if isinstance(t, ir.IntT) else None,
                      frozenset(t.members) if isinstance(t, ir.EnumT) else frozenset())
        if len(parts) == 1:
            top.append(field)
        else:
            grouped.setdefault(parts[0], []).append(field)
    sections = tuple(_section(name, fields) for name, fields in grouped.items())
    top_keys = frozenset(["id", "currency"] + [f.key for f in top] + [s.name for s in sections])
    top_section = Section("", tuple(top), top_keys,
                          sum(f.default is _NO_DEFAULT for f in top) + len(sections))
    return Shape(top_section, sections,
                 (("", top_keys),) + tuple((s.name, s.keys) for s in sections),
                 program.policy.valid_from, program.policy.valid_until, program.policy.id,
                 program.policy.currency, decimals,
                 re.compile(r"[0-9]{1,9}" + (rf"(?:\.[0-9]{{1,{decimals}}})?" if decimals else "")
                            ).fullmatch)


def _section(name: str, fields: list[Field]) -> Section:
    return Section(name, tuple(fields), frozenset(f.key for f in fields),
                   sum(f.default is _NO_DEFAULT for f in fields))


def validate(shape: Shape, episode: Mapping[str, object]) -> tuple[object, dict[str, object]]:
    """The episode's id and its inputs by path; raises EpisodeError for a bad episode."""
    episode_id = episode.get("id")
    if episode_id is not None and type(episode_id) is not str:
        raise bad_value(None, "id", episode_id, "str")
    values: dict[str, object] = {}
    try:
        top = shape.top
        for field in top.fields:
            values[field.path] = _read(shape, field, episode, top, episode_id)
        for section in shape.sections:
            owner: Any = episode[section.name]
            for field in section.fields:
                values[field.path] = _read(shape, field, owner, section, episode_id)
            if len(owner) != section.required + _present(section, owner):
                raise unknown_field(episode_id, owner, section.keys, section.name + ".")
        expected = top.required + ("id" in episode) + _present(top, episode)
        if len(episode) != expected:
            # An episode may state its currency: then it must be the policy's.
            if "currency" not in episode or len(episode) != expected + 1:
                raise unknown_field(episode_id, episode, top.keys, "")
            error = wrong_currency(episode_id, episode, shape.policy, shape.currency)
            if error is not None:
                raise error
    except (KeyError, TypeError, AttributeError) as missing:
        # A field is absent, or a section is not an object: find which, and say so.
        raise missing_field(episode_id, episode, shape.shape, missing) from None
    return episode_id, values


def _present(section: Section, owner: Any) -> int:
    """How many of the section's optional fields the episode gives."""
    return sum(f.key in owner for f in section.fields if f.default is not _NO_DEFAULT)


def _read(shape: Shape, f: Field, owner: Any, section: Section, episode_id: object) -> object:
    """One field's value, checked against its type (raises EpisodeError or a lookup error)."""
    value = owner[f.key] if f.default is _NO_DEFAULT else owner.get(f.key, f.default)
    prefix = section.name + "." if section.name else ""
    if f.kind == "id":
        value = owner.get(f.key)
        if value is not None and (type(value) is not str or not value
                                  or len(value) > ir.ID_MAX_LENGTH):
            raise field_error(episode_id, owner, section.keys, prefix,
                              bad_value(episode_id, f.path, value, "id"))
        return value
    if f.kind == "money":
        if type(value) is str and shape.amount(value) is not None:
            return Decimal(value)
        if value is None:
            money_missing(episode_id, owner, section.keys, prefix, f.path)
        return to_money(value, episode_id, f.path, shape.decimals, shape.currency)
    if f.kind == "date":
        if type(value) is not str or len(value) != 10 or value[7] != "-":
            raise field_error(episode_id, owner, section.keys, prefix,
                              bad_date(episode_id, f.path, value))
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise field_error(episode_id, owner, section.keys, prefix,
                              bad_date(episode_id, f.path, value)) from None
        if f.path == "date" and (day < shape.valid_from or (
                shape.valid_until is not None and day > shape.valid_until)):
            raise outside_validity(episode_id, day, shape.valid_from, shape.valid_until)
        return day
    if f.kind == "enum":
        if type(value) is not str or value not in f.members:
            raise field_error(episode_id, owner, section.keys, prefix,
                              bad_enum(episode_id, f.path, value, f.members))
        return value
    if f.kind == "bool":
        if value is not True and value is not False:
            raise field_error(episode_id, owner, section.keys, prefix,
                              bad_value(episode_id, f.path, value, "bool"))
        return value
    if f.kind == "int":
        if type(value) is not int:
            raise field_error(episode_id, owner, section.keys, prefix,
                              bad_value(episode_id, f.path, value, "int"))
        if (f.low is not None and value < f.low) or (f.high is not None and value > f.high):
            raise out_of_range(episode_id, f.path, value, f.low, f.high)
        return value
    if f.kind == "rate":
        return to_rate(value, episode_id, f.path)
    raise InterpretError(f"no validation for a {f.kind} field")  # pragma: no cover
