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
