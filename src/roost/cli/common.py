"""What every command shares: the home, JSON or table output, progress."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from roost.settings import resolve
from roost.store import Home, open_store
from roost.store.base import CatalogStore


@dataclass
class State:
    home: str = "./.roost"
    database: str | None = None


state = State()
console = Console()
JSON = typer.Option(False, "--json", help="print the result as JSON")


def home() -> Home:
    return Home.at(state.home, state.database)


def store(create: bool = False) -> CatalogStore:
    return open_store(home(), create=create)


@contextmanager
def engine() -> Iterator[Any]:
    """The home's :class:`~roost.engine.Engine`; on the way out, what it timed is merged
    into the home's latency file (``roost stats --latency`` reads it)."""
    from roost.engine import Engine
    from roost.monitor.latency import latency_path

    with Engine.open(home()) as e:
        try:
            yield e
        finally:
            try:
                e.latency.save(latency_path(home().path))
            except OSError as err:  # figures are not data: never fail the command for them
                typer.secho(f"warning: latency not saved: {err}", fg="yellow", err=True)


def progress() -> bool:
    mode = resolve("progress")
    return mode == "on" or (mode == "auto" and sys.stderr.isatty())


def emit_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    console.print(t)
