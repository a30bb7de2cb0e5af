"""Monitoring: drift within a space, comparison across versions, 2-D maps, latency.

- :func:`drift` runs the registered drift detectors (``kl``, ``classifier``, ``mmd``,
  ``wasserstein``, ``mean``) on two samples of vectors and returns :class:`DriftResult` s;
  :func:`window_vectors` builds the samples for two time windows of events.
- :func:`compare_versions` compares two versions on shared ids (neighbour overlap, rank
  correlation of similarities, Procrustes) and :func:`neighbour_table` shows chosen items'
  neighbours side by side.
- :func:`write_map` draws a version in 2-D (PCA, UMAP, t-SNE) as PNG or interactive HTML.
- :func:`timed` and :func:`snapshot` keep latency histograms per stage (p50/p95/p99).

Names load on first use (PEP 562), so ``from roost.monitor import timed`` in a hot path
does not import scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported eagerly (numpy only): the function ``drift`` shares its name with its module, and
# a lazy load would leave the submodule, not the function, bound to ``roost.monitor.drift``.
from roost.monitor.drift import REGISTRY as DRIFT_METHODS
from roost.monitor.drift import DriftResult, drift

_EXPORTS = {
    "compare_versions": "roost.monitor.compare",
    "VersionComparison": "roost.monitor.compare",
    "neighbour_table": "roost.monitor.neighbours",
    "NeighbourTable": "roost.monitor.neighbours",
    "write_map": "roost.monitor.maps",
    "project": "roost.monitor.maps",
    "available_projections": "roost.monitor.maps",
    "window_vectors": "roost.monitor.windows",
    "time_split": "roost.monitor.windows",
    "LatencyRegistry": "roost.monitor.latency",
    "timed": "roost.monitor.latency",
    "snapshot": "roost.monitor.latency",
    "prometheus_collector": "roost.monitor.latency",
}

__all__ = [
    "DRIFT_METHODS",
    "DriftResult",
    "LatencyRegistry",
    "NeighbourTable",
    "VersionComparison",
    "available_projections",
    "compare_versions",
    "drift",
    "neighbour_table",
    "project",
    "prometheus_collector",
    "snapshot",
    "time_split",
    "timed",
    "window_vectors",
    "write_map",
]


def __getattr__(name: str) -> Any:
    try:
        target = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'roost.monitor' has no attribute {name!r}") from None
    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
