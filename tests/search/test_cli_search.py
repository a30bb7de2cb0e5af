"""``roost search`` through the Engine over a real home."""

from __future__ import annotations

import json

from roost.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_search_json_shape(built_home, capsys):
    code, out, _ = run(capsys, "--home", str(built_home), "search", "nocturnal bird of prey XQ7",
                       "--k", "3", "--json")  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    assert [set(it) for it in doc["items"]] == [{"id", "title", "score", "why"}] * 3
    assert {"owl", "xq7"} <= {it["id"] for it in doc["items"]}
    assert doc["items"][0]["title"] in {"Night hunter", "Part XQ7-Zephyr"}


def test_search_modes_and_table(built_home, capsys):
    code, out, _ = run(capsys, "--home", str(built_home), "search", "XQ7", "--mode", "lexical")
    assert code == 0 and "xq7" in out and "lexical #1" in out


def test_search_user_errors_are_one_line(built_home, capsys):
    for args in (["--mode", "fuzzy"], ["--filters", "{nope"], ["--filters", '{"colour": 1}']):
        code, out, err = run(capsys, "--home", str(built_home), "search", "owl", *args)
        assert code == 1 and err.startswith("error: ") and err.count("\n") == 1, (args, err)
