"""Time windows of events as drift samples."""

from __future__ import annotations

import numpy as np
import pytest
from monitor_helpers import clustered, make_set

from roost.data.frames import Interactions
from roost.monitor import drift, time_split, window_vectors
from roost.monitor.windows import subset
from roost.types import RoostError


def _events(seed: int, popular_late: bool):
    """300 users x 2 periods; late events go to other clusters when ``popular_late``."""
    rng = np.random.default_rng(seed)
    n_items = 400
    early_items = rng.integers(0, 200, 3000)
    late_items = rng.integers(200 if popular_late else 0, 400 if popular_late else 200, 3000)
    users = [f"u{j}" for j in rng.integers(0, 300, 6000)]
    items = [f"i{j}" for j in np.r_[early_items, late_items]]
    ts = np.r_[rng.integers(0, 1000, 3000), rng.integers(1000, 2000, 3000)]
    return Interactions.from_arrays(users, items, ts=ts, item_ids=[f"i{j}" for j in range(n_items)])


def _items():
    # Items 0..199 in one region of the space, 200..399 in another: a popularity shift
    # between the regions is a drift of what is consumed.
    x = clustered(400, 8, seed=0)
    x[200:] += 4.0
    return make_set(x)


@pytest.mark.parametrize("per", ["event", "user"])
def test_popularity_shift_between_windows_is_drift(per):
    items = _items()
    (cut,) = time_split(_events(0, True).ts)
    fast = {"kl": {"n_permutations": 99}, "mean": {"n_permutations": 99}}
    shifted = _events(0, popular_late=True)
    early = window_vectors(items, shifted, end=cut, per=per)
    late = window_vectors(items, shifted, start=cut, per=per)
    assert all(r.drifted for r in drift(early, late, ["kl", "mean"], params=fast))
    # Any fixed seed may show a chance false alarm (5% of them do); seed 2 does not.
    steady = _events(2, popular_late=False)
    early = window_vectors(items, steady, end=cut, per=per)
    late = window_vectors(items, steady, start=cut, per=per)
    assert not any(r.drifted for r in drift(early, late, ["kl", "mean"], params=fast))


def test_window_shapes_and_unknown_items():
    items = _items()
    ev = Interactions.from_arrays(["u1", "u1", "u2", "u3"], ["i1", "zzz", "i2", "i3"],
                                  ts=[5, 6, 7, 50])  # fmt: skip
    assert window_vectors(items, ev, start=0, end=10).shape == (2, 8)  # "zzz" skipped
    users = window_vectors(items, ev, end=10, per="user")
    assert users.shape == (2, 8)
    np.testing.assert_allclose(np.linalg.norm(users, axis=1), 1.0, rtol=1e-5)  # one item each
    with pytest.raises(RoostError, match="no events"):
        window_vectors(items, ev, start=100)
    with pytest.raises(RoostError, match="per must be"):
        window_vectors(items, ev, per="item")


def test_time_split_and_subset():
    assert time_split(np.arange(100), (0.25, 0.5)) == [25, 50]
    items = _items()
    assert subset(items, ["i3", "nope", "i1"]).shape == (2, 8)
    with pytest.raises(RoostError):
        subset(items, ["nope"])
    with pytest.raises(RoostError):
        time_split(np.array([]))


# --- windows written as text, and samples from a catalog -----------------------------------
def test_parse_window_forms():
    from roost.monitor.windows import is_window, parse_window

    assert parse_window("2013-01-01..2013-07-01") == (1356998400, 1372636800)
    assert parse_window("..2013-01-01") == (None, 1356998400)
    assert parse_window("1000..") == (1000, None)
    assert parse_window("2013-01-01T12:00+02:00..") == (1357034400, None)
    assert is_window("..") and parse_window("..") == (None, None)
    for ref in ("production", "v0003-als-1a2b3c", "v3", "candidate..x", "_a..b"):
        assert not is_window(ref), ref
    for bad, match in (("2013-13-01..", "not a date"), ("2013-07-01..2013-01-01", "not after"),
                       ("production", "START..END")):  # fmt: skip
        with pytest.raises(RoostError, match=match):
            parse_window(bad)


def test_window_sample_of_created_items_and_events():
    from roost.data.frames import Catalog
    from roost.monitor.windows import window_sample

    items = make_set(np.arange(12, dtype=np.float32).reshape(4, 3) + 1, metric="l2")
    ids = items.ids.tolist()
    catalog = Catalog.from_pydict(
        items={"id": ids, "created_at": [10, 20, None, 40]},
        events={"user_id": ["u", "u", "v"], "item_id": [ids[0], ids[3], ids[3]],
                "kind": ["view"] * 3, "value": [1.0] * 3, "ts": [5, 50, 60]},
    )  # fmt: skip
    late = window_sample(items, catalog, start=15, per="item")  # skips the undated item
    np.testing.assert_allclose(late, items.vectors[[1, 3]])
    assert window_sample(items, catalog, end=50, per="event").shape == (1, 3)
    assert window_sample(items, catalog, start=50, per="user").shape == (2, 3)
    with pytest.raises(RoostError, match="no items of the set were created"):
        window_sample(items, catalog, start=100, per="item")
    with pytest.raises(RoostError, match="per must be one of"):
        window_sample(items, catalog, per="month")
