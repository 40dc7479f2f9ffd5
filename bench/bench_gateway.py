"""Throughput and latency of the reference gateway beside a bare Starlette endpoint, same run.

The gateway operation does everything a catalogued write does: RS256 JWT check, rate limit,
SQLite insert and outbox row in one transaction, the outbox relay publishing to a real Kafka
broker (Tansu), the access log. The bare endpoint reads the same body and answers JSON. Both
run under uvicorn (1 worker) in their own processes; the load comes from ``wrk``
(``apt-get install -y wrk``), because a Python client tops out far below either server.

    .venv/bin/python bench/bench_gateway.py [--duration 10] [--connections 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BODY = '{"name": "bench", "tier": "gold", "n": 1}'
PATH = "/customer/update"


def serve_bare(port: int) -> None:
    """The baseline: a Starlette endpoint that reads the body and answers JSON."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def endpoint(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"ok": True}, status_code=201)

    app = Starlette(routes=[Route(PATH, endpoint, methods=["PUT"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def write_catalogue(path: Path) -> None:
    """One operation: PUT /customer/update add-record with rollback, Kafka event and a huge limit."""
    from console.catalogue import Catalogue, Contract, Row
    from console.catalogue.formats import write_catalogue as dump

    contracts = [Contract("rollback-on-error"), Contract("kafka-event"),
                 Contract("rate-limit", {"limit": 1_000_000_000, "window_s": 60})]
    rows = [Row(i + 1, 1, PATH, "PUT", "add-record", c, c) for i, c in enumerate(contracts)]
    path.write_text(dump(Catalogue(rows=rows, source="bench"), "jsonl"))


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    import httpx2

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode} before answering {url}")
        try:
            httpx2.get(url, timeout=1)
            return
        except httpx2.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"no answer from {url} within {timeout:.0f} s")


def wrk(url: str, duration: int, connections: int, threads: int, headers: dict[str, str], script: Path) -> dict:
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script)]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def latency(pct: str) -> float:
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50": latency("50"), "p99": latency("99"), "requests": total,
            "non_2xx": int(errors.group(1)) if errors else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--serve-bare", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    import httpx2

    from console.events.broker import EmbeddedBroker, free_port

    tmp = Path(tempfile.mkdtemp(prefix="apilog-bench-"))
    catalogue = tmp / "bench.jsonl"
    write_catalogue(catalogue)
    script = tmp / "put.lua"
    script.write_text(f"wrk.method = \"PUT\"\nwrk.body = '{BODY}'\n"
                      "wrk.headers[\"Content-Type\"] = \"application/json\"\n")
    broker = EmbeddedBroker(log_path=tmp / "broker.log").start()
    gw_port, bare_port = free_port(), free_port()
    env = {**os.environ, "APILOG_SANDBOX_CLIENT_SECRET": "bench-secret", "APILOG_DATA_DIR": str(tmp)}
    gateway = subprocess.Popen([sys.executable, "-m", "console.cli", "--catalogue", str(catalogue), "gateway",
                                "--port", str(gw_port), "--kafka", broker.bootstrap, "--db", str(tmp / "g.db")],
                               env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "gateway.log", "wb"))  # noqa: SIM115
    bare = subprocess.Popen([sys.executable, __file__, "--serve-bare", str(bare_port)], stdout=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{gw_port}"
        wait_healthy(f"{base}/healthz", gateway)
        wait_healthy(f"http://127.0.0.1:{bare_port}{PATH}", bare)
        token = httpx2.post(f"{base}/oauth/token", data={"grant_type": "client_credentials"},
                            auth=("apilog-sandbox", "bench-secret")).json()["access_token"]
        results = {
            "bare Starlette endpoint": wrk(f"http://127.0.0.1:{bare_port}{PATH}", args.duration,
                                           args.connections, args.threads, {}, script),
            "gateway PUT add-record": wrk(f"{base}{PATH}?action=add-record", args.duration, args.connections,
                                          args.threads, {"Authorization": f"Bearer {token}"}, script),
        }
        time.sleep(1)
        health = httpx2.get(f"{base}/healthz").json()["kafka"]
    finally:
        for process in (gateway, bare):
            process.terminate()
            process.wait(10)
        broker.stop()
    print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, 1 uvicorn worker each, loopback")
    print("| endpoint | req/s | p50 ms | p99 ms | requests | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['requests']} | {r['non_2xx']} |")
    ratio = results["gateway PUT add-record"]["rps"] / results["bare Starlette endpoint"]["rps"]
    print(f"\ngateway / bare throughput: {ratio:.2f}")
    print(f"outbox after the run: {health['delivered']} delivered, {health['pending']} pending")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
