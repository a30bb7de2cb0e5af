"""Writing a leaderboard: ``leaderboard.json``, ``leaderboard.md`` and ``leaderboard.png``.

Each file is written aside and renamed into place, so a reader never sees half of one.
The plot needs matplotlib (the ``viz`` extra); without it the JSON and Markdown are still
written and the PNG is reported missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from roost.evaluate.leaderboard import Leaderboard, summary


def _write(path: Path, data: str | bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    if isinstance(data, str):
        tmp.write_text(data)
    else:
        tmp.write_bytes(data)
    tmp.replace(path)


def markdown_document(board: Leaderboard) -> str:
    """The Markdown file: what was run, then the table."""
    r = board.run
    rel = "every test event" if r["threshold"] is None else f"value >= {r['threshold']}"
    what = (
        f"Dataset: {r['dataset']}; protocol: {r['protocol']} ({', '.join(r['folds'])}); "
        f"{r['n_users']:,} users, {r['n_items']:,} items; k={r['k']}; "
        f"relevance: {rel}; "
        f"seed {r['seed']}; hyperparameters "
        + ("chosen on a validation split of the training data." if r["tuned"] else "at defaults.")
        + f" Roost {r['versions'].get('roost', '?')}, {r['seconds']:.0f} s."
    )
    return f"# Leaderboard\n\n{what}\n\n{board.markdown()}\n"


def plot(board: Leaderboard, path: Path) -> None:
    """Horizontal bars of nDCG@k and recall@k per method (error bars over folds)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    k = board.run["k"]
    rows = board.rows[::-1]
    names = [r["method"] for r in rows]
    y = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.5))
    for offset, key, colour in ((0.2, f"ndcg@{k}", "#2b6cb0"), (-0.2, f"recall@{k}", "#dd6b20")):
        vals = [np.nan_to_num(r[key]) for r in rows]
        err = [r.get("std", {}).get(key, 0.0) for r in rows]
        ax.barh(y + offset, vals, height=0.4, xerr=err, label=key, color=colour)
    ax.set_yticks(y, names)
    ax.set_xlabel("score")
    ax.set_title(f"{board.run['dataset']}, {board.run['protocol']} protocol")
    ax.legend(loc="lower right")
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    tmp.replace(path)


def write(board: Leaderboard, out: str | Path) -> dict[str, str | None]:
    """Write the three files into the folder ``out`` (created); returns their paths
    (``png`` is None when matplotlib is missing)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str | None] = {}
    _write(out / "leaderboard.json", json.dumps(summary(board), indent=1) + "\n")
    files["json"] = str(out / "leaderboard.json")
    _write(out / "leaderboard.md", markdown_document(board))
    files["md"] = str(out / "leaderboard.md")
    try:
        plot(board, out / "leaderboard.png")
        files["png"] = str(out / "leaderboard.png")
    except ImportError:
        files["png"] = None
    return files
