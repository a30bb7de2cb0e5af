"""``roost eval``: the method-ladder leaderboard on a dataset or on the home's own data."""

from __future__ import annotations

from pathlib import Path

import typer

from roost.cli.common import JSON, emit_json, progress, store, table
from roost.types import RoostError


def eval_(
    dataset: str = typer.Option(
        None,
        "--dataset",
        help="dataset name (movietweetings, ml-100k ...); default: the home's data",
    ),
    path: str = typer.Option(None, "--path", help="folder of a dataset that is not bundled"),
    protocol: str = typer.Option(
        "stratified", "--protocol", help="stratified | official | leave-last | time"
    ),
    methods: str = typer.Option(None, "--methods", help="comma-separated methods (default: all)"),
    k: int = typer.Option(10, "--k", help="cutoff of every metric"),
    threshold: float = typer.Option(
        None,
        "--threshold",
        help="a test event is relevant when its value >= R (default: every event)",
    ),
    seed: int = typer.Option(42, "--seed", help="seed of the splits and the methods"),
    quick: bool = typer.Option(False, "--quick", help="a few cheap methods at their defaults"),
    no_tune: bool = typer.Option(False, "--no-tune", help="skip the validation search"),
    threads: int = typer.Option(1, "--threads", help="threads for the methods that take them"),
    out: str = typer.Option(
        None, "--out", help="folder for leaderboard.json, .md and .png [default: ./eval-<dataset>]"
    ),
    json_out: bool = JSON,
) -> None:
    """Rank the method ladder on held-out events and print the leaderboard."""
    from roost.data import datasets
    from roost.evaluate.leaderboard import METHODS, run, summary
    from roost.evaluate.report import write

    names = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
    if names:
        unknown = [m for m in names if m not in METHODS]
        if unknown:
            raise RoostError(
                f"--methods: unknown method {unknown[0]!r}; known: {', '.join(METHODS)}"
            )
    if dataset:
        source = datasets.load(dataset, path)
    else:
        s = store()
        try:
            source = s.catalog()
        finally:
            s.close()
    board = run(
        source, protocol, names, k=k, threshold=threshold, seed=seed, quick=quick,
        tune=not no_tune, n_threads=threads, progress=progress(), dataset=dataset or "home",
    )  # fmt: skip
    files = write(board, Path(out or f"eval-{dataset or 'home'}"))
    if json_out:
        emit_json({**summary(board), "files": files})
        return
    keys = [f"{m}@{k}" for m in ("ndcg", "recall", "precision", "map", "coverage")]
    rows = [[r["method"], *(f"{r[key]:.4f}" for key in keys), f"{r['fit_seconds']:.1f}"]
            for r in board.rows]  # fmt: skip
    run_ = board.run
    title = (
        f"{run_['dataset']} · {protocol} · {run_['n_users']:,} users · {run_['n_items']:,} items"
    )
    table(title, ["method", *keys, "fit s"], rows)
    typer.echo(f"wrote {', '.join(v for v in files.values() if v)} ({run_['seconds']:.0f} s)")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_)
