"""Benchmark: import the shipped TD448 document and a generated 100,000-row catalogue.

Run: .venv/bin/python -m bench.bench_catalogue [--rows 100000] [--repeat 5]

Reports wall time (best of --repeat) and peak traced memory (tracemalloc) for: the shipped
document, a generated TD448-style export of --rows rows (page furniture every 5 rows, every
fifth page break cutting a row), and the same rows as JSONL.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from pathlib import Path

from console.catalogue import DEFAULT_CATALOGUE, load_catalogue
from console.catalogue import vocabulary as vocab
from console.catalogue.formats import write_catalogue
from console.catalogue.model import Catalogue

FURNITURE = "\n\tVIETTEL AI RACE\t\tTD448\n\tQUẢN LÝ API & LOG\t\tLần ban hành: 1\n\n"


def generate_td448(rows: int, seed: int = 448) -> str:
    rng = random.Random(seed)
    paths = [f"/svc{n}/res{m}/op" for n in range(40) for m in range(25)]
    results = [t for t in vocab.TERMS if t.kind == "result"][:5]
    policies = [t for t in vocab.TERMS if t.kind == "policy" and t.slug not in vocab.UNSTATED]
    out = ["API\tPhương thức\tHành động\tMô tả chi tiết\tKết quả\tGhi chú"]
    for i in range(rows):
        if i and i % 5 == 0:
            out.append(FURNITURE.rstrip("\n"))
        path, method = rng.choice(paths), rng.choice(vocab.METHODS)
        action = vocab.term(rng.choice(vocab.ACTIONS)).vi
        result = rng.choice(results).label("vi", {"max_ms": 1000, "max_retries": rng.randint(1, 5)})
        policy = rng.choice(policies).label("vi", {"limit": rng.choice([100, 500, 1000])})
        desc = f"API {path} sử dụng phương thức {method} để {action}, có xác thực OAuth2 và log giao dịch chi tiết."
        if i % 25 == 24:  # cut across the page break
            a, b = action.split(" ", 1)
            out.append(f"{path}\t{method}\t{a}\t{desc[:30]}\t{result}\t{policy}")
            out.append(FURNITURE.rstrip("\n"))
            out.append(f"\t\t{b}\t{desc[30:]}\t\t")
        else:
            out.append(f"{path}\t{method}\t{action}\t{desc}\t{result}\t{policy}")
    return "\n".join(out) + "\n"


def measure(label: str, path: Path, repeat: int) -> tuple[Catalogue, str]:
    best = float("inf")
    catalogue = None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        catalogue = load_catalogue(path)
        _ = catalogue.operations
        best = min(best, time.perf_counter() - start)
    gc.collect()
    tracemalloc.start()
    load_catalogue(path).operations  # noqa: B018 - measured for its allocations
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert catalogue is not None
    rate = len(catalogue.rows) / best
    line = (f"| {label} | {len(catalogue.rows):,} | {len(catalogue.operations):,} | {best * 1000:,.1f} ms "
            f"| {rate:,.0f} rows/s | {peak / 2**20:,.1f} MiB |")
    return catalogue, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lines = ["| input | rows | operations | time (best) | rate | peak traced memory |",
             "|---|---|---|---|---|---|"]
    _, line = measure("shipped TD448 (62 pages)", DEFAULT_CATALOGUE, args.repeat)
    lines.append(line)
    generated = args.out / f"generated-{args.rows}.txt"
    generated.write_text(generate_td448(args.rows), encoding="utf-8")
    big, line = measure(f"generated TD448 export, {args.rows:,} rows", generated, max(1, args.repeat // 2))
    lines.append(line)
    jsonl = args.out / f"generated-{args.rows}.jsonl"
    jsonl.write_text(write_catalogue(big, "jsonl"), encoding="utf-8")
    _, line = measure("same rows as JSONL", jsonl, max(1, args.repeat // 2))
    lines.append(line)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
