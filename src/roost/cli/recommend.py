"""``roost recommend USER`` and ``roost similar ITEM``: thin over :class:`roost.engine.Engine`."""

from __future__ import annotations

import typer

from roost.cli.common import JSON, emit_json, table
from roost.cli.common import engine as open_engine

K = typer.Option(10, "--k", help="how many items to return")


def why_text(why: list[dict]) -> str:
    """One line from a result's reasons: channels, the item behind it, shared tags, top
    ranker features."""
    parts = []
    for w in why:
        if "channel" in w:
            because = w.get("because_title") or w.get("because")
            parts.append(w["channel"] + (f" (because: {because})" if because else ""))
        elif "shared_tags" in w:
            parts.append("tags: " + ", ".join(w["shared_tags"]))
        elif "ranker_top_features" in w:
            parts.append("ranker: " + ", ".join(w["ranker_top_features"]))
    return "; ".join(dict.fromkeys(parts))


def _print(title: str, result, explain: bool, json_out: bool) -> None:
    items = [r.to_dict() for r in result.items]
    if json_out:
        emit_json({"items": items})
        return
    columns = ["#", "id", "title", "score"] + (["why"] if explain else [])
    rows = [
        [j + 1, it["id"], it["title"], f"{it['score']:.4f}"]
        + ([why_text(it["why"])] if explain else [])
        for j, it in enumerate(items)
    ]
    table(title, columns, rows)


def recommend(
    user: str = typer.Argument(..., help="the user id"),
    surface: str = typer.Option("home", "--surface", help="the surface (surfaces.toml)"),
    k: int = K,
    explain: bool = typer.Option(False, "--explain", help="show why each item was recommended"),
    json_out: bool = JSON,
) -> None:
    """Recommend items to USER on a surface (a new user gets popular, fresh and followed)."""
    with open_engine() as engine:
        result = engine.recommend(user, surface=surface, k=k, explain=explain or json_out)
    _print(f"{surface} for {user}", result, explain, json_out)


def similar(
    item: str = typer.Argument(..., help="the item id"),
    k: int = K,
    json_out: bool = JSON,
) -> None:
    """Items like ITEM ("more like this")."""
    with open_engine() as engine:
        result = engine.similar(item, k=k)
    _print(f"more like {item}", result, True, json_out)


def register(app: typer.Typer) -> None:
    app.command()(recommend)
    app.command()(similar)
