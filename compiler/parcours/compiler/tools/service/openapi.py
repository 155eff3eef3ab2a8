"""The service's OpenAPI 3.1 description, generated from each policy's declared shape.

Per policy: the episode it takes (`POLICY_episode`: the JSON schema given with the policy,
typed from its declared inputs when it was served from its `.parcours` source, field names
only for a precompiled module) and the decision it gives (`POLICY_decision`: the pathways
and the declared outputs, each by kind: money and rates as decimal strings, ints, bools,
enum members and dates).  An accumulator's `NAME_used` field is described with how the
service reads it.  Standard library only, like the rest of the service.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from parcours.runtime import AccumulatorSpec, PolicyMeta, specs_of

if TYPE_CHECKING:
    from . import Served

_OUTPUT_SCHEMAS: dict[str, dict[str, object]] = {
    "money": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
              "description": "an amount in the policy's currency, as a decimal string"},
    "rate": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
             "description": "a rate, as a decimal string"},
    "int": {"type": "integer"},
    "bool": {"type": "boolean"},
    "enum": {"type": "string"},
    "date": {"type": "string", "format": "date"},
}

REJECTION: dict[str, object] = {
    "type": "object",
    "description": "A rejected episode: `rejected` is the command line's rejection text.",
    "properties": {
        "rejected": {"type": "string"}, "id": {"type": ["string", "integer", "null"]},
        "field": {"type": "string", "description": "the field at fault, \"\" when none"},
        "error": {"type": "string"},
        "line": {"type": "integer", "description": "in a batch: the episode's line"},
    },
    "required": ["rejected", "id", "field", "error"],
}

ERROR: dict[str, object] = {"type": "object", "properties": {"error": {"type": "string"}},
                            "required": ["error"]}


def episode_schema_of_module(module: types.ModuleType) -> dict[str, object]:
    """An episode's JSON schema from a generated module's `SHAPE`: the fields it accepts,
    without their types (a precompiled module does not carry them)."""
    shape: tuple[tuple[str, frozenset[str]], ...] = getattr(module, "SHAPE", ())
    sections = dict(shape)
    top = sections.pop("", frozenset())
    properties: dict[str, object] = {}
    for name in sorted(top):
        if name in sections:
            properties[name] = {"type": "object", "additionalProperties": False,
                                "properties": {k: {} for k in sorted(sections[name])}}
        else:
            properties[name] = {}
    return {"type": "object", "additionalProperties": False, "properties": properties}


def used_description(spec: AccumulatorSpec) -> str:
    """What the service does with an accumulator's `NAME_used` field."""
    keys = ", ".join(spec.keys)
    return (f"accumulator {spec.name} (per {keys}, over {spec.period}, adds {spec.adds}): the "
            f"amount used before this episode in the same period, default 0. One episode "
            f"(decide, explain): the amount stated here, the service keeps no state. A batch: "
            f"for an episode with {keys}, the total of the batch's earlier episodes of the "
            f"same key and period (in date, then id order) replaces it.")


def with_accumulators(schema: Mapping[str, object], specs: Sequence[AccumulatorSpec]
                      ) -> dict[str, object]:
    """`schema` with each accumulator's `NAME_used` field described (added when absent)."""
    out = dict(schema)
    if not specs:
        return out
    properties = dict(out.get("properties") or {})  # type: ignore[call-overload]
    for spec in specs:
        field = dict(properties.get(spec.field) or {})
        field["description"] = used_description(spec)
        properties[spec.field] = field
    out["properties"] = properties
    return out


ACCUMULATED: dict[str, object] = {
    "type": "array", "description": "each accumulator before and after the episode (a policy "
    "with accumulators), as `parcours explain --format json` gives it",
    "items": {"type": "object", "properties": {
        "name": {"type": "string"},
        "key": {"type": ["array", "null"], "items": {"type": "string"},
                "description": "the episode's key; null: it has none (a person of its own)"},
        "period": {"type": ["string", "null"]},
        "before": {"type": "string"}, "after": {"type": "string"},
        "cap": {"type": ["string", "null"], "description": "null: computed for the episode"},
        "bound": {"type": "boolean", "description": "the cap made the episode add less"}},
        "required": ["name", "key", "period", "before", "after", "cap", "bound"]}}


def decision_schema(meta: PolicyMeta, explain: bool = False, accumulators: bool = False
                    ) -> dict[str, object]:
    properties: dict[str, object] = {
        "id": {"type": ["string", "integer"]},
        "policy": {"const": meta.id},
        "policy_version": {"type": "string"},
        "pathway": {"enum": list(meta.pathways)} if meta.pathways else {"type": "string"},
        "rule": {"type": "string", "description": "the rule that settled the pathway"},
        "currency": {"const": meta.currency},
    }
    for output in meta.outputs:
        schema = dict(_OUTPUT_SCHEMAS.get(output.kind, {}))
        note = output.note + (f" (totals {output.role})" if output.role else "")
        if note:
            schema["description"] = note.strip()
        properties[output.name] = schema
    properties["sources"] = {"type": "array", "items": {"type": "string"},
                             "description": "the documents behind the decision"}
    properties["overrides"] = {"type": "object", "additionalProperties": {"type": "string"},
                               "description": "the what-if parameters in effect (`?set=`)"}
    if explain:
        properties["trace"] = {"type": "array", "items": {"type": "object"},
                               "description": "every rule in priority order, with its sources"}
        if accumulators:
            properties["accumulators"] = ACCUMULATED
    required = ["id", "policy", "policy_version", "pathway", "rule", "currency",
                *(o.name for o in meta.outputs), "sources"] + (["trace"] if explain else [])
    return {"type": "object", "properties": properties, "required": required}


def _json(schema: object) -> dict[str, object]:
    return {"application/json": {"schema": schema}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*codes: str) -> dict[str, object]:
    said = {"400": "a body that is not a JSON object, or a bad `set`",
            "404": "no such policy", "413": "the body is over the limit",
            "415": "an unsupported content type",
            "422": "the episode is rejected (the field named)"}
    return {code: {"description": said[code],
                   "content": _json(_ref("Rejection") if code == "422" else _ref("Error"))}
            for code in codes}


_SET = {"name": "set", "in": "query", "required": False,
        "description": "a what-if parameter, NAME=VALUE (repeatable)",
        "schema": {"type": "array", "items": {"type": "string"}}, "style": "form",
        "explode": True}


_BATCHED = ("Accumulators ({}): a batch carries them over its episodes as `parcours decide` "
            "does (each key's episodes in date, then id order; the answers in input order); "
            "one episode is decided on its own, from the amount used before it that it "
            "states ({}, default 0).")


def openapi(policies: Sequence[Served], version: str) -> dict[str, object]:
    """The OpenAPI description of a service deciding with `policies`."""
    schemas: dict[str, object] = {"Rejection": REJECTION, "Error": ERROR}
    paths: dict[str, object] = {
        "/health": {"get": {"summary": "Is the service up", "responses": {
            "200": {"description": "up"}}}},
        "/version": {"get": {"summary": "parcours and each policy's version", "responses": {
            "200": {"description": "versions"}}}},
        "/policies": {"get": {"summary": "The policies served: ids, versions, declared shape",
                              "responses": {"200": {"description": "the policies"}}}},
    }
    for served in policies:
        meta = served.meta
        episode, decision = f"{meta.id}_episode", f"{meta.id}_decision"
        specs = specs_of(served.module)
        schemas[episode] = with_accumulators(served.episode_schema, specs) or {"type": "object"}
        schemas[decision] = decision_schema(meta)
        schemas[f"{meta.id}_explanation"] = decision_schema(meta, explain=True,
                                                           accumulators=bool(specs))
        batch = {"application/x-ndjson": {"schema": {
            "type": "string", "description": f"one {episode} a line (JSON Lines)"}}}
        decided: dict[str, object] = {
            "200": {"description": "the decision; for a batch, one decision or rejection a "
                                   "line, in input order",
                    "content": {**_json(_ref(decision)), "application/x-ndjson": {
                        "schema": {"type": "string"}}}},
            **_errors("400", "404", "413", "415", "422")}
        paths[f"/policies/{meta.id}/decide"] = {"post": {
            "summary": f"Decide episodes with {meta.title}",
            "operationId": f"decide_{meta.id}",
            **({"description": _BATCHED.format(", ".join(s.name for s in specs),
                                               ", ".join(s.field for s in specs))}
               if specs else {}),
            "parameters": [_SET],
            "requestBody": {"required": True, "content": {**_json(_ref(episode)), **batch}},
            "responses": decided}}
        explained: dict[str, object] = {
            "200": {"description": "the decision with its trace",
                    "content": _json(_ref(f"{meta.id}_explanation"))},
            **_errors("400", "404", "413", "415", "422")}
        paths[f"/policies/{meta.id}/explain"] = {"post": {
            "summary": f"Explain one decision of {meta.title}, rule by rule",
            "operationId": f"explain_{meta.id}",
            "parameters": [_SET],
            "requestBody": {"required": True, "content": _json(_ref(episode))},
            "responses": explained}}
    return {"openapi": "3.1.0",
            "info": {"title": "parcours decision service", "version": version or "unknown"},
            "paths": paths, "components": {"schemas": schemas}}
