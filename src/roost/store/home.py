"""A Roost home: the folder that holds one deployment's files, and its database.

The database is the embedded SQLite file ``<home>/roost.db`` unless the home records
another URL in ``<home>/database.url`` (``roost init --database postgresql://...``) or the
caller names one (``Home.at(path, database=url)``; the CLI and the service pass
``--database``/``ROOST_DATABASE``). Where each file lives: :class:`~roost.store.artifacts.Artifacts`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from roost.store.artifacts import Artifacts
from roost.store.urls import scheme, sqlite_url


@dataclass(frozen=True)
class Home:
    path: Path
    database: str | None = None  # a URL given by the caller; None: the recorded one

    @classmethod
    def at(cls, path: str | Path, database: str | None = None) -> Home:
        if database:
            scheme(database)  # refuse a malformed URL here, with its message
        return cls(Path(path).expanduser().absolute(), database or None)

    @property
    def artifacts(self) -> Artifacts:
        return Artifacts(self.path)

    @property
    def url(self) -> str:
        """The database URL: the caller's, else the one recorded in the home, else SQLite."""
        if self.database:
            return self.database
        try:
            recorded = self.artifacts.database_url.read_text().strip()
        except FileNotFoundError:
            recorded = ""
        return recorded or sqlite_url(self.artifacts.sqlite)

    @property
    def backend(self) -> str:
        return scheme(self.url)

    def db(self):
        """The home's :class:`~roost.store.base.Database` (see roost.store.BACKENDS)."""
        from roost.store import open_database

        return open_database(self.url, self.path)

    def describe_database(self) -> str:
        """The database URL without its password."""
        from roost.store.urls import redact

        return redact(self.url)

    def exists(self) -> bool:
        a = self.artifacts
        if a.sqlite.exists() or a.database_url.exists():
            return True
        return bool(self.database) and self.path.is_dir() and self.db().exists()

    def create(self, database: str | None = None) -> Home:
        """Make the folders; record ``database`` (or the caller's URL) when it is not the
        embedded default. Returns the home, bound to that URL."""
        for d in self.artifacts.folders():
            d.mkdir(parents=True, exist_ok=True)
        url = database or self.database
        if url and url != sqlite_url(self.artifacts.sqlite):
            _write_private(self.artifacts.database_url, url + "\n")
        return Home(self.path, url or self.database)


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner reads (a URL may hold a password)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
