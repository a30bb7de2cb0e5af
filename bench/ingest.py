"""Ingest throughput: Roost's CSV ingest against raw sqlite3.executemany of the same rows.

Both write the same 1M events into the same table (the schema Roost's migration makes,
with its dedup indexes), in one transaction, with the same pragmas. Roost's figure
includes reading and validating the CSV file; the raw figure starts from Python tuples
already in memory, so the ratio is the price of parsing plus validation.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--no-append]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import append  # noqa: E402
from roost.data.ingest import ingest_file  # noqa: E402
from roost.store import open_store  # noqa: E402
from roost.store.sqlite import connect  # noqa: E402

KINDS = np.array(["view", "click", "like", "share", "rating", "purchase"])


def generate(d: Path, n: int, n_users: int = 50_000, n_items: int = 20_000, seed: int = 0):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n)
    items = rng.integers(0, n_items, n)
    kinds = KINDS[rng.integers(0, len(KINDS), n)]
    values = rng.integers(1, 11, n).astype(float)
    ts = 1_600_000_000 + np.arange(n)
    rows = [
        (f"u{u}", f"i{i}", k, float(v), int(t), None)
        for u, i, k, v, t in zip(users, items, kinds, values, ts, strict=True)
    ]
    with open(d / "items.csv", "w") as f:
        f.write("id,title\n" + "".join(f"i{i},item {i}\n" for i in range(n_items)))
    with open(d / "events.csv", "w") as f:
        f.write("user_id,item_id,kind,value,ts\n")
        f.writelines(f"{r[0]},{r[1]},{r[2]},{r[3]:g},{r[4]}\n" for r in rows)
    return rows


def bench(n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        rows = generate(d, n)
        # Raw: same schema (made by Roost's migration), same pragmas, one transaction.
        raw_store = open_store(d / "raw")
        raw_store.close()
        conn = connect(d / "raw" / "roost.db")
        t = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT OR IGNORE INTO events (user_id, item_id, kind, value, ts, event_id) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute("COMMIT")
        raw_s = time.perf_counter() - t
        conn.close()
        # Roost: the CSV file through reading, validation, reference checks and storage.
        s = open_store(d / "roost")
        ingest_file(s, "items", d / "items.csv")
        t = time.perf_counter()
        report = ingest_file(s, "events", d / "events.csv")
        roost_s = time.perf_counter() - t
        assert report.stored == n, report
        s.close()
    return {"rows": n, "raw_s": raw_s, "roost_s": roost_s}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    results = [bench(args.rows) for _ in range(args.repeat)]
    best_raw = min(r["raw_s"] for r in results)
    best_roost = min(r["roost_s"] for r in results)
    n = args.rows
    ratio = best_raw / best_roost
    lines = [
        f"| path | seconds (best of {args.repeat}) | rows/s | ratio to raw |",
        "| --- | ---: | ---: | ---: |",
        f"| raw sqlite3.executemany (tuples in memory) | {best_raw:.2f} | {n / best_raw:,.0f} | 1.00x |",
        f"| Roost ingest_file (CSV: read + validate + store) | {best_roost:.2f} | {n / best_roost:,.0f} | {ratio:.2f}x |",
    ]
    body = "\n".join(lines) + f"\n\n{n:,} generated events (50k users, 20k items, 6 kinds); goal: at least 0.8x of raw."
    print(body)
    if not args.no_append:
        append("benchmarks.md", "Ingest: 1M events, Roost vs raw sqlite3", f"python bench/ingest.py --rows {n}", body)


if __name__ == "__main__":
    main()
