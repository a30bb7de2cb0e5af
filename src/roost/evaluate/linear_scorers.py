"""Linear autoencoders with dropout-derived regularisation: DLAE and EDLAE (Steck 2020).

EASE (:class:`roost.recommend.baselines.EASE`) penalises every item-item weight alike
(``l2 * ||B||^2``) and forbids self-similarity outright. Steck's "Autoencoders that don't
overfit towards the identity" (NeurIPS 2020) shows that training a linear autoencoder
with input dropout ``p`` is, in expectation, a ridge penalty weighted per input item,
``Lambda = p / (1 - p) * diag(G) + l2 * I`` with ``G = X^T X``: popular items, whose
weights dropout perturbs most, are penalised most. Two closed forms follow:

- DLAE (denoising): ``B = (G + Lambda)^-1 G``, no constraint on the diagonal;
- EDLAE (emphasised denoising, full emphasis on the dropped-out entries): the same
  penalty with EASE's zero diagonal, ``B = I - P diagMat(1 / diag(P))``, ``P = (G + Lambda)^-1``.

:class:`DLAE` computes both and everything between: the diagonal is bounded by
``diagonal`` (0: EDLAE, 1: DLAE, whose diagonal never exceeds 1), the relaxed constraint
of Moon et al. 2023 (RDLAE). The bound binds item by item through the Lagrange
multipliers ``mu_i = max(0, (1 - diagonal) / P_ii - Lambda_ii)``, so that
``B = I - P diagMat(Lambda + mu)``; with ``dropout=0`` and ``diagonal=0`` it is EASE.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from roost.recommend.baselines import HistoryScorer, check_dense_items, inverse_gram


class DLAE(HistoryScorer):
    """Dropout-regularised linear autoencoder (DLAE / EDLAE), an item-item model in
    closed form; ``score(u) = x_u @ B``.

    Parameters
    ----------
    dropout : the input dropout rate ``p`` in [0, 1) the penalty is derived from.
    l2 : the ridge weight added to every item's penalty (> 0, so the system is solvable
        when an item has no training event).
    diagonal : the largest self-weight ``B_ii`` allowed, in [0, 1]: 0 is EDLAE, 1 is DLAE.
    max_items : the largest catalog to accept (a dense items x items inverse).

    Examples
    --------
    >>> x = sp.csr_array([[1, 1, 0], [1, 1, 0], [0, 1, 1]])
    >>> s = DLAE(dropout=0.5, l2=1.0, diagonal=0.0).fit(x).score(sp.csr_array([[1, 0, 0]]))
    >>> int(s.argmax())
    1
    """

    def __init__(
        self,
        dropout: float = 0.5,
        l2: float = 100.0,
        diagonal: float = 0.0,
        max_items: int = 30_000,
    ):
        self.dropout = dropout
        self.l2 = l2
        self.diagonal = diagonal
        self.max_items = max_items

    def _check(self, n: int) -> None:
        check_dense_items("DLAE", n, self.max_items)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.l2 <= 0:
            raise ValueError(f"l2 must be > 0, got {self.l2}")
        if not 0.0 <= self.diagonal <= 1.0:
            raise ValueError(f"diagonal must be in [0, 1], got {self.diagonal}")

    def _fit(self, x: sp.csr_array) -> None:
        n = x.shape[1]
        self._check(n)
        p, penalty = inverse_gram(
            x, lambda diag: self.dropout / (1.0 - self.dropout) * diag + self.l2
        )
        mu = np.maximum(0.0, (1.0 - self.diagonal) / np.diag(p) - penalty)
        b = p * -(penalty + mu)[None, :]
        b[np.diag_indices(n)] += 1.0
        self.penalty_ = penalty
        self.weights_ = b.astype(np.float32)

    def _score_rows(self, x: sp.csr_array) -> np.ndarray:
        return np.asarray(x @ self.weights_)


__all__ = ["DLAE"]
