"""Roost: an embeddings engine for recommendation and semantic search."""

from roost.data.frames import Catalog, Interactions
from roost.types import EmbeddingSet, Hits, RoostError

__version__ = "0.1.0"

__all__ = ["Catalog", "EmbeddingSet", "Hits", "Interactions", "RoostError", "__version__"]
