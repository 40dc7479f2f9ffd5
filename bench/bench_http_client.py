"""Benchmark: CPU per loopback request of httpx2's default transport, apilog's asyncio one, and
the raw probes' lean client.

Run: .venv/bin/python -m bench.bench_http_client [--requests 3000] [--rounds 3] [--post]

A bare Starlette ``/healthz`` on uvicorn (a child process, its CPU not counted) answers
``--requests`` GETs, six in flight at once like the checker's lanes, from this process: from one
``httpx2.AsyncClient`` with httpx2's default transport (httpcore2's anyio backend) ("anyio"), the
same with :func:`console.http_transport.on_asyncio` applied ("asyncio"; the caller's), both
with the probes' limits (64 connections, 8 kept idle), and from
:class:`console.conformance.wire.WireClient` ("wire"; the raw probes'). ``--post`` sends a
~300-byte JSON body with each request instead (``POST /echo``), as the checks' writes do. Rounds
rotate the order of the sides; each line is the client process's CPU (user + system) per
request, the server's, and the wall time.

To compare with an older tree's transport, run this file by path with that tree first on the
path: ``PYTHONPATH=/tmp/old .venv/bin/python bench/bench_http_client.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

# Last on the path, so that a tree named in PYTHONPATH supplies ``console`` (see above).
sys.path.append(str(Path(__file__).resolve().parent.parent))

from bench.bench_gateway import wait_healthy  # noqa: E402
from bench.procs import cpu_s, rusage_cpu_s  # noqa: E402
from console.conformance.wire import WireClient  # noqa: E402
from console.events.broker import free_port  # noqa: E402
from console.http_transport import on_asyncio  # noqa: E402

APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def healthz(request):
    return JSONResponse({"status": "ok"})

async def echo(request):
    body = await request.json()
    return JSONResponse({"id": body["id"], "status": "stored"}, status_code=201)

app = Starlette(routes=[Route("/healthz", healthz), Route("/echo", echo, methods=["POST"])])
"""
BODY = json.dumps({"id": "cust-000123", "name": "Nguyễn Văn An", "email": "an@example.com",
                   "tier": 2, "tags": ["vip", "north"], "note": "x" * 160}).encode()

IN_FLIGHT = 6
LIMITS = httpx2.Limits(max_connections=64, max_keepalive_connections=8)


SIDES = ("anyio", "asyncio", "wire")


async def one_side(base: str, requests: int, side: str, post: bool,
                   server_pid: int) -> tuple[float, float, float]:
    """(client CPU µs per request, server CPU µs per request, wall seconds) for ``requests``
    requests, ``IN_FLIGHT`` at once, from the client ``side`` names."""
    headers = {"Content-Type": "application/json"}
    if side == "wire":
        client: Any = WireClient(verify=True, timeout=30.0)
    else:
        client = httpx2.AsyncClient(limits=LIMITS)
        if side == "asyncio":
            on_asyncio(client)

    async def send() -> httpx2.Response:
        if post:
            return await client.request("POST", f"{base}/echo", content=BODY, headers=headers)
        return await client.request("GET", f"{base}/healthz")

    try:
        for _ in range(IN_FLIGHT * 4):  # warm: connections open, code paths hot
            (await send()).raise_for_status()
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def one() -> None:
            async with gate:
                response = await send()
                response.raise_for_status()
                response.json()

        cpu0, server0, wall0 = rusage_cpu_s(0), cpu_s(server_pid), time.perf_counter()
        await asyncio.gather(*(one() for _ in range(requests)))
        return ((rusage_cpu_s(0) - cpu0) / requests * 1e6,
                (cpu_s(server_pid) - server0) / requests * 1e6, time.perf_counter() - wall0)
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--post", action="store_true", help="POST a ~300-byte JSON body instead of GET")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="apilog-bench-http-") as tmp:
        Path(tmp, "bareapp.py").write_text(APP)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", tmp, "bareapp:app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "error"],
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        try:
            base = f"http://127.0.0.1:{port}"
            wait_healthy(f"{base}/healthz", server)
            what = "POST /echo (~300-byte JSON)" if args.post else "GET /healthz"
            print(f"# {args.requests} × {what} of a bare Starlette app, {IN_FLIGHT} in flight, "
                  f"load average {os.getloadavg()[0]:.1f}")
            results: dict[str, list[float]] = {side: [] for side in SIDES}
            for round_no in range(1, args.rounds + 1):
                shift = (round_no - 1) % len(SIDES)
                for side in SIDES[shift:] + SIDES[:shift]:
                    cpu_us, server_us, wall = asyncio.run(
                        one_side(base, args.requests, side, args.post, server.pid))
                    results[side].append(cpu_us)
                    print(f"round {round_no} {side:8} client {cpu_us:6.0f} µs, server {server_us:6.0f} µs "
                          f"CPU per request, {wall:5.2f} s wall")
            best = {side: min(values) for side, values in results.items()}
            print("best client CPU: " + ", ".join(f"{side} {best[side]:.0f} µs" for side in SIDES)
                  + f"; asyncio {best['asyncio'] / best['anyio']:.2f}×, wire "
                  f"{best['wire'] / best['anyio']:.2f}× the default transport's per request")
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
