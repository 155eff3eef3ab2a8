#!/usr/bin/env python3
"""A bounded load test of `parcours serve`: requests per second and latency percentiles at
1, 8 and 64 concurrent clients, and the throughput of one JSON Lines batch.

    .venv/bin/python bench/load_serve.py [--policy policies/france.parcours]
        [--input policies/samples/episodes.jsonl] [--seconds 5] [--clients 1 8 64]
        [--batch 5000]

Starts `parcours serve POLICY` on a free port of 127.0.0.1 (a subprocess, so that the
server and the load have a process each), then for each level of concurrency runs that
many clients (httpx, one connection each, keep-alive) that POST one episode at a time to
`/policies/ID/decide` for `--seconds` seconds, cycling over the input's episodes; every
answer must be a 200.  Prints one line per level: requests, requests per second, p50, p99
and the largest latency in milliseconds, and the server's CPU time per request (from
/proc, where there is one): on a busy machine the clients, in Python too, take their share
of the cores, and the server's CPU per request says what the service itself costs.  Then posts `--batch` episodes as one
`application/x-ndjson` request and prints the episodes per second.  Figures depend on the
machine and on what else runs on it: they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(sorted_values: list[float], share: float) -> float:
    """The nearest-rank percentile of an ascending list."""
    index = max(0, min(len(sorted_values) - 1, int(-(-share * len(sorted_values) // 1)) - 1))
    return sorted_values[index]


def cpu_seconds(pid: int) -> float | None:
    """The CPU time (user and system) a process has used so far, where /proc tells it."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def level(url: str, path: str, bodies: list[bytes], clients: int, seconds: float
                ) -> tuple[int, float, list[float]]:
    """`clients` concurrent clients for `seconds`: (requests, elapsed, latencies in s)."""
    latencies: list[float] = []
    headers = {"content-type": "application/json"}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    # the clients (and their TLS contexts, unused here but built by httpx) exist before the
    # clock starts, and each opens its connection with a first request, not timed
    pool = [httpx.AsyncClient(base_url=url, limits=limits, timeout=60) for _ in range(clients)]
    await asyncio.gather(*(http.get("/health") for http in pool))
    deadline = time.perf_counter() + seconds

    async def client(http: httpx.AsyncClient, start: int) -> None:
        index = start
        while time.perf_counter() < deadline:
            body = bodies[index % len(bodies)]
            index += 1
            sent = time.perf_counter()
            answer = await http.post(path, content=body, headers=headers)
            latencies.append(time.perf_counter() - sent)
            if answer.status_code != 200:
                raise SystemExit(f"answer {answer.status_code}: {answer.text[:200]}")

    started = time.perf_counter()
    try:
        await asyncio.gather(*(client(http, i * 7) for i, http in enumerate(pool)))
    finally:
        await asyncio.gather(*(http.aclose() for http in pool))
    return len(latencies), time.perf_counter() - started, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--policy", default="policies/france.parcours")
    parser.add_argument("--input", default="policies/samples/episodes.jsonl")
    parser.add_argument("--seconds", type=float, default=5.0, help="per level of concurrency")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--batch", type=int, default=5000, help="episodes in the batch request")
    args = parser.parse_args()

    lines = [line for line in (ROOT / args.input).read_bytes().splitlines() if line.strip()]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(Path(sys.executable).parent / "parcours"), "serve",
                               args.policy, "--port", str(port), "--log-level", "warning"],
                              cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("parcours serve did not start")
                time.sleep(0.1)
        policy_id = httpx.get(url + "/policies").json()["policies"][0]["id"]
        path = f"/policies/{policy_id}/decide"
        asyncio.run(level(url, path, lines, 1, 0.5))  # warm up
        print(f"{args.policy}: {len(lines)} distinct episodes, {args.seconds:g} s per level")
        print(f"{'clients':>7} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'max ms':>8} {'server CPU ms/req':>18}")
        for clients in args.clients:
            before = cpu_seconds(server.pid)
            count, elapsed, latencies = asyncio.run(level(url, path, lines, clients,
                                                          args.seconds))
            after = cpu_seconds(server.pid)
            cpu = (f"{(after - before) * 1000 / count:>18.2f}"
                   if before is not None and after is not None else f"{'?':>18}")
            latencies.sort()
            print(f"{clients:>7} {count:>9} {count / elapsed:>8.0f} "
                  f"{percentile(latencies, 0.50) * 1000:>8.2f} "
                  f"{percentile(latencies, 0.99) * 1000:>8.2f} {latencies[-1] * 1000:>8.2f}"
                  f" {cpu}")
        batch = b"".join(lines[i % len(lines)] + b"\n" for i in range(args.batch))
        started = time.perf_counter()
        answer = httpx.post(url + path, content=batch, timeout=300,
                            headers={"content-type": "application/x-ndjson"})
        elapsed = time.perf_counter() - started
        decided = answer.text.count('"pathway"')
        print(f"batch: {args.batch} episodes as JSON Lines in {elapsed * 1000:.0f} ms "
              f"({args.batch / elapsed:,.0f} episodes/s, {decided} decided)")
    finally:
        server.terminate()
        server.wait(20)


if __name__ == "__main__":
    main()
