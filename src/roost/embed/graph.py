"""DeepWalk and node2vec on the user-item graph: random walks, then gensim skip-gram.

Users and items are the nodes of one bipartite graph (an edge per distinct user-item pair
among the counted events); walks over it are the "sentences" of a skip-gram model, whose
tokens are node numbers (users ``0..U-1``, items after them), so a user and an item with
the same id stay two nodes.

Which vectors
-------------
A user's vectors are the skip-gram *input* vectors of user nodes, an item's the *output*
(context) vectors of item nodes, so that ``user . item`` is the model's logit for the item
appearing near the user on a walk. With uniform negative samples (``ns_exponent=0``, the
default here) that logit estimates ``log P(item near user)`` up to a constant: the
probability a random walk from the user reaches the item, popularity included, which is
what a recommender ranks by. Comparing input vectors with input vectors, as word2vec does
for words, fails across the two sides of a bipartite graph: input vectors place a node
near the nodes that share its contexts, i.e. the nodes of its own side, and the more the
model trains the further users drift from items (on ML-100K, cosine of user and item input
vectors ranked worse than popularity, and worse with every added epoch). Output vectors
also serve item-to-item similarity: their cosine item kNN ranked better on ML-100K than
the input vectors' did.

The walks are written here, vectorised over all walkers with numpy on the CSR adjacency,
because no maintained library fits: pecanpy (the reference fast node2vec) depends on
nptyping 2.5, which uses ``np.bool8`` and fails to import under numpy 2; csrgraph and
nodevectors have had no release since 2021. On a bipartite graph node2vec's second-order
bias is exact without rejection sampling: from ``cur`` (reached from ``prev``) every
neighbour ``x`` is either ``prev`` itself (weight ``1/p``) or at distance 2 from ``prev``
(weight ``1/q``); distance 1 would need an edge between two nodes of the same side.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from roost.data.frames import Interactions
from roost.embed.item2vec import CollaborativeEmbedder, skipgram
from roost.types import RoostError


def bipartite(inter: Interactions) -> sp.csr_matrix:
    """Symmetric 0/1 adjacency: users are nodes ``0..U-1``, items ``U..U+I-1``."""
    r = inter.to_csr(binary=True)
    adj = sp.bmat([[None, r], [r.T, None]], format="csr", dtype=np.float32)
    adj.sort_indices()
    return adj


def random_walks(
    adj: sp.csr_matrix,
    walk_length: int,
    walks_per_node: int,
    rng: np.random.Generator,
    p: float = 1.0,
    q: float = 1.0,
) -> np.ndarray:
    """Walks from every node with an edge, ``walks_per_node`` rounds in shuffled order.

    Returns an int32 array ``(rounds * n_active, walk_length)``. With ``p == q == 1`` the
    walk is DeepWalk's uniform one; otherwise node2vec's on a bipartite graph (see the
    module notes): return to the previous node with probability
    ``(1/p) / (1/p + (deg - 1)/q)``, else step to one of the other neighbours uniformly.
    """
    indptr, indices = adj.indptr.astype(np.int64), adj.indices.astype(np.int64)
    n = adj.shape[0]
    deg = np.diff(indptr)
    active = np.flatnonzero(deg > 0)
    second_order = not (p == 1.0 and q == 1.0)
    if second_order:
        # (row, col) keys are sorted in CSR order, so a searchsorted finds prev's slot in cur
        keys = np.repeat(np.arange(n, dtype=np.int64), deg) * n + indices
    rounds = []
    for _ in range(walks_per_node):
        walk = np.empty((len(active), walk_length), np.int64)
        walk[:, 0] = rng.permutation(active)
        for t in range(1, walk_length):
            cur = walk[:, t - 1]
            d = deg[cur]
            if not second_order or t == 1:
                walk[:, t] = indices[indptr[cur] + (rng.random(len(cur)) * d).astype(np.int64)]
                continue
            prev = walk[:, t - 2]
            back = rng.random(len(cur)) < (1 / p) / (1 / p + (d - 1) / q)
            slot_prev = np.searchsorted(keys, cur * n + prev) - indptr[cur]
            j = (rng.random(len(cur)) * np.maximum(d - 1, 1)).astype(np.int64)
            j += j >= slot_prev  # skip prev's own slot among the other d - 1 neighbours
            nxt = indices[indptr[cur] + np.minimum(j, d - 1)]
            walk[:, t] = np.where(back, prev, nxt)
        rounds.append(walk.astype(np.int32))
    return np.concatenate(rounds) if rounds else np.zeros((0, walk_length), np.int32)


class DeepWalk(CollaborativeEmbedder):
    """User and item vectors from uniform random walks on the user-item graph (DeepWalk).

    Parameters
    ----------
    embedding_dim : vector dimension.
    walk_length : nodes per walk (>= 2).
    walks_per_node : walks started from every user and every item with an event.
    window : context half-width along a walk; 3 reaches a user's items and the items of
        users who share one with them (a user-item-user-item path).
    ns_exponent : exponent of the negative-sampling distribution; 0 (uniform) makes
        ``user . item`` estimate ``log P(item near user)``, popularity included (see the
        module notes); word2vec's 0.75 divides popularity out and ranks far worse.
    negative, sample, epochs, learning_rate : the skip-gram over walks (see
        :class:`~roost.embed.item2vec.Item2Vec`). ``walks_per_node * epochs`` is the number
        of passes over the graph: about 20 trained best on ML-100K (5 walks and 4 epochs;
        5 walks and 1 epoch, the papers' single pass, undertrained).
    event_kinds, min_value : which events make edges (:meth:`Catalog.interactions`).
    seed : seeds the walks and gensim.
    n_threads : gensim workers; only 1 gives bit-identical vectors from run to run.

    Items with no counted event are not in the graph and get the cold fallback
    (:mod:`roost.embed.item2vec`). User vectors are skip-gram input vectors, item vectors
    output vectors (see the module notes), and ``user . item`` is the model's score, hence
    ``metric="dot"`` (as ALS and BPR): under cosine the cold items' tiny fallback vectors
    would be scaled up to unit length and outrank learned items at random.

    Examples
    --------
    >>> from roost.data.frames import Catalog
    >>> c = Catalog.from_pydict(
    ...     items={"id": ["a", "b", "c"]},
    ...     events={"user_id": ["u", "u", "v", "v"], "item_id": ["a", "b", "b", "c"],
    ...             "kind": ["view"] * 4, "value": [1.0] * 4, "ts": [1, 2, 3, 4]})
    >>> m = DeepWalk(embedding_dim=8, walks_per_node=2, walk_length=6, sample=0).fit(c)
    >>> m.transform(c).shape, m.user_embedding_set(c).vectors.shape
    ((3, 8), (2, 8))
    """

    name = "deepwalk"
    metric = "dot"
    learns_users = True
    positive_params = ("embedding_dim", "walks_per_node", "window", "negative", "epochs",
                       "learning_rate", "n_threads")  # fmt: skip
    non_negative_params = ("sample",)

    def __init__(
        self,
        embedding_dim: int = 64,
        walk_length: int = 40,
        walks_per_node: int = 5,
        window: int = 3,
        negative: int = 5,
        ns_exponent: float = 0.0,
        sample: float = 1e-3,
        epochs: int = 4,
        learning_rate: float = 0.025,
        event_kinds: tuple[str, ...] | None = None,
        min_value: float | None = None,
        seed: int = 0,
        n_threads: int = 1,
    ) -> None:
        self.embedding_dim = embedding_dim
        self.walk_length = walk_length
        self.walks_per_node = walks_per_node
        self.window = window
        self.negative = negative
        self.ns_exponent = ns_exponent
        self.sample = sample
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.event_kinds = event_kinds
        self.min_value = min_value
        self.seed = seed
        self.n_threads = n_threads

    def _bias(self) -> tuple[float, float]:
        return 1.0, 1.0

    def _check_params(self) -> None:
        super()._check_params()
        if self.walk_length < 2:
            raise RoostError(f"{self.name}: walk_length must be >= 2, got {self.walk_length!r}")

    def _train(self, inter: Interactions) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        p, q = self._bias()
        adj = bipartite(inter)
        walks = random_walks(
            adj, self.walk_length, self.walks_per_node, np.random.default_rng(self.seed), p, q
        )
        vectors, learned, context = skipgram(
            list(walks),
            adj.shape[0],
            dim=self.embedding_dim,
            window=self.window,
            negative=self.negative,
            ns_exponent=self.ns_exponent,
            sample=self.sample,
            epochs=self.epochs,
            learning_rate=self.learning_rate,
            min_count=1,
            seed=self.seed,
            n_threads=self.n_threads,
            with_context=True,
        )
        n_users = len(inter.user_ids)
        facts = {"n_walks": int(len(walks)), "n_edges": int(adj.nnz // 2)}
        # users as input vectors, items as output vectors: see the module notes
        return context[n_users:], learned[n_users:], vectors[:n_users], facts


class Node2Vec(DeepWalk):
    """DeepWalk with node2vec's biased second-order walks (Grover & Leskovec 2016).

    Parameters
    ----------
    p : return parameter: a low ``p`` keeps walks near where they came from.
    q : in-out parameter: ``q > 1`` keeps walks local (BFS-like, structural roles),
        ``q < 1`` sends them outward (DFS-like, communities).
    (others) : as :class:`DeepWalk`.

    Examples
    --------
    >>> from roost.data.frames import Catalog
    >>> c = Catalog.from_pydict(
    ...     items={"id": ["a", "b", "c"]},
    ...     events={"user_id": ["u", "u", "v", "v"], "item_id": ["a", "b", "b", "c"],
    ...             "kind": ["view"] * 4, "value": [1.0] * 4, "ts": [1, 2, 3, 4]})
    >>> Node2Vec(embedding_dim=8, q=0.5, walks_per_node=2, sample=0).fit(c).dim
    8
    """

    name = "node2vec"
    positive_params = (*DeepWalk.positive_params, "p", "q")

    def __init__(
        self,
        embedding_dim: int = 64,
        walk_length: int = 40,
        walks_per_node: int = 5,
        p: float = 1.0,
        q: float = 1.0,
        window: int = 3,
        negative: int = 5,
        ns_exponent: float = 0.0,
        sample: float = 1e-3,
        epochs: int = 4,
        learning_rate: float = 0.025,
        event_kinds: tuple[str, ...] | None = None,
        min_value: float | None = None,
        seed: int = 0,
        n_threads: int = 1,
    ) -> None:
        super().__init__(
            embedding_dim=embedding_dim,
            walk_length=walk_length,
            walks_per_node=walks_per_node,
            window=window,
            negative=negative,
            ns_exponent=ns_exponent,
            sample=sample,
            epochs=epochs,
            learning_rate=learning_rate,
            event_kinds=event_kinds,
            min_value=min_value,
            seed=seed,
            n_threads=n_threads,
        )
        self.p = p
        self.q = q

    def _bias(self) -> tuple[float, float]:
        return float(self.p), float(self.q)
