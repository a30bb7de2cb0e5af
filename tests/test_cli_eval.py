"""`roost eval` on a home holding a slice of the bundled MovieTweetings catalog."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from roost.cli import main
from roost.data import datasets
from roost.data.datasets.base import Dataset
from roost.store import open_store


def _home_with_a_slice(home) -> None:
    full = datasets.load("movietweetings")
    # The most active users' ratings of the most rated movies: a small, dense slice.
    events = full.events
    for col, n in (("item_id", 300), ("user_id", 80)):
        counts = pc.value_counts(events.column(col)).to_pylist()
        top = [c["values"] for c in sorted(counts, key=lambda c: -c["counts"])[:n]]
        events = events.filter(pc.is_in(events.column(col), pa.array(top)))
    items = full.items.filter(pc.is_in(full.items.column("id"), events.column("item_id").unique()))
    s = open_store(home)
    try:
        Dataset("slice", items=items, events=events).ingest(s)
    finally:
        s.close()


def test_eval_on_the_home_writes_the_three_files(tmp_path, capsys):
    home = tmp_path / "home"
    _home_with_a_slice(home)
    out = tmp_path / "board"
    argv = [
        "--home",
        str(home),
        "eval",
        "--quick",
        "--protocol",
        "time",
        "--out",
        str(out),
        "--json",
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    methods = [r["method"] for r in doc["leaderboard"]]
    assert "popularity" in methods and "itemknn" in methods
    assert doc["run"]["dataset"] == "home" and doc["run"]["protocol"] == "time"
    assert all(0.0 <= r["ndcg@10"] <= 1.0 for r in doc["leaderboard"])
    assert {p.name for p in out.iterdir()} == {
        "leaderboard.json",
        "leaderboard.md",
        "leaderboard.png",
    }
    assert main(["--home", str(home), "eval", "--methods", "popularity", "--k", "5",
                 "--out", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "ndcg@5" in printed and "wrote" in printed


def test_eval_errors_are_one_line(tmp_path, capsys):
    home = tmp_path / "home"
    _home_with_a_slice(home)
    assert main(["--home", str(home), "eval", "--methods", "ease,nope"]) == 1
    assert "unknown method 'nope'" in capsys.readouterr().err
    assert (
        main(["--home", str(home), "eval", "--protocol", "official", "--out", str(tmp_path)]) == 1
    )
    assert "official folds" in capsys.readouterr().err
    assert main(["--home", str(tmp_path / "h2"), "eval", "--dataset", "ml-100k"]) == 1
    assert "--path" in capsys.readouterr().err
