"""Known answers and library agreement for the text methods: encodings, matrix methods, word vectors.

The thin wrappers are checked against the library they wrap called directly
(scikit-learn, bm25s, gensim); the methods against small corpora whose right answer is
known (synonyms that share contexts, two disjoint vocabularies).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from roost.data.frames import Catalog
from roost.embed import Embedder
from roost.embed.categorical import OneHot
from roost.embed.compose import WordVectors, compose, item_units, tokenize
from roost.embed.encodings import BM25, BagOfWords, Tfidf
from roost.embed.matrix import LDA, LSA, PCA
from roost.embed.words import GloVe, Word2Vec, load_word_vectors, packaged_glove
from roost.types import RoostError


def items(texts, **cols) -> Catalog:
    return Catalog.from_pydict(items={"id": [f"i{k}" for k in range(len(texts))], "title": texts,
                                      **cols})  # fmt: skip


CORPUS = [
    "The quick brown fox jumps over the lazy dog",
    "Foxes and dogs: an old rivalry between the fox and the dog",
    "Quick recipes for brown bread",
    "Bread, butter and jam for a lazy breakfast",
    "A dog's life on the farm with sheep and cows",
    "",
]

# Synonyms share contexts: "car"/"automobile" and "banana"/"mango" occur in the same
# sentences except for themselves, and never together.
SYNONYMS = [
    "the red car drove down the busy road",
    "the red automobile drove down the busy road",
    "a fast car needs a strong engine",
    "a fast automobile needs a strong engine",
    "she ate a ripe banana for breakfast",
    "she ate a ripe mango for breakfast",
    "sweet banana juice tastes like summer",
    "sweet mango juice tastes like summer",
]


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- encodings against scikit-learn and bm25s ---------------------------------------------
def test_bag_of_words_is_countvectorizer():
    c = items(CORPUS)
    bow = BagOfWords(fields=("title",), fallback=None).fit(c)
    ref = CountVectorizer()
    want = ref.fit_transform(CORPUS).toarray()
    assert bow.vocabulary_ == ref.get_feature_names_out().tolist()
    np.testing.assert_array_equal(bow.transform(c), want)
    binary = BagOfWords(fields=("title",), binary=True, fallback=None).fit(c).transform(c)
    np.testing.assert_array_equal(binary, (want > 0).astype(np.float32))


@pytest.mark.parametrize("sublinear", [False, True])
def test_tfidf_is_tfidfvectorizer(sublinear):
    c = items(CORPUS)
    mine = Tfidf(fields=("title",), sublinear_tf=sublinear, fallback=None).fit(c)
    want = TfidfVectorizer(sublinear_tf=sublinear).fit_transform(CORPUS).toarray()
    np.testing.assert_allclose(mine.transform(c), want, rtol=1e-6, atol=1e-7)


def test_bm25_scores_are_bm25s_lucene_scores():
    bm25s = pytest.importorskip("bm25s")
    c = items(CORPUS)
    mine = BM25(fields=("title",), k1=1.5, b=0.6).fit(c)
    queries = ["lazy dog", "brown fox fox", "breakfast bread", "nothing matches"]
    scores = (mine.query_vectors(queries) @ mine.transform_sparse(c).T).toarray()
    ref = bm25s.BM25(k1=1.5, b=0.6, method="lucene")
    ref.index(bm25s.tokenize(CORPUS, stopwords=None, show_progress=False), show_progress=False)
    for q, row in zip(queries, scores, strict=True):
        want = ref.get_scores(bm25s.tokenize([q], stopwords=None, show_progress=False,
                                             return_ids=False)[0])  # fmt: skip
        np.testing.assert_allclose(row, want, rtol=1e-5, atol=1e-6)
    assert scores[3].max() == 0


def test_bm25_hand_computed_weight():
    c = items(["red fox", "red red hen hen hen"])
    bm = BM25(k1=1.2, b=0.75).fit(c)
    avgdl = 3.5
    idf_red = np.log(1 + (2 - 2 + 0.5) / (2 + 0.5))
    tf, dl = 2, 5
    want = idf_red * tf / (tf + 1.2 * (1 - 0.75 + 0.75 * dl / avgdl))
    red = bm.vocabulary_.index("red")
    assert bm.transform(c)[1, red] == pytest.approx(want, rel=1e-6)


def test_bm25_document_length_counts_tokens_outside_the_vocabulary():
    c = items(["bird bird bird", "bird bird bird owl", "bird bird bird pine oak elm ash yew"])
    full = BM25(max_features=None).fit(c)
    capped = BM25(max_features=1).fit(c)  # keeps only "bird"
    assert capped.vocabulary_ == ["bird"]
    col = full.vocabulary_.index("bird")
    np.testing.assert_allclose(capped.transform(c)[:, 0], full.transform(c)[:, col], rtol=1e-6)
    assert capped.transform(c)[0, 0] > capped.transform(c)[2, 0]  # longer document, lower weight


def test_max_features_bounds_the_dense_width():
    c = items(CORPUS)
    for klass in (BagOfWords, Tfidf, BM25):
        emb = klass(max_features=5, fallback=None).fit(c)
        assert emb.dim == 5 and emb.transform(c).shape == (len(CORPUS), 5)
        assert klass(max_features=5).fit(c).dim == 5 + 256  # and the fallback columns
        assert klass().max_features == 4096  # the documented default


def test_bad_parameters_are_clear_errors():
    c = items(CORPUS)
    with pytest.raises(RoostError, match="k1"):
        BM25(k1=-1).fit(c)
    with pytest.raises(RoostError, match="fields"):
        Tfidf(fields=("nope",)).fit(c)
    with pytest.raises(RoostError, match="no usable terms"):
        Tfidf(min_df=10).fit(c)
    with pytest.raises(RoostError, match="mode"):
        OneHot(mode="binary").fit(c)


def test_loading_with_the_wrong_class_is_a_clear_error(tmp_path):
    c = items(CORPUS)
    BM25().fit(c).save(tmp_path / "bm25")
    with pytest.raises(RoostError, match="'bm25'"):
        Tfidf.load(tmp_path / "bm25")
    assert isinstance(Embedder.load(tmp_path / "bm25"), BM25)
    (tmp_path / "bm25" / "arrays.npz").write_bytes(b"not a zip")
    with pytest.raises(RoostError, match="arrays.npz"):
        Embedder.load(tmp_path / "bm25")


words_lists = st.lists(st.sampled_from("owl hen fox jay wren kite crow dove lark rook".split()),
                       max_size=8).map(" ".join)  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(words_lists, min_size=1, max_size=8), new=st.lists(words_lists, max_size=3))
def test_text_encodings_round_trip(texts, new):
    """sparse == dense, texts == items, save/load identical, for any small corpus."""
    c, fresh = items(texts), items(new)
    for klass in (BagOfWords, Tfidf, BM25):
        try:
            emb = klass(fields=("title",)).fit(c)
        except RoostError:
            assert not any(tokenize(t) for t in texts)  # only when there is no word at all
            continue
        dense = emb.transform(fresh)
        assert dense.dtype == np.float32 and dense.shape == (len(new), emb.dim)
        np.testing.assert_array_equal(dense, emb.transform_sparse(fresh).toarray())
        # Texts encode like items, but have no id, so no fallback column: only items with
        # no known term use those, exactly one each.
        n_terms = len(emb.vocabulary_)
        texts_dense = emb.transform_texts(new)
        np.testing.assert_array_equal(dense[:, :n_terms], texts_dense[:, :n_terms])
        assert not texts_dense[:, n_terms:].any()
        empty = ~dense[:, :n_terms].any(axis=1)
        np.testing.assert_array_equal((dense[:, n_terms:] != 0).sum(axis=1), empty.astype(int))
        with tempfile.TemporaryDirectory() as d:
            again = Embedder.load(emb.save(Path(d) / "e"))
        np.testing.assert_array_equal(again.transform(fresh), dense)
        np.testing.assert_array_equal(again.transform(c), emb.transform(c))


# --- one-hot, ordinal, indicator ----------------------------------------------------------
@pytest.fixture
def categorical() -> Catalog:
    return Catalog.from_pydict(items={
        "id": ["a", "b", "c", "d"],
        "category": ["Drama", "Comedy", None, "Drama"],
        "tags": [["sad", "long"], ["fun"], None, ["sad"]],
        "fields": ['{"year": 1999, "lang": ["en", "fr"]}', '{"year": 2001}', None, "{}"],
    })  # fmt: skip


def test_onehot_modes(categorical):
    oh = OneHot(field="category", fallback=None).fit(categorical)
    assert oh.categories_ == ["Comedy", "Drama"]
    np.testing.assert_array_equal(oh.transform(categorical), [[0, 1], [1, 0], [0, 0], [0, 1]])
    ordinal = OneHot(field="category", mode="ordinal").fit(categorical)
    np.testing.assert_array_equal(ordinal.transform(categorical).ravel(), [1, 0, -1, 1])
    multi = OneHot(field="tags", mode="indicator", fallback=None).fit(categorical)
    assert multi.categories_ == ["fun", "long", "sad"]
    np.testing.assert_array_equal(multi.transform(categorical),
                                  [[0, 1, 1], [1, 0, 0], [0, 0, 0], [0, 0, 1]])  # fmt: skip
    first = OneHot(field="tags", fallback=None).fit(categorical)  # onehot on a list: the first tag
    np.testing.assert_array_equal(first.transform(categorical),
                                  [[0, 1], [1, 0], [0, 0], [0, 1]])  # fmt: skip


def test_onehot_reads_keys_of_the_fields_json(categorical):
    year = OneHot(field="fields.year").fit(categorical)
    assert year.categories_ == ["1999", "2001"]
    lang = OneHot(field="fields.lang", mode="indicator", fallback=None).fit(categorical)
    np.testing.assert_array_equal(lang.transform(categorical), [[1, 1], [0, 0], [0, 0], [0, 0]])
    bad = Catalog.from_pydict(items={"id": ["z"], "fields": ["{oops"]})
    with pytest.raises(RoostError, match="'z'.*JSON"):
        OneHot(field="fields.year").fit(bad)
    with pytest.raises(RoostError, match="no item has a value"):
        OneHot(field="fields.colour").fit(categorical)
    with pytest.raises(RoostError, match="fields.KEY"):
        OneHot(field="title").fit(categorical)


def test_onehot_unseen_values_and_max_categories(categorical):
    oh = OneHot(field="tags", mode="indicator", max_categories=1, fallback=None).fit(categorical)
    assert oh.categories_ == ["sad"]  # the most frequent
    unseen = Catalog.from_pydict(items={"id": ["n"], "tags": [["sad", "brand-new"]]})
    np.testing.assert_array_equal(oh.transform(unseen), [[1]])
    ordinal = OneHot(field="category", mode="ordinal").fit(categorical)
    new_cat = Catalog.from_pydict(items={"id": ["n"], "category": ["Western"]})
    np.testing.assert_array_equal(ordinal.transform(new_cat), [[-1]])


# --- matrix methods -----------------------------------------------------------------------
def test_lsa_joins_synonyms_that_tfidf_keeps_apart():
    c = items(SYNONYMS)
    tfidf = Tfidf().fit(c)
    lsa = LSA(n_components=2).fit(c)
    t = tfidf.transform_texts(["car", "automobile", "banana"])
    v = lsa.transform_texts(["car", "automobile", "banana"])
    assert t[0] @ t[1] == 0  # no shared term
    assert cos(v[0], v[1]) > 0.95
    assert abs(cos(v[0], v[2])) < 0.2
    np.testing.assert_allclose(np.linalg.norm(lsa.transform(c), axis=1), 1, atol=1e-5)


def test_lsa_dimension_is_capped_by_the_data():
    c = items(["red fox", "blue jay", "red jay"])
    lsa = LSA(n_components=100).fit(c)
    assert lsa.dim == 3 and lsa.transform(c).shape == (3, 3)


def test_pca_keeps_tfidf_distances():
    """With every component kept, PCA is a rotation of the centred TF-IDF rows."""
    c = items(CORPUS[:5])
    pca = PCA(n_components=50).fit(c)
    assert pca.dim == 4  # ARPACK: fewer than the 5 items
    x = Tfidf(max_features=pca.max_features, sublinear_tf=True).fit(c).transform(c)
    z = pca.transform(c)

    def dists(a):
        return np.linalg.norm(a[:, None, :] - a[None, :, :], axis=-1)

    np.testing.assert_allclose(dists(z), dists(x), atol=1e-4)


def test_lda_finds_the_two_vocabularies():
    animals = "cat dog horse cow sheep goat".split()
    fruit = "apple mango banana cherry grape lemon".split()
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(animals if k % 2 else fruit, 8)) for k in range(30)]
    lda = LDA(n_components=2, max_iter=50).fit(items(texts))
    tops = [set(t) for t in lda.top_words(6)]
    assert sorted(map(sorted, tops)) == sorted([sorted(animals), sorted(fruit)])
    v = lda.transform(items(texts))
    np.testing.assert_allclose(v.sum(axis=1), 1, atol=1e-5)
    topic_of = v.argmax(axis=1)
    assert len(set(topic_of[::2])) == 1 and len(set(topic_of[1::2])) == 1
    assert topic_of[0] != topic_of[1]


# --- word vectors and their composition ---------------------------------------------------
@pytest.mark.parametrize("sg", [0, 1])
def test_word2vec_synonyms_share_contexts(sg):
    w2v = Word2Vec(vector_size=16, sg=sg, window=3, sample=0, min_count=1, epochs=300,
                   weighting="uniform").fit(items(SYNONYMS))  # fmt: skip
    words, m = w2v.word_vectors()
    vec = dict(zip(words, m, strict=True))
    assert cos(vec["car"], vec["automobile"]) > cos(vec["car"], vec["banana"]) + 0.3
    assert cos(vec["banana"], vec["mango"]) > cos(vec["banana"], vec["automobile"]) + 0.3


def test_word2vec_is_gensim_word2vec():
    """Same corpus, same parameters, one worker: the very vectors gensim gives."""
    from gensim.models import Word2Vec as Gensim

    params = dict(vector_size=12, sg=1, window=4, negative=3, ns_exponent=0.5, sample=1e-2,
                  min_count=2, epochs=7, alpha=0.03, min_alpha=0.001, seed=5, workers=1)  # fmt: skip
    c = items(SYNONYMS * 3)
    mine = Word2Vec(**params).fit(c)
    ref = Gensim([tokenize(t) for t in SYNONYMS * 3], hs=0, **params)
    words, m = mine.word_vectors()
    assert words == ref.wv.index_to_key  # most frequent first
    np.testing.assert_array_equal(m, ref.wv.vectors)
    other = Word2Vec(**{**params, "sample": 0}).fit(c).word_vectors()[1]
    assert not np.array_equal(other, m)  # subsampling reaches gensim


def test_word2vec_is_deterministic_across_processes():
    code = (
        "import hashlib; from roost.data.frames import Catalog; from roost.embed.words import Word2Vec;"
        f"t = {SYNONYMS!r};"
        "c = Catalog.from_pydict(items={'id': [str(i) for i in range(len(t))], 'title': t});"
        "w = Word2Vec(vector_size=8, min_count=1, epochs=3).fit(c);"
        "print(hashlib.sha256(w.transform(c).tobytes()).hexdigest())"
    )
    outs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout  # fmt: skip
        for seed in ("1", "2")
    }
    assert len(outs) == 1


def test_word2vec_min_count_too_high_is_clear():
    with pytest.raises(RoostError, match="min_count=50"):
        Word2Vec(min_count=50).fit(items(SYNONYMS))
    with pytest.raises(RoostError, match="no words"):
        Word2Vec(min_count=1).fit(items(["", "!!"]))


WV = WordVectors(["red", "fox", "the", "hen"],
                 np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], np.float32))  # fmt: skip


def test_compose_is_a_weighted_mean():
    units = [["red", "fox"], ["red", "owl"], ["owl"], [], ["the red", "fox"]]
    out = compose(units, WV, weights={"red": 3.0}, normalize=False)
    np.testing.assert_allclose(out[0], (3 * WV.vectors[0] + WV.vectors[1]) / 4)
    np.testing.assert_allclose(out[1], WV.vectors[0])  # unknown words are skipped
    np.testing.assert_array_equal(out[2:4], 0)  # nothing known: a zero row
    tag = (WV.vectors[2] + WV.vectors[0]) / 2  # a two-word tag is the mean of its words
    np.testing.assert_allclose(out[4], (tag + WV.vectors[1]) / 2)
    unit = compose(units, WV)
    np.testing.assert_allclose(np.linalg.norm(unit[[0, 1, 4]], axis=1), 1, rtol=1e-6)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["red", "fox", "the", "hen", "owl"]), max_size=6),
                max_size=5),
       st.randoms())  # fmt: skip
def test_compose_invariants(units, rnd):
    out = compose(units, WV, normalize=False)
    shuffled = [rnd.sample(u, len(u)) for u in units]
    np.testing.assert_allclose(compose(shuffled, WV, normalize=False), out, atol=1e-6)
    for row, u in zip(out, units, strict=True):
        known = [WV.vectors[WV.index[w]] for w in u if w in WV.index]
        want = np.mean(known, axis=0) if known else np.zeros(3)
        np.testing.assert_allclose(row, want, atol=1e-6)


def test_first_three_tags_with_equal_weight():
    """The news seed's tag2vec: an item is the mean of its first three tags' vectors."""
    c = Catalog.from_pydict(items={
        "id": ["a", "b"], "title": ["red fox", "the hen"],
        "tags": [["fox", "red hen", "the", "red"], ["hen"]],
    })  # fmt: skip
    w2v = Word2Vec(vector_size=8, min_count=1, epochs=2, compose_from="tags", max_tags=3,
                   weighting="uniform", normalize=False).fit(c)  # fmt: skip
    assert item_units(c, "tags", max_tags=3) == [["fox", "red hen", "the"], ["hen"]]
    vec = dict(zip(*w2v.word_vectors(), strict=True))
    want = (vec["fox"] + (vec["red"] + vec["hen"]) / 2 + vec["the"]) / 3
    np.testing.assert_allclose(w2v.transform(c)[0], want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(w2v.transform(c)[1], vec["hen"], rtol=1e-6)
    query = w2v.transform_texts(["red hen"])[0]  # a query is one tag
    np.testing.assert_allclose(query, (vec["red"] + vec["hen"]) / 2, rtol=1e-5, atol=1e-7)


def test_idf_weighting_lowers_common_words():
    texts = ["the fox", "the hen", "the owl", "the jay"]
    c = items(texts)
    idf = Word2Vec(vector_size=8, min_count=1, epochs=2, weighting="idf").fit(c)
    flat = Word2Vec(vector_size=8, min_count=1, epochs=2, weighting="uniform").fit(c)
    vec = dict(zip(*idf.word_vectors(), strict=True))
    assert cos(idf.transform(c)[0], vec["fox"]) > cos(flat.transform(c)[0], vec["fox"])


# --- GloVe --------------------------------------------------------------------------------
def test_glove_packaged_vectors():
    wv = load_word_vectors()
    assert len(wv) == 400_000 and wv.dim == 50 and wv.words[:2] == ["the", ","]
    assert not wv.vectors.flags.writeable
    c = items(["car engine", "automobile motor", "ripe banana"])
    g = GloVe().fit(c)
    v = g.transform(c)
    assert v.shape == (3, 50) and g.dim == 50
    assert cos(v[0], v[1]) > cos(v[0], v[2]) + 0.3
    small = GloVe(max_words=1000).fit(c)
    assert len(small.word_vectors()[0]) == 1000


def test_glove_reads_your_own_vectors(tmp_path):
    from gensim.test.utils import datapath

    txt = GloVe(path=datapath("test_glove.txt")).fit(items(["the"]))
    words, m = txt.word_vectors()
    assert len(words) == 76 and m.shape == (76, 50) and words[0] == "the"
    np.save(tmp_path / "mine.npy", np.eye(3, dtype=np.float32))
    (tmp_path / "mine.vocab.txt").write_text("red\nfox\nhen\n")
    npy = GloVe(
        path=str(tmp_path / "mine.npy"), weighting="uniform", normalize=False, fallback=None
    )
    v = npy.fit(items(["red fox"])).transform(items(["red fox", "hen", "owl"]))
    np.testing.assert_allclose(v, [[0.5, 0.5, 0], [0, 0, 1], [0, 0, 0]])
    folder = GloVe(path=str(packaged_glove()), max_words=10).fit(items(["the"]))
    assert folder.word_vectors()[0] == load_word_vectors(max_words=10).words
    with pytest.raises(RoostError, match="no such"):
        GloVe(path=str(tmp_path / "missing.txt")).fit(items(["x"]))
    (tmp_path / "bad.npy").write_bytes(b"junk")
    with pytest.raises(RoostError, match="cannot read"):
        GloVe(path=str(tmp_path / "bad.npy")).fit(items(["x"]))


def test_glove_load_refuses_changed_vectors(tmp_path):
    np.save(tmp_path / "v.npy", np.eye(2, dtype=np.float32))
    (tmp_path / "v.vocab.txt").write_text("red\nfox\n")
    g = GloVe(path=str(tmp_path / "v.npy")).fit(items(["red fox"]))
    saved = g.save(tmp_path / "saved")
    doc = json.loads((saved / "embedder.json").read_text())
    assert "vectors" not in np.load(saved / "arrays.npz").files  # a reference, not a copy
    assert doc["state"]["vectors_fingerprint"] == g.vectors_fingerprint_
    np.save(tmp_path / "v.npy", 2 * np.eye(2, dtype=np.float32))
    with pytest.raises(RoostError, match="not the ones"):
        Embedder.load(saved)


def test_transform_texts_matches_item_text():
    c = items(SYNONYMS)
    for emb in (Word2Vec(vector_size=8, min_count=1, epochs=2, fields=("title",)),
                GloVe(fields=("title",)), LSA(n_components=3, fields=("title",)),
                LDA(n_components=2, fields=("title",)), Tfidf(fields=("title",))):  # fmt: skip
        emb.fit(c)
        np.testing.assert_allclose(emb.transform_texts(SYNONYMS), emb.transform(c),
                                   rtol=1e-6, atol=1e-7)  # fmt: skip


def test_sparse_rows_are_csr_float32():
    x = BM25().fit(items(CORPUS)).transform_sparse(items(CORPUS))
    assert sp.issparse(x) and x.format == "csr" and x.dtype == np.float32


def test_word2vec_trains_words_past_gensims_sentence_limit():
    """gensim drops tokens past the 10,000th of a sentence; long items are cut into pieces."""
    from gensim.models import Word2Vec as Gensim

    tokens = ["owl", "hen", "jay", "fox", "elk"] * 2000 + ["late", "words"] * 500
    params = dict(vector_size=8, min_count=1, epochs=1, sample=0, seed=0, workers=1)
    untrained = Gensim(**params)
    untrained.build_vocab([tokens])
    start = untrained.wv["late"].copy()
    plain = Gensim([tokens], **params)
    np.testing.assert_array_equal(plain.wv["late"], start)  # the premise: gensim skips it
    mine = Word2Vec(**params).fit(items([" ".join(tokens)]))
    vec = dict(zip(*mine.word_vectors(), strict=True))
    assert not np.allclose(vec["late"], start)


# --- items without usable features: the id fallback ----------------------------------------
FEATURELESS = ["red fox", "red hen", "blue jay", "zzz qqq", "", "red owl"]
FALLBACK_METHODS = {
    "onehot": lambda **kw: OneHot(field="tags", mode="indicator", **kw),
    "bow": lambda **kw: BagOfWords(max_features=4, **kw),
    "tfidf": lambda **kw: Tfidf(max_features=4, **kw),
    "bm25": lambda **kw: BM25(max_features=4, **kw),
    "lsa": lambda **kw: LSA(n_components=2, max_features=4, **kw),
    "word2vec": lambda **kw: Word2Vec(vector_size=8, min_count=2, sample=0, epochs=2, **kw),
    "glove": lambda **kw: GloVe(max_words=20000, **kw),
}


def _featureless_catalog() -> Catalog:
    # "zzz qqq" and "" have no kept term, no known word and no tag.
    tags = [["t1"], ["t2"], ["t1"], None, None, ["t2"]]
    return items(FEATURELESS, tags=tags)


@pytest.mark.parametrize("method", sorted(FALLBACK_METHODS))
def test_items_without_features_get_an_id_direction(method):
    c = _featureless_catalog()
    make = FALLBACK_METHODS[method]
    emb = make().fit(c)
    v = emb.transform(c)
    assert np.linalg.norm(v, axis=1).min() > 0, "no zero rows by default"
    empty = [3, 4]
    # Deterministic, tied to the id (not the row), unrelated to the featured items.
    fresh = Catalog.from_pydict(items={"id": ["i4", "new"], "title": ["", "zzz"]})
    w = emb.transform(fresh)
    np.testing.assert_array_equal(w[0], v[4])
    assert np.linalg.norm(w[1]) > 0 and not np.allclose(w[1], v[4])
    np.testing.assert_array_equal(make().fit(c).transform(c), v)
    if method in ("onehot", "bow", "tfidf", "bm25"):  # a column block of their own
        assert not (v[empty][:, None, :] * v[[0, 1, 2, 5]][None, :, :]).any()
    # Without the fallback the same items are zero rows, as documented.
    bare = make(fallback=None).fit(c).transform(c)
    assert not bare[empty].any() and np.abs(bare[[0, 1, 2, 5]]).sum(axis=1).min() > 0
    assert bare.shape[1] <= v.shape[1]


def test_fallback_leaves_texts_and_featured_items_alone():
    c = _featureless_catalog()
    on, off = Tfidf(max_features=4).fit(c), Tfidf(max_features=4, fallback=None).fit(c)
    np.testing.assert_array_equal(on.transform(c)[[0, 1, 2, 5], : off.dim],
                                  off.transform(c)[[0, 1, 2, 5]])  # fmt: skip
    assert not on.transform_texts(["zzz", ""]).any()  # a query has no id
    w2v = Word2Vec(vector_size=8, min_count=2, sample=0, epochs=2).fit(c)
    assert not w2v.transform_texts(["zzz"]).any()
    np.testing.assert_allclose(np.linalg.norm(w2v.transform(c), axis=1), 1, atol=1e-5)
    for klass in (Tfidf, OneHot, LSA, Word2Vec):
        with pytest.raises(RoostError, match="fallback"):
            klass(fallback="mean").fit(c)
    with pytest.raises(RoostError, match="fallback_buckets"):
        Tfidf(fallback_buckets=0).fit(c)
