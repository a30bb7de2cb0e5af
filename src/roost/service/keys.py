"""API keys: random secrets handed out once, kept only as salted scrypt hashes.

A key reads ``roost_<id>_<secret>``. The id (public, 8 hex) finds the stored record; the
secret (32 random bytes, URL-safe) is checked by hashing it with the record's salt and
comparing with :func:`hmac.compare_digest`. The records hold ids, roles, salts and hashes,
never a key; they live behind :class:`~roost.store.base.KeyRecords`: the home's keys file
(replaced atomically, mode 0600) or, on a server home, a table of the database.

scrypt costs milliseconds by design, too slow to pay on every request, so a verified key is
remembered in memory under an HMAC of it with a per-process random pepper: the cache holds
no key, and a lookup in it tells a timing observer nothing about a key's bytes.

Examples
--------
>>> import tempfile, os
>>> keys = KeyStore(os.path.join(tempfile.mkdtemp(), "keys.json"))
>>> key, record = keys.create("read", name="docs")
>>> keys.check(key).role, keys.check("roost_00000000_nope")
('read', None)
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import secrets
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from roost.store.base import KeyRecords
from roost.store.keyfile import FileKeys
from roost.types import RoostError

ROLES: tuple[str, ...] = ("read", "admin")
PREFIX = "roost"
# scrypt cost: n=2**14, r=8 (16 MiB, ~20-50 ms): OWASP's floor for interactive logins.
_N, _R, _P = 2**14, 8, 1


class KeysError(RoostError):
    """A keys file that cannot be used, or a bad role or id."""


@dataclass(frozen=True)
class KeyRecord:
    """One stored key: everything but the secret."""

    id: str
    role: str
    name: str
    created: str
    salt: str  # hex
    hash: str  # hex scrypt(secret, salt)

    def public(self) -> dict[str, str]:
        """What listings show: id, role, name, created (no salt, no hash)."""
        return {"id": self.id, "role": self.role, "name": self.name, "created": self.created}


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)


def _parse(key: str) -> tuple[str, str] | None:
    parts = key.split("_", 2) if isinstance(key, str) else []
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 8 or not parts[2]:
        return None
    return parts[1], parts[2]


class KeyStore:
    """The API keys of one deployment.

    Parameters
    ----------
    records : where the records live: a keys file (a path; it need not exist: no keys) or
        a :class:`~roost.store.base.KeyRecords` backend (a server home's table).
    """

    def __init__(self, records: str | Path | KeyRecords):
        self.backend = records if isinstance(records, KeyRecords) else FileKeys(records)
        self.path = Path(self.backend.where)
        self._lock = threading.Lock()
        self._pepper = secrets.token_bytes(32)
        self._verified: dict[bytes, KeyRecord] = {}
        self._records: dict[str, KeyRecord] = {}
        self._mtime: float | None = None
        self._load()

    # --- reading -------------------------------------------------------------------------
    def _load(self) -> None:
        try:
            mtime = self.backend.stamp()
        except Exception as e:
            raise KeysError(f"{self.path}: keys cannot be read ({type(e).__name__})") from e
        if mtime is None:
            self._records, self._mtime = {}, None
            return
        if mtime == self._mtime:
            return
        try:
            records = {r["id"]: KeyRecord(**r) for r in self.backend.load()}
        except Exception as e:  # a damaged file, a table that cannot be read: keys unusable
            raise KeysError(f"{self.path}: not a usable keys file ({e})") from e
        bad = [r.id for r in records.values() if r.role not in ROLES]
        if bad:
            raise KeysError(f"{self.path}: key {bad[0]} has an unknown role")
        self._records, self._mtime = records, mtime
        # A revoked key must stop working at once: forget every verification.
        self._verified = {}

    def list(self) -> list[KeyRecord]:
        with self._lock:
            self._load()
            return sorted(self._records.values(), key=lambda r: r.created)

    def __bool__(self) -> bool:
        return bool(self.list())

    def _tag(self, key: str) -> bytes:
        return hmac.new(self._pepper, key.encode(errors="surrogatepass"), hashlib.sha256).digest()

    def verified(self, key: str | None) -> KeyRecord | None:
        """The record of a key already verified and not revoked since, or None: no
        key derivation, so cheap enough to call on an event loop (:meth:`check` is not)."""
        return self._cached(self._tag(key)) if key else None

    def _cached(self, tag: bytes) -> KeyRecord | None:
        with self._lock:
            self._load()
            hit = self._verified.get(tag)
            return hit if hit is not None and hit.id in self._records else None

    def check(self, key: str | None) -> KeyRecord | None:
        """The record of a valid key, or None. Constant-time in the secret's bytes."""
        if not key:
            return None
        tag = self._tag(key)
        hit = self._cached(tag)
        if hit is not None:
            return hit
        with self._lock:
            parsed = _parse(key)
            record = self._records.get(parsed[0]) if parsed else None
        if record is None:
            # Hash anyway, so an unknown id costs what a wrong secret costs.
            _hash(parsed[1] if parsed else key, b"\0" * 16)
            return None
        ok = hmac.compare_digest(_hash(parsed[1], bytes.fromhex(record.salt)).hex(), record.hash)
        if not ok:
            return None
        with self._lock:
            self._verified[tag] = record
        return record

    # --- writing -------------------------------------------------------------------------
    def create(self, role: str, *, name: str = "") -> tuple[str, KeyRecord]:
        """Make a new key of ``role``; returns ``(key, record)``. The key is shown once."""
        if role not in ROLES:
            raise KeysError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
        with self._lock:
            self._load()
            kid = secrets.token_hex(4)
            while kid in self._records:
                kid = secrets.token_hex(4)
            secret = secrets.token_urlsafe(32)
            salt = secrets.token_bytes(16)
            record = KeyRecord(
                id=kid, role=role, name=name,
                created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                salt=salt.hex(), hash=_hash(secret, salt).hex(),
            )  # fmt: skip
            self._write({**self._records, kid: record})
        return f"{PREFIX}_{kid}_{secret}", record

    def revoke(self, kid: str) -> KeyRecord:
        """Remove a key by id; it stops working at once in every process reading the file."""
        with self._lock:
            self._load()
            if kid not in self._records:
                raise KeysError(f"no key with id {kid!r} in {self.path}")
            records = dict(self._records)
            gone = records.pop(kid)
            self._write(records)
        return gone

    def _write(self, records: dict[str, KeyRecord]) -> None:
        self.backend.save([asdict(r) for r in records.values()])
        self._records, self._mtime, self._verified = records, None, {}
        self._load()
