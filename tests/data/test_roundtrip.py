"""Hypothesis round trips: what goes into the store comes back; id maps invert."""

from __future__ import annotations

import tempfile

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roost.data.frames import Interactions
from roost.data.ingest import ingest_table
from roost.store import open_store

text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
ident = text.map(str.strip).filter(lambda s: 0 < len(s) <= 256)
tags = st.lists(ident.filter(lambda s: "|" not in s), max_size=4)


@st.composite
def items(draw):
    ids = draw(st.lists(ident, min_size=1, max_size=15, unique=True))
    n = len(ids)
    return {
        "id": ids,
        "title": draw(st.lists(st.one_of(st.none(), ident), min_size=n, max_size=n)),
        "tags": draw(st.lists(st.one_of(st.none(), tags.filter(bool)), min_size=n, max_size=n)),
        "created_at": draw(st.lists(st.one_of(st.none(), st.integers(-(10**10), 10**11)), min_size=n, max_size=n)),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items())
def test_items_round_trip_through_the_store(cols):
    with tempfile.TemporaryDirectory() as d:
        s = open_store(d)
        table = pa.table({
            "id": cols["id"], "title": cols["title"],
            "tags": pa.array(cols["tags"], pa.list_(pa.string())),
            "created_at": pa.array(cols["created_at"], pa.int64()),
        })
        ingest_table(s, "items", table)
        back = {r["id"]: r for r in s.read("items").to_pylist()}
        s.close()
    assert set(back) == set(cols["id"])
    for i, ident_ in enumerate(cols["id"]):
        assert back[ident_]["title"] == cols["title"][i]
        assert back[ident_]["tags"] == cols["tags"][i]
        assert back[ident_]["created_at"] == cols["created_at"][i]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("abcdefg"), st.sampled_from(["x", "y", "z", "w"]), st.integers(0, 100)), max_size=40)
)
def test_interactions_id_maps_invert(events):
    users = [e[0] for e in events]
    item_list = [e[1] for e in events]
    inter = Interactions.from_arrays(users, item_list, ts=[e[2] for e in events], item_ids=["w", "x", "y", "z"])
    assert [inter.user_ids[u] for u in inter.users] == users
    assert [inter.item_ids[i] for i in inter.items] == item_list
    m = inter.to_csr()
    assert m.shape == (len(set(users)), 4)
    assert m.nnz == len(set(zip(users, item_list, strict=True)))
    seqs = inter.sequences()
    for u, seq in enumerate(seqs):
        times = sorted(e[2] for e in events if e[0] == inter.user_ids[u])
        assert len(seq) == len(times)
    assert sum(len(s) for s in seqs) == len(events)
    assert np.all(np.diff([0, *[len(s) for s in seqs]]) >= -10**9)
