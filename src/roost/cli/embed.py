"""``roost embed METHOD``: fit a method on the home's data and store a new version."""

from __future__ import annotations

import json
import time

import typer

from roost.cli.common import JSON, emit_json, home, store
from roost.types import RoostError


def parse_params(pairs: list[str]) -> dict:
    """``k=v`` pairs; values are read as JSON when they parse (numbers, true, lists)."""
    out = {}
    for p in pairs:
        key, sep, raw = p.partition("=")
        if not sep or not key.strip():
            raise RoostError(f"--param {p!r}: expected NAME=VALUE, e.g. factors=64")
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:
            out[key.strip()] = raw
    return out


def embed(
    method: str = typer.Argument(..., help="method name (onehot, tfidf, als, transformer ...)"),
    param: list[str] = typer.Option([], "--param", help="NAME=VALUE hyperparameter, repeatable"),
    name: str = typer.Option(None, "--name", help="a human name for the version"),
    alias: str = typer.Option(None, "--alias", help="point this alias at the new version"),
    json_out: bool = JSON,
) -> None:
    """Fit METHOD on the home's catalog and store the vectors as a new version."""
    from roost.embed import get
    from roost.store.versions import VersionStore

    klass = get(method)
    params = parse_params(param)
    try:
        model = klass(**params)
    except TypeError as e:
        raise RoostError(f"{method}: {e} (known parameters: {', '.join(klass._param_names())})") from None
    s = store()
    try:
        catalog = s.catalog()
    finally:
        s.close()
    started = time.perf_counter()
    model.fit(catalog)
    items = model.embedding_set(catalog)
    users = model.user_embedding_set(catalog) if klass.learns_users else None
    seconds = round(time.perf_counter() - started, 2)
    with VersionStore(home()) as vs:
        info = vs.put(items, name=name, users=users, alias=alias).to_dict()
    info["fit_seconds"] = seconds
    if json_out:
        emit_json(info)
    else:
        typer.echo(f"stored {info['id']}: {info['count']} x {info['dim']} ({method}, {seconds}s)")


def register(app: typer.Typer) -> None:
    app.command()(embed)
