"""Ingest throughput on each backend, in one run: Roost's CSV ingest against the driver
underneath writing the same rows.

- SQLite: raw ``sqlite3.executemany`` (``INSERT OR IGNORE``) against Roost on a SQLite home.
- PostgreSQL: raw psycopg ``COPY ... FROM STDIN`` (``Copy.write_row``) against Roost on a
  PostgreSQL home (which COPYs into a staging table, then inserts with ``ON CONFLICT``).

Each pair writes the same events into the same table (the schema Roost's migration makes,
with its dedup indexes), in one transaction. Roost's figure includes reading and validating
the CSV file; the raw figures start from Python tuples already in memory, so a ratio is
the price of parsing, validation (and on PostgreSQL the staging step). The PostgreSQL
server is a throwaway one (scripts/pgserver.py: fsync off, as in the tests), or ``--pg URL``.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--backends sqlite,postgresql] [--no-append]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
from _report import machine  # noqa: E402
from roost.data.ingest import ingest_file  # noqa: E402
from roost.store import Home, open_store  # noqa: E402
from roost.store.sqlite import connect  # noqa: E402

COLS = "user_id, item_id, kind, value, ts, event_id"

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


def bench_sqlite(d: Path, rows: list, n: int) -> tuple[float, float]:
    # Raw: same schema (made by Roost's migration), same pragmas, one transaction.
    open_store(d / "raw").close()
    conn = connect(d / "raw" / "roost.db")
    t = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(f"INSERT OR IGNORE INTO events ({COLS}) VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    raw_s = time.perf_counter() - t
    conn.close()
    return raw_s, _roost(d / "roost", d, n)


def bench_postgres(d: Path, rows: list, n: int, new_database) -> tuple[float, float]:
    import psycopg

    raw_home = Home.at(d / "pgraw").create(new_database())
    open_store(raw_home).close()  # Roost's schema, with its indexes
    with psycopg.connect(raw_home.url) as conn:
        t = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur, cur.copy(f"COPY events ({COLS}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
        raw_s = time.perf_counter() - t
    home = Home.at(d / "pgroost").create(new_database())
    return raw_s, _roost(home, d, n)


def _roost(home, d: Path, n: int) -> float:
    """The CSV file through reading, validation, reference checks and storage."""
    s = open_store(home)
    ingest_file(s, "items", d / "items.csv")
    t = time.perf_counter()
    report = ingest_file(s, "events", d / "events.csv")
    roost_s = time.perf_counter() - t
    assert report.stored == n, report
    s.close()
    return roost_s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--pg", help="a PostgreSQL server URL whose user may create databases "
                    "(default: a throwaway server from scripts/pgserver.py)")
    args = ap.parse_args()
    backends = args.backends.split(",")
    n = args.rows
    server = None
    if "postgresql" in backends:
        from pgserver import PgServer

        server = PgServer().start()
    times: dict[str, list[tuple[float, float]]] = {b: [] for b in backends}
    try:
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                d = Path(tmp)
                rows = generate(d, n)
                if "sqlite" in backends:
                    times["sqlite"].append(bench_sqlite(d, rows, n))
                if server is not None:
                    times["postgresql"].append(bench_postgres(d, rows, n, server.new_database))
    finally:
        if server is not None:
            from roost.store.postgres import close_pools

            close_pools()
            server.stop()
    names = {"sqlite": ("raw sqlite3.executemany (tuples in memory)", "Roost ingest_file on SQLite"),
             "postgresql": ("raw psycopg COPY, write_row (tuples in memory)", "Roost ingest_file on PostgreSQL (COPY)")}  # fmt: skip
    lines = [f"| backend | path | seconds (best of {args.repeat}) | rows/s | ratio to raw |",
             "| --- | --- | ---: | ---: | ---: |"]  # fmt: skip
    for b in backends:
        raw = min(t[0] for t in times[b])
        roost = min(t[1] for t in times[b])
        lines.append(f"| {b} | {names[b][0]} | {raw:.2f} | {n / raw:,.0f} | 1.00x |")
        lines.append(f"| {b} | {names[b][1]} (CSV: read + validate + store) | {roost:.2f} | "
                     f"{n / roost:,.0f} | {raw / roost:.2f}x |")  # fmt: skip
    body = "\n".join(lines) + (f"\n\n{n:,} generated events (50k users, 20k items, 6 kinds) in one "
                               "transaction per path; goal: at least 0.8x of raw on each backend.")  # fmt: skip
    print(f"Machine: {machine()}. Command: `python bench/ingest.py --rows {n}`\n")
    print(body)


if __name__ == "__main__":
    main()
