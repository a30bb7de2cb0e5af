"""Drift detectors: known answers on synthetic samples, calibration, API."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from monitor_helpers import make_set, random_rotation
from scipy.stats import binom

from roost.monitor import DriftResult, drift
from roost.monitor.drift import REGISTRY, get, permutation_p
from roost.types import RoostError

METHODS = list(REGISTRY)
# Fewer permutations keep the repeated-seed checks fast; p-values stay valid at any count.
FAST = {m: {"n_permutations": 99} for m in METHODS if m != "classifier"}


def anisotropic(rng, n: int, dim: int = 8) -> np.ndarray:
    return rng.normal(size=(n, dim)) * np.linspace(3.0, 0.3, dim)


def test_registry_names_every_detector():
    assert METHODS == ["kl", "classifier", "mmd", "wasserstein", "mean"]
    for m in METHODS:
        assert get(m).name == m


def test_same_distribution_false_alarm_rate_over_repeated_seeds():
    """Null samples: each method alarms at most at alpha = 0.05, and p-values look uniform."""
    trials = 40
    drifted = dict.fromkeys(METHODS, 0)
    below_half = dict.fromkeys(METHODS, 0)
    for s in range(trials):
        rng = np.random.default_rng(1000 + s)
        results = drift(anisotropic(rng, 200), anisotropic(rng, 200), seed=s, params=FAST)
        for r in results:
            drifted[r.method] += r.drifted
            below_half[r.method] += r.p_value < 0.5
    # 7 of 40 is the 99.9% point of Binomial(40, 0.05): a calibrated test passes this.
    limit = binom(trials, 0.05).ppf(0.999)
    assert all(v <= limit for v in drifted.values()), drifted
    # A uniform p-value is below 0.5 half the time; 10..30 of 40 is the central 99.8%.
    assert all(10 <= v <= 30 for v in below_half.values()), below_half


def test_shifted_distribution_is_detected_by_every_method():
    rng = np.random.default_rng(0)
    ref, cur = rng.normal(size=(400, 8)), rng.normal(size=(400, 8)) + 0.75
    for r in drift(ref, cur, params=FAST):
        assert r.drifted, r
        assert r.p_value < 0.05


def test_rotated_distribution_is_detected_and_the_mean_is_not_fooled():
    rng = np.random.default_rng(1)
    ref = anisotropic(rng, 600)
    cur = anisotropic(rng, 600) @ random_rotation(8, seed=3)
    results = {r.method: r for r in drift(ref, cur, params=FAST)}
    for m in ("kl", "classifier", "mmd", "wasserstein"):
        assert results[m].drifted, results[m]
    # A rotation about the origin keeps the mean at the origin: a known "no" for this method.
    assert not results["mean"].drifted


def test_scores_grow_with_the_shift():
    rng = np.random.default_rng(2)
    ref = rng.normal(size=(500, 8))
    base = rng.normal(size=(500, 8))
    for m in METHODS:
        params = {**FAST.get(m, {}), "seed": 0}
        scores = [get(m)(**params).test(ref, base + d).score for d in (0.0, 0.3, 1.0)]
        # (the share of drifted components saturates at 1.0, hence <= at the top)
        assert scores[0] < scores[1] <= scores[2], (m, scores)


@pytest.mark.parametrize("method", METHODS)
def test_results_are_reproducible_and_json_ready(method):
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=(150, 6)), rng.normal(size=(150, 6)) + 0.2
    a = drift(ref, cur, [method], seed=7, params={k: v for k, v in FAST.items() if k == method})
    b = drift(ref, cur, [method], seed=7, params={k: v for k, v in FAST.items() if k == method})
    assert a == b
    d = json.loads(json.dumps(a[0].to_dict()))
    assert d["method"] == method
    assert set(d) == {"method", "score", "threshold", "drifted", "p_value", "details"}
    assert d["details"]["n_reference"] == 150 and d["details"]["seed"] == 7


def test_accepts_embedding_sets_and_float32_and_samples_large_inputs():
    rng = np.random.default_rng(4)
    a = make_set(rng.normal(size=(3000, 4)))
    b = make_set(rng.normal(size=(2500, 4)))
    (r,) = drift(a, b, ["mmd"], params={"mmd": {"max_samples": 300, "n_permutations": 49}})
    assert r.details["n_reference"] == r.details["n_current"] == 300
    assert r.details["n_permutations"] == 49


def test_detector_instances_and_their_params():
    from roost.monitor.detectors import MeanDistance

    rng = np.random.default_rng(5)
    ref, cur = rng.normal(size=(200, 4)), rng.normal(size=(200, 4)) + 0.5
    (r,) = drift(ref, cur, [MeanDistance(threshold=10.0, n_permutations=99)])
    # Significant but below a (silly) practical threshold: the verdict needs both.
    assert r.p_value < 0.05 and r.score < 10.0 and not r.drifted


def test_bad_input_gives_clear_errors():
    rng = np.random.default_rng(6)
    ok = rng.normal(size=(50, 4))
    with pytest.raises(RoostError, match="dim 4 but current has dim 3"):
        drift(ok, rng.normal(size=(50, 3)), ["mean"])
    with pytest.raises(RoostError, match="at least 10"):
        drift(ok, ok[:3], ["mean"])
    bad = ok.copy()
    bad[0, 0] = np.nan
    with pytest.raises(RoostError, match="NaN"):
        drift(ok, bad, ["mean"])
    with pytest.raises(RoostError, match="2-D"):
        drift(ok, ok[0], ["mean"])
    with pytest.raises(RoostError, match="unknown drift method 'nope'"):
        drift(ok, ok, ["nope"])
    with pytest.raises(RoostError, match="unknown drift methods"):
        drift(ok, ok, ["mean"], params={"nope": {}})


def test_constant_inputs_do_not_crash():
    x = np.ones((30, 5))
    for r in drift(x, x.copy(), params=FAST):
        assert not r.drifted, r


def test_permutation_p_is_never_zero_and_counts_ties():
    assert permutation_p(5.0, np.zeros(99)) == pytest.approx(0.01)
    assert permutation_p(0.0, np.zeros(99)) == 1.0


@settings(max_examples=20, deadline=None)
@given(scale=st.floats(0.01, 100), offset=st.floats(-50, 50))
def test_mean_and_wasserstein_do_not_depend_on_units(scale, offset):
    """Scaling and shifting both samples alike changes nothing the detectors report."""
    rng = np.random.default_rng(8)
    ref, cur = rng.normal(size=(120, 5)), rng.normal(size=(120, 5)) + 0.3
    for m in ("mean", "wasserstein"):
        base = drift(ref, cur, [m], params={m: {"n_permutations": 19}})[0]
        moved = drift(ref * scale + offset, cur * scale + offset, [m],
                      params={m: {"n_permutations": 19}})[0]  # fmt: skip
        assert moved.score == pytest.approx(base.score, rel=1e-4, abs=1e-6)
        assert moved.p_value == base.p_value


def test_drift_result_round_trip():
    r = DriftResult("kl", np.float64(0.2), 0.1, True, None, {"a": np.arange(3), "b": np.nan})
    d = r.to_dict()
    assert d["details"] == {"a": [0, 1, 2], "b": None}
    assert isinstance(d["score"], float)


def test_classifier_takes_any_scikit_learn_estimator():
    from sklearn.neighbors import KNeighborsClassifier

    from roost.monitor.classifier import ClassifierDrift

    rng = np.random.default_rng(9)
    ref, cur = rng.normal(size=(300, 4)), rng.normal(size=(300, 4))
    cur[:, 0] = np.abs(cur[:, 0])  # one axis folded onto its positive half
    det = ClassifierDrift(estimator=KNeighborsClassifier(15))
    r = det.test(ref, cur)
    assert r.drifted and r.score > 0.6
    assert det.estimator.get_params()["n_neighbors"] == 15  # cloned, not fitted in place
    assert not hasattr(det.estimator, "classes_")
