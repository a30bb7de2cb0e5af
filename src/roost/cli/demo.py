"""``roost demo``: the whole pipeline on the bundled catalog, ending with the service up."""

from __future__ import annotations

import time
from typing import Any

import typer

from roost.cli.common import JSON, emit_json, home, progress, store, table
from roost.cli.common import engine as open_engine
from roost.data import datasets

DEMO_ALIASES = ("text", "collab", "item2vec")
SHOWN = ("ndcg", "recall", "hit_rate", "coverage")  # the rest are in --json


def demo(
    no_serve: bool = typer.Option(False, "--no-serve", help="stop before starting the service"),
    rebuild: bool = typer.Option(
        False, "--rebuild", help="refit even when the versions are current"
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="address to serve on"),
    port: int = typer.Option(8000, "--port", help="port to serve on"),
    json_out: bool = JSON,
) -> None:
    """Build everything on the bundled MovieTweetings catalog, then serve it.

    Ingests the catalog (re-running stores nothing twice), fits the default embedding
    versions (transformer -> ``text``, ALS -> ``collab``) and an item2vec version, builds
    their indexes, the BM25 index and the ranker, prints a quick evaluation table and
    explained recommendations for a sample user, then serves the API and the web app.
    Versions already fitted on the same data are reused unless ``--rebuild``.
    """
    from roost.engine import build_default

    started = time.perf_counter()
    show = progress()
    h = home()
    s = store(create=True)
    try:
        reports = datasets.load("movietweetings").ingest(s, progress=show)
        catalog = s.catalog()
        info: dict[str, Any] = {**s.counts(), "sample_user": s.sample_user(), "home": str(h.path)}
    finally:
        s.close()
    say = (lambda *_: None) if json_out else typer.echo
    for r in reports:
        say(f"ingested {r.kind}: {r.rows} rows, {r.stored} new")

    current = _current_versions(h, catalog.fingerprint)
    if rebuild or current is None:
        say("fitting embeddings, indexes and the ranker ...")
        built = build_default(h, progress=show)
        built["item2vec"] = _fit_item2vec(h, catalog)
    else:
        built = {"reused": current}
        say(f"versions are current ({', '.join(f'{a}={v}' for a, v in current.items())}); "
            "--rebuild refits them")  # fmt: skip

    from roost.evaluate.leaderboard import run as leaderboard

    say("quick evaluation (global time split) ...")
    board = leaderboard(catalog, "time", quick=True, progress=show, dataset="movietweetings")
    from roost.evaluate.report import write as write_board

    write_board(board, h.artifacts.evaluation("demo"))  # the web app's dashboard shows it

    with open_engine() as engine:
        result = engine.recommend(info["sample_user"], k=5, explain=True)
    info["seconds"] = round(time.perf_counter() - started, 2)

    if json_out:
        emit_json({"stats": info, "ingest": [r.to_dict() for r in reports], "build": built,
                   "evaluation": board.to_dict(), "recommendations": result.to_dict()})  # fmt: skip
    else:
        table(
            "Demo catalog: MovieTweetings 100K",
            ["what", "value"],
            [[k, v] for k, v in info.items()],
        )
        keys = [k for k in board.metric_keys if k.split("@")[0] in SHOWN]
        table("Quick evaluation (MovieTweetings, global time split)", ["method", *keys],
              [[r["method"], *(_fmt(r.get(k)) for k in keys)] for r in board.rows])  # fmt: skip
        # The order is the ranker's after MMR diversification, so the ranker's scores
        # need not fall down the list: the rank column says where each one landed.
        table(f"For {info['sample_user']} (ranked, then diversified)",
              ["#", "item", "title", "ranker score", "why"],
              [[j + 1, r.id, r.title, f"{r.score:.3f}", _why(r.why)]
               for j, r in enumerate(result.items)])  # fmt: skip
    if no_serve:
        return
    from roost.cli.serve import create_keys, serve_forever

    serve_forever(h.path, host=host, port=port, keys=create_keys(h.path))


def _current_versions(h, fingerprint: str) -> dict[str, str] | None:
    """The demo's aliases -> version ids when all exist and were fitted on this data."""
    from roost.store.versions import VersionStore

    with VersionStore(h) as vs:
        aliases = vs.aliases()
        if not all(a in aliases for a in DEMO_ALIASES):
            return None
        infos = {a: vs.info(aliases[a]) for a in DEMO_ALIASES}
    if any(i.fingerprint != fingerprint for i in infos.values()):
        return None
    if not all(h.artifacts.indexes_of(i.id).is_dir() for i in infos.values()):
        return None
    return {a: i.id for a, i in infos.items()}


def _fit_item2vec(h, catalog) -> dict[str, Any]:
    """A third version (item2vec over users' histories), so that the explorer and
    ``roost compare`` have two collaborative spaces to set side by side."""
    from roost.embed import get
    from roost.index import index_version
    from roost.store.versions import VersionStore

    t = time.perf_counter()
    model = get("item2vec")(seed=0).fit(catalog)
    items = model.embedding_set(catalog)
    with VersionStore(h) as vs:
        vid = vs.put(items, name="demo item2vec", alias="item2vec").id
    manifest = index_version(items, vid, h.artifacts.index(vid))
    return {"version": vid, "recall@10": manifest["recall@10"],
            "seconds": round(time.perf_counter() - t, 2)}  # fmt: skip


def _fmt(v: Any) -> str:
    return "" if v is None else f"{v:.4f}"


def _why(why: list[dict[str, Any]]) -> str:
    parts = []
    for w in why[:3]:
        if "because_title" in w:
            parts.append(f"{w.get('channel', '')}: because you liked {w['because_title']}")
        elif "channel" in w:
            parts.append(str(w["channel"]))
        elif "shared_tags" in w:
            parts.append("tags " + ", ".join(w["shared_tags"]))
    return "; ".join(parts)


def register(app: typer.Typer) -> None:
    app.command()(demo)
