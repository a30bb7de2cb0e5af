"""Data commands: init, ingest, load, stats, datasets."""

from __future__ import annotations

from enum import StrEnum

import typer

from roost.cli.common import JSON, emit_json, home, progress, store, table
from roost.data import datasets
from roost.data.ingest import ingest_file
from roost.store import Home, open_store, redact
from roost.types import RoostError


class Kind(StrEnum):
    items = "items"
    users = "users"
    events = "events"
    follows = "follows"


class OnError(StrEnum):
    fail = "fail"
    skip = "skip"


def parse_map(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        target, sep, source = p.partition("=")
        if not sep or not target.strip() or not source.strip():
            raise RoostError(f"--map {p!r}: expected ROOST_COLUMN=FILE_COLUMN, e.g. item_id=movieId")
        out[target.strip()] = source.strip()
    return out


def init(
    database: str = typer.Option(
        None, "--database", help="keep the catalog in this database, e.g. "
        "postgresql://roost@db.example/roost (recorded in the home); default: <home>/roost.db",
        show_default=False,
    ),
    json_out: bool = JSON,
) -> None:
    """Create the Roost home (folders, database schema); harmless if it exists."""
    h = home()
    url = database or h.database
    if url:
        h = Home.at(h.path, url).create(url)
    with open_store(h, create=True) as s:
        info = {"home": str(h.path), "database": redact(h.url), "backend": h.backend,
                "schema_version": s.schema_version, **s.counts()}  # fmt: skip
    if json_out:
        emit_json(info)
    else:
        typer.echo(f"Roost home ready at {info['home']} on {info['database']} "
                   f"(schema {info['schema_version']})")  # fmt: skip


def migrate(
    to: str = typer.Option(..., "--to", help="the server database to copy into, "
                           "postgresql://user@host/dbname (it must hold no Roost data yet)"),
    json_out: bool = JSON,
) -> None:
    """Copy this (embedded) home's database into a server database; the home then uses it.

    Catalog, versions, aliases with their history and API keys are copied in one
    transaction and checked (row counts); the home records the new URL. Vector and index
    files stay where they are. The SQLite file is kept (renamed roost.db.migrated).
    """
    from roost.store.migrate import copy_home

    report = copy_home(home(), to, progress=progress())
    if json_out:
        emit_json(report)
    else:
        counts = ", ".join(f"{v} {k}" for k, v in report["copied"].items())
        typer.echo(f"copied {counts} into {report['to']}; {report['home']} now uses it")


def ingest(
    kind: Kind = typer.Argument(..., help="what the file holds"),
    file: str = typer.Argument(..., help="CSV, TSV, JSONL or Parquet file"),
    format: str = typer.Option(None, "--format", help="csv|tsv|jsonl|parquet (default: from the suffix)"),
    map_: list[str] = typer.Option([], "--map", help="ROOST_COLUMN=FILE_COLUMN, repeatable"),
    event_kind: str = typer.Option(None, "--kind", help="event kind for every row when the file has no 'kind' column"),
    on_error: OnError = typer.Option(OnError.fail, "--on-error", help="fail: store nothing if any row is bad; skip: store good rows, reject bad ones"),
    rejects: str = typer.Option(None, "--rejects", help="where skipped rows go (default: <home>/rejects/<file>.rejects.jsonl)"),
    tag_sep: str = typer.Option("|", "--tag-sep", help="separator of tags in a text column"),
    json_out: bool = JSON,
) -> None:
    """Ingest a file of items, users, events or follows (one transaction)."""

    s = store(create=True)
    try:
        rejects_path = rejects or str(home().artifacts.rejects_of(file))
        report = ingest_file(
            s, kind.value, file, format=format, mapping=parse_map(map_), event_kind=event_kind,
            on_error=on_error.value, rejects_path=rejects_path, tag_sep=tag_sep, progress=progress(),
        )
    finally:
        s.close()
    if json_out:
        emit_json(report.to_dict())
        return
    typer.echo(
        f"{report.kind}: {report.rows} rows read, {report.stored} new, {report.unchanged} already stored"
        + (f", {report.rejected} rejected -> {report.rejects_path}" if report.rejected else "")
        + f" ({report.seconds:.2f}s)"
    )


def load(
    name: str = typer.Argument(..., help="dataset name (see `roost datasets`)"),
    path: str = typer.Option(None, "--path", help="folder with the dataset's files (needed unless bundled)"),
    json_out: bool = JSON,
) -> None:
    """Ingest a named dataset (the bundled demo catalog, or one from --path)."""
    if name == "folder":
        if not path:
            raise RoostError("dataset 'folder' needs --path")
        s = store(create=True)
        try:
            reports = datasets.ingest_folder(s, path, progress=progress())
        finally:
            s.close()
    else:
        ds = datasets.load(name, path)
        s = store(create=True)
        try:
            reports = ds.ingest(s, progress=progress())
        finally:
            s.close()
    if json_out:
        emit_json([r.to_dict() for r in reports])
    else:
        for r in reports:
            typer.echo(f"{r.kind}: {r.rows} rows, {r.stored} new ({r.seconds:.2f}s)")


def stats(
    latency: bool = typer.Option(
        False,
        "--latency",
        help="p50/p95/p99 per stage and endpoint, from <home>/metrics/latency.json",
    ),
    json_out: bool = JSON,
) -> None:
    """Counts of items, users, events and follows, and a user to try (or, with --latency,
    the latency figures the service and commands saved in the home)."""
    if latency:
        return _latency(json_out)
    s = store()
    try:
        info = {**s.counts(), "sample_user": s.sample_user(), "home": str(home().path)}
    finally:
        s.close()
    if json_out:
        emit_json(info)
    else:
        table("Roost home", ["what", "count"], [[k, v] for k, v in info.items()])


def _latency(json_out: bool) -> None:
    from roost.monitor.latency import LatencyRegistry, latency_path

    path = latency_path(home().path)
    snap = LatencyRegistry.load(path).snapshot() if path.exists() else {}
    if json_out:
        emit_json(snap)
        return
    if not snap:
        typer.echo(f"no latency figures saved in {path} yet")
        return
    cols = ["count", "p50", "p95", "p99", "max"]
    rows = [
        # endpoints are named "METHOD /path" by the service; everything else is a stage
        ["endpoint" if " /" in name else "stage", name]
        + [v.get(c) if c == "count" else _ms(v.get(c)) for c in cols]
        for name, v in sorted(snap.items(), key=lambda kv: (" /" not in kv[0], kv[0]))
    ]
    table(f"Latency (ms) from {path}", ["kind", "name", *cols], rows)


def _ms(x: float | None) -> str:
    return "" if x is None else f"{x:.3g}"


def list_datasets(json_out: bool = JSON) -> None:
    """Datasets Roost can load by name."""
    rows = [
        {"name": c.name, "bundled": c.bundled, "licence": c.licence, "description": c.description}
        for c in datasets.REGISTRY.values()
    ]
    if json_out:
        emit_json(rows)
    else:
        table("Datasets", ["name", "bundled", "licence", "description"], [list(r.values()) for r in rows])


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(migrate)
    app.command()(ingest)
    app.command()(load)
    app.command()(stats)
    app.command("datasets")(list_datasets)
