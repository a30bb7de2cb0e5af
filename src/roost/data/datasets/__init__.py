"""Dataset loaders, by name: ``REGISTRY[name]().load(path)`` gives a :class:`Dataset`."""

from __future__ import annotations

from roost.data.datasets.base import Dataset, DatasetLoader
from roost.data.datasets.beir import Beir
from roost.data.datasets.generic import Generic, ingest_folder
from roost.data.datasets.movielens import MovieLens100K
from roost.data.datasets.movietweetings import MovieTweetings
from roost.types import RoostError

REGISTRY: dict[str, type[DatasetLoader]] = {
    c.name: c for c in (MovieTweetings, MovieLens100K, Beir, Generic)
}


def load(name: str, path=None) -> Dataset:
    """Load dataset ``name`` (from ``path`` when it is not bundled)."""
    if name not in REGISTRY:
        raise RoostError(f"unknown dataset {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]().load(path)


__all__ = ["REGISTRY", "Dataset", "DatasetLoader", "ingest_folder", "load"]
