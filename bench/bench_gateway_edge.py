"""Benchmark: the per-request cost of the gateway's edge building blocks, in isolation.

Run: .venv/bin/python -m bench.bench_gateway_edge [--repeat 5]

Each line is the best of --repeat runs of a loop, reported as microseconds per call and calls
per second on one core: token issue and bearer verification (RS256), a rate-limit hit, Accept
negotiation, and JSON vs XML for a small request body and a 100-record export page. It shows
what the edge adds to a request before any SQLite or Kafka work.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from console.gateway.auth import ClientRegistry, KeyRing, TokenIssuer
from console.gateway.negotiation import choose_format, parse_body, render
from console.gateway.ratelimit import RateLimiter
from console.gateway.xmlcodec import from_xml, to_xml


def best_per_call(action: Callable[[], object], calls: int, repeat: int) -> float:
    """Best seconds per call over ``repeat`` loops of ``calls`` calls."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(calls):
            action()
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    issuer = TokenIssuer(KeyRing.generate(), "http://127.0.0.1:8080", "apilog-gateway", 900, ClientRegistry())
    token = issuer.issue("sandbox", ["customer:read", "customer:write"])
    header = f"Bearer {token}"
    limiter = RateLimiter()
    small = {"name": "Ana", "email": "ana@example.com", "tier": 2, "vip": True, "tags": ["a", "b"]}
    page = {"records": [{"id": f"c{n}", "fields": small, "created_at": "2026-11-26T18:00:00Z"}
                        for n in range(100)], "next_cursor": "c99"}
    small_json, small_xml = render(small, "json")[0], render(small, "xml")[0]
    page_json, page_xml = json.dumps(page).encode(), to_xml(page)

    cases: list[tuple[str, Callable[[], object], int]] = [
        ("issue token (RS256 sign)", lambda: issuer.issue("sandbox", ["customer:read"]), 200),
        ("verify_bearer (RS256 verify + claims)", lambda: issuer.verify_bearer(header, "customer:read"), 2000),
        ("RateLimiter.hit", lambda: limiter.hit("sandbox|POST /customer/update add-record", 10**9, 60), 100_000),
        ("choose_format (q-values)", lambda: choose_format("application/xml;q=0.9, application/json;q=0.5, */*;q=0.1", True), 50_000),
        ("parse_body small JSON", lambda: parse_body("application/json", small_json, True, 1 << 20), 50_000),
        ("parse_body small XML (defusedxml)", lambda: parse_body("application/xml", small_xml, True, 1 << 20), 10_000),
        ("render 100-record page JSON", lambda: render(page, "json"), 500),
        ("render 100-record page XML", lambda: render(page, "xml"), 200),
        ("from_xml 100-record page", lambda: from_xml(page_xml), 200),
        ("json.loads 100-record page", lambda: json.loads(page_json), 500),
    ]
    print("| step | µs per call | calls/s |\n|---|---|---|")
    for name, action, calls in cases:
        seconds = best_per_call(action, calls, args.repeat)
        print(f"| {name} | {seconds * 1e6:,.1f} | {1 / seconds:,.0f} |")
    print(f"\nbodies: small JSON {len(small_json)} B, small XML {len(small_xml)} B, "
          f"page JSON {len(page_json):,} B, page XML {len(page_xml):,} B")


if __name__ == "__main__":
    main()
