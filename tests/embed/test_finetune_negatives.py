"""Hard negatives for fine-tuning: drawn from lexical hits, never a positive, seeded; and a
tiny real training run with a third (negative) column."""

from __future__ import annotations

import numpy as np
import pytest

from roost.embed.finetune import FineTuned, _with_negatives, hard_negatives
from roost.search.lexical import BM25Search

from .test_finetune import catalog

DOCS = {
    "a": "robin song at dawn",
    "b": "robin nest in the hedge",
    "c": "robin eggs are blue",
    "d": "diesel truck engine",
}


def test_hard_negatives_come_from_the_top_hits_and_skip_positives():
    lex = BM25Search().fit(list(DOCS), list(DOCS.values()))
    anchors = ["robin at dawn"] * 20
    got = hard_negatives(lex, anchors, [{"a"}] * 20, depth=3, seed=0)
    assert set(got) == {"b", "c"}  # the robin documents other than the positive
    assert got == hard_negatives(lex, anchors, [{"a"}] * 20, depth=3, seed=0)
    # Every hit excluded (the truck shares no word): no negative.
    assert hard_negatives(lex, ["robin"], [{"a", "b", "c"}], depth=4) == [None]


def test_item_negatives_never_come_from_the_same_users_items():
    c = catalog()
    texts = c.item_texts(("title",))
    pairs = np.array([[0, 1], [4, 5]])
    p = FineTuned(hard_negatives=8, seed=0)
    out = _with_negatives(c, texts, pairs, None, p)
    assert out.shape[1] == 3 and (out[:, :2] == pairs[: len(out)]).all()
    seqs = [set(s.tolist()) for s in c.interactions().sequences()]
    for a, _, n in out:
        assert n != a and not any(a in s and n in s for s in seqs)


@pytest.mark.slow  # two real (tiny) trainings: ~15-35 s on two shared cores
def test_fine_tune_with_hard_negatives_trains(tmp_path):
    pytest.importorskip("torch")
    c = catalog()
    params = {"max_pairs": 8, "train_batch_size": 4, "epochs": 1, "learning_rate": 1e-4,
              "backend": "sentence-transformers", "threads": 1, "cache_dir": str(tmp_path)}  # fmt: skip
    plain = FineTuned(**params).fit(c).transform(c)
    hard = FineTuned(**params, hard_negatives=5).fit(c).transform(c)
    assert hard.shape == (8, 384) and np.isfinite(hard).all()
    assert np.abs(hard - plain).max() > 1e-4, "the negative column changed nothing"
