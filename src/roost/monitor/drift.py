"""Drift between two samples of vectors from one space: the result type, the registry, ``drift()``.

Every detector answers the same question (do ``reference`` and ``current`` come from the same
distribution?) with the same shape of answer, a :class:`DriftResult`: a score, the threshold
it is compared with, a verdict and, where the method allows one cheaply, a p-value from a
permutation test.

The verdict rule is the same everywhere: **drifted when the score exceeds the threshold and,
where a p-value is computed, p < alpha** (default 0.05). The p-value bounds the false-alarm
rate at ``alpha`` on small samples, where noise alone can push a score over its threshold;
the threshold keeps large samples (100k vectors make every tiny change "significant") from
alarming on changes too small to matter.

The detectors live in :mod:`roost.monitor.detectors` (kl, wasserstein, mean),
:mod:`roost.monitor.classifier` and :mod:`roost.monitor.mmd`; ``REGISTRY`` names them lazily
like :data:`roost.embed.REGISTRY`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from roost.types import EmbeddingSet, RoostError

#: method name -> "module:Class"; each class has ``test(reference, current) -> DriftResult``.
REGISTRY: dict[str, str] = {
    "kl": "roost.monitor.detectors:KLDivergence",
    "classifier": "roost.monitor.classifier:ClassifierDrift",
    "mmd": "roost.monitor.mmd:MMD",
    "wasserstein": "roost.monitor.detectors:WassersteinShare",
    "mean": "roost.monitor.detectors:MeanDistance",
}

#: The fewest rows per side any detector accepts: below it no test has power worth reporting.
MIN_ROWS = 10


@dataclass(frozen=True)
class DriftResult:
    """One detector's answer.

    Parameters
    ----------
    method : registry name of the detector.
    score : the detector's statistic (bigger means more different).
    threshold : the score above which a change is large enough to matter.
    drifted : ``score > threshold`` and, where ``p_value`` is given, ``p_value < alpha``.
    p_value : permutation (or exact rank-test) p-value, or ``None`` where none is computed.
    details : JSON-serialisable facts: sample sizes, seed, per-component scores ...

    Examples
    --------
    >>> r = DriftResult("mean", 0.3, 0.1, True, 0.004, {"alpha": 0.05})
    >>> r.to_dict()["drifted"]
    True
    """

    method: str
    score: float
    threshold: float
    drifted: bool
    p_value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (numpy scalars and arrays become Python values)."""
        return jsonable(asdict(self))


class Detector(Protocol):
    """What a registered drift method provides."""

    name: str

    def test(self, reference: Any, current: Any) -> DriftResult: ...


def get(name: str) -> type:
    """The detector class registered under ``name``."""
    try:
        target = REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise RoostError(f"unknown drift method {name!r}; known: {known}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def drift(
    reference: np.ndarray | EmbeddingSet,
    current: np.ndarray | EmbeddingSet,
    methods: Sequence[str | Detector] | None = None,
    *,
    seed: int = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[DriftResult]:
    """Run drift detectors on two samples of vectors from one space.

    Parameters
    ----------
    reference, current : arrays of shape ``(n, dim)`` (or embedding sets) with the same dim.
    methods : registry names or detector instances; ``None`` runs every registered method.
    seed : seed for every sampling and permutation step (results are reproducible).
    params : per-method keyword arguments, e.g. ``{"mmd": {"max_samples": 1000}}``.

    Returns
    -------
    One :class:`DriftResult` per method, in the order asked.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(500, 8)), rng.normal(size=(500, 8)) + 1.0
    >>> [r.drifted for r in drift(a, b, ["mean", "kl"])]
    [True, True]
    """
    params = dict(params or {})
    unknown = set(params) - set(REGISTRY)
    if unknown:
        raise RoostError(f"params for unknown drift methods: {sorted(unknown)}")
    detectors = []
    for m in methods if methods is not None else list(REGISTRY):
        if isinstance(m, str):
            kwargs = {"seed": seed, **params.get(m, {})}
            detectors.append(get(m)(**kwargs))
        else:
            detectors.append(m)
    ref, cur = check_pair(reference, current)
    return [d.test(ref, cur) for d in detectors]


# --- helpers shared by the detectors ------------------------------------------------------


def check_pair(reference: Any, current: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both samples as 2-D float arrays of one dimension, finite, with enough rows."""
    out = []
    for name, x in (("reference", reference), ("current", current)):
        if isinstance(x, EmbeddingSet):
            x = x.vectors
        x = np.asarray(x)
        if x.ndim != 2:
            raise RoostError(f"{name}: expected a 2-D array (n, dim), got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
        if len(x) < MIN_ROWS:
            raise RoostError(f"{name}: {len(x)} rows; drift needs at least {MIN_ROWS} per side")
        if not np.isfinite(x).all():
            raise RoostError(f"{name}: contains NaN or infinite values")
        out.append(x)
    if out[0].shape[1] != out[1].shape[1]:
        raise RoostError(
            f"reference has dim {out[0].shape[1]} but current has dim {out[1].shape[1]}: "
            "drift compares one space; use compare_versions for two spaces"
        )
    return out[0], out[1]


def sample_rows(x: np.ndarray, n: int | None, rng: np.random.Generator) -> np.ndarray:
    """At most ``n`` rows of ``x`` drawn without replacement (all rows, in order, if fewer)."""
    if n is None or len(x) <= n:
        return x
    return x[np.sort(rng.choice(len(x), size=n, replace=False))]


def label_matrix(n_ref: int, n_cur: int, n_perm: int, rng: np.random.Generator) -> np.ndarray:
    """Column 0 marks the observed reference rows of the pooled sample; columns 1.. permute them.

    A boolean ``(n_ref + n_cur, 1 + n_perm)`` matrix: vectorised statistics evaluate every
    permutation in one matrix product instead of a Python loop.
    """
    n = n_ref + n_cur
    out = np.zeros((n, 1 + n_perm), dtype=bool)
    out[:n_ref, 0] = True
    for j in range(1, 1 + n_perm):
        out[rng.permutation(n)[:n_ref], j] = True
    return out


def permutation_p(observed: float, null: np.ndarray) -> float:
    """(1 + #null >= observed) / (1 + #null): never 0, valid at any number of permutations.

    The +1 counts the observed labelling as one of the permutations (Phipson & Smyth 2010).
    """
    null = np.asarray(null, dtype=np.float64)
    # A relative tolerance so that float noise in a tie does not decide the count.
    tol = 1e-12 * max(1.0, abs(observed))
    return float((1 + np.count_nonzero(null >= observed - tol)) / (1 + len(null)))


def verdict(score: float, threshold: float, p_value: float | None, alpha: float) -> bool:
    """The one verdict rule (see the module docstring)."""
    return bool(score > threshold and (p_value is None or p_value < alpha))


def jsonable(x: Any) -> Any:
    """Recursively turn numpy scalars/arrays and tuples into plain JSON values."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.generic):
        return jsonable(x.item())
    if isinstance(x, float) and not np.isfinite(x):
        return None  # JSON has no NaN or infinity
    return x
