"""`parcours serve`: the decision service (`tools.service`) on uvicorn."""

from __future__ import annotations

import socket
import types
from pathlib import Path

import click

from .common import EXIT_USAGE, fail, import_path_option, load


def _served(policy: str) -> object:
    """The policy loaded as `decide` loads it; from a `.parcours` source its episode schema
    is typed from the IR, from a generated module it has the field names only."""
    from ..tools.service import Served, served_module

    module: types.ModuleType = load(policy)
    if Path(policy).suffix == ".py":
        return served_module(module)
    from ..pipeline import analyse
    from ..tools.service.inputs import episode_schema

    analysis = analyse(policy, verify=False)
    assert analysis.program is not None  # `load` has compiled it
    return Served(module, episode_schema(analysis.program))


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (port 0: a free one), or exit 2 saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # answers go out at once (the accepted connections inherit it): without it, a small
    # answer can wait for the client's delayed acknowledgement, some 40 ms
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        fail(f"cannot listen on {host}:{port}: {reason}")
    return sock


@click.command(name="serve", short_help="Serve decisions over HTTP (JSON, JSON Lines).")
@import_path_option
@click.argument("policies", nargs=-1, required=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="The port to listen on.")
@click.option("--max-episode-bytes", type=click.IntRange(min=1), default=1 << 20,
              show_default=True, help="The largest body of one episode (else 413).")
@click.option("--max-batch-bytes", type=click.IntRange(min=1), default=64 << 20,
              show_default=True, help="The largest JSON Lines batch (else 413).")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info",
                                                "debug"]), default="info", show_default=True,
              help="How much uvicorn and the service log on stderr (failures are logged at "
                   "error).")
def serve(policies: tuple[str, ...], host: str, port: int, max_episode_bytes: int,
          max_batch_bytes: int, log_level: str) -> None:
    """Decide episodes sent over HTTP with POLICIES (.parcours sources or generated modules).

    \b
    Routes:
      POST /policies/ID/decide   one episode (application/json), or a batch
                                 (application/x-ndjson) answered as JSON Lines
      POST /policies/ID/explain  one episode, answered with its trace
      GET  /policies             ids, versions, pathways, outputs, inputs
      GET  /openapi.json         the OpenAPI description; GET /health; GET /version
    A rejected episode is a 422 naming the field (the text `parcours decide` writes);
    `?set=NAME=VALUE` sets a what-if parameter.  See docs/service.md.

    \b
    Examples:
      parcours serve policies/france.parcours
      parcours serve out/france.py policies/nhs.parcours --host 0.0.0.0 --port 8080
      curl -s localhost:8000/policies/france/decide -d @episode.json

    \b
    Exit codes:
      0  stopped with Ctrl-C
      2  a policy does not load, two policies have one id, the service extra is not
         installed, or the address cannot be used
    """
    try:
        import uvicorn

        from ..meta import VERSION
        from ..tools.service import Limits, Served, create_app
    except ImportError as exc:
        fail(f"parcours serve needs the serve extra (pip install 'parcours[serve]'): {exc}")
    served = [_served(p) for p in policies]
    ids: dict[str, str] = {}
    for path, item in zip(policies, served):
        assert isinstance(item, Served)
        if item.id in ids:
            fail(f"{path} and {ids[item.id]} are both policy {item.id}")
        ids[item.id] = path
    app = create_app([s for s in served if isinstance(s, Served)],
                     Limits(max_episode_bytes, max_batch_bytes), VERSION)
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level=log_level, access_log=False)
    server = uvicorn.Server(config)
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(f"serving {', '.join(ids)} on http://{shown_host}:{bound} (Ctrl-C stops)",
               err=True)
    try:
        server.run(sockets=[sock])
    except SystemExit:  # uvicorn could not start; it logged why
        raise SystemExit(EXIT_USAGE) from None
    except KeyboardInterrupt:  # uvicorn shut down on Ctrl-C, then raised it again
        pass
    finally:
        sock.close()
