"""``roost search "query"``: semantic, lexical or hybrid search over the home's items."""

from __future__ import annotations

import json

import typer

from roost.cli.common import JSON, emit_json, table
from roost.cli.common import engine as open_engine

MODE = typer.Option("hybrid", "--mode", help="semantic | lexical | hybrid")


def search(
    query: str = typer.Argument(..., help="the text to search for"),
    mode: str = MODE,
    k: int = typer.Option(10, "--k", help="how many items to return"),
    filters: str = typer.Option(
        None, "--filters", help='JSON filter spec, e.g. \'{"category": ["news"]}\''
    ),
    json_out: bool = JSON,
) -> None:
    """Search the catalog's items by meaning (semantic), words (lexical, BM25) or both."""
    from roost.types import RoostError

    spec = None
    if filters:
        try:
            spec = json.loads(filters)
        except ValueError as e:
            raise RoostError(f"--filters is not valid JSON: {e}") from None
        if not isinstance(spec, dict):
            raise RoostError('--filters must be a JSON object, e.g. \'{"category": ["news"]}\'')
    with open_engine() as engine:
        result = engine.search(query, mode=mode, k=k, filters=spec)
    items = [r.to_dict() for r in result.items]
    if json_out:
        emit_json({"query": query, "mode": mode, "items": items})
        return
    rows = [[r + 1, it["id"], it["title"], f"{it['score']:.4f}", _why(it["why"])]
            for r, it in enumerate(items)]  # fmt: skip
    table(f"{mode} search: {query}", ["#", "id", "title", "score", "found by"], rows)


def _why(why: list[dict]) -> str:
    """'semantic #1, lexical #3' from the explanation entries."""
    parts = []
    for entry in why:
        for mode in ("semantic", "lexical"):
            if isinstance(entry.get(mode), dict):
                parts.append(f"{mode} #{entry[mode]['rank']}")
    return ", ".join(parts)


def register(app: typer.Typer) -> None:
    app.command()(search)
