"""Matrix factorisation for implicit feedback: ALS and BPR, through ``implicit`` (CPU).

Both learn user and item factors in one space where ``user . item`` is the model's score,
so their sets are compared by ``dot``. A new user is folded in from the items they
consumed without retraining (:meth:`ALS.fold_in_user`, :meth:`BPR.fold_in_user`).

implicit runs its own thread pool and asks that BLAS not run another inside it; the BLAS
libraries are limited to one thread with ``threadpoolctl`` around model construction and
fitting (rather than silencing implicit's warning), and restored afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve
from threadpoolctl import threadpool_limits

from roost.data.frames import Interactions
from roost.embed.item2vec import CollaborativeEmbedder, require
from roost.types import RoostError


def _implicit(kind: str) -> Any:
    # Import before limiting: threadpoolctl only limits libraries already loaded, and
    # importing implicit loads scipy's OpenBLAS.
    return require(f"implicit.cpu.{kind}", f"the {kind} method")


class _Factorisation(CollaborativeEmbedder):
    """Shared by ALS and BPR: fitting through implicit and folding in new users."""

    metric: ClassVar[str] = "dot"
    learns_users: ClassVar[bool] = True
    binary: bool

    def _model(self) -> Any:
        """A fresh implicit model; build it under ``threadpool_limits(1, "blas")``."""
        raise NotImplementedError

    def _fold_in(self, rows: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError

    def _fold_prepare(self) -> Any:
        raise NotImplementedError

    def _fold_cache(self) -> Any:
        """What fold-in precomputes from the item factors, rebuilt when they change."""
        cached = self.__dict__.get("_fold")
        if cached is None or cached[0] is not self.item_vectors_:
            cached = (self.item_vectors_, self._fold_prepare())
            self._fold = cached
        return cached[1]

    def _train(self, inter: Interactions) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        user_items = inter.to_csr(binary=self.binary)
        with threadpool_limits(1, "blas"):
            model = self._model()
            model.fit(user_items, show_progress=False)
        learned = np.bincount(inter.items, minlength=len(inter.item_ids)) > 0
        return model.item_factors, learned, model.user_factors, {}

    def fold_in_users(
        self,
        histories: Sequence[Sequence[str]],
        values: Sequence[Sequence[float]] | None = None,
    ) -> np.ndarray:
        """Vectors for new users from the items each consumed, without retraining.

        Parameters
        ----------
        histories : per user, the external ids of the items they interacted with (at
            least one each; every id must have been in the fit catalog).
        values : optional per-event strengths aligned with ``histories`` (ignored, as in
            fit, when ``binary``).

        Returns
        -------
        float32 array ``(len(histories), dim)`` in the space of ``user_embedding_set``.
        """
        self._check_fitted()
        n = len(histories)
        lengths = np.array([len(h) for h in histories], np.int64)
        if (lengths == 0).any():
            raise RoostError(f"{self.name}: fold-in needs at least one item per user")
        flat = [i for h in histories for i in h]
        cols = self._rows(flat) if flat else np.zeros(0, np.int64)
        if values is None or self.binary:
            data = np.ones(len(cols), np.float32)
        else:
            data = np.asarray([v for vs in values for v in vs], np.float32)
            if len(data) != len(cols):
                raise RoostError(f"{self.name}: values must align with histories")
        owner = np.repeat(np.arange(n), lengths)
        rows = sp.csr_matrix((data, (owner, cols)), shape=(n, len(self.item_ids_)))
        rows.sum_duplicates()
        if self.binary:
            rows.data[:] = 1.0
        return np.ascontiguousarray(self._fold_in(rows), np.float32)

    def fold_in_user(
        self, item_ids: Sequence[str], values: Sequence[float] | None = None
    ) -> np.ndarray:
        """One new user's vector from their items (the batch of one of :meth:`fold_in_users`)."""
        return self.fold_in_users([item_ids], None if values is None else [values])[0]


class ALS(_Factorisation):
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008) with implicit's conjugate gradient.

    Parameters
    ----------
    factors : latent dimension.
    regularization : L2 penalty on the factors.
    alpha : confidence scaling: an observed pair weighs ``1 + alpha * value``.
    iterations : ALS sweeps.
    binary : each distinct user-item pair counts 1 (True) or the sum of its event values.
    event_kinds, min_value : which events count (:meth:`Catalog.interactions`).
    seed : seeds the factor initialisation.
    n_threads : implicit's threads (0: all cores); ALS is bit-identical for any count.

    Examples
    --------
    >>> from roost.data.frames import Catalog
    >>> c = Catalog.from_pydict(
    ...     items={"id": ["a", "b", "c"]},
    ...     events={"user_id": ["u", "u", "v", "v"], "item_id": ["a", "b", "b", "c"],
    ...             "kind": ["like"] * 4, "value": [1.0] * 4, "ts": [1, 2, 3, 4]})
    >>> als = ALS(factors=4, iterations=3).fit(c)
    >>> als.transform(c).shape, als.fold_in_user(["a"]).shape
    ((3, 4), (4,))
    """

    name = "als"
    positive_params = ("factors", "iterations", "alpha")
    non_negative_params = ("regularization", "n_threads")

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        binary: bool = True,
        event_kinds: tuple[str, ...] | None = None,
        min_value: float | None = None,
        seed: int = 0,
        n_threads: int = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.binary = binary
        self.event_kinds = event_kinds
        self.min_value = min_value
        self.seed = seed
        self.n_threads = n_threads

    def _model(self) -> Any:
        return _implicit("als").AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            random_state=self.seed,
            num_threads=self.n_threads,
        )

    def _fold_prepare(self) -> Any:
        with threadpool_limits(1, "blas"):
            model = self._model()
        # What ALS itself solves for an item without events is ~0; the cold fallback is
        # for the stored set only.
        cold = self.cold_items_[:, None]
        model.item_factors = np.where(cold, 0, self.item_vectors_).astype(np.float32)
        model.user_factors = self.user_vectors_
        return model

    def _fold_in(self, rows: sp.csr_matrix) -> np.ndarray:
        model = self._fold_cache()
        with threadpool_limits(1, "blas"):
            return model.recalculate_user(np.arange(rows.shape[0]), rows)


class BPR(_Factorisation):
    """Bayesian Personalised Ranking (Rendle et al. 2009) by implicit's SGD.

    Parameters
    ----------
    factors : latent dimension; vectors have ``factors + 1`` columns, the last holding
        the item bias (users hold 1 there), so ``user . item`` is BPR's score.
    learning_rate, regularization, iterations : the SGD.
    event_kinds, min_value : which events count (:meth:`Catalog.interactions`).
    seed : seeds initialisation and sampling.
    n_threads : implicit's threads; only 1 is bit-identical from run to run (SGD updates
        from several threads race).

    Fold-in is a ridge least-squares projection onto the item factors: the user vector
    ``u`` whose scores ``u . v_i + b_i`` best fit the user's 0/1 row over all items,
    ``min ||y - b - V u||^2 + regularization ||u||^2``. BPR has no closed form of its own.

    Examples
    --------
    >>> from roost.data.frames import Catalog
    >>> c = Catalog.from_pydict(
    ...     items={"id": ["a", "b", "c"]},
    ...     events={"user_id": ["u", "u", "v", "v"], "item_id": ["a", "b", "b", "c"],
    ...             "kind": ["like"] * 4, "value": [1.0] * 4, "ts": [1, 2, 3, 4]})
    >>> bpr = BPR(factors=4, iterations=3).fit(c)
    >>> bpr.dim, bpr.fold_in_user(["a", "b"]).shape
    (5, (5,))
    """

    name = "bpr"
    positive_params = ("factors", "iterations", "learning_rate")
    non_negative_params = ("regularization", "n_threads")
    binary = True  # BPR reads only which pairs exist

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        event_kinds: tuple[str, ...] | None = None,
        min_value: float | None = None,
        seed: int = 0,
        n_threads: int = 1,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.event_kinds = event_kinds
        self.min_value = min_value
        self.seed = seed
        self.n_threads = n_threads

    def _model(self) -> Any:
        return _implicit("bpr").BayesianPersonalizedRanking(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            random_state=self.seed,
            num_threads=self.n_threads,
        )

    def _fold_prepare(self) -> Any:
        v = self.item_vectors_[:, :-1].astype(np.float64)
        b = self.item_vectors_[:, -1].astype(np.float64)
        gram = v.T @ v
        # a tiny floor keeps the system solvable with regularization=0 and few items
        ridge = max(self.regularization, 1e-6 * max(float(np.trace(gram)), 1.0))
        return v, v.T @ b, cho_factor(gram + ridge * np.eye(v.shape[1]))

    def _fold_in(self, rows: sp.csr_matrix) -> np.ndarray:
        v, vtb, chol = self._fold_cache()
        rhs = np.asarray(rows @ v).T - vtb[:, None]  # V^T (y - b), one column per user
        u = cho_solve(chol, rhs).T
        return np.hstack([u, np.ones((len(u), 1))])
