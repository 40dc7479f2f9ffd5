"""Benchmark: CPU per loopback GET of httpx2's default transport against apilog's asyncio one.

Run: .venv/bin/python -m bench.bench_http_client [--requests 3000] [--rounds 3]

A bare Starlette ``/healthz`` on uvicorn (a child process, its CPU not counted) answers
``--requests`` GETs, six in flight at once like the checker's lanes, from one
``httpx2.AsyncClient`` in this process: once with httpx2's default transport (httpcore2's anyio
backend) and once with :func:`console.http_transport.async_transport`, both with the probes'
limits (64 connections, 8 kept idle). Rounds alternate the two sides; each line is the process's
CPU (user + system) per request and the wall time. The server is the same for both sides, so the
ratio is the client's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

from bench.procs import rusage_cpu_s
from console.http_transport import async_transport

APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def healthz(request):
    return JSONResponse({"status": "ok"})

app = Starlette(routes=[Route("/healthz", healthz)])
"""

IN_FLIGHT = 6
LIMITS = httpx2.Limits(max_connections=64, max_keepalive_connections=8)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, deadline_s: float = 15.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"the bare server did not listen on 127.0.0.1:{port} within {deadline_s:.0f} s")


async def one_side(url: str, requests: int, asyncio_backend: bool) -> tuple[float, float]:
    """(CPU µs per request, wall seconds) for ``requests`` GETs, ``IN_FLIGHT`` at once."""
    transport = async_transport(limits=LIMITS) if asyncio_backend else httpx2.AsyncHTTPTransport(limits=LIMITS)
    async with httpx2.AsyncClient(transport=transport) as client:
        for _ in range(IN_FLIGHT * 4):  # warm: connections open, code paths hot
            (await client.get(url)).raise_for_status()
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def get() -> None:
            async with gate:
                response = await client.get(url)
                response.raise_for_status()
                response.json()

        cpu0, wall0 = rusage_cpu_s(0), time.perf_counter()
        await asyncio.gather(*(get() for _ in range(requests)))
        return (rusage_cpu_s(0) - cpu0) / requests * 1e6, time.perf_counter() - wall0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="apilog-bench-http-") as tmp:
        Path(tmp, "bareapp.py").write_text(APP)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", tmp, "bareapp:app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "error"],
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        try:
            wait_listening(port)
            url = f"http://127.0.0.1:{port}/healthz"
            print(f"# {args.requests} GETs of a bare Starlette /healthz, {IN_FLIGHT} in flight, "
                  f"load average {os.getloadavg()[0]:.1f}")
            results: dict[str, list[float]] = {"anyio": [], "asyncio": []}
            for round_no in range(1, args.rounds + 1):
                order = ("anyio", "asyncio") if round_no % 2 else ("asyncio", "anyio")
                for side in order:
                    cpu_us, wall = asyncio.run(one_side(url, args.requests, side == "asyncio"))
                    results[side].append(cpu_us)
                    print(f"round {round_no} {side:8} {cpu_us:7.0f} µs CPU per GET, {wall:5.2f} s wall")
            best = {side: min(values) for side, values in results.items()}
            print(f"best: anyio {best['anyio']:.0f} µs, asyncio {best['asyncio']:.0f} µs: "
                  f"{best['asyncio'] / best['anyio']:.2f}× the default transport's CPU per GET")
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
