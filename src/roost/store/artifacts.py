"""The files of a home, and the one place that knows where each lives.

The database (SQLite file or PostgreSQL server) holds rows; vectors, indexes and models
stay on disk, memory-mapped where they are read, and the database refers to them by the
id of the version they belong to. Callers ask :class:`Artifacts` for a path rather than
joining ``home / "indexes" / ...`` themselves, so the layout is written down once::

    <home>/database.url          the database URL when it is not the embedded SQLite file
    <home>/roost.db              the embedded SQLite catalog (default)
    <home>/versions/<id>/        immutable embedding versions (vectors, ids, manifest)
    <home>/indexes/<id>/<name>/  vector indexes bound to one version
    <home>/indexes/bm25/         the lexical (BM25) index of the catalog's items
    <home>/rankers/              the trained ranker
    <home>/rejects/              rows refused by ``ingest --on-error skip``
    <home>/metrics/latency.json  latency figures (``roost stats --latency``)
    <home>/eval/<name>/          saved leaderboards (the web app's dashboard reads them)
    <home>/service.db            idempotency records of the service (SQLite homes)
    <home>/keys.json             API keys, salted hashes (SQLite homes)
    <home>/feed.head             the change log's head, for serving processes on this machine
    <home>/surfaces.toml         the recommendation surfaces (optional)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DATABASE_FILE = "database.url"
LEXICAL = "bm25"


@dataclass(frozen=True)
class Artifacts:
    """Paths of one home's files (nothing is created by asking)."""

    root: Path

    @property
    def versions(self) -> Path:
        return self.root / "versions"

    def version(self, vid: str) -> Path:
        return self.versions / vid

    @property
    def indexes(self) -> Path:
        return self.root / "indexes"

    def indexes_of(self, vid: str) -> Path:
        """The folder of every index built on version ``vid`` (removed with it)."""
        return self.indexes / vid

    def index(self, vid: str, name: str = "auto") -> Path:
        return self.indexes / vid / name

    @property
    def lexical(self) -> Path:
        return self.indexes / LEXICAL

    @property
    def rankers(self) -> Path:
        return self.root / "rankers"

    @property
    def rejects(self) -> Path:
        return self.root / "rejects"

    def rejects_of(self, source: str | Path) -> Path:
        return self.rejects / f"{Path(source).name}.rejects.jsonl"

    @property
    def evaluations(self) -> Path:
        """Saved leaderboards, one folder each (``<home>/eval/<name>/leaderboard.json``)."""
        return self.root / "eval"

    def evaluation(self, name: str) -> Path:
        return self.evaluations / name

    @property
    def latency(self) -> Path:
        return self.root / "metrics" / "latency.json"

    @property
    def sqlite(self) -> Path:
        return self.root / "roost.db"

    @property
    def service_db(self) -> Path:
        return self.root / "service.db"

    @property
    def keys(self) -> Path:
        return self.root / "keys.json"

    @property
    def session_key(self) -> Path:
        return self.root / "session.key"

    @property
    def feed_head(self) -> Path:
        return self.root / "feed.head"

    @property
    def surfaces(self) -> Path:
        return self.root / "surfaces.toml"

    @property
    def database_url(self) -> Path:
        return self.root / DATABASE_FILE

    def folders(self) -> tuple[Path, ...]:
        """What a new home is made of."""
        return (self.root, self.versions, self.indexes, self.rejects)
