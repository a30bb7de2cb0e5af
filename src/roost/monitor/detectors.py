"""Drift detectors on summaries of the two samples: ``kl``, ``wasserstein``, ``mean``.

The others registered in :data:`roost.monitor.drift.REGISTRY` have a file each:
:mod:`roost.monitor.classifier` and :mod:`roost.monitor.mmd`; they share the helpers here.

Each is a small class: hyperparameters in ``__init__`` (stored only), ``test(reference,
current) -> DriftResult``. Defaults are chosen so that every method finishes in seconds on
100k x 384 vectors per side on two cores (``bench/drift.py`` measures it): the expensive ones
work on a documented random sample (``max_samples`` rows per side, drawn with ``seed``).
Why each default is what it is: docs/monitor.md.

Every permutation test here pools the two samples, derives anything data-dependent (PCA
axes, histogram edges, kernel bandwidth, scale) from the pooled sample only, and so stays
valid: those quantities do not change when the labels are permuted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.decomposition import PCA

from roost.monitor.drift import (
    DriftResult,
    check_pair,
    jsonable,
    label_matrix,
    permutation_p,
    sample_rows,
    verdict,
)


def pooled(reference, current, max_samples, rng) -> tuple[np.ndarray, int, int]:
    ref, cur = check_pair(reference, current)
    ref, cur = sample_rows(ref, max_samples, rng), sample_rows(cur, max_samples, rng)
    return np.vstack([ref, cur]), len(ref), len(cur)


def fit_pca(x: np.ndarray, n_components: int, fit_samples: int, rng, seed: int) -> PCA:
    """PCA fitted on a random subset of the pooled rows (randomised SVD: seconds at 100k x 384)."""
    n_components = min(n_components, x.shape[1], fit_samples, len(x) - 1)
    fit_rows = sample_rows(x, fit_samples, rng)
    return PCA(n_components=n_components, svd_solver="randomized", random_state=seed).fit(fit_rows)


class KLDivergence:
    """KL divergence of the projected distributions (the main seed's measure).

    Pools both samples, projects them on the first ``n_components`` principal axes of the
    pool, cuts each axis into ``n_bins`` equal-mass bins (pooled quantiles), smooths the
    counts with ``smoothing`` pseudo-counts per bin, and sums ``KL(current || reference)``
    over the axes: the KL divergence between the products of the marginal histograms.

    Parameters
    ----------
    n_components : principal axes kept (a few carry most of the structure a shift shows in).
    n_bins : equal-mass bins per axis.
    smoothing : pseudo-count added to every bin (0.5: the Krichevsky-Trofimov estimator);
        keeps the divergence finite when a bin is empty on one side.
    threshold : score (nats) above which the change matters; 0.1 is a Gaussian mean shift of
        about 0.45 standard deviations along one principal axis.
    alpha : significance level of the permutation test.
    n_permutations : label permutations for the p-value (cheap: only re-counting).
    max_samples : rows per side used (random sample); PCA fits on ``fit_samples`` pooled rows.
    seed : seed of every random step.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> KLDivergence().test(rng.normal(size=(400, 16)), rng.normal(size=(400, 16)) + 1).drifted
    True
    """

    name = "kl"

    def __init__(
        self,
        n_components: int = 5,
        n_bins: int = 20,
        smoothing: float = 0.5,
        threshold: float = 0.1,
        alpha: float = 0.05,
        n_permutations: int = 200,
        max_samples: int = 100_000,
        fit_samples: int = 20_000,
        seed: int = 0,
    ):
        self.n_components = n_components
        self.n_bins = n_bins
        self.smoothing = smoothing
        self.threshold = threshold
        self.alpha = alpha
        self.n_permutations = n_permutations
        self.max_samples = max_samples
        self.fit_samples = fit_samples
        self.seed = seed

    def test(self, reference: Any, current: Any) -> DriftResult:
        rng = np.random.default_rng(self.seed)
        x, n_ref, n_cur = pooled(reference, current, self.max_samples, rng)
        if not np.any(np.ptp(x, axis=0) > 0):  # every vector identical: nothing can differ
            return make_result(self, 0.0, 1.0, n_ref, n_cur, {"constant": True})
        pca = fit_pca(x, self.n_components, self.fit_samples, rng, self.seed)
        z = pca.transform(x)
        n_comp, n_bins = z.shape[1], self.n_bins
        codes = np.empty(z.shape, dtype=np.int64)
        valid = np.zeros((n_comp, n_bins), dtype=bool)
        for j in range(n_comp):
            edges = np.unique(np.quantile(z[:, j], np.linspace(0, 1, n_bins + 1)[1:-1]))
            codes[:, j] = np.searchsorted(edges, z[:, j], side="right") + j * n_bins
            valid[j, : len(edges) + 1] = True
        total = np.bincount(codes.ravel(), minlength=n_comp * n_bins).reshape(n_comp, n_bins)

        def stat(ref_rows: np.ndarray) -> np.ndarray:
            ref = np.bincount(codes[ref_rows].ravel(), minlength=total.size)
            ref = ref.reshape(n_comp, n_bins)
            return self._kl(ref, total - ref, valid)

        per_axis = stat(np.arange(n_ref))
        score = float(per_axis.sum())
        null = np.array(
            [stat(rng.permutation(len(x))[:n_ref]).sum() for _ in range(self.n_permutations)]
        )
        p = permutation_p(score, null) if self.n_permutations else None
        details = {
            "per_component": per_axis.round(6),
            "explained_variance_ratio": pca.explained_variance_ratio_.round(6),
            "n_components": n_comp,
            "n_bins": n_bins,
            "direction": "KL(current || reference)",
        }
        return make_result(self, score, p, n_ref, n_cur, details)

    def _kl(self, ref: np.ndarray, cur: np.ndarray, valid: np.ndarray) -> np.ndarray:
        a = self.smoothing
        nb = valid.sum(axis=1, keepdims=True)
        p = (cur + a) / (cur.sum(axis=1, keepdims=True) + nb * a)
        q = (ref + a) / (ref.sum(axis=1, keepdims=True) + nb * a)
        return np.where(valid, p * np.log(p / q), 0.0).sum(axis=1)


class WassersteinShare:
    """Share of drifted components: per-dimension Wasserstein-1 distance, normed.

    For every dimension (or every principal axis, with ``n_components``), the Wasserstein-1
    distance between the two marginals divided by the pooled standard deviation; a component
    drifted when it exceeds ``component_threshold``. The score is the share of drifted
    components. Both sides use the same number of rows (the smaller side, at most
    ``max_samples``) so that the distance is the mean gap between sorted columns, vectorised
    over all dimensions at once.

    Parameters
    ----------
    component_threshold : normed distance above which one component drifted (0.1, as in
        Evidently; noise at 5000 rows per side is about 0.02).
    threshold : share of drifted components above which the set drifted (0.2, Evidently's).
    alpha : significance level of the permutation test on the share.
    n_permutations : label permutations for the p-value (each re-sorts every column).
    max_samples : rows per side used.
    n_components : project on this many principal axes of the pool first; ``None`` keeps
        the raw dimensions.
    seed : seed of sampling and permutations.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> WassersteinShare().test(rng.normal(size=(300, 8)), rng.normal(size=(300, 8)) + 1).score
    1.0
    """

    name = "wasserstein"

    def __init__(
        self,
        component_threshold: float = 0.1,
        threshold: float = 0.2,
        alpha: float = 0.05,
        n_permutations: int = 100,
        max_samples: int = 5000,
        n_components: int | None = None,
        seed: int = 0,
    ):
        self.component_threshold = component_threshold
        self.threshold = threshold
        self.alpha = alpha
        self.n_permutations = n_permutations
        self.max_samples = max_samples
        self.n_components = n_components
        self.seed = seed

    def test(self, reference: Any, current: Any) -> DriftResult:
        rng = np.random.default_rng(self.seed)
        ref, cur = check_pair(reference, current)
        n = min(len(ref), len(cur), self.max_samples)
        x = np.vstack([sample_rows(ref, n, rng), sample_rows(cur, n, rng)])
        if self.n_components is not None and np.any(np.ptp(x, axis=0) > 0):
            x = fit_pca(x, self.n_components, 20_000, rng, self.seed).transform(x)
        std = x.std(axis=0, dtype=np.float64)
        inv = np.divide(1.0, std, out=np.zeros_like(std), where=std > 0)

        def normed(rows: np.ndarray) -> np.ndarray:
            a, b = np.sort(x[rows[:n]], axis=0), np.sort(x[rows[n:]], axis=0)
            return np.abs(a - b).mean(axis=0, dtype=np.float64) * inv

        dist = normed(np.arange(2 * n))
        share = float(np.mean(dist > self.component_threshold))
        null = np.array(
            [
                np.mean(normed(rng.permutation(2 * n)) > self.component_threshold)
                for _ in range(self.n_permutations)
            ]
        )
        p = permutation_p(share, null) if self.n_permutations else None
        top = np.argsort(-dist)[:10]
        details = {
            "n_drifted_components": int(np.sum(dist > self.component_threshold)),
            "n_components": len(dist),
            "component_threshold": self.component_threshold,
            "mean_normed_distance": float(dist.mean()),
            "top_components": [{"component": int(j), "distance": float(dist[j])} for j in top],
        }
        return make_result(self, share, p, n, n, details)


class MeanDistance:
    """Distance between the two means, relative to the spread of the vectors.

    Score: ``|mean(current) - mean(reference)|`` divided by the pooled root-mean-square
    distance of a vector from the pooled mean, so that it reads the same in any units
    (0.1: the means are a tenth of the typical spread apart). Permutations recompute the two
    means for every labelling in one matrix product.

    Parameters
    ----------
    threshold : relative distance above which the change matters (0.1; noise at 20k rows per
        side is about 0.01).
    alpha : significance level of the permutation test.
    n_permutations : label permutations for the p-value.
    max_samples : rows per side used.
    seed : seed of sampling and permutations.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> MeanDistance().test(rng.normal(size=(300, 8)), rng.normal(size=(300, 8))).drifted
    False
    """

    name = "mean"

    def __init__(
        self,
        threshold: float = 0.1,
        alpha: float = 0.05,
        n_permutations: int = 200,
        max_samples: int = 20_000,
        seed: int = 0,
    ):
        self.threshold = threshold
        self.alpha = alpha
        self.n_permutations = n_permutations
        self.max_samples = max_samples
        self.seed = seed

    def test(self, reference: Any, current: Any) -> DriftResult:
        rng = np.random.default_rng(self.seed)
        x, n_ref, n_cur = pooled(reference, current, self.max_samples, rng)
        # Centred first: float32 sums of centred rows lose nothing that matters (their error,
        # ~1e-7 sqrt(n), is far below the sqrt(n) scale of a chance gap) and run 2x faster.
        x = (x - x.mean(axis=0, dtype=np.float64)).astype(np.float32)
        spread = float(np.sqrt(np.mean(np.einsum("ij,ij->i", x, x, dtype=np.float64))))
        spread = spread if spread > 0 else 1.0
        total = x.sum(axis=0, dtype=np.float64)
        labels = label_matrix(n_ref, n_cur, self.n_permutations, rng)
        dists = []
        for start in range(0, labels.shape[1], 64):  # blocks bound the float copy of labels
            block = np.ascontiguousarray(labels[:, start : start + 64].T, dtype=np.float32)
            sums_ref = (block @ x).astype(np.float64)
            gap = (total - sums_ref) / n_cur - sums_ref / n_ref
            dists.append(np.linalg.norm(gap, axis=1) / spread)
        dists = np.concatenate(dists)
        score = float(dists[0])
        p = permutation_p(score, dists[1:]) if self.n_permutations else None
        return make_result(self, score, p, n_ref, n_cur, {"spread": spread})


def make_result(det, score: float, p: float | None, n_ref: int, n_cur: int, extra: dict):
    details = {
        "alpha": det.alpha,
        "n_reference": n_ref,
        "n_current": n_cur,
        "seed": det.seed,
        **({"n_permutations": det.n_permutations} if hasattr(det, "n_permutations") else {}),
        **extra,
    }
    drifted = verdict(score, det.threshold, p, det.alpha)
    return DriftResult(det.name, float(score), det.threshold, drifted, p, jsonable(details))
