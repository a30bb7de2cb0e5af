"""Monitoring commands: drift, compare, map."""

from __future__ import annotations

import typer

from roost.cli.common import JSON, emit_json, home, store, table
from roost.store.versions import VersionStore
from roost.types import RoostError


def _sets(*refs: str):
    with VersionStore(home(), create=False) as vs:
        return [vs.get(r).as_embedding_set() for r in refs]


def _window_samples(reference: str, current: str, version: str | None, per: str):
    """Both sides as time windows of the home's catalog, in the space of ``version``."""
    from roost.monitor.windows import parse_window, window_sample

    if not version:
        raise RoostError(
            "time windows need --version VERSION: the version (id or alias) whose item "
            "vectors describe each window"
        )
    windows = [parse_window(reference), parse_window(current)]
    (items,) = _sets(version)
    s = store()
    try:
        catalog = s.catalog()
    finally:
        s.close()
    return [window_sample(items, catalog, start, end, per) for start, end in windows]


def drift(
    reference: str = typer.Option(
        ..., "--reference", help="version id or alias, or a time window START..END"
    ),
    current: str = typer.Option(
        ..., "--current", help="version id or alias (same space), or a time window START..END"
    ),
    version: str = typer.Option(
        None, "--version", help="with time windows: the version whose vectors describe them"
    ),
    per: str = typer.Option(
        "event",
        "--per",
        help="with time windows: event (each event's item), user (each active user's mean "
        "item) or item (items created in the window)",
    ),
    method: list[str] = typer.Option([], "--method", help="drift method, repeatable (default: all)"),
    seed: int = typer.Option(0, "--seed"),
    json_out: bool = JSON,
) -> None:
    """Drift between two sets of vectors in one space: score, threshold, p-value, verdict.

    Compare two versions (ids or aliases), or two time windows of the catalog in one
    version's space: START..END with dates (2013-06-04), ISO times or epoch seconds, the
    end excluded and either side open, e.g. --reference ..2013-06-04 --current 2013-06-04..
    --version production.
    """
    from roost.monitor import drift as run_drift
    from roost.monitor.windows import is_window

    windows = [is_window(reference), is_window(current)]
    if all(windows):
        ref, cur = _window_samples(reference, current, version, per)
    elif any(windows):
        raise RoostError(
            "--reference and --current must both be versions or both be time windows "
            f"(got {reference!r} and {current!r})"
        )
    else:
        if version:
            raise RoostError("--version is for time windows; two versions carry their own vectors")
        ref, cur = _sets(reference, current)
    results = [r.to_dict() for r in run_drift(ref, cur, methods=method or None, seed=seed)]
    if json_out:
        emit_json(results)
    else:
        cols = ["method", "score", "threshold", "p_value", "drifted"]
        where = f" in {version} ({per})" if all(windows) else ""
        title = f"Drift {reference} -> {current}{where}"
        table(title, cols, [[r.get(c) for c in cols] for r in results])


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
