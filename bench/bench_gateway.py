"""Throughput and latency of the reference gateway beside a bare Starlette endpoint, same run.

The gateway operation does everything a catalogued write does: RS256 JWT check, rate limit,
SQLite insert and outbox row in one transaction (group commit), the outbox relay publishing to
a real Kafka broker (Tansu), the access log. The bare endpoint reads the same body and answers
JSON. Both are served by the same :func:`console.gateway.server.uvicorn_config` (1 worker, same
HTTP protocol class and event loop) in their own child processes; the load comes from ``wrk``
(``apt-get install -y wrk``), because a Python client tops out far below either server. Each
server stack named by ``--stacks`` is measured on both sides, one after the other.

    .venv/bin/python -m bench.bench_gateway [--duration 10] [--connections 32] [--threads 2] [--stacks gateway-uvloop,h11-uvloop,httptools-uvloop]
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
#: The goals of issue 15 for this row: gateway / bare throughput, and the gateway's p99 in ms.
GOAL_RATIO = 0.5
GOAL_P99_MS = 50.0
PATH = "/customer/update"
SECRET = "bench-secret"


def serve(kind: str, port: int, stack: str, catalogue: Path, kafka: str, db: Path) -> None:
    """A child process: the bare endpoint or the gateway, under the gateway's uvicorn config."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from console.gateway.app import create_app
    from console.gateway.server import uvicorn_config
    from console.gateway.settings import GatewaySettings

    async def endpoint(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"ok": True}, status_code=201)

    if kind == "bare":
        app = Starlette(routes=[Route(PATH, endpoint, methods=["PUT"])])
    else:
        app = create_app(GatewaySettings(port=port, catalogue=catalogue, kafka_bootstrap=kafka, db_path=db,
                                         client_secret=SECRET))
    uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, stack=stack)).run()


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


def start(kind: str, stack: str, tmp: Path, catalogue: Path, kafka: str) -> tuple[subprocess.Popen[bytes], int]:
    from console.events.broker import free_port

    port = free_port()
    log = open(tmp / f"{kind}-{stack}.log", "wb")  # noqa: SIM115 - the child writes it until it ends
    process = subprocess.Popen([sys.executable, "-m", "bench.bench_gateway", "--serve", kind, str(port), stack,
                                str(catalogue), kafka, str(tmp / f"g-{stack}.db")],
                               env={**os.environ, "APILOG_DATA_DIR": str(tmp)}, stdout=subprocess.DEVNULL,
                               stderr=log)
    return process, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--stacks", default="gateway-uvloop,h11-uvloop,httptools-uvloop", help="server stacks to compare (console.gateway.server.STACKS)")
    parser.add_argument("--serve", nargs=6, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        kind, port, stack, catalogue, kafka, db = args.serve
        serve(kind, int(port), stack, Path(catalogue), kafka, Path(db))
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    import httpx2

    from console.events.broker import EmbeddedBroker

    tmp = Path(tempfile.mkdtemp(prefix="apilog-bench-"))
    catalogue = tmp / "bench.jsonl"
    write_catalogue(catalogue)
    script = tmp / "put.lua"
    script.write_text(f"wrk.method = \"PUT\"\nwrk.body = '{BODY}'\n"
                      "wrk.headers[\"Content-Type\"] = \"application/json\"\n")
    load_before = os.getloadavg()
    broker = EmbeddedBroker(log_path=tmp / "broker.log").start()
    results: dict[tuple[str, str], dict] = {}
    health: dict[str, dict] = {}
    try:
        for stack in args.stacks.split(","):
            gateway, gw_port = start("gateway", stack, tmp, catalogue, broker.bootstrap)
            bare, bare_port = start("bare", stack, tmp, catalogue, broker.bootstrap)
            try:
                base = f"http://127.0.0.1:{gw_port}"
                wait_healthy(f"{base}/healthz", gateway)
                wait_healthy(f"http://127.0.0.1:{bare_port}{PATH}", bare)
                token = httpx2.post(f"{base}/oauth/token", data={"grant_type": "client_credentials"},
                                    auth=("apilog-sandbox", SECRET)).json()["access_token"]
                results[stack, "bare"] = wrk(f"http://127.0.0.1:{bare_port}{PATH}", args.duration,
                                             args.connections, args.threads, {}, script)
                results[stack, "gateway"] = wrk(f"{base}{PATH}?action=add-record", args.duration,
                                                args.connections, args.threads,
                                                {"Authorization": f"Bearer {token}"}, script)
                deadline = time.monotonic() + 30
                while True:
                    health[stack] = httpx2.get(f"{base}/healthz").json()
                    if health[stack]["kafka"]["pending"] == 0 or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
            finally:
                for process in (gateway, bare):
                    process.terminate()
                    process.wait(10)
    finally:
        broker.stop()
    load_after = os.getloadavg()
    print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, 1 uvicorn worker each, loopback; "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print("| stack | endpoint | req/s | p50 ms | p99 ms | requests | non-2xx |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for (stack, kind), r in results.items():
        name = "bare Starlette endpoint" if kind == "bare" else "gateway PUT add-record"
        print(f"| {stack} | {name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['requests']} "
              f"| {r['non_2xx']} |")
    print()
    for stack in args.stacks.split(","):
        ratio = results[stack, "gateway"]["rps"] / results[stack, "bare"]["rps"]
        kafka, db = health[stack]["kafka"], health[stack].get("database", {})
        group = f", {db['actions_per_commit']:.1f} writes per commit" if db.get("actions_per_commit") else ""
        p99 = results[stack, "gateway"]["p99"]
        verdict = (f"goal >= {GOAL_RATIO}x {'met' if ratio >= GOAL_RATIO else 'not met'}, "
                   f"p99 <= {GOAL_P99_MS:.0f} ms {'met' if p99 <= GOAL_P99_MS else 'not met'}")
        print(f"{stack}: gateway / bare throughput {ratio:.2f}, gateway p99 {p99:.1f} ms ({verdict}); "
              f"outbox {kafka['delivered']} delivered, {kafka['pending']} pending{group}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
