"""Honest metrics: known answers, and the warnings for a collapsed or useless model."""

from __future__ import annotations

import numpy as np
import pytest

from tinyfuse.fusion.metrics import balanced_accuracy_error, class_metrics, warnings_for

CLASSES = ("normal", "fault", "other")


def test_known_answers():
    truth = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 0, 0, 1, 1, 0, 2, 2])
    m = class_metrics(truth, predicted, classes=CLASSES)
    assert m["accuracy"] == pytest.approx(6 / 8) and m["n"] == 8
    # recalls 3/4, 1/2, 1 -> balanced 0.75; precisions 3/4, 1/2, 1
    assert m["balanced_accuracy"] == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    fault = m["per_class"]["fault"]
    assert (fault["precision"], fault["recall"], fault["support"]) == (0.5, 0.5, 2)
    assert m["macro_f1"] == pytest.approx((0.75 + 0.5 + 1.0) / 3)


def test_a_collapsed_model_is_called_out():
    truth = np.array([0] * 8 + [1] * 2)
    majority_only = np.zeros(10, int)
    m = class_metrics(truth, majority_only, classes=CLASSES)
    assert m["accuracy"] == 0.8 and m["balanced_accuracy"] == pytest.approx(0.5)
    assert m["per_class"]["fault"]["precision"] is None
    found = warnings_for(m, classes=CLASSES, majority=0.8, linear=0.9)
    assert any("collapsed to one class" in w for w in found)
    assert any("not better than always answering the majority class" in w for w in found)
    assert any("below a logistic regression" in w for w in found)
    assert any("no sample of ['other']" in w for w in found)


def test_a_good_model_has_no_warning():
    truth = np.array([0, 1, 2, 0, 1, 2])
    m = class_metrics(truth, truth, classes=CLASSES)
    assert m["balanced_accuracy"] == m["macro_f1"] == 1.0
    assert warnings_for(m, classes=CLASSES, majority=1 / 3, linear=0.9) == []


def test_roc_auc_matches_counting_pairs():
    from tinyfuse.fusion.metrics import roc_auc

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 60)
    scores = rng.random(60)
    pairs = [(p > n) + 0.5 * (p == n) for p in scores[truth == 1] for n in scores[truth == 0]]
    probs = np.stack([1 - scores, scores], axis=1)
    assert np.isclose(roc_auc(truth, probs), np.mean(pairs))
    assert roc_auc(np.array([1, 1]), np.array([[0.2, 0.8], [0.3, 0.7]])) is None
    # three classes, perfect scores: every one-vs-rest AUC is 1
    assert roc_auc(np.array([0, 1, 2]), np.eye(3)) == 1.0


def test_intervals_contain_the_rate_and_narrow_with_more_samples():
    from tinyfuse.fusion.metrics import wilson_interval

    for rate, n in ((0.0, 10), (0.5, 10), (0.9, 1000), (1.0, 3)):
        low, high = wilson_interval(rate, n)
        assert 0.0 <= low <= rate <= high <= 1.0
    assert np.diff(wilson_interval(0.8, 1000)) < np.diff(wilson_interval(0.8, 50))
    metrics = class_metrics(np.array([0] * 50 + [1] * 50), np.array([0] * 45 + [1] * 55),
                            classes=["a", "b"])
    low, high = metrics["ci95"]["balanced_accuracy"]
    assert low < metrics["balanced_accuracy"] < high


def test_the_error_of_a_balanced_accuracy_is_set_by_its_rarest_class():
    # smoothed recalls (h + 1) / (n + 2): 6/11 of 9 and 2/4 of 2 -> known answer by hand
    r1, r2 = 6 / 11, 2 / 4
    expected = np.sqrt(r1 * (1 - r1) / 9 + r2 * (1 - r2) / 2) / 2
    assert balanced_accuracy_error([5, 1], [9, 2]) == pytest.approx(expected)
    assert balanced_accuracy_error([5, 1], [9, 2]) > 0.19  # a plain binomial on 11 gives 0.15
    assert balanced_accuracy_error([100, 100], [100, 100]) > 0.0  # perfect is not certain
    assert balanced_accuracy_error([990, 990], [1000, 1000]) < 0.005
    assert balanced_accuracy_error([], []) == 0.0


def test_per_group_table():
    from tinyfuse.fusion.metrics import per_group

    table = per_group(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]),
                      np.array(["A", "A", "B", "B"]))
    assert table["A"]["accuracy"] == 1.0 and table["B"]["accuracy"] == 0.5
    assert table["B"]["balanced_accuracy"] == 0.5 and table["A"]["n"] == 2
