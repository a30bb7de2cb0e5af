"""Intrinsic evaluation: known answers on made-up vectors, and GloVe's published figures."""

from __future__ import annotations

import numpy as np
import pytest

from roost.data.frames import Catalog
from roost.embed.words import Word2Vec, load_word_vectors
from roost.evaluate.intrinsic import (
    AnalogyResult,
    SimilarityResult,
    analogy_accuracy,
    data_file,
    evaluate_word_vectors,
    word_similarity,
)
from roost.types import RoostError

# Axes: person, gender, royalty, youth. queen = woman - man + king exactly.
AXES = {"p": [1, 0, 0, 0], "g": [0, 1, 0, 0], "r": [0, 0, 1, 0], "y": [0, 0, 0, 1]}
WORDS = {
    "man": "p", "woman": "pg", "king": "pr", "queen": "prg", "boy": "py", "girl": "pyg",
}  # fmt: skip


def family() -> tuple[list[str], np.ndarray]:
    words = list(WORDS)
    m = np.array([np.sum([AXES[a] for a in WORDS[w]], axis=0) for w in words], np.float32)
    return words, m


QUESTIONS = """: family
man woman king queen
man woman boy girl
king queen boy girl
Boy Girl Man Woman
: unknown-words
man woman prince princess
"""


def test_analogies_known_answer(tmp_path):
    q = tmp_path / "q.txt"
    q.write_text(QUESTIONS)
    words, m = family()
    r = analogy_accuracy(words, m, questions=q)
    assert isinstance(r, AnalogyResult)
    assert (r.accuracy, r.correct, r.total) == (1.0, 4, 4)  # the OOV question is skipped
    assert r.sections == {"family": 1.0}
    rng = np.random.default_rng(0)
    scrambled = analogy_accuracy(words, rng.normal(size=m.shape), questions=q)
    assert scrambled.accuracy < 1.0
    restricted = analogy_accuracy(words, m, questions=q, restrict_vocab=4)  # no boy, girl
    assert restricted.total == 1 and restricted.correct == 1


def test_similarity_known_answer(tmp_path):
    words, m = family()
    # Cosine order: (queen, king) > (woman, man) > (girl, king); scores agree, then disagree.
    agree = "# comment\nqueen\tking\t9\nwoman\tman\t5\ngirl\tking\t1\nowl\tjay\t3\n"
    (tmp_path / "agree.txt").write_text(agree)
    r = word_similarity(words, m, str(tmp_path / "agree.txt"))
    assert isinstance(r, SimilarityResult)
    assert r.spearman == pytest.approx(1.0)
    assert r.pairs == 3 and r.oov_ratio == pytest.approx(0.25)
    (tmp_path / "disagree.txt").write_text("queen\tking\t1\nwoman\tman\t5\ngirl\tking\t9\n")
    assert word_similarity(words, m, str(tmp_path / "disagree.txt")).spearman == pytest.approx(-1)
    with pytest.raises(RoostError, match="neither a known"):
        word_similarity(words, m, "wordsim999")


def test_bad_word_vectors_are_clear_errors():
    with pytest.raises(RoostError, match="no word vectors"):
        analogy_accuracy([], np.zeros((0, 3)))
    with pytest.raises(RoostError, match="2 words"):
        word_similarity(["a", "b"], np.zeros((3, 3)))


def test_the_test_sets_ship_with_gensim():
    lines = data_file("questions-words.txt").read_text().splitlines()
    assert sum(1 for x in lines if not x.startswith(":")) == 19544
    assert data_file("wordsim353.tsv").exists() and data_file("simlex999.txt").exists()


@pytest.fixture(scope="module")
def glove():
    wv = load_word_vectors()
    return wv.words, wv.vectors


def test_glove_reproduces_the_reference_similarity_figures(glove):
    """GloVe 6B 50-d: WordSim353 Spearman 0.503, SimLex-999 0.265 (whole vocabulary)."""
    words, m = glove
    ws = word_similarity(words, m, "wordsim353")
    sl = word_similarity(words, m, "simlex999")
    assert ws.spearman == pytest.approx(0.503, abs=0.0015) and ws.oov_ratio == 0
    assert sl.spearman == pytest.approx(0.265, abs=0.0015) and sl.pairs == 999


def test_glove_capital_cities_section(glove, tmp_path):
    """The first section of questions-words (506 capital-country analogies) at 30k words."""
    lines = data_file("questions-words.txt").read_text().splitlines()
    end = next(i for i, x in enumerate(lines[1:], 1) if x.startswith(":"))
    (tmp_path / "capitals.txt").write_text("\n".join(lines[:end]) + "\n")
    words, m = glove
    r = analogy_accuracy(words, m, questions=tmp_path / "capitals.txt")
    assert r.total == 506
    assert r.accuracy == pytest.approx(0.796, abs=0.002)


@pytest.mark.slow
def test_glove_reproduces_the_reference_analogy_accuracy(glove):
    """49.7% of the questions-words analogies within the 30,000 most frequent words."""
    r = analogy_accuracy(*glove)
    assert r.restrict_vocab == 30000
    assert r.accuracy == pytest.approx(0.497, abs=0.001)


def test_evaluate_an_embedder_with_word_vectors():
    texts = ["the king and the queen", "a man and a woman", "the boy and the girl"] * 5
    c = Catalog.from_pydict(items={"id": [str(i) for i in range(len(texts))], "title": texts})
    w2v = Word2Vec(vector_size=8, min_count=1, epochs=2).fit(c)
    out = evaluate_word_vectors(w2v)
    assert set(out) == {"wordsim353", "simlex999", "analogies"}
    ws = out["wordsim353"]  # a ten-word vocabulary knows few pairs
    assert 2 <= ws.pairs < 10 and -1 <= ws.spearman <= 1
    assert ws.oov_ratio == pytest.approx(1 - ws.pairs / 353)
    assert out["analogies"].total > 0  # man woman king queen, boy girl ...
    words, m = w2v.word_vectors()
    assert evaluate_word_vectors((words, m))["analogies"] == out["analogies"]


def test_fewer_than_two_known_pairs_give_no_correlation():
    r = word_similarity(["zyx", "qwv"], np.eye(2, dtype=np.float32), "wordsim353")
    assert r.pairs == 0 and r.oov_ratio == 1.0
    assert np.isnan(r.spearman) and np.isnan(r.pearson)
