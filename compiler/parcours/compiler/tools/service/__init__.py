"""`parcours serve`: a decision service over HTTP (Starlette, served by uvicorn).

Built on the public API of a loaded policy module only (`decide`, `explain`,
`with_overrides`, `POLICY`, `ACCUMULATORS`, `Decision.to_dict()` through `parcours.runtime`'s
`decision_json`, `decide_stream` and `Ledger`), so that a precompiled module is served
without the compiler.  Stateless: every request is decided on its own.  A policy with
accumulators (`accumulate`): a batch carries one ledger over its episodes, in the order
`parcours decide` applies them; one episode states the amount used before it (`NAME_used`).
Routes:

- `GET /health`, `GET /version`, `GET /policies`, `GET /openapi.json`;
- `POST /policies/{id}/decide`: one episode (`application/json`) answered with its decision,
  or a batch (`application/x-ndjson`, one episode a line) answered with a stream of JSON
  Lines, a decision or a rejection per episode, in input order;
- `POST /policies/{id}/explain`: one episode, answered with its decision and trace.

A bad episode is a 422 whose `rejected` is the command line's rejection text (the field
named); a body over the limit a 413; anything unexpected a 500 with a JSON error, logged,
never a traceback to the client.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from parcours.runtime import (ABI_VERSION, Decision, EpisodeError, OverrideError, PolicyGap,
                              PolicyMeta, Rejection, Unreadable, decide_stream, decision_json,
                              episode_id, json_safe, one_line, parse_episode, shown, specs_of)

from .accumulate import BatchRun, Bound, answers, batch_run, explain_one
from .openapi import episode_schema_of_module, openapi

__all__ = ["Limits", "Served", "create_app"]

LOG = logging.getLogger("parcours.serve")
NDJSON = "application/x-ndjson"
BLOCK = 512  # episodes of a batch decided between two writes to the client

Decide = Callable[[Mapping[str, object]], Decision]


@dataclass(frozen=True, slots=True)
class Limits:
    """The largest request bodies accepted, in bytes (a larger one is answered 413)."""

    episode: int = 1 << 20  # one episode (decide, explain): 1 MiB
    batch: int = 64 << 20  # a JSON Lines batch: 64 MiB


@dataclass(frozen=True, slots=True)
class Served:
    """One policy the service decides with: its loaded module and its episode's JSON
    schema (by default the field names the module checks, without their types)."""

    module: types.ModuleType
    episode_schema: Mapping[str, object] = field(default_factory=dict)

    @property
    def meta(self) -> PolicyMeta:
        meta: PolicyMeta = self.module.POLICY
        return meta

    @property
    def id(self) -> str:
        return self.meta.id


class _Refused(Exception):
    """A request answered with an error status and a JSON body."""

    def __init__(self, status: int, body: dict[str, object]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _error(status: int, message: str, **extra: object) -> _Refused:
    return _Refused(status, {"error": one_line(message), **extra})


def _json(status: int, body: object) -> Response:
    text = json_safe(json.dumps(body, ensure_ascii=False, separators=(",", ":")))
    return Response(text + "\n", status_code=status, media_type="application/json")


def rejection_body(error: EpisodeError) -> dict[str, object]:
    """A rejected episode's answer: the command line's rejection text (`rejected`), then the
    episode's id, the field and the reason on their own."""
    return {"rejected": str(error), "id": error.episode_id, "field": error.field,
            "error": error.message}


def _undecided(episode: Mapping[str, object], exc: Exception) -> EpisodeError:
    """What `decide_stream` rejects an episode with when deciding it fails."""
    if isinstance(exc, PolicyGap):
        return EpisodeError(episode_id(episode), "", f"undecided: {exc}")
    return EpisodeError(episode_id(episode), "", f"cannot be decided: {shown(str(exc), 200)}")


_DECIDING_FAILS = (PolicyGap, ArithmeticError, TypeError, KeyError, AttributeError, ValueError,
                   RecursionError)


async def _body(request: Request, limit: int) -> bytes:
    """The request's body, refused with 413 as soon as it is longer than `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _error(413, f"the body is {declared} bytes; the limit is {limit}", limit=limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _error(413, f"the body is over the limit of {limit} bytes", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _is_batch(request: Request) -> bool:
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind in (NDJSON, "application/jsonl", "application/x-jsonlines"):
        return True
    if kind in ("application/json", ""):
        return False
    raise _error(415, f"content type {shown(kind)}: send application/json (one episode) or "
                      f"{NDJSON} (one episode a line)")


class _Service:
    def __init__(self, policies: list[Served], limits: Limits, version: str) -> None:
        self.policies = {p.id: p for p in policies}
        self.limits = limits
        self.version = version
        self.schema = openapi(policies, version)
        self.listing = [self._described(p) for p in policies]

    @staticmethod
    def _described(served: Served) -> dict[str, object]:
        meta = served.meta
        return {"id": meta.id, "title": meta.title, "version": meta.version,
                "status": meta.status, "currency": meta.currency,
                "pathways": list(meta.pathways),
                "outputs": [{"name": o.name, "kind": o.kind, "role": o.role, "note": o.note}
                            for o in meta.outputs],
                "inputs": served.episode_schema,
                "accumulators": [{"name": a.name, "keys": list(a.keys), "period": a.period,
                                  "adds": a.adds, "used": a.field,
                                  "caps": [{"from": str(d), "cap": str(v)} for d, v in a.caps]}
                                 for a in specs_of(served.module)],
                "decide": f"/policies/{meta.id}/decide", "explain": f"/policies/{meta.id}/explain"}

    def _policy(self, request: Request) -> Served:
        name = request.path_params["policy"]
        served = self.policies.get(name)
        if served is None:
            raise _error(404, f"no policy {shown(name)}; GET /policies lists them",
                         policies=sorted(self.policies))
        return served

    @staticmethod
    def _function(request: Request, served: Served, explain: bool) -> Decide:
        """The policy's decide (or explain), with the what-if parameters of `?set=NAME=VALUE`."""
        module = served.module
        function: Callable[..., Decision] = module.explain if explain else module.decide
        sets = request.query_params.getlist("set")
        if not sets:
            return function
        overrides: dict[str, str] = {}
        for item in sets:
            if "=" not in item:
                raise _error(400, f"set {shown(item)}: write NAME=VALUE")
            name, value = item.split("=", 1)
            overrides[name.strip()] = value
        try:
            params = module.with_overrides(overrides)
        except OverrideError as exc:
            raise _error(400, str(exc)) from None
        return functools.partial(function, params=params)

    async def health(self, request: Request) -> Response:
        return _json(200, {"status": "ok", "policies": len(self.policies)})

    async def version_route(self, request: Request) -> Response:
        return _json(200, {"parcours": self.version, "runtime_abi": ABI_VERSION,
                           "policies": {p.id: p.meta.version for p in self.policies.values()}})

    async def list_policies(self, request: Request) -> Response:
        return _json(200, {"policies": self.listing})

    async def openapi_route(self, request: Request) -> Response:
        return _json(200, self.schema)

    async def decide(self, request: Request) -> Response:
        return await self._answer(request, explain=False)

    async def explain(self, request: Request) -> Response:
        return await self._answer(request, explain=True)

    async def _answer(self, request: Request, explain: bool) -> Response:
        try:
            served = self._policy(request)
            batch = _is_batch(request)
            if batch and explain:
                raise _error(415, "explain takes one episode (application/json)")
            function = self._function(request, served, explain)
            if batch:
                body = await _body(request, self.limits.batch)
                # in the response's thread, like the deciding: the order is read there
                run = functools.partial(batch_run, served.module, function, body)
                return StreamingResponse(_stream(run), media_type=NDJSON)
            return _one(served.module if explain else None, function,
                        await _body(request, self.limits.episode))
        except _Refused as refused:
            return _json(refused.status, refused.body)
        except Exception:  # answered here: an exception past the route closes the connection
            LOG.exception("%s %s failed", request.method, request.url.path)
            return _json(500, {"error": "internal error: the failure is in the service's log"})


def _one(explained: types.ModuleType | None, function: Decide, body: bytes) -> Response:
    """One episode's decision; explained (`explained`: the module), with its trace and, for
    a policy with accumulators, each one before and after the episode, as `parcours
    explain --format json` gives them."""
    data = parse_episode(body)
    if isinstance(data, Unreadable):
        raise _error(400, f"episode: {data.message}")  # as `explain --episode` says it
    if isinstance(data, EpisodeError):
        raise _Refused(422, rejection_body(data))
    try:
        bounds: list[Bound] = []
        if explained is None:
            decision = function(data)
        else:
            decision, bounds = explain_one(explained, function, data)
    except EpisodeError as exc:
        raise _Refused(422, rejection_body(exc)) from None
    except _DECIDING_FAILS as exc:
        raise _Refused(422, rejection_body(_undecided(data, exc))) from None
    if not bounds:
        return Response(decision_json(decision) + "\n", media_type="application/json")
    out = decision.to_dict()
    out["accumulators"] = [b.to_dict() for b in bounds]
    return _json(200, out)


def _stream(start: Callable[[], BatchRun]) -> Iterator[str]:
    """A batch's answer, a block of lines at a time: a decision or a rejection per episode
    (`{"line": N, "rejected": TEXT, "id", "field", "error"}`), in input order.  A sorted
    batch (accumulators, a key's episodes not in date order) is decided whole first."""
    run = start()
    if run.order is not None:
        out: list[str] = []
        failed = _decide(run, run.lines, 0, run.keep(out.append))
        if failed:
            yield failed
            return
        yield from answers(run, BLOCK)
        return
    lines = iter(run.lines)
    offset = 0
    while True:
        block = list(itertools.islice(lines, BLOCK))
        if not block:
            return
        out = []
        failed = _decide(run, block, offset, out.append)
        yield "".join(out) + failed
        if failed:
            return
        offset += len(block)


def _decide(run: BatchRun, lines: Iterable[bytes], offset: int,
            write: Callable[[str], object]) -> str:
    """Decide `lines` (the first is the input's line `offset + 1`), writing each answer;
    "" when done, else the error line that ends the answer."""
    def reject(rejection: Rejection) -> None:
        moved = Rejection(run.line(rejection) + offset, rejection.error)
        write(json_safe(json.dumps(
            {"line": moved.line, **rejection_body(rejection.error), "rejected": str(moved)},
            ensure_ascii=False, separators=(",", ":"))) + "\n")

    try:
        decide_stream(run.decide, lines, write, reject)
    except Exception:  # a fault of the service, not of the episode: logged, said, stopped
        LOG.exception("a batch failed after line %d", offset)
        return '{"error":"internal error: the failure is in the service\'s log"}\n'
    return ""


def create_app(policies: list[Served], limits: Limits = Limits(), version: str = "") -> Starlette:
    """The service for `policies` (each id once)."""
    service = _Service(policies, limits, version)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        detail = exc.detail if isinstance(exc, HTTPException) else "not found"
        return _json(status, {"error": detail})

    async def failed(request: Request, exc: Exception) -> Response:
        LOG.exception("%s %s failed", request.method, request.url.path)
        return _json(500, {"error": "internal error: the failure is in the service's log"})

    routes = [
        Route("/health", service.health, methods=["GET"]),
        Route("/version", service.version_route, methods=["GET"]),
        Route("/policies", service.list_policies, methods=["GET"]),
        Route("/openapi.json", service.openapi_route, methods=["GET"]),
        Route("/policies/{policy}/decide", service.decide, methods=["POST"]),
        Route("/policies/{policy}/explain", service.explain, methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: not_found,
                                                        Exception: failed})


def served_module(module: types.ModuleType) -> Served:
    """A loaded policy module with the episode schema its `SHAPE` gives (names only)."""
    return Served(module, episode_schema_of_module(module))
