"""``roost demo``: the whole pipeline on the bundled catalog."""

from __future__ import annotations

import time

import typer

from roost.cli.common import JSON, emit_json, home, progress, store, table
from roost.data import datasets


def demo(
    no_serve: bool = typer.Option(False, "--no-serve", help="stop before starting the service"),
    json_out: bool = JSON,
) -> None:
    """Build everything on the bundled MovieTweetings catalog.

    Ingests the catalog into the home (re-running stores nothing twice) and prints its
    stats.
    """
    started = time.perf_counter()
    s = store(create=True)
    try:
        reports = datasets.load("movietweetings").ingest(s, progress=progress())
        info = {**s.counts(), "sample_user": s.sample_user(), "home": str(home().path)}
    finally:
        s.close()
    info["seconds"] = round(time.perf_counter() - started, 2)
    if json_out:
        emit_json({"stats": info, "ingest": [r.to_dict() for r in reports]})
        return
    for r in reports:
        typer.echo(f"ingested {r.kind}: {r.rows} rows, {r.stored} new")
    table("Demo catalog: MovieTweetings 100K", ["what", "value"], [[k, v] for k, v in info.items()])


def register(app: typer.Typer) -> None:
    app.command()(demo)
