"""The dashboard page's figures and charts, from what Roost already keeps in the home.

- **Leaderboard**: the newest ``leaderboard.json`` that ``roost eval --out <home>/eval/NAME``
  (or ``roost demo``, into ``<home>/eval/demo``) wrote, whatever rows it holds; rows whose
  method names the served surface (``served...``/``surface...``) are drawn apart from the
  baselines.
- **Versions**: each version's index recall@10 by its creation time, and drift over time:
  for each served item version, the mean-shift drift score of each eighth of the event
  timeline (the item vectors of its events) against the first eighth
  (:func:`roost.monitor.drift.drift`, detector ``mean``).
- **Latency**: p50/p95/p99 per endpoint over time from ``<home>/metrics/latency-history.jsonl``
  (:func:`roost.monitor.latency.read_history`), which the service appends to when it saves
  its figures.

Charts are SVG drawn here with matplotlib (the ``viz`` extra), so the page loads nothing
from elsewhere; without matplotlib the page shows the tables alone. Drift figures are
cached per version and event count (versions are immutable).
"""

from __future__ import annotations

import io
import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from roost.monitor.latency import read_history
from roost.service.api_versions import index_figures
from roost.service.runtime import Runtime
from roost.store.artifacts import Artifacts

WINDOWS = 8
SHOWN_STAGES = 6  # endpoints with the most requests
_drift_cache: dict[tuple, list] = {}
_drift_lock = threading.Lock()


def latest_leaderboard(home: Path) -> tuple[Path, dict] | None:
    """The newest readable ``leaderboard.json`` under ``<home>/eval/``."""
    found = sorted(Artifacts(Path(home)).evaluations.glob("*/leaderboard.json"),
                   key=lambda p: p.stat().st_mtime)  # fmt: skip
    for path in reversed(found):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("leaderboard"), list):
            return path, doc
    return None


def _served(method: str) -> bool:
    return str(method).startswith(("served", "surface"))


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    # scale with the page: the width attribute goes, the viewBox stays
    head, rest = svg.split(">", 1)
    head = " ".join(p for p in head.split(" ") if not p.startswith(("width=", "height=")))
    return f'{head} class="chart" role="img">{rest}'


def _plt():
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "roost"})
    return plt


def leaderboard_chart(doc: dict) -> tuple[str | None, list[str], list[dict]]:
    """``(svg, metric keys, rows)`` of a leaderboard document."""
    rows = [r for r in doc["leaderboard"] if isinstance(r, dict) and "method" in r]
    k = (doc.get("run") or {}).get("k", 10)
    keys = [m for m in (f"ndcg@{k}", f"recall@{k}") if any(m in r for r in rows)]
    plt = _plt()
    if plt is None or not rows or not keys:
        return None, keys, rows
    fig, ax = plt.subplots(figsize=(6.4, 0.32 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    for j, key in enumerate(keys):
        vals = [float(np.nan_to_num(r.get(key) or 0.0)) for r in rows]
        colours = [("#c0392b" if _served(r["method"]) else "#2b6cb0") if j == 0 else
                   ("#e59866" if _served(r["method"]) else "#8fb3de") for r in rows]  # fmt: skip
        ax.barh(y + (0.2 if j == 0 else -0.2), vals, height=0.38, color=colours, label=key)
    ax.set_yticks(y, [str(r["method"]) for r in rows])
    ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("score (red: the served surface, blue: baselines)")
    fig.tight_layout()
    return _svg(fig), keys, rows


def _date(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def versions_chart(rt: Runtime) -> tuple[str | None, list[dict]]:
    """Recall@10 of each version's indexes by creation time, and the table rows."""
    infos = rt.versions().list()
    table = []
    for info in infos:
        figs = index_figures(rt, info.id)
        table.append({"id": info.id, "method": info.method, "aliases": ", ".join(info.aliases),
                      "created": info.created, "recall": figs})  # fmt: skip
    plt = _plt()
    points = [(t["created"], ix["recall@10"], t["id"]) for t in table for ix in t["recall"]
              if isinstance(ix.get("recall@10"), int | float) and t["created"]]  # fmt: skip
    if plt is None or not points:
        return None, table
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    xs = [_date(_epoch(p[0])) for p in points]
    ax.plot(xs, [p[1] for p in points], "o-", color="#2b6cb0")
    for x, p in zip(xs, points, strict=True):
        ax.annotate(p[2], (x, p[1]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_ylabel("index recall@10")
    ax.set_ylim(0, 1.05)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _svg(fig), table


def _epoch(created: Any) -> float:
    if isinstance(created, int | float):
        return float(created)
    return datetime.fromisoformat(str(created).replace("Z", "+00:00")).timestamp()


def drift_series(rt: Runtime) -> dict[str, list[tuple[float, float]]]:
    """``{alias: [(window end, mean-shift score against the first window)]}`` for the
    served item versions with vectors for the catalog's events."""
    from roost.monitor.drift import MIN_ROWS, drift
    from roost.monitor.windows import time_split, window_vectors

    store = rt.store()
    inter = store.catalog().interactions()
    ts = np.asarray(inter.ts) if getattr(inter, "ts", None) is not None else None
    if ts is None or len(ts) < WINDOWS * 10:
        return {}
    bounds = [None, *time_split(ts, [j / WINDOWS for j in range(1, WINDOWS)]), None]
    vs = rt.versions()
    out = {}
    for alias, vid in sorted(vs.aliases().items()):
        info = vs.info(vid)
        if info.kind != "item":
            continue
        key = (vid, len(ts))
        with _drift_lock:
            hit = _drift_cache.get(key)
        if hit is None:
            items = vs.get(vid).as_embedding_set()
            windows = [window_vectors(items, inter, a, b) for a, b in zip(bounds, bounds[1:], strict=False)]
            ref = windows[0]
            hit = []
            for b, cur in zip(bounds[1:], windows[1:], strict=False):
                if len(ref) < MIN_ROWS or len(cur) < MIN_ROWS:
                    continue
                score = drift(ref, cur, ["mean"], params={"mean": {"n_permutations": 0}})[0].score
                hit.append((float(b if b is not None else ts.max()), float(score)))
            with _drift_lock:
                _drift_cache[key] = hit
        out[f"{alias} ({vid})"] = hit
    return out


def drift_chart(series: dict[str, list]) -> str | None:
    plt = _plt()
    if plt is None or not any(series.values()):
        return None
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    for name, pts in series.items():
        if pts:
            ax.plot([_date(t) for t, _ in pts], [s for _, s in pts], "o-", label=name)
    ax.set_ylabel("drift vs first window")
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _svg(fig)


def latency_chart(home: Path) -> tuple[str | None, list[dict]]:
    """p50/p95/p99 per endpoint over time, and the latest line's figures as table rows."""
    history = read_history(home)
    if not history:
        return None, []
    totals: dict[str, int] = {}
    for line in history:
        for stage, s in line["stages"].items():
            if " /" in stage:  # endpoints ("GET /recommend/{user}"), not engine stages
                totals[stage] = totals.get(stage, 0) + int(s.get("count", 0))
    stages = sorted(totals, key=lambda s: -totals[s])[:SHOWN_STAGES]
    last = {s: st for line in history for s, st in line["stages"].items() if s in stages}
    rows = [{"stage": s, **{q: last[s].get(q) for q in ("count", "p50", "p95", "p99")}}
            for s in stages]  # fmt: skip
    plt = _plt()
    if plt is None or not stages:
        return None, rows
    fig, axes = plt.subplots(1, 3, figsize=(9, 2.8), sharey=True)
    for ax, q in zip(axes, ("p50", "p95", "p99"), strict=True):
        for s in stages:
            pts = [(line["time"], line["stages"][s][q]) for line in history
                   if s in line["stages"] and line["stages"][s].get(q) is not None]  # fmt: skip
            if pts:
                ax.plot([_date(t) for t, _ in pts], [v for _, v in pts], ".-", label=s)
        ax.set_title(q)
        ax.set_yscale("log")
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    axes[0].set_ylabel("ms")
    axes[-1].legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    return _svg(fig), rows


def figures(rt: Runtime) -> dict[str, Any]:
    """Everything the dashboard template shows."""
    found = latest_leaderboard(rt.home.path)
    board = None
    if found is not None:
        path, doc = found
        svg, keys, rows = leaderboard_chart(doc)
        board = {"path": str(path.relative_to(rt.home.path)), "svg": svg, "keys": keys,
                 "rows": rows, "run": doc.get("run") or {}}  # fmt: skip
    vsvg, vtable = versions_chart(rt)
    try:
        series = drift_series(rt)
    except Exception as e:  # a figure, not the page: say why and go on
        series = {}
        rt.log_once("dashboard.drift", f"dashboard: drift not computed: {e}")
    lsvg, lrows = latency_chart(rt.home.path)
    return {"board": board, "versions_svg": vsvg, "versions": vtable,
            "drift_svg": drift_chart(series), "drift": series,
            "latency_svg": lsvg, "latency": lrows}  # fmt: skip
