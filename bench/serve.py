"""HTTP serving: /recommend and /search throughput and p50/p99 over loopback, against a bare
FastAPI app returning a constant list under the same uvicorn settings, in one run.

Both servers run as separate processes (uvicorn, one worker, access log off); a client
process drives each with C concurrent keep-alive connections (httpx, asyncio) for a fixed
time per endpoint. The ratio Roost / bare says what the recommender, the search and the
service's own layers (auth, metrics, validation) cost over the framework itself.

    python bench/serve.py --home ./.roost          # a home built by `roost demo --no-serve`
    python bench/serve.py                          # builds one in bench/out/serve-home first
    python bench/serve.py --append                 # also append the figures to docs/benchmarks.md
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


def serve(kind: str, port: int, home: str) -> None:
    import uvicorn

    if kind == "bare":
        app = bare_app()
    else:
        from roost.service import ServiceSettings, create_app

        app = create_app(ServiceSettings.from_env(home))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(kind: str, home: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--port", str(port), "--home", home], env=env
    )
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
    return {"requests": len(lat), "errors": errors, "rps": len(lat) / wall,
            "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99))}  # fmt: skip


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

    eng = Engine.open(home)
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
    finally:
        eng.close()
    return out


def build_home(path: Path) -> Path:
    """The bundled MovieTweetings catalog with the default versions, built once."""
    from roost.data import datasets
    from roost.engine import build_default
    from roost.store import open_store

    if (
        (path / "roost.db").exists()
        and (path / "versions").is_dir()
        and any((path / "versions").iterdir())
    ):
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
    ap.add_argument("--seconds", type=float, default=10.0, help="duration per endpoint and server")
    ap.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="seconds of requests before each timed run (covers the engine's background work)",
    )
    ap.add_argument(
        "--append", action="store_true", help="append the results to docs/benchmarks.md"
    )
    ap.add_argument("--serve", choices=["roost", "bare"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.home)
        return
    home = str(Path(args.home).absolute()) if args.home else str(build_home(OUT / "serve-home"))
    from roost.service import KeyStore, ServiceSettings

    keys = KeyStore(ServiceSettings.from_env(home).keys_path)
    key, record = keys.create("read", name="bench/serve.py")
    paths = workload(home)
    load_before = os.getloadavg()[0]
    results: dict[tuple[str, str], dict] = {}
    try:
        for kind in ("bare", "roost"):
            proc, base = start(kind, home)
            try:
                headers = {"X-API-Key": key} if kind == "roost" else {}
                for endpoint, ps in paths.items():
                    asyncio.run(drive(base, ps[:20], headers, args.clients, args.warmup))
                    results[(kind, endpoint)] = asyncio.run(
                        drive(base, ps, headers, args.clients, args.seconds)
                    )
            finally:
                proc.terminate()
                proc.wait(30)
    finally:
        keys.revoke(record.id)
    engine_ms = in_process(home, paths)
    load_after = os.getloadavg()[0]
    rows = ["| endpoint | server | requests | errors | req/s | p50 (ms) | p99 (ms) | Roost / bare (req/s) |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for endpoint in paths:
        bare = results[("bare", endpoint)]
        for kind in ("bare", "roost"):
            r = results[(kind, endpoint)]
            ratio = f"{r['rps'] / bare['rps']:.3f}x" if kind == "roost" else ""
            rows.append(f"| /{endpoint} | {kind} | {r['requests']} | {r['errors']} | {r['rps']:.0f} | "
                        f"{r['p50']:.1f} | {r['p99']:.1f} | {ratio} |")  # fmt: skip
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
            f"process; the client (httpx, asyncio, {args.clients} keep-alive connections) runs on the same "
            f"2 cores for {args.seconds:.0f} s per endpoint after a {args.warmup:.0f} s warm-up. 'bare' is a FastAPI app "
            f"with the same routes returning a constant list of 10 items; Roost serves the real home "
            f"with a read key (auth, metrics, validation, the engine). Load average (1 min) "
            f"{load_before:.1f} before, {load_after:.1f} after (shared machine).\n\n{table}\n"
        )
        append(
            "benchmarks.md",
            "HTTP serving: /recommend and /search over loopback",
            "python bench/serve.py " + " ".join(sys.argv[1:]),
            body,
        )


if __name__ == "__main__":
    main()
