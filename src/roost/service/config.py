"""The service's settings, resolved once at the edge from :mod:`roost.settings`."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from roost.settings import resolve
from roost.store.artifacts import Artifacts
from roost.store.home import Home


@dataclass(frozen=True)
class ServiceSettings:
    """Everything :func:`roost.service.create_app` needs; plain values, no environment.

    Parameters
    ----------
    home : the Roost home served.
    database : the home's database URL (default: the one the home records, else its
        SQLite file).
    keys_file : the API keys file (default: ``<home>/keys.json``, or on a server home the
        database's key table).
    open_access : let callers without credentials act as admin (``roost serve --open``),
        which :func:`roost.cli.serve.serve_forever` allows on loopback only and only with no
        keys configured. Off, a protected route needs a valid key or session however the keys
        file changes while the service runs (every key revoked, the file deleted: 401).
    max_body : largest request body in bytes (413 above).
    max_k : largest ``k`` of recommend, similar and search (422 above).
    max_page : largest listing page, ``/embed`` batch and ``/events`` batch (422 above).
    cors_origins : origins allowed to call from a browser; empty keeps CORS closed.
    session_secret : signs the web session cookie (default: a secret kept in the home).
    surfaces : a surfaces config for the engine (default ``<home>/surfaces.toml``).
    web_token : a sign-in token for the web app when keys are configured (default: a
        random one per start, printed with the address, as a notebook server does).
    load_engine : open the engine at start (False serves the catalog only).
    query_threads : threads that run queries (recommend, similar, search, embed); they
        queue for them, so a burst does not make every query slower under the GIL.
    cache_ttl : seconds a finished result may be served again (0: no result cache; see
        :mod:`roost.recommend.cache`).
    feed_poll : seconds between looks at the change log for writes made on other machines
        (on this machine, and on PostgreSQL through LISTEN/NOTIFY, changes show at once).
    """

    home: Path
    database: str | None = None
    keys_file: Path | None = None
    open_access: bool = False
    max_body: int = 1_048_576
    max_k: int = 100
    max_page: int = 500
    cors_origins: tuple[str, ...] = ()
    session_secret: str = ""
    surfaces: Path | None = None
    web_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    load_engine: bool = True
    query_threads: int = 1
    cache_ttl: float = 30.0
    feed_poll: float = 0.5

    @classmethod
    def from_env(
        cls, home: str | Path | None = None, environ: dict[str, str] | None = None, **overrides: Any
    ) -> ServiceSettings:
        """Settings from explicit values, then the environment, then the defaults."""

        def get(name: str) -> Any:
            return resolve(name, overrides.pop(name, None), environ)

        h = Home.at(resolve("home", home, environ)).path
        database = get("database") or None
        keys = get("keys_file")
        open_access = bool(overrides.pop("open_access", None) or get("open"))
        origins = get("cors_origins")
        if isinstance(origins, str):
            origins = tuple(o.strip() for o in origins.split(",") if o.strip())
        return cls(
            home=h,
            database=database,
            keys_file=Path(keys) if keys else None,
            open_access=open_access,
            max_body=int(get("max_body")),
            max_k=int(get("max_k")),
            max_page=int(get("max_page")),
            query_threads=int(get("query_threads")),
            cache_ttl=float(get("cache_ttl")),
            feed_poll=float(get("feed_poll")),
            cors_origins=tuple(origins),
            session_secret=get("session_secret"),
            **overrides,
        )

    @property
    def keys_path(self) -> Path:
        return self.keys_file or Artifacts(self.home).keys

    def home_(self) -> Home:
        """The served home, bound to its database."""
        return Home.at(self.home, self.database)

    def key_records(self) -> Any:
        """Where the API keys live: the keys file named, else the database's key table
        (server homes), else ``<home>/keys.json``."""
        if self.keys_file is None:
            home = self.home_()
            records = home.db().keys() if home.exists() else None
            if records is not None:
                return records
        return self.keys_path

    def to_json(self) -> str:
        doc = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
        return json.dumps(doc)

    @classmethod
    def from_json(cls, text: str) -> ServiceSettings:
        doc = json.loads(text)
        for k in ("home", "keys_file", "surfaces"):
            if doc.get(k) is not None:
                doc[k] = Path(doc[k])
        doc["cors_origins"] = tuple(doc.get("cors_origins") or ())
        return cls(**doc)

    def with_(self, **changes: Any) -> ServiceSettings:
        return replace(self, **changes)

    def session_key(self) -> str:
        """The cookie-signing secret: the configured one, else one kept in the home (0600),
        so that sessions survive a restart."""
        if self.session_secret:
            return self.session_secret
        path = Artifacts(self.home).session_key
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        self.home.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(value)
        return value
