"""Versioned embedding sets: immutable versions, aliases with rollback, verification.

Every :class:`~roost.types.EmbeddingSet` put into a home becomes an immutable version: a
folder ``<home>/versions/<id>/`` (see :mod:`roost.store.manifest`) and a row in the home's
version catalog (:class:`~roost.store.base.VersionCatalog`, on the home's database). Aliases (``production``, ``candidate`` ...) name versions; each alias keeps
its history, so ``rollback`` returns it to its previous target.

Publishing is atomic. Files are written into ``versions/.tmp-<uuid>/`` and fsynced; then,
holding the database's write lock, the manifest is written last, the folder is renamed to its
final name, the directory is fsynced and the catalog row is inserted: that commit is the
moment the version exists. Readers resolve through the catalog, so they see the old set of
versions or the new one, never a half-written folder. Opening a store removes what a
crashed publish left behind (temporary folders whose writer is gone, folders with no row).
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from roost import __version__
from roost.store import aliases as _aliases
from roost.store.aliases import LATEST, SEQ_RE
from roost.store.home import Home
from roost.store.manifest import (
    FORMAT,
    MANIFEST,
    IntegrityError,
    Problem,
    UnknownVersionError,
    ValidationError,
    Version,
    VersionError,
    canonical_json,
    check_folder,
    read_set,
)
from roost.store.publish import (
    commit_folder,
    folder_lock,
    sweep_temporary,
    trash,
    validate,
    write_set,
)
from roost.types import EmbeddingSet, RoostError

_ID_RE = re.compile(r"v\d+-[a-z0-9]+-[0-9a-f]+")


@dataclass(frozen=True)
class VersionInfo:
    """One catalog row: what ``roost versions`` lists."""

    id: str
    seq: int
    name: str | None
    method: str
    kind: str
    dim: int
    metric: str
    count: int
    users: int | None
    created: str
    parent: str | None
    fingerprint: str
    aliases: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "aliases": list(self.aliases)}


def _slug(method: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", method.lower())[:16] or "set"


class VersionStore:
    """The embedding versions of one Roost home.

    One store object per thread (it holds one database handle); any number of
    processes may open the same home.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from roost.types import EmbeddingSet
    >>> es = EmbeddingSet(ids=np.array(["a", "b"], dtype=object),
    ...                   vectors=np.eye(2, dtype=np.float32), method="onehot",
    ...                   params={}, fingerprint="f0")
    >>> with VersionStore(tempfile.mkdtemp()) as vs:
    ...     info = vs.put(es, alias="production")
    ...     v = vs.get("production")
    ...     (info.id.startswith("v0001-onehot-"), v.vector("b").tolist())
    (True, [0.0, 1.0])
    """

    def __init__(self, home: Home | str | Path, *, create: bool = True):
        self.home = home if isinstance(home, Home) else Home.at(home)
        if not self.home.exists():
            if not create:
                raise RoostError(f"{self.home.path}: no Roost home here (run `roost init` first)")
            self.home = self.home.create()
        self.artifacts = self.home.artifacts
        self.dir = self.artifacts.versions
        self.dir.mkdir(parents=True, exist_ok=True)
        self._cat = self.home.db().versions()
        self.cleanup()

    @property
    def origin(self) -> str:
        """The name this store's alias changes carry in the change log."""
        return self._cat.origin

    @origin.setter
    def origin(self, value: str) -> None:
        self._cat.origin = value

    def close(self) -> None:
        self._cat.close()

    def __enter__(self) -> VersionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- publishing --------------------------------------------------------------------
    def put(
        self,
        items: EmbeddingSet,
        *,
        name: str | None = None,
        parent: str | None = None,
        users: EmbeddingSet | None = None,
        alias: str | None = None,
    ) -> VersionInfo:
        """Validate and publish an embedding set as a new immutable version.

        Parameters
        ----------
        items : the vectors to store (validated: see :func:`roost.store.publish.validate`).
        name : a free label shown in listings.
        parent : the version (id or alias) this one derives from, recorded in the manifest.
        users : a companion user set in the same space (methods that learn users).
        alias : point this alias at the new version in the same commit.

        Returns
        -------
        VersionInfo of the new version.
        """
        x, ids = validate(items, "items")
        sets = [("items", items, x, ids)]
        if users is not None:
            ux, uids = validate(users, "users")
            if ux.shape[1] != x.shape[1]:
                raise ValidationError(
                    f"users: dimension {ux.shape[1]} differs from the items' {x.shape[1]} "
                    "(a companion set shares the items' space)"
                )
            sets.append(("users", users, ux, uids))
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise VersionError("name must be a non-empty string")
        if alias is not None:
            _aliases.check_name(alias)
        parent_id = self.resolve(parent) if parent is not None else None
        with folder_lock(self.dir, exclusive=False):
            vid = self._publish(sets, name, parent_id, alias)
        return self.info(vid)

    def _publish(self, sets: list, name: str | None, parent: str | None, alias: str | None) -> str:
        tmp = self.dir / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        final: Path | None = None
        committed = False
        try:
            metas: dict[str, dict] = {}
            files: dict[str, dict] = {}
            for role, es, x, ids in sets:
                metas[role], role_files = write_set(tmp, role, es, x, ids)
                files.update(role_files)
            with self._cat.write() as sql:
                if parent is not None and not self._exists(parent, sql):
                    raise UnknownVersionError(f"parent {parent} was deleted meanwhile")
                seq = self._cat.next_seq(sql)
                items = metas["items"]
                vid = f"v{seq:04d}-{_slug(items['method'])}-{items['vectors_sha256'][:6]}"
                manifest = {
                    **items, "format": FORMAT, "id": vid, "seq": seq, "name": name,
                    "created": _aliases.now(), "roost_version": __version__, "parent": parent,
                    "users": metas.get("users"), "files": files,
                }
                text = canonical_json(manifest)
                final = self.artifacts.version(vid)
                commit_folder(tmp, final, text)
                users_count = metas["users"]["count"] if "users" in metas else None
                sql.execute(
                    "INSERT INTO versions (seq, id, name, method, kind, dim, metric, count,"
                    " users, created, parent, fingerprint, manifest)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (seq, vid, name, items["method"], items["kind"], items["dim"],
                     items["metric"], items["count"], users_count, manifest["created"],
                     parent, items["fingerprint"], text),
                )
                if alias is not None:
                    _aliases.point(sql, alias, vid, self._cat.for_update)
                    self._cat.log(sql, "aliases", {"alias": alias})
            committed = True
            return vid
        finally:
            if not committed:
                for p in (tmp, final):
                    if p is not None and p.exists():
                        shutil.rmtree(p, ignore_errors=True)

    # --- reading -----------------------------------------------------------------------
    def resolve(self, ref: str, sql=None) -> str:
        """The version id that ``ref`` names: an id, an alias, ``v7``/``v0007`` or ``latest``."""
        if not isinstance(ref, str) or not ref:
            raise UnknownVersionError(f"not a version reference: {ref!r}")
        sql = sql or self._cat.read()
        row = sql.execute("SELECT version FROM aliases WHERE name = ?", (ref,)).fetchone()
        if row is None:
            if ref == LATEST:
                row = sql.execute("SELECT id FROM versions ORDER BY seq DESC LIMIT 1").fetchone()
            elif m := SEQ_RE.fullmatch(ref):
                row = sql.execute("SELECT id FROM versions WHERE seq = ?", (int(m[1]),)).fetchone()
            else:
                row = sql.execute("SELECT id FROM versions WHERE id = ?", (ref,)).fetchone()
        if row is None:
            raise UnknownVersionError(f"no version or alias {ref!r} (see `roost versions`)")
        return row[0]

    def get(self, ref: str, *, verify: bool = False) -> Version:
        """Open a version by id or alias, its files checked.

        Sizes, ``.npy`` headers, the ids file and the manifest are always checked;
        ``verify=True`` also hashes the vectors in full. A damaged file raises
        :class:`~roost.store.manifest.IntegrityError` naming it.
        """
        vid = self.resolve(ref)
        text = self._manifest_text(vid)
        folder = self.artifacts.version(vid)
        mpath = folder / MANIFEST
        try:
            on_disk = mpath.read_bytes()
        except OSError:
            raise IntegrityError(mpath, "missing or unreadable") from None
        if on_disk != text.encode("ascii"):
            raise IntegrityError(mpath, "differs from the catalog's copy (altered)")
        manifest = json.loads(text)
        items = read_set(folder, manifest, "items", full=verify)
        users = read_set(folder, manifest, "users", full=verify) if manifest["users"] else None
        return Version(manifest, folder, items, users)

    def manifest(self, ref: str) -> dict[str, Any]:
        """The manifest of a version, from the catalog (no file is read)."""
        return json.loads(self._manifest_text(self.resolve(ref)))

    def info(self, ref: str) -> VersionInfo:
        vid = self.resolve(ref)
        return next(i for i in self._infos("WHERE id = ?", (vid,)))

    def list(self) -> list[VersionInfo]:
        """Every version, oldest first."""
        return list(self._infos("", ()))

    def aliases(self) -> dict[str, str]:
        """Alias name -> version id."""
        return _aliases.current(self._cat.read())

    def history(self, name: str) -> list[dict[str, Any]]:
        """Every target alias ``name`` has had, oldest first (``undone_at`` once rolled back)."""
        return _aliases.history(self._cat.read(), name)

    def alias(self, name: str, ref: str) -> VersionInfo:
        """Point alias ``name`` at a version (its previous target is kept for rollback)."""
        _aliases.check_name(name)
        with self._cat.write() as sql:
            vid = self.resolve(ref, sql)
            _aliases.point(sql, name, vid, self._cat.for_update)
            self._cat.log(sql, "aliases", {"alias": name})
        return self.info(vid)

    def unalias(self, name: str) -> None:
        """Remove an alias and its rollback history."""
        with self._cat.write() as sql:
            _aliases.remove(sql, name)
            self._cat.log(sql, "aliases", {"alias": name})

    def rollback(self, name: str) -> VersionInfo:
        """Return alias ``name`` to its previous target; returns that version."""
        with self._cat.write() as sql:
            prev = _aliases.pop(sql, name, lambda v: self._exists(v, sql), self._cat.for_update)
            self._cat.log(sql, "aliases", {"alias": name})
        return self.info(prev)

    def announce_reload(self) -> None:
        """Tell every process serving this home to read it again (a change log entry)."""
        with self._cat.write() as sql:
            self._cat.log(sql, "all", {})

    # --- removal -----------------------------------------------------------------------
    def delete(self, ref: str) -> str:
        """Delete one version; refused while an alias points to it. Returns its id."""
        with self._cat.write() as sql:
            vid = self.resolve(ref, sql)
            names = [n for n, v in _aliases.current(sql).items() if v == vid]
            if names:
                raise VersionError(
                    f"{vid} is the target of alias {', '.join(names)}: point "
                    f"{'it' if len(names) == 1 else 'them'} elsewhere first"
                )
            sql.execute("DELETE FROM versions WHERE id = ?", (vid,))
        self._remove_folders(vid)
        return vid

    def gc(self, keep: int = 3, *, dry_run: bool = False) -> list[str]:
        """Delete versions no one can need; returns their ids.

        A version is kept when an alias points to it, when it is the target ``rollback``
        of some alias would return to, or when it is among the ``keep`` newest.
        """
        if not isinstance(keep, int) or keep < 0:
            raise VersionError(f"keep must be a non-negative integer, got {keep!r}")
        self.cleanup()
        with self._cat.write() as sql:
            protected = set(_aliases.current(sql).values()) | _aliases.rollback_targets(sql)
            ids = [r[0] for r in sql.execute("SELECT id FROM versions ORDER BY seq DESC").fetchall()]
            protected.update(ids[:keep])
            doomed = sorted(i for i in ids if i not in protected)
            if not dry_run and doomed:
                sql.executemany("DELETE FROM versions WHERE id = ?", [(i,) for i in doomed])
        if not dry_run:
            for vid in doomed:
                self._remove_folders(vid)
        return doomed

    def _remove_folders(self, vid: str) -> None:
        """The version's folder and every index built on it (an index is bound to one
        version and can never serve another, so it goes with it)."""
        trash(self.artifacts.version(vid), remove=True)
        trash(self.artifacts.indexes_of(vid), remove=True)

    def cleanup(self) -> list[str]:
        """Remove what crashed publishes and deletes left behind; returns the folder names.

        Run at open. Temporary folders are removed only when no publisher is active (an
        advisory lock tells); version folders without a catalog row only while holding the
        write lock (a publisher renames and commits under it). When another process holds
        that lock for long (a big ingest), the sweep waits for the next open.
        """
        removed = sweep_temporary(self.dir)
        with self._cat.write(wait=False) as sql:
            if sql is None:
                return removed
            known = {r[0] for r in sql.execute("SELECT id FROM versions").fetchall()}
            orphans = [p for d in (self.dir, self.artifacts.indexes) if d.is_dir()
                       for p in d.iterdir()
                       if p.is_dir() and _ID_RE.fullmatch(p.name) and p.name not in known]
            trashed = [trash(p) for p in orphans]
        for p in trashed:
            shutil.rmtree(p, ignore_errors=True)
        return removed + [p.name for p in orphans]

    # --- checks ------------------------------------------------------------------------
    def verify(self, ref: str | None = None) -> list[Problem]:
        """Check every file of one version (or all) against its sha256; [] when healthy."""
        ids = [self.resolve(ref)] if ref is not None else [i.id for i in self.list()]
        problems = []
        for vid in ids:
            folder = self.artifacts.version(vid)
            if not folder.is_dir():
                problems.append(Problem(vid, str(folder), "missing"))
                continue
            text = self._manifest_text(vid)
            mpath = folder / MANIFEST
            if not mpath.is_file() or mpath.read_bytes() != text.encode("ascii"):
                problems.append(Problem(vid, str(mpath), "missing or altered"))
            for path, message in check_folder(folder, json.loads(text)):
                problems.append(Problem(vid, str(path), message))
        return problems

    def diff(self, a: str, b: str) -> dict[str, Any]:
        """A metadata diff of two versions: changed fields and how their ids overlap.

        ``changed`` maps dotted manifest keys (``params.factors``) to ``[a, b]``; keys
        present in one only are in ``only_a``/``only_b``; ``ids`` counts common ids.
        """
        ida, idb = self.resolve(a), self.resolve(b)
        fa, fb = (_flatten(self.manifest(i)) for i in (ida, idb))
        ia, ib = (set(self.get(i).ids.tolist()) for i in (ida, idb))
        return {
            "a": ida,
            "b": idb,
            "changed": {k: [fa[k], fb[k]] for k in sorted(fa.keys() & fb.keys()) if fa[k] != fb[k]},
            "only_a": {k: fa[k] for k in sorted(fa.keys() - fb.keys())},
            "only_b": {k: fb[k] for k in sorted(fb.keys() - fa.keys())},
            "ids": {"common": len(ia & ib), "only_a": len(ia - ib), "only_b": len(ib - ia)},
        }

    # --- internals ---------------------------------------------------------------------
    def _exists(self, vid: str, sql=None) -> bool:
        sql = sql or self._cat.read()
        return sql.execute("SELECT 1 FROM versions WHERE id = ?", (vid,)).fetchone() is not None

    def _manifest_text(self, vid: str) -> str:
        row = self._cat.read().execute("SELECT manifest FROM versions WHERE id = ?", (vid,)).fetchone()
        if row is None:
            raise UnknownVersionError(f"no version {vid!r}")
        return row[0]

    def _infos(self, where: str, args: tuple) -> Iterator[VersionInfo]:
        names: dict[str, list[str]] = {}
        for n, v in self.aliases().items():
            names.setdefault(v, []).append(n)
        cols = "id, seq, name, method, kind, dim, metric, count, users, created, parent, fingerprint"
        for row in self._cat.read().execute(f"SELECT {cols} FROM versions {where} ORDER BY seq", args).fetchall():
            yield VersionInfo(*row, aliases=tuple(names.get(row[0], ())))


def _flatten(doc: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in doc.items():
        key = f"{prefix}{k}"
        if key in ("id", "seq", "files"):
            continue
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out
