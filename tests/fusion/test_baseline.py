"""The logistic regression baseline and the linear student's L2 strength, chosen by group."""

from __future__ import annotations

import numpy as np
import pytest

from tinyfuse.fusion.baseline import choose_c, flatten, logistic_weights


def _many_features_few_recordings(seed: int, n: int = 60, d: int = 2000):
    """A small mean shift spread over 2,000 noisy features, three rows per recording."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    x = rng.normal(size=(n, d)) + (labels[:, None] - 0.5) * 0.25
    return x, labels, np.arange(n) // 3


def test_many_features_and_few_recordings_ask_for_strong_regularisation():
    x, labels, groups = _many_features_few_recordings(0)
    assert choose_c([x], labels, groups) < 1.0


def test_a_clean_low_dimensional_task_keeps_c_1():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    labels = (x[:, 0] > 0.8).astype(int)
    assert choose_c([x], labels, np.arange(400) // 10) == 1.0


def test_without_three_groups_there_is_nothing_to_choose():
    x, labels, _ = _many_features_few_recordings(0)
    assert choose_c([x], labels, np.zeros(len(labels))) == 1.0
    assert choose_c([x], labels, np.arange(len(labels)) % 2) == 1.0


def test_the_folded_layer_reproduces_the_standardised_regression():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    parts = [rng.normal(2.0, 3.0, size=(120, 4, 2)), rng.normal(-1.0, 0.5, size=(120, 5))]
    labels = rng.integers(0, 3, size=120)
    kernel, bias = logistic_weights(parts, labels, 3, c=0.1, balanced=False)
    x = flatten(parts)
    reference = LogisticRegression(C=0.1, max_iter=2000).fit(
        (x - x.mean(0)) / x.std(0), labels)
    np.testing.assert_allclose(x @ kernel + bias,
                               reference.decision_function((x - x.mean(0)) / x.std(0)),
                               rtol=1e-6, atol=1e-6)


def test_a_strongly_regularised_student_keeps_its_argmax_and_int8_resolution():
    from tinyfuse.fusion.train import LOGIT_SPREAD, _readable_in_int8

    x, labels, _ = _many_features_few_recordings(0)
    kernel, bias = logistic_weights([x], labels, 3, c=1e-4)  # class 2 absent: bias -20
    before = x @ kernel + bias
    assert np.std(before[:, :2] - before[:, :2].mean(1, keepdims=True)) < 0.2
    kernel, bias = _readable_in_int8(kernel, bias, [x])
    after = x @ kernel + bias
    np.testing.assert_array_equal(after.argmax(1), before.argmax(1))
    spread = np.std(after[:, :2] - after[:, :2].mean(1, keepdims=True))
    assert spread == pytest.approx(LOGIT_SPREAD)
