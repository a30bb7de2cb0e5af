"""The dataset contract: a loader turns files in a known layout into canonical tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from roost.data.errors import IngestError
from roost.data.frames import Catalog, empty_table
from roost.data.ingest import IngestReport, ingest_table
from roost.store.base import CatalogStore


@dataclass
class Dataset:
    """Canonical tables of a dataset plus anything format-specific (queries, folds ...)."""

    name: str
    items: pa.Table
    users: pa.Table = field(default_factory=lambda: empty_table("users"))
    events: pa.Table = field(default_factory=lambda: empty_table("events"))
    follows: pa.Table = field(default_factory=lambda: empty_table("follows"))
    extra: dict[str, Any] = field(default_factory=dict)

    def catalog(self) -> Catalog:
        return Catalog(items=self.items, users=self.users, events=self.events, follows=self.follows)

    def ingest(self, store: CatalogStore, progress: bool = False) -> list[IngestReport]:
        """Store the dataset through the same validation as any file (items first)."""
        reports = []
        for kind in ("items", "users", "events", "follows"):
            table = getattr(self, kind)
            if table.num_rows:
                reports.append(
                    ingest_table(store, kind, table, source=f"{self.name}:{kind}", progress=progress)
                )
        return reports


class DatasetLoader:
    """Base for loaders: ``name``, a one-line ``description``, whether we may ``bundle`` it."""

    name: str = ""
    description: str = ""
    licence: str = ""
    bundled: bool = False

    def load(self, path: str | Path | None = None) -> Dataset:
        raise NotImplementedError

    @staticmethod
    def _need(path: str | Path | None, name: str, files: tuple[str, ...]) -> Path:
        if path is None:
            raise IngestError(name, message=f"this dataset is not bundled: pass --path to a folder with {', '.join(files)}")
        p = Path(path)
        for f in files:
            if not (p / f).exists():
                raise IngestError(str(p / f), message=f"missing file for dataset {name!r}")
        return p


def split_dat(path: Path, sep: str = "::", encoding: str = "utf-8") -> list[list[str]]:
    """Rows of a '::'-separated file (MovieLens-style; Arrow's CSV reader takes one-byte
    delimiters only, so these small files are split in Python)."""
    with open(path, encoding=encoding) as f:
        return [line.rstrip("\r\n").split(sep) for line in f if line.strip()]
