"""The user side of a :class:`~roost.recommend.spaces.VectorSpace`: fitted user vectors,
live ones folded in after events, and the fold-in itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# Methods whose user vectors come from a least-squares fold-in over item factors.
FOLD_IN_METHODS = frozenset({"als", "bpr"})


class UserVectors:
    """Mixed into :class:`~roost.recommend.spaces.VectorSpace`, which sets the state read
    here: ``version``, ``method``, ``live_users``, ``_users``, ``_user_pos``, ``_pos``,
    ``_folder``, ``_lock`` and ``unit_vectors``."""

    version: Any
    live_users: dict[str, np.ndarray]

    def stored_user(self, user: str) -> np.ndarray | None:
        """The user's vector as fitted in the version (None when it has none)."""
        p = self._user_pos.get(user)
        return None if p is None else np.asarray(self._users.vectors[p], np.float32)

    def user_vector(
        self, user: str, recent: Sequence[str] = (), weights: Sequence[float] | None = None
    ) -> np.ndarray | None:
        """The freshest vector for ``user``: folded in after live events, else the fitted
        one, else folded in from ``recent`` items (a user the version never saw)."""
        v = self.live_users.get(user)
        if v is not None:
            return v
        v = self.stored_user(user)
        if v is not None:
            return v
        return self.fold_in(recent, weights) if len(recent) else None

    def set_user(self, user: str, vector: np.ndarray | None) -> None:
        if vector is not None:
            self.live_users[user] = np.asarray(vector, np.float32)

    def fold_in(
        self, item_ids: Sequence[str], weights: Sequence[float] | None = None
    ) -> np.ndarray | None:
        """A user vector from the items they engaged with, without retraining.

        ALS and BPR versions solve their own least-squares fold-in (``fold_in_user`` of
        :mod:`roost.embed.mf`); other versions take the weighted mean of unit item vectors.
        """
        ids = [i for i in item_ids if i in self._pos]
        if not ids:
            return None
        w = (
            None
            if weights is None
            else [w for i, w in zip(item_ids, weights, strict=True) if i in self._pos]
        )
        if self.method in FOLD_IN_METHODS and self._users is not None:
            base = [i for i in ids if self._pos[i] < len(self.version)]
            if base:
                wb = (
                    None
                    if w is None
                    else [
                        x for i, x in zip(ids, w, strict=True) if self._pos[i] < len(self.version)
                    ]
                )
                return self._fold_model().fold_in_user(base, wb)
        unit = self.unit_vectors(ids)
        ww = np.ones(len(ids)) if w is None else np.maximum(np.asarray(w, np.float64), 0.0)
        if ww.sum() <= 0:
            return None
        return (ww[:, None] * unit).sum(0).astype(np.float32) / np.float32(ww.sum())

    def _fold_model(self):
        """The version's factorisation model rebuilt from its stored factors (no refit)."""
        with self._lock:
            if self._folder is None:
                from roost.embed import get

                params = dict(self.version.manifest.get("params", {}))
                model = get(self.method)(**params)
                model.item_ids_ = np.asarray(self.version.ids, dtype=object)
                model.item_vectors_ = np.asarray(self.version.vectors, np.float32)
                model.cold_items_ = np.zeros(len(self.version), bool)
                model.user_ids_ = np.asarray(self._users.ids, dtype=object)
                model.user_vectors_ = np.asarray(self._users.vectors, np.float32)
                model.fingerprint_ = self.version.manifest.get("fingerprint", "")
                model.training_ = {}
                self._folder = model
            return self._folder
