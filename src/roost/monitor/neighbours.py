"""Exact nearest neighbours inside one embedding set, and the side-by-side neighbour table.

Exact search goes through scikit-learn's brute-force ``NearestNeighbors`` with the Euclidean
metric: on unit-normalised rows Euclidean order is cosine order, and that path runs the
chunked, multithreaded ``ArgKmin`` reduction (memory bounded by sklearn's
``working_memory``), which measured 3.2x faster than ``metric="cosine"`` and 4x faster than a
numpy matmul + argpartition loop at 20k x 64 (about equal at 20k x 384) on two cores.
Maximum inner product (``dot``) is reduced to the same Euclidean search by the standard
augmentation (Bachrach et al., 2014): items get one extra coordinate
``sqrt(M^2 - |x|^2)``, queries a zero, so the nearest item is the one with the largest dot.
This stays private to monitoring: the index stage owns search for serving.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.neighbors import NearestNeighbors

from roost.types import EmbeddingSet, RoostError, UnknownIdError, as_id_array


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def knn(
    vectors: np.ndarray,
    k: int,
    metric: str = "cosine",
    query_rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``vectors`` to each query row, the query itself left out.

    Parameters
    ----------
    vectors : ``(n, dim)`` array.
    k : neighbours per query (at most ``n - 1``).
    metric : ``cosine``, ``dot`` or ``l2``.
    query_rows : row numbers to query; ``None`` queries every row.

    Returns
    -------
    ``(rows, scores)``, both ``(n_queries, k)``, best first; scores are cosine, dot, or
    negated squared distance (higher is always nearer).

    Examples
    --------
    >>> import numpy as np
    >>> rows, _ = knn(np.array([[1.0, 0], [0.9, 0.1], [0, 1]]), k=1)
    >>> rows.ravel().tolist()
    [1, 0, 1]
    """
    x = np.asarray(vectors, dtype=np.float32)
    n = len(x)
    if not 0 < k < n:
        raise RoostError(f"k={k}: need 0 < k < number of vectors ({n})")
    q = np.arange(n) if query_rows is None else np.asarray(query_rows, dtype=np.int64)
    if metric == "cosine":
        x = normalize_rows(x)
        base, queries = x, x[q]
    elif metric == "l2":
        base, queries = x, x[q]
    elif metric == "dot":
        sq = np.einsum("ij,ij->i", x, x, dtype=np.float64)
        pad = np.sqrt(np.maximum(sq.max() - sq, 0.0)).astype(np.float32)
        base = np.hstack([x, pad[:, None]])
        queries = np.hstack([x[q], np.zeros((len(q), 1), np.float32)])
    else:
        raise RoostError(f"unknown metric {metric!r}; known: cosine, dot, l2")
    nn = NearestNeighbors(n_neighbors=k + 1, algorithm="brute", metric="euclidean").fit(base)
    dist, rows = nn.kneighbors(queries)
    # Drop the query itself; where a duplicate vector pushed it out of the list, drop the last.
    is_self = rows == q[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    rows = rows[~is_self].reshape(len(q), k)
    d2 = dist[~is_self].reshape(len(q), k).astype(np.float64) ** 2
    if metric == "cosine":
        scores = 1.0 - d2 / 2.0
    elif metric == "l2":
        scores = -d2
    else:  # |q' - x'|^2 = |q|^2 + M^2 - 2 q.x
        scores = (sq[q][:, None] + sq.max() - d2) / 2.0
    return rows, scores.astype(np.float32)


@dataclass(frozen=True)
class NeighbourTable:
    """Nearest neighbours of chosen items in one or more versions, side by side.

    ``rows[i]["versions"][name]`` lists the neighbours of query ``rows[i]["id"]`` in version
    ``name`` as dicts ``{id, title, score, shared}``; ``shared`` marks a neighbour that every
    version lists (``None`` where the query id is missing from that version).
    """

    names: tuple[str, ...]
    k: int
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "k": self.k, "rows": self.rows}

    def to_markdown(self) -> str:
        """One table per query item, a column per version; shared neighbours in bold."""
        out = []
        for row in self.rows:
            head = row["id"] + (f" ({row['title']})" if row.get("title") else "")
            out += [f"**{_md(head)}**", "", "| # | " + " | ".join(self.names) + " |"]
            out.append("|---" * (len(self.names) + 1) + "|")
            for r in range(self.k):
                cells = []
                for name in self.names:
                    hits = row["versions"][name]
                    if hits is None or r >= len(hits):
                        cells.append("(missing)" if hits is None and r == 0 else "")
                        continue
                    h = hits[r]
                    text = f"{_md(h['title'] or h['id'])} {h['score']:.2f}"
                    cells.append(f"**{text}**" if h["shared"] else text)
                out.append(f"| {r + 1} | " + " | ".join(cells) + " |")
            out.append("")
        return "\n".join(out)


def _md(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def neighbour_table(
    sets: Sequence[EmbeddingSet] | Mapping[str, EmbeddingSet],
    ids: Sequence[str],
    k: int = 10,
    titles: Mapping[str, str] | None = None,
) -> NeighbourTable:
    """The ``k`` nearest neighbours of ``ids`` in each version (each with its own metric).

    Parameters
    ----------
    sets : versions to show; a mapping gives column names, a sequence uses ``method``
        (numbered when two share one).
    ids : the query items.
    k : neighbours per version.
    titles : id -> display title (e.g. from the catalog).

    Examples
    --------
    >>> import numpy as np
    >>> from roost.types import EmbeddingSet
    >>> s = EmbeddingSet(np.array(["a", "b", "c"], dtype=object),
    ...                  np.array([[1, 0], [0.9, 0.1], [0, 1]], np.float32), "x", {}, "f")
    >>> neighbour_table({"v1": s}, ["a"], k=1).rows[0]["versions"]["v1"][0]["id"]
    'b'
    """
    named = dict(sets) if isinstance(sets, Mapping) else _auto_names(list(sets))
    titles = titles or {}
    query_ids = [str(i) for i in ids]
    found: dict[str, dict[str, list | None]] = {q: {} for q in query_ids}
    for name, s in named.items():
        pos = {x: j for j, x in enumerate(as_id_array(s.ids))}
        present = [q for q in query_ids if q in pos]
        if not present and len(named) == 1:
            raise UnknownIdError(f"none of the ids {query_ids[:5]} is in the set")
        rows, scores = (
            knn(s.vectors, min(k, len(s) - 1), s.metric, np.array([pos[q] for q in present]))
            if present
            else (np.empty((0, k), int), np.empty((0, k)))
        )
        ids_arr = as_id_array(s.ids)
        for q in query_ids:
            found[q][name] = None
        for q, r, sc in zip(present, rows, scores, strict=True):
            found[q][name] = [(str(ids_arr[j]), float(v)) for j, v in zip(r, sc, strict=True)]
    out = []
    for q in query_ids:
        lists = [v for v in found[q].values() if v is not None]
        # "shared" only means something when at least two versions list neighbours.
        common = (
            set.intersection(*(set(i for i, _ in v) for v in lists)) if len(lists) > 1 else set()
        )
        versions = {
            name: None
            if hits is None
            else [
                {"id": i, "title": titles.get(i), "score": round(s, 4), "shared": i in common}
                for i, s in hits
            ]
            for name, hits in found[q].items()
        }
        out.append({"id": q, "title": titles.get(q), "versions": versions})
    return NeighbourTable(tuple(named), k, out)


def _auto_names(sets: list[EmbeddingSet]) -> dict[str, EmbeddingSet]:
    names = [s.method or "set" for s in sets]
    if len(set(names)) < len(names):
        names = [f"{n}#{j + 1}" for j, n in enumerate(names)]
    return dict(zip(names, sets, strict=True))
