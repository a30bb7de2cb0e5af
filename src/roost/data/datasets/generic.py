"""A folder of ``items.*``, ``users.*``, ``events.*`` and ``follows.*`` files in any format."""

from __future__ import annotations

from pathlib import Path

from roost.data.datasets.base import Dataset, DatasetLoader
from roost.data.errors import IngestError
from roost.data.readers import FORMATS

KINDS = ("items", "users", "events", "follows")


def find_files(path: str | Path) -> dict[str, Path]:
    """The first ``<kind>.<format>`` file per kind in ``path``."""
    p = Path(path)
    found = {}
    for kind in KINDS:
        for fmt in (*FORMATS, "ndjson"):
            f = p / f"{kind}.{fmt}"
            if f.exists():
                found[kind] = f
                break
    return found


class Generic(DatasetLoader):
    name = "folder"
    description = "any folder with items/users/events/follows files (CSV, TSV, JSONL or Parquet)"
    licence = "yours"

    def load(self, path: str | Path | None = None) -> Dataset:
        raise IngestError(str(path), message="load a folder with `roost ingest` or roost.data.datasets.ingest_folder")


def ingest_folder(store, path: str | Path, *, on_error: str = "fail", progress: bool = False):
    """Ingest every ``<kind>.<format>`` file of a folder, items first (events need them)."""
    from roost.data.ingest import ingest_file

    files = find_files(path)
    if "items" not in files:
        raise IngestError(str(path), message="no items file (items.csv, items.jsonl or items.parquet)")
    return [ingest_file(store, k, f, on_error=on_error, progress=progress) for k, f in files.items()]
