"""The method-ladder leaderboard: every method, one protocol, one table.

:func:`run` splits the events by a protocol, tunes each method's few hyperparameters on a
validation split carved from the training data (the test split is never looked at while
choosing), refits on the whole training data with the chosen values, ranks the full catalog
for every test user (training items excluded) and reports accuracy and beyond-accuracy
metrics. Everything needed to repeat the run (seed, protocol, parameters, grid scores,
versions of Roost and its libraries, the data fingerprint) is kept in ``Leaderboard.run``.

Protocols (``PROTOCOLS``): ``stratified`` (per user, a random 75/25 split, as Microsoft
Recommenders' benchmark), ``leave-last`` (each user's last event), ``time`` (a global time
cut at the 80th percentile of event times), ``official`` (the ML-100K u1-u5 folds; mean and
standard deviation over folds).
"""

from __future__ import annotations

import datetime as dt
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from roost.data.datasets.base import Dataset
from roost.data.frames import Catalog, Interactions
from roost.data.splits import leave_last_n, stratified_split, time_cut
from roost.evaluate.methods import METHODS, QUICK, SHARED, Context
from roost.evaluate.ranking import evaluate_scorer
from roost.evaluate.scorers import ColdStart
from roost.types import RoostError

Split = Callable[[Interactions], tuple[Interactions, Interactions]]
REPORTED = ("ndcg", "recall", "precision", "map", "mrr", "hit_rate", "coverage", "novelty")
LIBRARIES = ("numpy", "scipy", "scikit-learn", "implicit", "gensim", "lightgbm", "torch",
             "onnxruntime", "pyarrow")  # fmt: skip


def _stratified(seed: int) -> Split:
    return lambda inter: stratified_split(inter, 0.75, seed=seed)


def _leave_last(seed: int) -> Split:
    return lambda inter: leave_last_n(inter, 1)


def _time(seed: int) -> Split:
    return lambda inter: time_cut(inter, quantile=0.8)


# protocol -> (test split, validation split carved from train), each built from the seed
PROTOCOLS: dict[str, tuple[Callable[[int], Split], Callable[[int], Split]]] = {
    "stratified": (_stratified, _stratified),
    "leave-last": (_leave_last, _leave_last),
    "time": (_time, _time),
    "official": (_stratified, _stratified),  # test folds come from the dataset's files
}


@dataclass
class Leaderboard:
    """Rows (one dict per method, best first by the first metric) and the run's record."""

    rows: list[dict[str, Any]]
    run: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"leaderboard": self.rows, "run": self.run}

    @property
    def metric_keys(self) -> list[str]:
        return [f"{m}@{self.run['k']}" for m in REPORTED]

    def markdown(self) -> str:
        """The table as Markdown (means; ± sample std over folds where there are several)."""
        keys = self.metric_keys
        lines = ["| method | " + " | ".join(keys) + " | fit s | chosen |",
                 "|" + " --- |" * (len(keys) + 3)]  # fmt: skip
        for r in self.rows:
            cells = []
            for key in keys:
                v, sd = r.get(key), r.get("std", {}).get(key)
                cell = "" if v is None or np.isnan(v) else f"{v:.4f}"
                cells.append(cell + (f" ± {sd:.4f}" if sd is not None and cell else ""))
            chosen = ", ".join(f"{k}={_short(v)}" for k, v in r.get("chosen", {}).items())
            lines.append(f"| {r['method']} | " + " | ".join(cells)
                         + f" | {r['fit_seconds']:.1f} | {chosen} |")  # fmt: skip
        return "\n".join(lines)


def _short(v: Any) -> str:
    if isinstance(v, list | tuple):
        return "/".join(_short(x) for x in v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def versions() -> dict[str, str]:
    """Versions of Python, Roost and the libraries a run depends on (those installed)."""
    out = {"python": platform.python_version()}
    for name in ("roost", *LIBRARIES):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass
class _Fold:
    name: str
    train: Interactions
    test: Interactions


def _folds(source: Dataset | Catalog, catalog: Catalog, protocol: str, seed: int) -> list[_Fold]:
    inter = catalog.interactions()
    if len(inter) == 0:
        raise RoostError("there are no events to evaluate on: ingest events first")
    if protocol != "official":
        train, test = PROTOCOLS[protocol][0](seed)(inter)
        return [_Fold(protocol, train, test)]
    names = source.extra.get("folds", []) if isinstance(source, Dataset) else []
    names = [f for f in names if f.startswith("u") and f[1:].isdigit()]
    if not names:
        raise RoostError(
            "protocol 'official' needs a dataset with official folds (--dataset ml-100k --path DIR "
            "with u1.base ... u5.test)"
        )
    from roost.data.datasets.movielens import MovieLens100K

    out = []
    for name in names:
        train_t, test_t = MovieLens100K.fold(source.extra["path"], name)
        both = Catalog(items=catalog.items, events=_concat(train_t, test_t)).interactions()
        is_train = np.zeros(len(both), bool)
        is_train[: train_t.num_rows] = True
        out.append(_Fold(name, both.subset(is_train), both.subset(~is_train)))
    return out


def _concat(a, b):
    import pyarrow as pa

    from roost.data.frames import EVENTS_SCHEMA

    def canon(t):
        cols = {f.name: t.column(f.name) if f.name in t.column_names else pa.nulls(t.num_rows, f.type)
                for f in EVENTS_SCHEMA}  # fmt: skip
        return pa.table(cols).cast(EVENTS_SCHEMA)

    return pa.concat_tables([canon(a), canon(b)])


def _order(methods: Sequence[str]) -> list[str]:
    """Components before the hybrids built on them; popularity always present."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise RoostError(f"unknown method {unknown[0]!r}; known: {', '.join(METHODS)}")
    wanted = ["popularity", *methods]
    return [m for m in METHODS if m in wanted]


def _tune(
    name: str, grid: dict, ctx: Context, train: Interactions, metric: str, k: int, bar
) -> dict:
    """Each parameter set of ``grid`` scored on the validation split of ``train``."""
    fit_part, valid = ctx.valid_split(train)
    scores = []
    for params in METHODS[name].candidates(grid):
        bar.set_postfix_str(f"{name} {params}"[:60])
        scorer = ColdStart(METHODS[name].make(params, ctx))
        ev = evaluate_scorer(scorer, fit_part, valid, k=k, metrics=[metric],
                             threshold=ctx.threshold)  # fmt: skip
        scores.append((params, ev.metrics[metric]))
    best = max(scores, key=lambda s: np.nan_to_num(s[1], nan=-np.inf))
    return {"best": best[0], "grid": [{"params": p, metric: round(v, 6)} for p, v in scores]}


def _run_folds(
    source, catalog, protocol, names, k, threshold, seed, tune, n_threads, progress, grids
):
    from tqdm.auto import tqdm

    folds = _folds(source, catalog, protocol, seed)
    metric = f"ndcg@{k}"
    per_method: dict[str, list[dict]] = {m: [] for m in names}
    tuning: dict[str, list[dict]] = {m: [] for m in names}
    steps = len(folds) * len(names)
    with tqdm(total=steps, disable=not progress, desc="eval", unit="method") as bar:
        for fold in folds:
            ctx = Context(catalog.items, seed, n_threads, PROTOCOLS[protocol][1](seed), threshold)
            for name in names:
                bar.set_postfix_str(name)
                if tune and grids.get(name):
                    found = _tune(name, grids[name], ctx, fold.train, metric, k, bar)
                    ctx.chosen[name] = found["best"]
                    tuning[name].append({"fold": fold.name, **found})
                params = ctx.params_of(name)
                # a row hybrids are built from fits once, and they reuse that fit
                made = ctx.scorer(name)() if name in SHARED else METHODS[name].make(params, ctx)
                scorer = ColdStart(made)
                ev = evaluate_scorer(scorer, fold.train, fold.test, k=k, threshold=threshold,
                                     metrics=list(REPORTED))  # fmt: skip
                per_method[name].append({"metrics": ev.metrics, "fit": ev.fit_seconds,
                                         "score": ev.score_seconds, "params": params,
                                         "users": ev.n_users})  # fmt: skip
                bar.update(1)
    return per_method, tuning, folds


def run(
    source: Dataset | Catalog,
    protocol: str = "stratified",
    methods: Sequence[str] | None = None,
    k: int = 10,
    threshold: float | None = None,
    seed: int = 42,
    quick: bool = False,
    tune: bool = True,
    n_threads: int = 1,
    progress: bool = False,
    dataset: str = "home",
    grids: Mapping[str, Mapping[str, list]] | None = None,
) -> Leaderboard:
    """Run the ladder under ``protocol`` and return the :class:`Leaderboard`.

    Parameters
    ----------
    source : a :class:`~roost.data.datasets.base.Dataset` (``official`` needs one with
        folds) or a home's :class:`~roost.data.frames.Catalog`.
    methods : names of :data:`roost.evaluate.methods.METHODS` (all by default); popularity
        is always added.
    k : the cutoff of every metric.
    threshold : an event is relevant when its value >= threshold (every event when None).
    quick : a few cheap methods (``QUICK``) with their default parameters, no search.
    tune : search each method's grid on a validation split of the training data.
    n_threads : threads for the methods that take them.
    progress : a progress bar on stderr.
    dataset : the dataset's name, recorded in the run.
    grids : method -> a grid replacing its default one (``{}``: no search).

    Examples
    --------
    >>> from roost.data import datasets
    >>> board = run(datasets.load("movietweetings"), "time", ["itemknn"], tune=False)
    >>> sorted(r["method"] for r in board.rows)
    ['itemknn', 'popularity']
    """
    if protocol not in PROTOCOLS:
        raise RoostError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    if k < 1:
        raise RoostError(f"k must be >= 1, got {k}")
    catalog = source.catalog() if isinstance(source, Dataset) else source
    names = _order(QUICK if quick and methods is None else (methods or list(METHODS)))
    tune = tune and not quick
    grids = {m: dict(METHODS[m].grid) for m in names} | {
        m: dict(g) for m, g in (grids or {}).items()
    }
    started = time.perf_counter()
    # BLAS threads follow n_threads too: on a shared machine more threads than asked for
    # only wait on each other.
    with threadpool_limits(n_threads):
        per_method, tuning, folds = _run_folds(
            source, catalog, protocol, names, k, threshold, seed, tune, n_threads, progress, grids
        )
    metric = f"ndcg@{k}"
    rows = [_row(name, per_method[name]) for name in names]
    rows.sort(key=lambda r: -np.nan_to_num(r[metric], nan=-np.inf))
    first = folds[0]
    record = {
        "dataset": dataset,
        "protocol": protocol,
        "folds": [f.name for f in folds],
        "k": k,
        "threshold": threshold,
        "seed": seed,
        "quick": quick,
        "tuned": tune,
        "tuning_metric": metric,
        "methods": names,
        "n_users": int(len(first.train.user_ids)),
        "n_items": int(len(first.train.item_ids)),
        "n_train": [len(f.train) for f in folds],
        "n_test": [len(f.test) for f in folds],
        "test_users": [r["users"] for r in per_method[names[0]]],
        "fingerprint": catalog.fingerprint,
        "versions": versions(),
        "n_threads": n_threads,
        "grids": {m: g for m, g in grids.items() if g and tune},
        "tuning": {m: t for m, t in tuning.items() if t},
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 2),
    }
    return Leaderboard(rows, record)


def _row(name: str, runs: list[dict]) -> dict[str, Any]:
    keys = list(runs[0]["metrics"])
    table = np.array([[r["metrics"][key] for key in keys] for r in runs], np.float64)
    row: dict[str, Any] = {"method": name, "kind": METHODS[name].kind}
    row.update({key: round(float(v), 6) for key, v in zip(keys, table.mean(axis=0), strict=True)})
    if len(runs) > 1:
        sd = table.std(axis=0, ddof=1)
        row["std"] = {key: round(float(v), 6) for key, v in zip(keys, sd, strict=True)}
    row["fit_seconds"] = round(float(np.mean([r["fit"] for r in runs])), 3)
    row["score_seconds"] = round(float(np.mean([r["score"] for r in runs])), 3)
    row["chosen"] = _jsonable(runs[0]["params"])
    row["description"] = METHODS[name].description
    return row


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v.item() if isinstance(v, np.generic) else v


def summary(board: Leaderboard) -> dict[str, Any]:
    """The JSON document the CLI writes: ``{"leaderboard": [...], "run": {...}}``."""
    return _jsonable(board.to_dict())


__all__ = ["PROTOCOLS", "Leaderboard", "run", "summary", "versions"]
