"""CPU the transaction log spends per call: ``begin`` → ``record_attempt`` per attempt → ``finish``.

    .venv/bin/python bench/bench_txlog_calls.py --calls 3000 --rounds 5
    .venv/bin/python bench/bench_txlog_calls.py --baseline /tmp/txw-base   # old code, same run

Each call writes what :class:`console.caller.client.Caller` writes during ``apilog check``: a
pending row with the request's headers and a JSON body, one attempt (every 10th call two, the
first a 503), then the outcome with the response's headers and body, on a real file (WAL), with
a client secret and a JWT registered as secrets as the caller does. It prints process CPU (all
threads) and wall time per call, best and median of ``--rounds``, each round on a fresh file.

The writes follow this tree's caller: the attempt that ends the call goes in with the outcome
(``finish(tx, result, final_attempt)``), and ``finish`` does not get the request again.
``--old-caller`` writes as the caller before issue 15 did: every attempt in a transaction of its
own, and the request repeated to ``finish`` (a tree whose ``finish`` has no ``final_attempt``
is always written so).

``--baseline SRC`` also runs this very script against another source tree (an older commit
unpacked with ``git archive``), and this tree with ``--old-caller`` too, rounds alternating, so
all are measured under the same load; ``--cprofile`` prints where this tree's CPU goes instead.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

if os.environ.get("BENCH_SOURCE"):
    sys.path.insert(0, os.environ["BENCH_SOURCE"])
else:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console.caller.model import Attempt  # noqa: E402
from console.txlog import TransactionLog  # noqa: E402

SECRET = "s3cr3t-client-secret-value"
TOKEN = ("eyJhbGciOiJSUzI1NiIsImtpZCI6InNhbmRib3gtMSIsInR5cCI6IkpXVCJ9."
         + "eyJzdWIiOiJhcGlsb2ctY29uc29sZSIsInNjb3BlIjoiY3VzdG9tZXI6d3JpdGUi" * 6
         + ".c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtc2lnbmF0dXJlLXNpZ25hdHVyZQ" * 5)


def request(i: int) -> dict[str, object]:
    """``begin``'s arguments for call ``i``, shaped like the caller's."""
    body = json.dumps({"customer_id": f"CUST-{i:07d}", "name": f"Operator Test {i}",
                       "email": f"user{i}@example.net", "msisdn": f"+3161234{i % 10000:04d}",
                       "plan": "business-unlimited", "address": {"street": "Stationsplein 1",
                       "city": "Utrecht", "postcode": "3511 ED", "country": "NL"},
                       "note": "created by the conformance run"})
    request_id = f"6f1c2d3e-4b5a-4c6d-8e9f-{i:012d}"
    headers = {"Accept": "application/json", "X-Request-Id": request_id,
               "Content-Type": "application/json", "Idempotency-Key": f'"key-{i:08d}"',
               "Authorization": "REDACTED"}
    return dict(method="PUT", path="/customer/update", action="add-record", version="v2",
                fmt="json", url=f"http://127.0.0.1:8080/v2/customer/update?action=add-record&id=CUST-{i:07d}",
                record_id=f"CUST-{i:07d}", request_headers=headers, request_body=body,
                idempotency_key=f'"key-{i:08d}"', trace_id=f"{i:032x}", request_id=request_id,
                sla_ms=1000, profile="sandbox", origin="check")


def response_headers(i: int, status: int) -> dict[str, str]:
    return {"content-type": "application/json", "content-length": "412",
            "date": "Thu, 03 Dec 2026 20:00:00 GMT", "server": "uvicorn",
            "x-request-id": f"6f1c2d3e-4b5a-4c6d-8e9f-{i:012d}", "x-transaction-id": f"gw-{i:010d}",
            "x-event-id": f"evt-{i:010d}" if status < 300 else "",
            "x-ratelimit-limit-minute": "1000", "x-ratelimit-remaining-minute": str(999 - i % 1000),
            "traceparent": f"00-{i:032x}-00f067aa0ba902b7-01"}


def outcome(i: int, attempts: list[Attempt], old_caller: bool) -> SimpleNamespace:
    """``finish``'s argument: a ``CallResult``'s fields (the request repeated by the old caller)."""
    body = json.dumps({"data": {"customer_id": f"CUST-{i:07d}", "status": "active",
                                "plan": "business-unlimited", "updated_at": "2026-12-03T20:00:00Z",
                                "links": {"self": f"/v2/customer/CUST-{i:07d}"}},
                       "meta": {"transaction_id": f"gw-{i:010d}", "event_id": f"evt-{i:010d}",
                                "api_version": "v2"}})
    return SimpleNamespace(
        outcome="committed", status=201, attempts=attempts, rolled_back=False,
        event_id=f"evt-{i:010d}", elapsed_ms=sum(a.elapsed_ms for a in attempts), sla_ms=1000,
        sla_ok=True, request_id=attempts[-1].request_id, trace_id=f"{i:032x}",
        response_headers=response_headers(i, 201), response_body=body,
        request_headers=request(i)["request_headers"] if old_caller else {},
        request_body=request(i)["request_body"] if old_caller else None, error=None)


def one_round(calls: int, workdir: Path, old_caller: bool) -> tuple[float, float]:
    """CPU and wall seconds for ``calls`` calls on a fresh log file."""
    path = workdir / f"calls-{time.monotonic_ns()}.db"
    log = TransactionLog(path)
    log.add_secret(SECRET)
    log.add_secret(TOKEN)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(calls):
        tx_id = log.begin(**request(i))
        statuses = [503, 201] if i % 10 == 0 else [201]
        attempts = []
        for number, status in enumerate(statuses, 1):
            attempts.append(Attempt(number, time.time(), 4.0, status,
                                    retry_after_s=1.0 if status == 503 else None,
                                    request_id=f"6f1c2d3e-4b5a-4c6d-8e9f-{i:012d}",
                                    headers=response_headers(i, status)))
            if not old_caller and number == len(statuses):
                break
            log.record_attempt(tx_id, attempts[-1])
        if old_caller:
            log.finish(tx_id, outcome(i, attempts, old_caller))
        else:
            log.finish(tx_id, outcome(i, attempts, old_caller), final_attempt=attempts[-1])
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    log.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per round (default 3000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best is reported (default 5)")
    parser.add_argument("--dir", type=Path, default=None, help="where the log files go (default: a temp dir)")
    parser.add_argument("--old-caller", action="store_true",
                        help="write as the caller before issue 15: each attempt alone, request repeated")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another source tree to measure in the same run, rounds alternating")
    parser.add_argument("--cprofile", action="store_true", help="profile one round instead")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="bench-txlog-calls-"))
    workdir.mkdir(parents=True, exist_ok=True)
    old_caller = args.old_caller or "final_attempt" not in inspect.signature(TransactionLog.finish).parameters
    if args.cprofile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(one_round, args.calls, workdir, old_caller)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    if args.json:  # a child of --baseline: one round, figures on stdout
        print(json.dumps(one_round(args.calls, workdir, old_caller)))
        return

    def child(source: Path | None, old: bool) -> tuple[float, float]:
        env = dict(os.environ)
        env.pop("BENCH_SOURCE", None)
        if source is not None:
            env["BENCH_SOURCE"] = str(source)
        argv = [sys.executable, __file__, "--json", "--calls", str(args.calls), "--dir", str(workdir)]
        if old:
            argv.append("--old-caller")
        out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout
        cpu, wall = json.loads(out.splitlines()[-1])
        return cpu, wall

    trees: list[tuple[str, Path | None, bool]] = [("this tree", None, old_caller)]
    if args.baseline:
        trees[:0] = [(f"baseline {args.baseline}", args.baseline, True),
                     ("this tree, old caller's writes", None, True)]
    results: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in trees}
    for _ in range(args.rounds):
        for name, source, old in trees:
            results[name].append(child(source, old))
    print(f"{args.calls:,} calls per round, {args.rounds} rounds, load average "
          f"{os.getloadavg()[0]:.1f}; best round / median round, per call:")
    for name, figures in results.items():
        cpus = sorted(c for c, _ in figures)
        walls = sorted(w for _, w in figures)
        per = 1e6 / args.calls
        print(f"  {name:<40} CPU {cpus[0] * per:6.0f} / {cpus[len(cpus) // 2] * per:6.0f} µs   "
              f"wall {walls[0] * per:6.0f} / {walls[len(walls) // 2] * per:6.0f} µs")


if __name__ == "__main__":
    main()
