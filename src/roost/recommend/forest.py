"""Fast scoring of a trained LightGBM ranker for one request's candidates.

LightGBM's ``Booster.predict`` costs about 10 microseconds per row for a 100-tree model
(5.9 ms for a 600-candidate pool on the demo machine): it copies and converts the rows,
builds a predictor per call and walks the trees through several layers of C++.
:class:`CompiledForest` flattens the same trees into arrays and walks them in loops
compiled by numba, the library built to compile such loops (0.48 ms for a 430-candidate
pool of the demo against 1.24 ms for a plain per-row walk). It is built only when every
split is a plain numerical ``<=`` split without missing value handling (what the ranker's
features produce) and it must reproduce the booster's own predictions on a probe sample;
otherwise :func:`compile_booster` returns None and the booster predicts as before.
lleaves (an LLVM compiler for LightGBM models) would be the library for this, but it does
not build against the llvmlite that numba needs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from numba import njit
except ImportError:  # numba is optional: the booster predicts without it
    njit = None

# Thresholds must be finite and within float32's range: then a float32 row compared with
# the threshold rounded down to float32 goes the same way as in double precision, and an
# infinite value the same way as the largest double np.nan_to_num would make of it.
_F32_MAX = float(np.finfo(np.float32).max)

if njit is not None:

    @njit(cache=True, nogil=True)
    def _predict(x, flat, feature, threshold, child, value, roots, depth, out):  # pragma: no cover
        # LightGBM reads NaN as 0 when splits have no missing-value handling.
        n, nf = x.shape
        for i in range(n):
            for j in range(nf):
                v = x[i, j]
                flat[i * nf + j] = 0.0 if v != v else v
        # Tree by tree, every row takes one step per level in lockstep: the steps of
        # different rows are independent, so LLVM turns the row loop into vector gathers
        # instead of one chain of loads and mispredicted branches per row. A leaf is its
        # own child, so rows that arrive early stay put. Indices are unsigned because
        # numba checks signed ones for wraparound, which keeps the loop scalar. Each row
        # sums its leaves in tree order, as LightGBM and the per-row loop before did.
        node = np.empty(n, np.uint32)
        two = np.uint32(2)
        out[:] = 0.0
        for t in range(roots.shape[0]):
            node[:] = roots[t]
            for _ in range(depth[t]):
                for i in range(n):
                    k = node[i]
                    v = flat[np.uint64(i * nf) + feature[k]]
                    node[i] = child[two * k + np.uint32(v > threshold[k])]
            for i in range(n):
                out[i] += value[node[i]]

    @njit(cache=True, nogil=True)
    def _held_out(
        x, base, feature, threshold, child, value, roots, n_inner, out
    ):  # pragma: no cover
        # out[j, f] = score(row j) - score(row j with feature f set to base[f]), computed
        # like the two full predictions (leaves summed in tree order) but walking again
        # only where the changed value turns a split on the row's own path.
        n, nf = x.shape
        xc = np.empty(nf)
        bc = np.empty(nf)
        for f in range(nf):
            bc[f] = 0.0 if base[f] != base[f] else base[f]
        nt = roots.shape[0]
        alt = np.empty((nf, nt))
        seen = np.zeros(nf, np.bool_)
        two = np.uint32(2)
        for j in range(n):
            for f in range(nf):
                xc[f] = 0.0 if x[j, f] != x[j, f] else x[j, f]
            s = 0.0
            for t in range(nt):
                seen[:] = False
                k = roots[t]
                while k < n_inner:
                    f = feature[k]
                    right = np.uint32(xc[f] > threshold[k])
                    if not seen[f] and right != np.uint32(bc[f] > threshold[k]):
                        # the held-out row leaves the path here; follow it to its leaf
                        seen[f] = True
                        m = child[two * k + np.uint32(1) - right]
                        while m < n_inner:
                            g = feature[m]
                            v = bc[g] if g == f else xc[g]
                            m = child[two * m + np.uint32(v > threshold[m])]
                        alt[f, t] = value[m]
                    k = child[two * k + right]
                leaf = value[k]
                s += leaf
                for f in range(nf):
                    if not seen[f]:
                        alt[f, t] = leaf
            for f in range(nf):
                h = 0.0
                for t in range(nt):
                    h += alt[f, t]
                out[j, f] = s - h


class CompiledForest:
    """The trees of a LightGBM model as flat arrays, scored by compiled loops.

    Nodes ``0 .. n_inner - 1`` are splits, the rest leaves. ``child[2 * k]`` and
    ``child[2 * k + 1]`` are the left and right children of node ``k`` (a leaf is its own
    child), ``value`` holds the leaves' outputs (0 for splits), ``roots`` each tree's
    first node and ``depth`` its number of levels. Node arrays are unsigned (see
    ``_predict``); ``threshold32`` is ``threshold`` rounded down to float32.
    """

    def __init__(self, n_features, feature, threshold, child, value, roots, depth, n_inner):
        self.n_features = n_features
        self.feature = np.asarray(feature, np.uint32)
        self.threshold = np.asarray(threshold, np.float64)
        t32 = self.threshold.astype(np.float32)
        up = t32.astype(np.float64) > self.threshold
        t32[up] = np.nextafter(t32[up], np.float32(-np.inf))
        self.threshold32 = t32
        self.child = np.asarray(child, np.uint32)
        self.value = np.asarray(value, np.float64)
        self.roots = np.asarray(roots, np.uint32)
        self.depth = np.asarray(depth, np.int64)
        self.n_inner = np.uint32(n_inner)

    @classmethod
    def from_dump(cls, dump: dict[str, Any]) -> CompiledForest | None:
        """From ``Booster.dump_model()``; None when a split is not a plain ``<=`` one
        on a finite threshold within float32's range."""
        if dump.get("num_tree_per_iteration", 1) != 1 or dump.get("average_output"):
            return None
        splits: list[tuple[int, float, int, int]] = []
        leaves: list[float] = []

        def add(node: dict) -> tuple[int, int]:
            """(the node's reference, its depth); leaves are referenced as ``-1 - leaf``."""
            if "split_index" not in node:
                leaves.append(float(node["leaf_value"]))
                return -len(leaves), 0
            if node.get("decision_type") != "<=" or node.get("missing_type") != "None":
                raise ValueError("unsupported split")
            if not abs(float(node["threshold"])) <= _F32_MAX:  # NaN fails too
                raise ValueError("unsupported threshold")
            j = len(splits)
            splits.append((0, 0.0, 0, 0))
            left, dl = add(node["left_child"])
            right, dr = add(node["right_child"])
            splits[j] = (int(node["split_feature"]), float(node["threshold"]), left, right)
            return j, 1 + max(dl, dr)

        try:
            tops = [add(tree["tree_structure"]) for tree in dump["tree_info"]]
        except (KeyError, ValueError, TypeError):
            return None
        m = len(splits)

        def ref(r: int) -> int:
            return r if r >= 0 else m - 1 - r

        size = m + len(leaves)
        feature = np.zeros(size, np.uint32)
        threshold = np.zeros(size, np.float64)
        child = np.repeat(np.arange(size, dtype=np.uint32), 2)  # leaves point at themselves
        value = np.zeros(size, np.float64)
        for j, (f, thr, left, right) in enumerate(splits):
            feature[j], threshold[j] = f, thr
            child[2 * j], child[2 * j + 1] = ref(left), ref(right)
        value[m:] = leaves
        return cls(
            int(dump["max_feature_idx"]) + 1,
            feature,
            threshold,
            child,
            value,
            np.array([ref(r) for r, _ in tops], np.uint32),
            np.array([d for _, d in tops], np.int64),
            m,
        )

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scores of the rows of ``x``, the same as LightGBM's: float32 rows are compared
        with the float32 thresholds (the same answers as in double precision), others in
        double precision."""
        x = np.asarray(x)
        if x.dtype == np.float32:
            flat, thr = np.empty(x.size, np.float32), self.threshold32
        else:
            x = np.asarray(x, np.float64)
            flat, thr = np.empty(x.size, np.float64), self.threshold
        out = np.empty(len(x), np.float64)
        if len(x):
            _predict(x, flat, self.feature, thr, self.child, self.value, self.roots,
                     self.depth, out)  # fmt: skip
        return out

    def held_out(self, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        """``(n, n_features)``: each row's score minus its score with one feature set to
        ``base``; the same numbers as predicting every such variant row in full."""
        x = np.asarray(x)
        if x.dtype != np.float32:
            x = np.asarray(x, np.float64)
        base = np.asarray(base, x.dtype)
        out = np.empty(x.shape, np.float64)
        _held_out(x, base, self.feature, self.threshold, self.child, self.value, self.roots,
                  self.n_inner, out)  # fmt: skip
        return out


def compile_booster(booster: Any, probe: np.ndarray | None = None) -> CompiledForest | None:
    """A :class:`CompiledForest` equal to ``booster`` on ``probe`` rows (and on random
    rows around them), or None when numba is missing, a split is unsupported or the two
    disagree."""
    if njit is None:
        return None
    forest = CompiledForest.from_dump(booster.dump_model())
    if forest is None:
        return None
    rng = np.random.default_rng(0)
    base = np.zeros(forest.n_features) if probe is None else np.asarray(probe, np.float64)
    x = (base + rng.normal(scale=1.0, size=(256, forest.n_features))).astype(np.float32)
    x[rng.random(x.shape) < 0.3] = 0.0
    want = booster.predict(x, num_threads=1)
    if not np.allclose(forest.predict(x), want, rtol=1e-6, atol=1e-9):
        return None
    return forest
