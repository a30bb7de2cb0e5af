"""`roost embed` stores a version; bad parameters are one clear error."""

from __future__ import annotations

import json

from roost.cli import main
from roost.cli.embed import parse_params


def test_parse_params_reads_json_values():
    assert parse_params(["factors=8", "alpha=0.5", "name=x", "kinds=[\"like\"]"]) == {
        "factors": 8, "alpha": 0.5, "name": "x", "kinds": ["like"],
    }


def test_embed_stores_a_version_and_refuses_unknown_params(tmp_path, capsys):
    home = str(tmp_path / "h")
    (tmp_path / "items.csv").write_text("id,title,category\n" + "".join(f"i{j},t{j},{'ab'[j % 2]}\n" for j in range(6)))
    assert main(["--home", home, "ingest", "items", str(tmp_path / "items.csv")]) == 0
    capsys.readouterr()
    assert main(["--home", home, "embed", "onehot", "--alias", "candidate", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["method"] == "onehot" and info["count"] == 6 and "candidate" in info["aliases"]
    assert main(["--home", home, "embed", "onehot", "--param", "bogus=1"]) == 1
    assert "known parameters" in capsys.readouterr().err
    assert main(["--home", home, "embed", "nope"]) == 1


def test_sparse_and_word_methods_store_items_without_usable_text(tmp_path, capsys):
    """The demo catalog's failure: items whose words are all cut by max_features (or have
    no category) were zero rows, which the store refuses under cosine. The id fallback
    gives them a direction; fallback=null reproduces the refusal, naming the item."""
    home = str(tmp_path / "h")
    rows = ["id,title,category"]
    rows += [f"i{j},red fox {'hen' if j % 2 else 'owl'},{'ab'[j % 2]}" for j in range(8)]
    rows += ["rare1,Muthal Mariyathai,", "rare2,,"]  # words outside the top terms; no category
    (tmp_path / "items.csv").write_text("\n".join(rows) + "\n")
    assert main(["--home", home, "ingest", "items", str(tmp_path / "items.csv")]) == 0
    capsys.readouterr()
    for method in ("onehot", "bow", "tfidf", "bm25", "lsa", "word2vec", "glove"):
        params = {
            "bow": ["max_features=3"],
            "tfidf": ["max_features=3"],
            "bm25": ["max_features=3"],
            "lsa": ["max_features=3", "n_components=2"],
            "word2vec": ["min_count=2", "sample=0", "vector_size=8"],
        }.get(method, [])
        args = [a for p in params for a in ("--param", p)]
        assert main(["--home", home, "embed", method, *args, "--json"]) == 0, method
        assert json.loads(capsys.readouterr().out)["count"] == 10
    assert main(["--home", home, "embed", "tfidf", "--param", "max_features=3",
                 "--param", "fallback=null"]) == 1  # fmt: skip
    assert "rare1" in capsys.readouterr().err
