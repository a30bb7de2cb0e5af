"""drift, compare and map through the CLI on real stored versions."""

from __future__ import annotations

import json

import numpy as np

from roost.cli import main
from roost.store.versions import VersionStore
from roost.types import EmbeddingSet


def test_drift_compare_map(tmp_path, capsys):
    home = str(tmp_path / "h")
    (tmp_path / "items.csv").write_text("id,title,category\n" + "".join(f"i{j},t{j},{'ab'[j % 2]}\n" for j in range(200)))
    assert main(["--home", home, "ingest", "items", str(tmp_path / "items.csv")]) == 0
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 8)).astype(np.float32)
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    ids = np.array([f"i{j}" for j in range(200)], object)
    with VersionStore(home) as vs:
        a = vs.put(EmbeddingSet(ids, base, "t", {}, "f")).id
        b = vs.put(EmbeddingSet(ids, (base @ q).astype(np.float32), "t", {}, "f")).id
        c = vs.put(EmbeddingSet(ids, base + 3.0, "t", {}, "f")).id
    capsys.readouterr()
    assert main(["--home", home, "compare", a, b]) == 0
    assert json.loads(capsys.readouterr().out)["overlap"]["mean"] > 0.99
    assert main(["--home", home, "drift", "--reference", a, "--current", c, "--method", "mean", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["drifted"] is True
    out = tmp_path / "map.html"
    assert main(["--home", home, "map", a, "--out", str(out)]) == 0
    assert "t1" in out.read_text()
