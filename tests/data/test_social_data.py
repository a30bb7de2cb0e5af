"""The synthetic social half of a ratings dataset: authors, follows, names."""

from __future__ import annotations

import numpy as np

from roost.data import datasets
from roost.data.datasets.social import bird_name, engagement_follows, first_raters

# u1 rates a and b first; u2 and u3 rate u1's films early; u3 also rates u2's film c.
# The second half (from t=100): u3 posts d, u1 and u2 rate it; no follow comes of it.
USERS = np.array(
    ["u1", "u1", "u2", "u2", "u3", "u3", "u3", "u2", "u3", "u1", "u2", "u1", "u1", "u2"], object
)
ITEMS = np.array(["a", "b", "a", "c", "a", "b", "c", "b", "d", "d", "d", "c", "e", "e"], object)
TS = np.array([1, 2, 3, 4, 5, 6, 7, 100, 101, 102, 103, 104, 105, 106])


def test_the_first_rater_is_the_author_and_equal_times_go_to_the_smaller_id():
    assert first_raters(USERS, ITEMS, TS) == {"a": "u1", "b": "u1", "c": "u2", "d": "u3", "e": "u1"}
    tie = first_raters(np.array(["z", "y"], object), np.array(["x", "x"], object), np.array([5, 5]))
    assert tie == {"x": "y"}


def test_follows_come_from_the_first_half_only_most_rated_author_first():
    authors = first_raters(USERS, ITEMS, TS)
    f = engagement_follows(USERS, ITEMS, TS, authors).to_pylist()
    cut = int(np.quantile(TS, 0.5))
    assert 7 < cut < 100 and {r["ts"] for r in f} == {cut}
    # u3 rated two of u1's films and one of u2's before the cut; nobody follows itself;
    # the ratings of u3's film d come after the cut and make no follow
    assert [(r["follower"], r["followee"]) for r in f] == [("u2", "u1"), ("u3", "u1"), ("u3", "u2")]
    capped = engagement_follows(USERS, ITEMS, TS, authors, per_user=1).to_pylist()
    assert [(r["follower"], r["followee"]) for r in capped] == [("u2", "u1"), ("u3", "u1")]


def test_names_are_stable_words():
    assert bird_name("42") == bird_name("42") and len(bird_name("42").split()) == 2
    assert len({bird_name(str(j)) for j in range(200)}) > 100


def test_the_demo_catalog_has_authors_and_follows_between_known_birds():
    ds = datasets.load("movietweetings")
    assert ds.items.column("author").null_count == 0
    users = set(ds.users.column("id").to_pylist())
    f = ds.follows
    assert f.num_rows > 10_000
    assert set(f.column("follower").to_pylist()) <= users
    assert set(f.column("followee").to_pylist()) <= set(ds.items.column("author").to_pylist())
    again = datasets.load("movietweetings").follows
    assert again.equals(f)  # deterministic
