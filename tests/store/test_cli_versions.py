"""The version commands through the CLI entry point."""

from __future__ import annotations

import json

import numpy as np

from roost.cli import main
from roost.store.versions import VersionStore
from roost.types import EmbeddingSet


def _put(home, seed):
    rng = np.random.default_rng(seed)
    es = EmbeddingSet(ids=np.array([f"i{j}" for j in range(300)], object),
                      vectors=rng.normal(size=(300, 8)).astype(np.float32), method="test",
                      params={}, fingerprint="f")
    with VersionStore(home) as vs:
        return vs.put(es).id


def test_versions_alias_rollback_verify_index(tmp_path, capsys):
    home = str(tmp_path / "h")
    a, b = _put(home, 0), _put(home, 1)
    assert main(["--home", home, "versions", "--json"]) == 0
    assert [v["id"] for v in json.loads(capsys.readouterr().out)] == [a, b]
    assert main(["--home", home, "alias", "production", a]) == 0
    assert main(["--home", home, "alias", "production", b]) == 0
    assert main(["--home", home, "rollback", "production", "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{"):])["id"] == a
    assert main(["--home", home, "index", "production", "--kind", "exact", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["recall@10"] == 1.0
    assert main(["--home", home, "verify"]) == 0
    vec = next((tmp_path / "h" / "versions").glob(f"{a}/*.npy"))
    data = bytearray(vec.read_bytes())
    data[-1] ^= 0xFF
    vec.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["--home", home, "verify"]) == 1
    assert vec.name in capsys.readouterr().out
