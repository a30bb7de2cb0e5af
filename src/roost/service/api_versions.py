"""Embedding versions: list, info, metadata diff (read); alias and rollback (admin).

Moving an alias reloads the engine, so the next request is served by the new target;
requests in flight finish on the old one (the engine swaps its state atomically).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from roost.service.deps import require, runtime
from roost.service.runtime import Runtime
from roost.service.schemas import AliasIn
from roost.store.aliases import LATEST, SEQ_RE

_NAME = Path(..., pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$", description="alias name")


def index_figures(rt: Runtime, vid: str) -> list[dict[str, Any]]:
    """The saved indexes of a version with their kind and recall@10 (from their manifests)."""
    out = []
    folder = rt.home.artifacts.indexes_of(vid)
    for manifest in sorted(folder.glob("*/index.json")) if folder.is_dir() else ():
        try:
            m = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        out.append({"name": manifest.parent.name, "kind": m.get("kind"), "recall@10": m.get("recall@10"),
                    "count": m.get("count"), "build_seconds": m.get("build_seconds")})  # fmt: skip
    return out


def _reload(rt: Runtime) -> None:
    if rt.engine is not None:
        rt.engine.reload()


def router() -> APIRouter:
    r = APIRouter(tags=["versions"])
    read, admin = [Depends(require("read"))], [Depends(require("admin"))]

    @r.get("/versions", dependencies=read)
    def list_versions(request: Request) -> dict[str, Any]:
        """Every version (oldest first) with its aliases, and the alias table."""
        vs = runtime(request).versions()
        return {"versions": [i.to_dict() for i in vs.list()], "aliases": vs.aliases()}

    @r.get("/versions/diff", dependencies=read)
    def diff(request: Request, a: str = Query(..., min_length=1, max_length=256),
             b: str = Query(..., min_length=1, max_length=256)) -> dict[str, Any]:  # fmt: skip
        """Metadata diff of two versions: changed manifest fields and id overlap."""
        return runtime(request).versions().diff(a, b)

    @r.get("/versions/{ref}", dependencies=read)
    def info(request: Request, ref: str) -> dict[str, Any]:
        """One version (id, alias, ``v7`` or ``latest``): manifest, aliases, index recall."""
        rt = runtime(request)
        vs = rt.versions()
        vid = vs.resolve(ref)
        return {"info": vs.info(vid).to_dict(), "manifest": vs.manifest(vid),
                "indexes": index_figures(rt, vid)}  # fmt: skip

    @r.put("/aliases/{name}", dependencies=admin)
    def alias(request: Request, body: AliasIn, name: str = _NAME) -> dict[str, Any]:
        """Point alias ``name`` at a version (remembered for rollback); the engine reloads."""
        rt = runtime(request)
        if name == LATEST or SEQ_RE.match(name):
            raise HTTPException(
                409, f"alias name {name!r} is taken by version references (latest, v7 ...)"
            )
        info = rt.versions().alias(name, body.version).to_dict()
        _reload(rt)
        return info

    @r.post("/aliases/{name}/rollback", dependencies=admin)
    def rollback(request: Request, name: str = _NAME) -> dict[str, Any]:
        """Return alias ``name`` to its previous version; the engine reloads."""
        rt = runtime(request)
        vs = rt.versions()
        if name not in vs.aliases():
            raise HTTPException(404, f"no alias {name!r}")
        if sum(1 for h in vs.history(name) if h.get("undone_at") is None) < 2:
            raise HTTPException(409, f"alias {name!r} has no earlier version to return to")
        info = vs.rollback(name).to_dict()
        _reload(rt)
        return info

    @r.post("/reload", dependencies=admin, tags=["ops"])
    def reload(request: Request) -> dict[str, Any]:
        """Re-read the catalog and re-resolve aliases (after a `roost embed` elsewhere); the
        other workers serving this home reload too."""
        rt = runtime(request)
        _reload(rt)
        rt.versions().announce_reload()
        return {"reloaded": rt.engine is not None}

    return r
