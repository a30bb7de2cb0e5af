"""Settings for the CLI and the service: one registry, each with a default and a help line.

Values come from (first wins) an explicit argument, the environment, the default. Only the
edges (CLI, service factory) call :func:`resolve`; the library takes plain arguments.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("home", "ROOST_HOME", "./.roost", "the Roost home directory (catalog, versions, indexes)"),
        Setting("database", "ROOST_DATABASE", "", "the home's database URL: sqlite:///path/roost.db or postgresql://user@host/db; empty: the one the home records (roost init --database), else <home>/roost.db"),
        Setting("host", "ROOST_HOST", "127.0.0.1", "address the service binds; anything but loopback needs API keys"),
        Setting("port", "ROOST_PORT", 8000, "port the service listens on", int),
        Setting("open", "ROOST_OPEN", False, "serve without API keys (loopback only): every caller is admin", lambda v: v.strip().lower() in ("1", "true", "yes", "on")),
        Setting("progress", "ROOST_PROGRESS", "auto", "progress bars: auto (when a terminal), on, off"),
        Setting("keys_file", "ROOST_KEYS_FILE", "", "API keys file (hashed keys); empty: <home>/keys.json"),
        Setting("max_body", "ROOST_MAX_BODY", 1_048_576, "largest request body the service accepts, in bytes (413 above)", int),
        Setting("max_k", "ROOST_MAX_K", 100, "largest k a recommend, similar or search request may ask for (422 above)", int),
        Setting("max_page", "ROOST_MAX_PAGE", 500, "largest page size of a listing and batch size of /embed and /events (422 above)", int),
        Setting("query_threads", "ROOST_QUERY_THREADS", 1, "threads that run recommend, similar, search and embed queries in the service", int),
        Setting("cache_ttl", "ROOST_CACHE_TTL", 30.0, "seconds the service may serve a finished result again (0: no result cache)", float),
        Setting("feed_poll", "ROOST_FEED_POLL", 0.5, "seconds between a serving worker's looks at the change log for writes from other machines (same machine: at once)", float),
        Setting("workers", "ROOST_WORKERS", 1, "serving processes of `roost serve` sharing one home (each holds the engine)", int),
        Setting("cors_origins", "ROOST_CORS_ORIGINS", "", "comma-separated origins allowed by CORS; empty: CORS closed"),
        Setting("session_secret", "ROOST_SESSION_SECRET", "", "secret that signs web session cookies; empty: one kept in <home>/session.key"),
    )
}


def resolve(name: str, value: Any = None, environ: dict[str, str] | None = None) -> Any:
    """The value of setting ``name``: ``value`` if given, else the environment, else the default."""
    s = SETTINGS[name]
    if value is not None:
        return value
    env = os.environ if environ is None else environ
    if s.env in env and env[s.env] != "":
        return s.parse(env[s.env])
    return s.default
