"""Fine-tuning on co-interacted items: pairs, a tiny real training run, save/load, no torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from roost.data.frames import Catalog
from roost.embed import Embedder, get
from roost.embed.finetune import FineTuned, co_interacted_pairs
from roost.embed.transformer import Transformer
from roost.types import RoostError

BIRDS = ["robin on the lawn", "sparrow in the hedge", "owl hunting at night", "blue tit nest"]
CARS = ["diesel truck engine", "van gearbox repair", "bus timetable change", "tyre pressure"]


def catalog() -> Catalog:
    ids = [f"b{k}" for k in range(4)] + [f"c{k}" for k in range(4)]
    users, items = [], []
    for u in range(6):  # birders like birds, drivers like vehicles
        group = "b" if u % 2 == 0 else "c"
        for k in range(4):
            if (k + u) % 4 != 3:
                users.append(f"u{u}")
                items.append(f"{group}{k}")
    n = len(users)
    return Catalog.from_pydict(
        items={"id": ids, "title": BIRDS + CARS},
        events={"user_id": users, "item_id": items, "kind": ["like"] * n,
                "value": [8.0 if i % 3 else 2.0 for i in range(n)], "ts": list(range(n))},
    )  # fmt: skip


def test_registered():
    assert get("finetune") is FineTuned


def test_pairs_come_from_one_users_items_and_are_seeded():
    c = catalog()
    pairs = co_interacted_pairs(c, None, None, 100, seed=0)
    ids = c.item_ids
    assert len(pairs) > 0 and (pairs[:, 0] < pairs[:, 1]).all()
    assert all(ids[a][0] == ids[b][0] for a, b in pairs)  # never across groups
    assert len({tuple(p) for p in pairs.tolist()}) == len(pairs)
    np.testing.assert_array_equal(pairs, co_interacted_pairs(c, None, None, 100, seed=0))
    assert len(co_interacted_pairs(c, None, None, 3, seed=1)) == 3
    # min_value drops the low ratings: fewer pairs.
    assert len(co_interacted_pairs(c, None, 5.0, 100, seed=0)) < len(pairs)


def test_fine_tune_moves_the_model_and_save_load_is_identical(tmp_path):
    c = catalog()
    params = {"max_pairs": 12, "train_batch_size": 4, "epochs": 2, "learning_rate": 1e-4,
              "backend": "sentence-transformers", "threads": 1, "cache_dir": str(tmp_path)}
    torch = pytest.importorskip("torch")
    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    emb = FineTuned(**{**params, "threads": threads + 1}).fit(c)
    v = emb.transform(c)
    # Seed and threads applied to the training and encoding only: they used to stay set
    # for the rest of the process.
    assert torch.get_num_threads() == threads and torch.equal(torch.get_rng_state(), rng)
    emb = FineTuned(**params).fit(c)
    v = emb.transform(c)
    assert v.shape == (8, 384) and v.dtype == np.float32 and np.isfinite(v).all()
    base = Transformer(backend="sentence-transformers").fit(c).transform(c)
    assert np.abs(v - base).max() > 1e-3, "training changed nothing"
    again = FineTuned(**params).fit(c)
    np.testing.assert_array_equal(again.transform(c), v)  # seeded: same weights
    folder = emb.save(tmp_path / "emb")
    state = json.loads((folder / "embedder.json").read_text())["state"]
    assert "model/config.json" in state["files"] and state["n_pairs"] == emb.n_pairs_ >= 4
    # The cached model folder may vanish: load rebuilds it from the saved weights.
    import shutil

    shutil.rmtree(tmp_path / "finetuned")
    loaded = Embedder.load(folder)
    np.testing.assert_array_equal(loaded.transform(c), v)
    np.testing.assert_array_equal(loaded.encode(["robin"]), emb.encode(["robin"]))


def test_no_pairs_is_a_clear_error(tmp_path):
    c = Catalog.from_pydict(
        items={"id": ["a", "b"], "title": ["robin", "truck"]},
        events={"user_id": ["u", "v"], "item_id": ["a", "b"], "kind": ["like"] * 2,
                "value": [1.0, 1.0], "ts": [0, 1]},
    )  # fmt: skip
    with pytest.raises(RoostError, match="co-interacted"):
        FineTuned(cache_dir=str(tmp_path)).fit(c)
    with pytest.raises(RoostError, match="no items"):
        FineTuned(cache_dir=str(tmp_path)).fit(Catalog())


def test_without_torch_the_error_names_the_extra(tmp_path):
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("blocked")
sys.meta_path.insert(0, Block())
sys.path.insert(0, {str(__file__.rsplit("/", 1)[0])!r})
from test_finetune import catalog
from roost.embed.finetune import FineTuned
from roost.types import RoostError
try:
    FineTuned(cache_dir={str(tmp_path)!r}).fit(catalog())
except RoostError as e:
    assert "roost[torch]" in str(e), e
    print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
