"""The two-tower network and its training loop, in PyTorch.

Imported only by :mod:`roost.embed.two_tower` when a model is built, so that importing
the method (and the registry) never needs torch. Everything here works on item *rows*
(indices into an :class:`ItemFeatures`), never on external ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from roost.embed.torch_state import torch_state


@dataclass(frozen=True)
class ItemFeatures:
    """Per-item inputs of the item tower, aligned by row.

    ``id_rows`` indexes the id embedding (0: an id without its own row), ``cat_rows`` the
    category embedding (0: none or unseen), ``text`` is a CSR matrix of hashed token
    weights (each non-empty row sums to 1).
    """

    id_rows: np.ndarray  # int64 (n,)
    cat_rows: np.ndarray  # int64 (n,)
    text: sp.csr_matrix  # float32 (n, n_text_features)

    def __len__(self) -> int:
        return len(self.id_rows)


def _bag(m: sp.csr_matrix) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CSR rows as EmbeddingBag (indices, offsets, per-sample weights)."""
    return (
        torch.from_numpy(m.indices.astype(np.int64)),
        torch.from_numpy(m.indptr[:-1].astype(np.int64)),
        torch.from_numpy(m.data.astype(np.float32)),
    )


class ItemTower(nn.Module):
    """id embedding ++ hashed-text bag ++ category embedding -> MLP -> unit vector."""

    def __init__(self, n_ids: int, n_cats: int, n_text: int, dim: int, hidden: int) -> None:
        super().__init__()
        # Sparse gradients: a step touches a few thousand of the tables' rows, and dense
        # gradients would zero and Adam-update every row of every table on every step.
        self.ids = nn.Embedding(n_ids, dim, sparse=True)
        self.text = nn.EmbeddingBag(n_text, dim, mode="sum", sparse=True)
        self.cats = nn.Embedding(n_cats, dim, sparse=True)
        self.mlp = nn.Sequential(nn.Linear(3 * dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        # nn.Embedding's N(0, 1) start swamps the MLP; small starts train faster and stay
        # well-conditioned for rows that see few gradient steps (rare items).
        for emb in (self.ids, self.text, self.cats):
            nn.init.normal_(emb.weight, std=0.1)

    def raw(self, feats: ItemFeatures, rows: np.ndarray, drop_ids: np.ndarray | None = None):
        """The concatenated input embeddings (n, 3 * dim), before the MLP."""
        ids = feats.id_rows[rows]
        if drop_ids is not None:
            ids = np.where(drop_ids, 0, ids)
        idx, off, w = _bag(feats.text[rows])
        return torch.cat(
            [
                self.ids(torch.from_numpy(ids)),
                self.text(idx, off, per_sample_weights=w),
                self.cats(torch.from_numpy(feats.cat_rows[rows])),
            ],
            dim=1,
        )

    def forward(self, feats: ItemFeatures, rows: np.ndarray, drop_ids: np.ndarray | None = None):
        return F.normalize(self.mlp(self.raw(feats, rows, drop_ids)), dim=1)


def _mean_pool(tower: UserTower, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).float()
    return (h * m).sum(1) / m.sum(1).clamp_min(1.0)


def _attention_pool(tower: UserTower, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # Softmax over a learned query, then re-masked and renormalised so that an empty history
    # pools to zeros instead of NaN (a softmax over nothing).
    scores = (h @ tower.query) / h.shape[-1] ** 0.5
    w = torch.softmax(scores.masked_fill(~mask, -1e9), dim=1) * mask.float()
    w = w / w.sum(1, keepdim=True).clamp_min(1e-12)
    return (w.unsqueeze(-1) * h).sum(1)


POOLINGS: dict[str, Callable[..., torch.Tensor]] = {
    "mean": _mean_pool,
    "attention": _attention_pool,
}


class UserTower(nn.Module):
    """pooled history embeddings ++ user-field bag ++ empty-history flag -> MLP -> unit vector.

    The history is pooled from the item tower's input embeddings (shared tables), not its
    outputs: YouTube-style, the user side has its own MLP, and a step costs lookups for
    the history rather than an item-tower MLP pass per history item.
    """

    def __init__(self, n_fields: int, dim: int, hidden: int, pooling: str) -> None:
        super().__init__()
        self.pooling = pooling
        self.fields = nn.EmbeddingBag(n_fields, dim, mode="sum", sparse=True)
        nn.init.normal_(self.fields.weight, std=0.1)
        if pooling == "attention":
            self.query = nn.Parameter(torch.zeros(3 * dim))
        self.mlp = nn.Sequential(nn.Linear(4 * dim + 1, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def forward(self, h: torch.Tensor, mask: torch.Tensor, fields: sp.csr_matrix) -> torch.Tensor:
        pooled = POOLINGS[self.pooling](self, h, mask)
        idx, off, w = _bag(fields)
        empty = (~mask.any(1)).float().unsqueeze(1)
        x = torch.cat([pooled, self.fields(idx, off, per_sample_weights=w), empty], dim=1)
        return F.normalize(self.mlp(x), dim=1)


class TwoTowerNet(nn.Module):
    def __init__(self, n_ids: int, n_cats: int, n_text: int, n_fields: int, p: Any) -> None:
        super().__init__()
        self.item = ItemTower(n_ids, n_cats, n_text, p.embedding_dim, p.hidden)
        self.user = UserTower(n_fields, p.embedding_dim, p.hidden, p.pooling)

    def users(self, feats: ItemFeatures, hist: np.ndarray, fields: sp.csr_matrix, drop=None):
        """User vectors from padded history rows ``hist`` (B, L), -1 marking padding."""
        mask = hist >= 0
        uniq, inv = np.unique(hist[mask], return_inverse=True)
        raw = self.item.raw(feats, uniq, None if drop is None else drop(len(uniq)))
        # Padding points at an appended zero row, so one gather builds the (B, L, 3d) block.
        index = np.full(hist.shape, len(uniq), np.int64)
        index[mask] = inv
        padded = torch.cat([raw, raw.new_zeros(1, raw.shape[1])])
        return self.user(padded[torch.from_numpy(index)], torch.from_numpy(mask), fields)


def torch_env(seed: int, n_threads: int | None):
    """Seeded, deterministic torch for the duration; the caller's global state is restored
    (:func:`roost.embed.torch_state.torch_state`)."""
    return torch_state(seed=seed, n_threads=n_threads, deterministic=True)


def pad_histories(seqs: list[np.ndarray], length: int) -> np.ndarray:
    """The last ``length`` rows of each sequence, left-padded with -1."""
    out = np.full((len(seqs), length), -1, np.int64)
    for i, s in enumerate(seqs):
        s = s[len(s) - length :] if len(s) > length else s
        if len(s):
            out[i, length - len(s) :] = s
    return out


def _in_history(hist: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(B, B) bool: ``target[j]`` occurs in ``hist[i]``.

    Found by binary search of each history entry among the sorted targets, not by the
    (B, L, B) broadcast comparison, which costs more than the step's forward pass.
    """
    order = np.argsort(target, kind="stable")
    st = target[order]
    rows, cols = np.nonzero(hist >= 0)
    h = hist[rows, cols]
    lo = np.searchsorted(st, h, "left")
    n = np.searchsorted(st, h, "right") - lo
    within = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    out = np.zeros((len(target), len(target)), bool)
    out[np.repeat(rows, n), order[np.repeat(lo, n) + within]] = True
    return out


def _earlier(flat, start, length, end, steps, rng) -> np.ndarray:
    """(B, H) history rows: the ``H`` items before each example's, -1 where there are none."""
    pos = end[:, None] - len(steps) + steps
    return np.where(pos >= start[:, None], flat[np.maximum(pos, 0)], -1)


def _around(flat, start, length, end, steps, rng) -> np.ndarray:
    """(B, H) history rows: up to ``H`` of the user's other items, earlier and later ones.

    A window of the user's time-ordered items from a random offset, wrapping around: all of
    them when the user has at most ``H``, a contiguous stretch otherwise; the example's own
    item is left out (-1).
    """
    off = (rng.random(len(end)) * length).astype(np.int64)
    idx = start[:, None] + (off[:, None] + steps) % length[:, None]
    keep = (steps < length[:, None]) & (idx != end[:, None])
    return np.where(keep, flat[idx], -1)


# objective -> how an example's history is drawn from its user's items
HISTORIES: dict[str, Callable[..., np.ndarray]] = {"held-out": _around, "next-item": _earlier}


def train(
    net: TwoTowerNet,
    feats: ItemFeatures,
    seqs: list[np.ndarray],
    user_fields: sp.csr_matrix,
    p: Any,
) -> list[float]:
    """Item prediction with in-batch negatives; returns the mean loss per epoch.

    Every event is one example, predicted from a history of the same user's items (see
    :func:`histories`: the others around it, or the earlier ones, by ``p.objective``).
    The softmax runs over the batch's target items; other rows with the same target and
    items in the row's own history are masked (they are not negatives), and with
    ``p.logq`` each logit is corrected by the log of its item's frequency as a target
    (Yi et al., 2019): popular items appear as in-batch negatives far more often than rare
    ones, and without the correction the model learns to bury them.
    """
    rng = np.random.default_rng(p.seed)
    lengths = np.array([len(s) for s in seqs], np.int64)
    flat = np.concatenate(seqs).astype(np.int64) if len(seqs) else np.zeros(0, np.int64)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    owner = np.repeat(np.arange(len(seqs)), lengths)
    ends = np.arange(len(flat))  # example j predicts flat[j] from its user's other items
    counts = np.bincount(flat, minlength=len(feats)).astype(np.float64)
    q = np.maximum(counts, 1.0) / max(len(flat), 1)
    log_q = torch.from_numpy(np.log(q).astype(np.float32))
    steps = np.arange(p.max_history)
    sparse = [m.weight for m in net.modules() if getattr(m, "sparse", False)]
    dense = [w for w in net.parameters() if all(w is not x for x in sparse)]
    opts = [torch.optim.SparseAdam(sparse, lr=p.lr), torch.optim.Adam(dense, lr=p.lr)]

    def drop(n: int) -> np.ndarray:
        return rng.random(n) < p.id_dropout

    net.train()
    losses = []
    for _ in range(p.epochs):
        order = rng.permutation(len(flat))
        total = 0.0
        for b in range(0, len(order), p.batch_size):
            ex = order[b : b + p.batch_size]
            end = ends[ex]
            hist = HISTORIES[p.objective](flat, starts[ex], lengths[owner[ex]], end, steps, rng)
            target = flat[end]
            u = net.users(feats, hist, user_fields[owner[ex]], drop)
            v = net.item(feats, target, drop(len(target)))
            logits = u @ v.T / p.temperature
            if p.logq:
                logits = logits - log_q[torch.from_numpy(target)]
            # Not negatives: another row's copy of my target, and items I already consumed
            # (else the user vector is pushed away from its own history).
            known = (target[:, None] == target[None, :]) | _in_history(hist, target)
            np.fill_diagonal(known, False)
            logits = logits.masked_fill(torch.from_numpy(known), -1e9)
            loss = F.cross_entropy(logits, torch.arange(len(ex)))
            for opt in opts:
                opt.zero_grad(set_to_none=True)
            loss.backward()
            for opt in opts:
                opt.step()
            total += loss.item() * len(ex)
        losses.append(total / max(len(order), 1))
    net.eval()
    return losses


@torch.no_grad()
def item_vectors(net: TwoTowerNet, feats: ItemFeatures, chunk: int = 8192) -> np.ndarray:
    net.eval()
    out = [
        net.item(feats, np.arange(i, min(i + chunk, len(feats))))
        for i in range(0, len(feats), chunk)
    ]
    dim = net.item.ids.embedding_dim
    return torch.cat(out).numpy().astype(np.float32) if out else np.zeros((0, dim), np.float32)


@torch.no_grad()
def user_vectors(
    net: TwoTowerNet,
    feats: ItemFeatures,
    seqs: list[np.ndarray],
    fields: sp.csr_matrix,
    max_history: int,
    chunk: int = 4096,
) -> np.ndarray:
    net.eval()
    out = [
        net.users(feats, pad_histories(seqs[i : i + chunk], max_history), fields[i : i + chunk])
        for i in range(0, len(seqs), chunk)
    ]
    dim = net.item.ids.embedding_dim
    return torch.cat(out).numpy().astype(np.float32) if out else np.zeros((0, dim), np.float32)


def state_arrays(net: TwoTowerNet) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}


def load_arrays(net: TwoTowerNet, arrays: dict[str, np.ndarray]) -> None:
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
    net.eval()
