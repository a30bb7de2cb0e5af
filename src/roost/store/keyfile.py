"""API key records in a JSON file (``<home>/keys.json``): the embedded homes' key store.

The file is replaced atomically (write aside, fsync, rename) with mode 0600; its
modification time tells readers in other processes that it changed. A server home keeps
its records in the database instead (:meth:`roost.store.base.Database.keys`).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from roost.store.base import KeyRecords


class FileKeys(KeyRecords):
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.where = str(self.path)

    def stamp(self) -> Any:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def load(self) -> list[dict[str, str]]:
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        return list(doc["keys"])

    def save(self, records: list[dict[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"format": 1, "keys": records}, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        finally:
            if tmp.exists():
                tmp.unlink()
