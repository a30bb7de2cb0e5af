"""Database URLs of a home: ``sqlite:///path/roost.db`` (the embedded default) or
``postgresql://user:password@host:port/dbname`` (libpq's URL form; ``postgres://`` too)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from roost.types import RoostError

SCHEMES = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql"}


def scheme(url: str) -> str:
    """The backend a URL names (``sqlite`` or ``postgresql``); refuses anything else."""
    if not isinstance(url, str) or "://" not in url:
        raise RoostError(f"database {url!r}: expected a URL such as sqlite:///path/roost.db "
                         "or postgresql://user@host/dbname")  # fmt: skip
    name = url.split("://", 1)[0].lower()
    if name not in SCHEMES:
        raise RoostError(f"database {redact(url)}: unknown scheme {name!r}; use one of "
                         "sqlite, postgresql")  # fmt: skip
    return SCHEMES[name]


def sqlite_url(path: str | Path) -> str:
    return f"sqlite://{Path(path).expanduser().absolute()}"  # three slashes: an absolute path


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///`` URL (three slashes: an absolute path follows)."""
    rest = url.split("://", 1)[1]
    if not rest.startswith("/"):
        raise RoostError(f"database {url}: a SQLite URL needs a path, sqlite:///path/roost.db")
    return Path(rest.split("?", 1)[0])


def redact(url: str) -> str:
    """The URL with its password replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))
