"""Monitoring commands: drift, compare, map."""

from __future__ import annotations

import typer

from roost.cli.common import JSON, emit_json, home, store, table
from roost.store.versions import VersionStore


def _sets(*refs: str):
    with VersionStore(home(), create=False) as vs:
        return [vs.get(r).as_embedding_set() for r in refs]


def drift(
    reference: str = typer.Option(..., "--reference", help="version id or alias"),
    current: str = typer.Option(..., "--current", help="version id or alias (same space)"),
    method: list[str] = typer.Option([], "--method", help="drift method, repeatable (default: all)"),
    seed: int = typer.Option(0, "--seed"),
    json_out: bool = JSON,
) -> None:
    """Drift between two sets of vectors in one space: score, threshold, p-value, verdict."""
    from roost.monitor import drift as run_drift

    ref, cur = _sets(reference, current)
    results = [r.to_dict() for r in run_drift(ref, cur, methods=method or None, seed=seed)]
    if json_out:
        emit_json(results)
    else:
        cols = ["method", "score", "threshold", "p_value", "drifted"]
        table(f"Drift {reference} -> {current}", cols, [[r.get(c) for c in cols] for r in results])


def compare(
    a: str = typer.Argument(..., help="version id or alias"),
    b: str = typer.Argument(..., help="version id or alias"),
    k: int = typer.Option(10, "--k", help="neighbours per item"),
) -> None:
    """Compare two versions whose spaces differ: neighbour overlap, rank correlation,
    Procrustes residual and the items whose neighbourhoods changed most (JSON)."""
    from roost.monitor import compare_versions

    sa, sb = _sets(a, b)
    emit_json(compare_versions(sa, sb, k=k, names=(a, b)).to_dict())


def map_(
    version: str = typer.Argument(..., help="version id or alias"),
    out: str = typer.Option("map.html", "--out", help="output .png, .svg or .html"),
    method: str = typer.Option("pca", "--method", help="pca | umap | tsne"),
) -> None:
    """A 2-D map of a version, coloured by category, titles on hover (HTML)."""
    from roost.monitor.maps import write_map

    (es,) = _sets(version)
    s = store()
    try:
        items = s.read("items")
    finally:
        s.close()
    ids = items.column("id").to_pylist()
    labels = dict(zip(ids, items.column("category").to_pylist(), strict=True))
    titles = dict(zip(ids, items.column("title").to_pylist(), strict=True))
    path = write_map(es, out, method, labels={k: v or "" for k, v in labels.items()},
                     titles={k: v or k for k, v in titles.items()}, href="/items/{id}")
    typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.command()(drift)
    app.command()(compare)
    app.command("map")(map_)
