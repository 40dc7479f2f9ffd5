"""How long ``/healthz`` waits while clients post large XML bodies to the reference gateway.

One gateway under uvicorn on a loopback port (no Kafka); ``--bodies`` clients each post a
1 MiB XML body of 260,000 elements at once, then ``/healthz`` is timed, then the time until
every XML post was answered. Before issue 11 the gateway read each body on its event loop
(14.8 s of stall for six bodies); now bodies are bounded and parsed on worker threads.

    .venv/bin/python -m bench.bench_gateway_hostile [--bodies 6] [--repeat 3]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx2

from console.gateway.server import GatewayServer
from console.gateway.settings import GatewaySettings

BODY = b'<r><a type="array">' + b"<i/>" * 260_000 + b"</a></r>"


def _post(base_url: str, token: str, answers: list[int]) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    head = (f"POST /customer/update?action=add-record HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {len(BODY)}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=300) as sock:
        sock.sendall(head + BODY)
        answers.append(int(sock.recv(64).split(b" ", 2)[1]))


def run_once(server: GatewayServer, token: str, bodies: int) -> tuple[float, float, list[int]]:
    answers: list[int] = []
    senders = [threading.Thread(target=_post, args=(server.base_url, token, answers)) for _ in range(bodies)]
    started = time.perf_counter()
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(0.05)  # let the bodies go out before the health check starts
    health_start = time.perf_counter()
    assert httpx2.get(f"{server.base_url}/healthz", timeout=300).status_code == 200
    health_s = time.perf_counter() - health_start
    for sender in senders:
        sender.join()
    return health_s, time.perf_counter() - started, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = GatewaySettings(port=0, db_path=Path(tmp) / "gateway.db", client_secret="bench-secret-1234")
        with GatewayServer(settings) as server:
            token = httpx2.post(server.token_url, data={"grant_type": "client_credentials"},
                                auth=(server.settings.client_id, "bench-secret-1234"),
                                timeout=30).json()["access_token"]
            runs = [run_once(server, token, args.bodies) for _ in range(args.repeat)]
    health = [h for h, _, _ in runs]
    total = [t for _, t, _ in runs]
    print(f"{args.bodies} x {len(BODY):,} B XML bodies, {args.repeat} runs")
    print(f"/healthz answered in   median {statistics.median(health) * 1000:8.1f} ms  max {max(health) * 1000:8.1f} ms")
    print(f"all XML posts answered median {statistics.median(total) * 1000:8.1f} ms")
    print(f"XML answers            {sorted({code for _, _, codes in runs for code in codes})}")


if __name__ == "__main__":
    main()
