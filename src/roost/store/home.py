"""A Roost home: the directory that holds one deployment's data.

Layout::

    <home>/roost.db        SQLite catalog (items, users, events, follows, versions ...)
    <home>/versions/<id>/  immutable embedding versions (vectors, ids, manifest)
    <home>/indexes/<id>/   vector indexes bound to a version
    <home>/rejects/        rows refused by ``ingest --on-error skip``
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Home:
    path: Path

    @classmethod
    def at(cls, path: str | Path) -> Home:
        return cls(Path(path).expanduser().absolute())

    @property
    def db_path(self) -> Path:
        return self.path / "roost.db"

    @property
    def versions_dir(self) -> Path:
        return self.path / "versions"

    @property
    def indexes_dir(self) -> Path:
        return self.path / "indexes"

    @property
    def rejects_dir(self) -> Path:
        return self.path / "rejects"

    def exists(self) -> bool:
        return self.db_path.exists()

    def create(self) -> Home:
        for d in (self.path, self.versions_dir, self.indexes_dir, self.rejects_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self
