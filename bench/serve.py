"""HTTP serving: /recommend and /search throughput and p50/p99 over loopback, against a bare
FastAPI app returning a constant list under the same uvicorn settings, in one run.

Roost runs twice: with its result cache off (every request runs the whole pipeline) and on
(the default, 30 s ttl; the hit rate of the timed run is printed, read from /metrics).
How often a request is a repeat depends on the workload: ``--users`` sets how many distinct
users (and search queries) the clients draw from, uniformly.

The three servers run as separate processes (uvicorn, one worker, access log off), all
up at once; a client process drives one at a time with C concurrent keep-alive connections
(httpx, asyncio), in rounds where the servers take turns, and each round's Roost / bare
ratio is taken from runs seconds apart (a shared machine's speed drifts over minutes).
The ratio says what the recommender, the search and the service's own layers (auth,
metrics, validation) cost over the framework itself. "Cache off" turns off the result
cache only: search still keeps the vectors of the last 1,024 distinct queries.

    python bench/serve.py --home ./.roost          # a home built by `roost demo --no-serve`
    python bench/serve.py                          # builds one in bench/out/serve-home first
    python bench/serve.py --append                 # also append the figures to docs/benchmarks.md
    python bench/serve.py --workers 2              # uncached /recommend: 2 workers vs 1, vs bare

With ``--workers N`` (N > 1) the servers are: the bare app and Roost with its result cache
off, each with N uvicorn workers behind one port, and Roost with the cache off and one
worker; the figures are uncached /recommend req/s with N workers against one, and against
the bare app with the same number of workers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
CONSTANT = [
    {"id": f"item-{i}", "title": f"Item {i}", "score": 1.0 - i / 10, "why": []} for i in range(10)
]


# --- the two servers ---------------------------------------------------------------------------
def bare_app():
    """The baseline: the same routes returning a constant list, no work behind them."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/recommend/{user}")
    def recommend(user: str, k: int = 10) -> dict:
        return {"user": user, "items": CONSTANT[:k]}

    @app.get("/search")
    def search(q: str, k: int = 10, mode: str = "hybrid") -> dict:
        return {"user": q, "items": CONSTANT[:k]}

    @app.get("/health/ready")
    def ready() -> dict:
        return {"ok": True}

    return app


SERVERS = ("bare", "roost", "roost-cached")
WORKER_SERVERS = ("bare", "roost", "roost-1")  # with --workers N: N, N and 1 workers


def serve(kind: str, port: int, home: str, workers: int = 1) -> None:
    import uvicorn

    from roost.service import ServiceSettings, create_app

    settings = ServiceSettings.from_env(home, cache_ttl=30.0 if kind == "roost-cached" else 0.0)
    if kind == "roost-1":
        workers = 1
    run = {"host": "127.0.0.1", "port": port, "log_level": "warning", "access_log": False}
    if workers > 1:  # uvicorn's workers import the app by name, each in its own process
        from roost.service.app import SETTINGS_ENV

        os.environ[SETTINGS_ENV] = settings.to_json()
        target = "serve:bare_app" if kind == "bare" else "roost.service.app:app_from_env"
        uvicorn.run(target, factory=True, workers=workers, **run)
        return
    uvicorn.run(bare_app() if kind == "bare" else create_app(settings), **run)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(kind: str, home: str, workers: int = 1) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--port", str(port), "--home", home,
         "--workers", str(workers)], env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health/ready", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"{kind} server exited with {proc.returncode}")
        time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"{kind} server not ready after 10 minutes")


# --- the client ----------------------------------------------------------------------------------
async def drive(base: str, paths: list[str], headers: dict, clients: int, seconds: float) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=30
    ) as client:

        async def worker(seed: int) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.perf_counter() < stop:
                t = time.perf_counter()
                r = await client.get(rng.choice(paths))
                latencies.append(time.perf_counter() - t)
                errors += r.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        wall = time.perf_counter() - started
    lat = np.array(latencies) * 1e3
    return {"requests": len(lat), "errors": errors, "rps": len(lat) / wall, "lat": lat,
            "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99))}  # fmt: skip


def cache_lookups(base: str, headers: dict) -> tuple[float, float]:
    """(hits, misses) of the result cache so far, from /metrics."""
    import re

    import httpx

    text = httpx.get(base + "/metrics", headers=headers, timeout=30).text
    got = dict(re.findall(r'roost_cache_lookups_total\{outcome="(\w+)"\} (\S+)', text))
    return float(got.get("hit", 0)), float(got.get("miss", 0))


def workload(home: str, n: int = 200, seed: int = 0) -> dict[str, list[str]]:
    """Request paths: /recommend for users with events, /search for words of item titles."""
    from urllib.parse import quote, urlencode

    from roost.store import open_store

    with open_store(home, create=False) as s:
        events = s.read("events").column("user_id").to_pylist()
        titles = [t for t in s.read("items").column("title").to_pylist() if t]
    rng = random.Random(seed)
    users = rng.sample(sorted(set(events)), min(n, len(set(events))))
    queries = [" ".join(t.split()[:3]) for t in rng.sample(titles, min(n, len(titles)))]
    return {
        "recommend": [f"/recommend/{quote(u, safe='')}?k=10" for u in users],
        "search": [f"/search?{urlencode({'q': q, 'k': 10, 'mode': 'hybrid'})}" for q in queries],
    }


def in_process(home: str, paths: dict[str, list[str]]) -> dict[str, float]:
    """Mean milliseconds of the same calls made on the Engine directly (the library
    underneath the service), one at a time, on one BLAS thread, after a warm-up pass."""
    from urllib.parse import parse_qs, unquote, urlsplit

    from threadpoolctl import threadpool_limits

    from roost.engine import Engine

    eng = Engine.open(home, cache_ttl=0)  # every call does the work
    eng.neighbour_tables.join()  # the server builds them in the background at load
    out = {}
    try:
        calls = {
            "recommend": [lambda u=unquote(p.split("/")[2].split("?")[0]): eng.recommend(u, k=10)
                          for p in paths["recommend"]],
            "search": [lambda q=parse_qs(urlsplit(p).query)["q"][0]: eng.search(q, mode="hybrid", k=10)
                       for p in paths["search"]],
        }  # fmt: skip
        # one BLAS/OpenMP thread, as the servers run; every call made once before timing
        with threadpool_limits(1):
            for name, fns in calls.items():
                for f in fns:
                    f()
                t = time.perf_counter()
                for f in fns:
                    f()
                out[name] = (time.perf_counter() - t) / len(fns) * 1e3
            # the same recommend calls from 8 threads at once, as a thread pool runs them
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(8) as ex:
                t = time.perf_counter()
                list(ex.map(lambda f: f(), calls["recommend"]))
                out["recommend, 8 threads at once"] = (
                    (time.perf_counter() - t) / len(calls["recommend"]) * 1e3
                )
    finally:
        eng.close()
    return out


def build_home(path: Path) -> Path:
    """The bundled MovieTweetings catalog with the default versions, built once."""
    from roost.data import datasets
    from roost.engine import build_default
    from roost.store import Home, open_store

    versions = Home.at(path).artifacts.versions
    if Home.at(path).exists() and versions.is_dir() and any(versions.iterdir()):
        return path
    with open_store(path) as s:
        datasets.load("movietweetings").ingest(s)
    build_default(path, progress=True, fast=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--home", default=None, help="a built home (default: build bench/out/serve-home)"
    )
    ap.add_argument("--clients", type=int, default=8, help="concurrent connections")
    ap.add_argument("--users", type=int, default=200, help="distinct users and queries drawn")
    ap.add_argument("--seconds", type=float, default=4.0, help="duration of one timed run")
    ap.add_argument("--rounds", type=int, default=5, help="timed runs per server and endpoint")
    ap.add_argument(
        "--warmup",
        type=float,
        default=5.0,
        help="seconds of requests per server and endpoint before the first round",
    )
    ap.add_argument(
        "--append", action="store_true", help="append the results to docs/benchmarks.md"
    )
    ap.add_argument("--workers", type=int, default=1,
                    help="serving processes per server (N > 1: uncached /recommend, N vs 1)")
    ap.add_argument("--serve", choices=SERVERS + WORKER_SERVERS, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.home, args.workers)
        return
    home = str(Path(args.home).absolute()) if args.home else str(build_home(OUT / "serve-home"))
    from roost.service import KeyStore, ServiceSettings

    keys = KeyStore(ServiceSettings.from_env(home).key_records())
    key, record = keys.create("read", name="bench/serve.py")
    paths = workload(home, args.users)
    kinds = WORKER_SERVERS if args.workers > 1 else SERVERS
    if args.workers > 1:  # the figure asked for: uncached /recommend
        paths = {"recommend": paths["recommend"]}
    load_before = os.getloadavg()[0]
    # All three servers run at once and take turns, round after round: a shared machine's
    # speed drifts over minutes, and a ratio taken within a round (seconds apart) is not
    # moved by that drift the way one taken between servers measured minutes apart is.
    runs: dict[tuple[str, str], list[dict]] = {}
    servers: dict[str, tuple[subprocess.Popen, str]] = {}
    try:
        for kind in kinds:
            servers[kind] = start(kind, home, args.workers)
        headers = {kind: {"X-API-Key": key} if kind != "bare" else {} for kind in kinds}
        for kind, (_, base) in servers.items():
            for ps in paths.values():
                asyncio.run(drive(base, ps, headers[kind], args.clients, args.warmup))
        for rnd in range(args.rounds):
            order = kinds[rnd % 3 :] + kinds[: rnd % 3]  # who goes first rotates
            for endpoint, ps in paths.items():
                for kind in order:
                    base = servers[kind][1]
                    before = cache_lookups(base, headers[kind]) if kind != "bare" else (0, 0)
                    r = asyncio.run(drive(base, ps, headers[kind], args.clients, args.seconds))
                    if kind != "bare":
                        after = cache_lookups(base, headers[kind])
                        r["hits"], r["misses"] = after[0] - before[0], after[1] - before[1]
                    runs.setdefault((kind, endpoint), []).append(r)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
        for proc, _ in servers.values():
            proc.wait(30)
        keys.revoke(record.id)
    results: dict[tuple[str, str], dict] = {}
    for (kind, endpoint), rs in runs.items():
        lat = np.concatenate([r["lat"] for r in rs])
        bare = runs[("bare", endpoint)]
        results[(kind, endpoint)] = {
            "requests": sum(r["requests"] for r in rs),
            "errors": sum(r["errors"] for r in rs),
            "rps": float(np.median([r["rps"] for r in rs])),
            "p50": float(np.percentile(lat, 50)),
            "p99": float(np.percentile(lat, 99)),
            "ratio": float(np.median([r["rps"] / b["rps"] for r, b in zip(rs, bare, strict=True)])),
            "ratios": [r["rps"] / b["rps"] for r, b in zip(rs, bare, strict=True)],
        }
        if kind != "bare":
            hits, misses = sum(r["hits"] for r in rs), sum(r["misses"] for r in rs)
            results[(kind, endpoint)]["hit_rate"] = hits / max(hits + misses, 1)
    if args.workers > 1:
        report_workers(args, home, runs, results, load_before)
        return
    engine_ms = in_process(home, paths)
    load_after = os.getloadavg()[0]
    rows = ["| endpoint | server | requests | errors | req/s (median) | p50 (ms) | p99 (ms) | cache hits | Roost / bare, median of rounds (min-max) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    names = {"bare": "bare", "roost": "roost, cache off", "roost-cached": "roost, cache on"}
    for endpoint in paths:
        for kind in SERVERS:
            r = results[(kind, endpoint)]
            ratio = (f"{r['ratio']:.3f}x ({min(r['ratios']):.2f}-{max(r['ratios']):.2f})"
                     if kind != "bare" else "")  # fmt: skip
            hit = f"{r['hit_rate']:.0%}" if "hit_rate" in r else ""
            rows.append(f"| /{endpoint} | {names[kind]} | {r['requests']} | {r['errors']} | {r['rps']:.0f} | "
                        f"{r['p50']:.1f} | {r['p99']:.1f} | {hit} | {ratio} |")  # fmt: skip
    table = "\n".join(rows)
    lib = ", ".join(f"/{k} {v:.1f} ms" for k, v in engine_ms.items())
    table += (f"\n\nThe same calls on the Engine in-process, one at a time on one BLAS thread after a "
              f"warm-up pass (the library under the service): {lib} per call.")  # fmt: skip
    print(table)
    print(f"load average {load_before:.1f} before, {load_after:.1f} after")
    if args.append:
        sys.path.insert(0, str(HERE))
        from _report import append

        body = (
            f"Home: {home} ({len(paths['recommend'])} users with events, {len(paths['search'])} title "
            f"queries). Each server: uvicorn, one worker, access log off, BLAS/OpenMP 1 thread, its own "
            f"process, all three up at once; the client (httpx, asyncio, {args.clients} keep-alive "
            f"connections) runs on the same 2 cores and drives one server at a time: after a "
            f"{args.warmup:.0f} s warm-up of each, {args.rounds} rounds of {args.seconds:.0f} s per "
            f"server and endpoint, the servers taking turns (who goes first rotates), the ratio "
            f"taken within each round. 'bare' is a FastAPI app "
            f"with the same routes returning a constant list of 10 items; Roost serves the real home "
            f"with a read key (auth, metrics, validation, the engine), once with its result cache "
            f"off (search still keeps the vectors of its last 1,024 queries) and once on (30 s "
            f"ttl), the clients drawing uniformly from {args.users} users "
            f"and {args.users} queries. Load average (1 min) "
            f"{load_before:.1f} before, {load_after:.1f} after (shared machine).\n\n{table}\n"
        )
        append(
            "benchmarks.md",
            "HTTP serving: /recommend and /search over loopback",
            "python bench/serve.py " + " ".join(sys.argv[1:]),
            body,
        )


def report_workers(args, home: str, runs: dict, results: dict, load_before: float) -> None:
    w = args.workers
    scale = [r["rps"] / one["rps"] for r, one in
             zip(runs[("roost", "recommend")], runs[("roost-1", "recommend")], strict=True)]  # fmt: skip
    names = {"bare": f"bare, {w} workers", "roost": f"roost, cache off, {w} workers",
             "roost-1": "roost, cache off, 1 worker"}  # fmt: skip
    rows = ["| endpoint | server | requests | errors | req/s (median) | p50 (ms) | p99 (ms) | Roost / bare (same workers), median of rounds (min-max) |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for kind in WORKER_SERVERS:
        r = results[(kind, "recommend")]
        ratio = "" if kind != "roost" else f"{r['ratio']:.3f}x ({min(r['ratios']):.2f}-{max(r['ratios']):.2f})"
        rows.append(f"| /recommend | {names[kind]} | {r['requests']} | {r['errors']} | {r['rps']:.0f} | "
                    f"{r['p50']:.1f} | {r['p99']:.1f} | {ratio} |")  # fmt: skip
    table = "\n".join(rows)
    table += (f"\n\nRoost, cache off: {w} workers / 1 worker = {np.median(scale):.2f}x "
              f"(median of rounds; {min(scale):.2f}-{max(scale):.2f}).")  # fmt: skip
    print(table)
    print(f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
