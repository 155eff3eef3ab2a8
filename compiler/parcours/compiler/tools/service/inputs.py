"""An episode's JSON schema from a policy's IR: each declared input with its type, default
and note (used when the service is given a `.parcours` source; a precompiled module only
gives the field names, see `openapi.episode_schema_of_module`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import assert_never

from ...ir import nodes as n

AMOUNT = r"^[0-9]+(\.[0-9]+)?$"


def type_schema(type_: n.Type) -> dict[str, object]:
    match type_:
        case n.BoolT():
            return {"type": "boolean"}
        case n.IntT(low=low, high=high):
            out: dict[str, object] = {"type": "integer"}
            if low is not None:
                out["minimum"] = low
            if high is not None:
                out["maximum"] = high
            return out
        case n.DateT():
            return {"type": "string", "format": "date"}
        case n.MoneyT(currency=currency):
            return {"type": ["string", "number"], "pattern": AMOUNT,
                    "description": f"an amount in {currency} (a decimal string keeps it exact)"}
        case n.RateT() | n.DecimalT():
            return {"type": ["string", "number"], "pattern": AMOUNT}
        case n.IdT():
            return {"type": "string", "minLength": 1, "maxLength": n.ID_MAX_LENGTH}
        case n.EnumT(members=members):
            return {"enum": list(members)}
        case n.SetT(enum=enum):
            return {"type": "array", "items": {"enum": list(enum.members)}, "uniqueItems": True}
        case _:
            assert_never(type_)


def _json_value(value: n.Value) -> object:
    if isinstance(value, (Decimal, date)):
        return str(value)
    if isinstance(value, frozenset):
        return sorted(value)
    return value


def episode_schema(program: n.Program) -> dict[str, object]:
    """The JSON schema of an episode `program` decides: its inputs, nested by section
    (`patient.age` is `age` in the object `patient`), with `id` and `currency`."""
    root: dict[str, object] = {
        "id": {"type": ["string", "integer"], "description": "the episode's id, echoed"},
        "currency": {"const": program.policy.currency,
                     "description": "optional: when given, the policy's currency"},
    }
    required: dict[str, list[str]] = {"": []}
    sections: dict[str, dict[str, object]] = {}
    for item in program.inputs:
        schema = type_schema(item.type)
        notes = "; ".join(text for kind, text in item.notes.remarks if kind == "note")
        if notes:
            schema["description"] = notes
        if item.default is not None:
            schema["default"] = _json_value(item.default.value)
        section, _, name = item.path.rpartition(".")
        target = root if not section else sections.setdefault(section, {})
        target[name] = schema
        if item.default is None:
            required.setdefault(section, []).append(name)
    for section, properties in sections.items():
        root[section] = {"type": "object", "additionalProperties": False,
                         "properties": properties, "required": required.get(section, [])}
        if required.get(section):
            required[""].append(section)
    return {"type": "object", "additionalProperties": False, "properties": root,
            "required": required[""]}
