"""Version commands: versions, alias, rollback, verify, diff, delete, gc, index."""

from __future__ import annotations

import typer

from roost.cli.common import JSON, emit_json, home, table
from roost.store.versions import VersionStore
from roost.types import RoostError


def _store() -> VersionStore:
    return VersionStore(home(), create=False)


def versions(json_out: bool = JSON) -> None:
    """List embedding versions: id, method, dim, metric, aliases, created."""
    with _store() as vs:
        rows = [i.to_dict() for i in vs.list()]
    if json_out:
        emit_json(rows)
    else:
        cols = ["id", "method", "dim", "metric", "aliases", "created"]
        table("Embedding versions", cols, [[r.get(c) for c in cols] for r in rows])


def alias(name: str = typer.Argument(..., help="alias, e.g. production"),
          version: str = typer.Argument(..., help="version id or alias"), json_out: bool = JSON) -> None:
    """Point an alias at a version (remembered for rollback)."""
    with _store() as vs:
        info = vs.alias(name, version).to_dict()
    emit_json(info) if json_out else typer.echo(f"{name} -> {info['id']}")


def rollback(name: str = typer.Argument(..., help="alias to move back"), json_out: bool = JSON) -> None:
    """Move an alias back to the version it pointed at before."""
    with _store() as vs:
        info = vs.rollback(name).to_dict()
    emit_json(info) if json_out else typer.echo(f"{name} -> {info['id']} (rolled back)")


def verify(version: str = typer.Argument(None, help="one version (default: all)"), json_out: bool = JSON) -> None:
    """Check every file's checksum; exits 1 and names the file when one does not match."""
    with _store() as vs:
        problems = [str(p) for p in vs.verify(version)]
    if json_out:
        emit_json({"ok": not problems, "problems": problems})
    else:
        typer.echo("\n".join(problems) if problems else "all versions verified")
    if problems:
        raise typer.Exit(1)


def diff(a: str = typer.Argument(...), b: str = typer.Argument(...)) -> None:
    """Metadata diff of two versions (JSON)."""
    with _store() as vs:
        emit_json(vs.diff(a, b))


def delete(version: str = typer.Argument(...)) -> None:
    """Delete a version (refused while an alias points to it)."""
    with _store() as vs:
        typer.echo(f"deleted {vs.delete(version)}")


def gc(keep: int = typer.Option(3, help="newest versions to keep"),
       dry_run: bool = typer.Option(False, "--dry-run"), json_out: bool = JSON) -> None:
    """Remove unaliased versions beyond the newest KEEP (never one an alias needs)."""
    with _store() as vs:
        gone = vs.gc(keep, dry_run=dry_run)
    emit_json(gone) if json_out else typer.echo("\n".join(gone) or "nothing to remove")


def index(version: str = typer.Argument(..., help="version id or alias"),
          kind: str = typer.Option(None, "--kind", help="exact | hnsw | ivfpq (default: by size)"),
          json_out: bool = JSON) -> None:
    """Build a vector index for a version and print its recall@10 against exact search."""
    from roost.index import index_version

    with _store() as vs:
        v = vs.get(version)
        vid = vs.resolve(version)
        es = v.as_embedding_set()
    if kind is not None and kind not in ("exact", "hnsw", "ivfpq", "ivfflat", "faiss-hnsw", "hnswlib"):
        raise RoostError(f"--kind {kind!r}: use exact, hnsw or ivfpq")
    manifest = index_version(es, vid, home().artifacts.index(vid, kind or "auto"), kind=kind)
    if json_out:
        emit_json(manifest)
    else:
        typer.echo(f"{manifest['kind']} index of {vid}: recall@10 {manifest['recall@10']}")


def register(app: typer.Typer) -> None:
    for f in (versions, alias, rollback, verify, diff, delete, gc, index):
        app.command()(f)
