"""apps.policy: known-answer streams, calibration on hand-checked scores, Hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyfuse.apps.policy import (
    Policy,
    calibrate,
    initial_state,
    policy_from_calibration,
    run_policy,
    step,
)
from tinyfuse.core.errors import DataError, SpecError

CLASSES = ("normal", "fault")


def stream(values, *, period_s: float = 1.0):
    """(n, 2) scores with ``fault`` = values, and their times."""
    fault = np.asarray(values, np.float64)
    return np.stack([1.0 - fault, fault], axis=1), [i * period_s for i in range(len(fault))]


def policy(**changes) -> Policy:
    base = {"classes": CLASSES, "alert_classes": ("fault",), "on_levels": (0.5,)}
    base.update(changes)
    return Policy(**base)


# --- known answers --------------------------------------------------------------------------

def test_single_hit_decides_once_per_rising_edge():
    scores, times = stream([0.1, 0.7, 0.8, 0.2, 0.9])
    decisions = run_policy(policy(), scores, times_s=times)
    assert [(d.time_s, d.label, d.hits) for d in decisions] == [(1.0, "fault", 1),
                                                                (4.0, "fault", 1)]
    assert decisions[0].scores == pytest.approx((0.3, 0.7))


def test_k_of_n_needs_k_hits_inside_the_window():
    rule = policy(k=2, n=3)
    scores, times = stream([0.6, 0.1, 0.6])
    assert [d.time_s for d in run_policy(rule, scores, times_s=times)] == [2.0]
    scores, times = stream([0.6, 0.1, 0.1, 0.6])  # the two hits are 4 apart: never 2 in 3
    assert run_policy(rule, scores, times_s=times) == []


def test_hysteresis_keeps_an_event_alive_between_off_and_on():
    values = [0.7, 0.5, 0.45, 0.7, 0.3, 0.7]
    scores, times = stream(values)
    with_band = run_policy(policy(on_levels=(0.6,), off_levels=(0.4,)), scores, times_s=times)
    without = run_policy(policy(on_levels=(0.6,)), scores, times_s=times)
    assert [d.time_s for d in with_band] == [0.0, 5.0]  # 0.5, 0.45, 0.7 are one event
    assert [d.time_s for d in without] == [0.0, 3.0, 5.0]


def test_cooldown_suppresses_a_second_event_of_the_same_class():
    scores, times = stream([0.9, 0.1, 0.9, 0.1, 0.9, 0.1, 0.9], period_s=2.0)
    decisions = run_policy(policy(cooldown_s=5.0), scores, times_s=times)
    assert [d.time_s for d in decisions] == [0.0, 8.0]  # 4.0 is 4 s after 0.0: suppressed


def test_uncertain_band_and_missing_modality_ask_a_person():
    rule = policy(on_levels=(0.6,), confident_levels=(0.8,))
    state, decision = step(rule, initial_state(rule), [0.3, 0.7], now_s=0.0)
    assert decision.needs_confirmation and decision.reason.startswith("uncertain")
    _, confident = step(rule, initial_state(rule), [0.1, 0.9], now_s=0.0)
    assert not confident.needs_confirmation and confident.reason == "confident"
    _, degraded = step(rule, initial_state(rule), [0.1, 0.9], now_s=0.0, missing=("audio",))
    assert degraded.needs_confirmation and degraded.missing == ("audio",)
    assert "audio" in degraded.reason


def test_simultaneous_rise_goes_to_the_class_furthest_above_its_level():
    rule = Policy(classes=("ok", "a", "b"), alert_classes=("a", "b"), on_levels=(0.3, 0.2))
    state, decision = step(rule, initial_state(rule), [0.2, 0.35, 0.45], now_s=0.0)
    assert decision.label == "b"
    assert state.active == (True, True)  # "a" is part of the same event: no second decision
    _, again = step(rule, state, [0.2, 0.35, 0.45], now_s=1.0)
    assert again is None


def test_bad_specs_and_inputs_name_the_field():
    with pytest.raises(SpecError, match="off_levels"):
        policy(on_levels=(0.5,), off_levels=(0.6,))
    with pytest.raises(SpecError, match="confident_levels"):
        policy(on_levels=(0.5,), confident_levels=(0.4,))
    with pytest.raises(SpecError, match="alert_classes.*'fire'"):
        policy(alert_classes=("fire",))
    with pytest.raises(SpecError, match="policy.k"):
        policy(k=3, n=2)
    with pytest.raises(SpecError, match="cooldown_s"):
        policy(cooldown_s=-1.0)
    with pytest.raises(SpecError, match="on_levels"):
        policy(on_levels=(0.5, 0.6))
    with pytest.raises(DataError, match="expected 2 finite scores"):
        step(policy(), initial_state(policy()), [0.1, 0.2, 0.7], now_s=0.0)
    with pytest.raises(DataError, match="finite"):
        step(policy(), initial_state(policy()), [0.1, float("nan")], now_s=0.0)


def test_policy_json_roundtrip():
    rule = policy(off_levels=(0.4,), confident_levels=(0.7,), k=2, n=4, cooldown_s=30.0)
    assert Policy.from_dict(rule.to_dict()) == rule
    with pytest.raises(SpecError, match="unknown fields"):
        Policy.from_dict({**rule.to_dict(), "colour": "red"})


# --- calibration ----------------------------------------------------------------------------

POSITIVE = [0.9, 0.8, 0.7, 0.6]
NEGATIVE = [0.65, 0.3, 0.2, 0.1]


def held_out():
    fault = np.array(POSITIVE + NEGATIVE)
    labels = np.array([1] * 4 + [0] * 4)
    return np.stack([1 - fault, fault], axis=1), labels


@pytest.mark.parametrize(("target", "threshold", "precision", "recall"), [
    ({"target_recall": 0.5}, 0.8, 1.0, 0.5),
    ({"target_recall": 1.0}, 0.6, 0.8, 1.0),
    ({"target_precision": 1.0}, 0.7, 1.0, 0.75),
    ({"target_precision": 0.8}, 0.6, 0.8, 1.0),
    ({"max_false_alarms_per_hour": 1.0, "duration_s": 3600.0}, 0.6, 0.8, 1.0),
    ({"max_false_alarms_per_hour": 0.0, "duration_s": 3600.0}, 0.7, 1.0, 0.75),
    ({"max_false_alarms_per_hour": 2.0, "duration_s": 1800.0}, 0.6, 0.8, 1.0),
])
def test_calibrate_known_answers(target, threshold, precision, recall):
    scores, labels = held_out()
    result = calibrate(scores, labels, classes=CLASSES, alert_classes=("fault",), **target)
    assert result.thresholds == pytest.approx((threshold,))
    assert result.precision == pytest.approx((precision,))
    assert result.recall == pytest.approx((recall,))
    assert result.met == (True,)


def test_false_alarm_rate_is_reported_per_hour():
    scores, labels = held_out()
    result = calibrate(scores, labels, classes=CLASSES, alert_classes=("fault",),
                       max_false_alarms_per_hour=1.0, duration_s=1800.0)
    assert result.thresholds == pytest.approx((0.7,))  # half an hour allows 0 false alarms
    assert result.false_alarms_per_hour == (0.0,)


def test_unreachable_precision_never_alerts_and_says_so():
    fault = np.array([0.9, 0.5, 0.4])
    scores = np.stack([1 - fault, fault], axis=1)
    result = calibrate(scores, np.array([0, 1, 1]), classes=CLASSES, alert_classes=("fault",),
                       target_precision=1.0)
    assert result.met == (False,)
    assert result.thresholds[0] > 0.9
    assert math.isnan(result.precision[0]) and result.recall == (0.0,)
    assert result.to_dict()["precision"] == [None]


def test_calibrate_rejects_bad_requests():
    scores, labels = held_out()
    with pytest.raises(SpecError, match="exactly one"):
        calibrate(scores, labels, classes=CLASSES, target_recall=0.5, target_precision=0.5)
    with pytest.raises(SpecError, match="duration_s"):
        calibrate(scores, labels, classes=CLASSES, max_false_alarms_per_hour=1.0)
    with pytest.raises(DataError, match="no held-out example"):
        calibrate(scores, np.zeros(8, int), classes=CLASSES, target_recall=0.5)
    with pytest.raises(DataError, match=r"\(n_samples, 3\)"):
        calibrate(scores, labels, classes=("a", "b", "c"), target_recall=0.5)


def test_policy_from_calibration_sets_hysteresis_and_band():
    scores, labels = held_out()
    result = calibrate(scores, labels, classes=CLASSES, alert_classes=("fault",),
                       target_recall=1.0)
    rule = policy_from_calibration(result, classes=CLASSES, hysteresis=0.1,
                                   confident_margin=0.2, k=2, n=3, cooldown_s=60.0)
    assert rule.on_levels == pytest.approx((0.6,))
    assert rule.off_levels == pytest.approx((0.5,))
    assert rule.confident_levels == pytest.approx((0.8,))
    assert (rule.k, rule.n, rule.cooldown_s) == (2, 3, 60.0)


# --- properties -----------------------------------------------------------------------------

unit = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def policies(draw):
    on = draw(st.floats(0.05, 0.95))
    off = on - draw(st.floats(0.0, 0.3))
    n = draw(st.integers(1, 5))
    return policy(on_levels=(on,), off_levels=(off,), k=draw(st.integers(1, n)), n=n,
                  cooldown_s=draw(st.sampled_from([0.0, 1.0, 5.0, 30.0])))


@settings(max_examples=60, deadline=None)
@given(rule=policies(), value=unit, length=st.integers(1, 40))
def test_constant_score_never_flaps(rule, value, length):
    state, flips, decisions = initial_state(rule), 0, 0
    for t in range(length):
        before = state.active
        state, decision = step(rule, state, [1 - value, value], now_s=float(t))
        flips += state.active != before
        decisions += decision is not None
    assert flips <= 1 and decisions <= 1


@settings(max_examples=60, deadline=None)
@given(rule=policies(), values=st.lists(unit, min_size=1, max_size=60),
       gaps=st.lists(st.floats(0.1, 3.0), min_size=60, max_size=60))
def test_cooldown_bounds_the_alert_rate(rule, values, gaps):
    times = np.cumsum([0.0, *gaps])[: len(values)]
    scores, _ = stream(values)
    decided = [d.time_s for d in run_policy(rule, scores, times_s=times)]
    assert all(b - a >= rule.cooldown_s for a, b in zip(decided, decided[1:], strict=False))
    if rule.cooldown_s > 0:
        span = times[-1] - times[0]
        assert len(decided) <= math.floor(span / rule.cooldown_s) + 1


@settings(max_examples=60, deadline=None)
@given(rule=policies(), values=st.lists(unit, min_size=1, max_size=60))
def test_every_decision_has_k_hits_in_its_window(rule, values):
    scores, times = stream(values)
    for decision in run_policy(rule, scores, times_s=times):
        end = int(decision.time_s) + 1
        window = values[max(0, end - rule.n): end]
        hits = sum(v >= rule.on_levels[0] for v in window)
        assert hits >= rule.k and decision.hits == hits


@settings(max_examples=60, deadline=None)
@given(positive=st.lists(unit, min_size=1, max_size=30),
       negative=st.lists(unit, min_size=1, max_size=30), goal=st.floats(0.05, 1.0))
def test_calibrated_thresholds_meet_their_targets(positive, negative, goal):
    fault = np.array(positive + negative)
    scores = np.stack([1 - fault, fault], axis=1)
    labels = np.array([1] * len(positive) + [0] * len(negative))
    by_recall = calibrate(scores, labels, classes=CLASSES, alert_classes=("fault",),
                          target_recall=goal)
    assert by_recall.recall[0] >= goal - 1e-9
    by_precision = calibrate(scores, labels, classes=CLASSES, alert_classes=("fault",),
                             target_precision=goal)
    if by_precision.met[0]:
        assert by_precision.precision[0] >= goal - 1e-9
    rate = goal * 10
    by_rate = calibrate(scores, labels, classes=CLASSES, alert_classes=("fault",),
                        max_false_alarms_per_hour=rate, duration_s=3600.0)
    false_alarms = int(((fault >= by_rate.thresholds[0]) & (labels == 0)).sum())
    assert false_alarms <= math.floor(rate + 1e-9)


def test_app_policy_keeps_the_alert_classes_the_model_has():
    from tinyfuse.apps.policy import template_policy
    from tinyfuse.fusion.config import PolicySettings

    settings = PolicySettings(alert_classes=("imbalance", "ball", "inner_race"), on_level=0.6,
                              k=2, n=3, cooldown_s=60.0)
    policy = template_policy(settings, ("normal", "ball", "inner_race"))
    assert policy.alert_classes == ("ball", "inner_race")
    assert policy.on_levels == (0.6, 0.6) and policy.off_levels == pytest.approx((0.5, 0.5))
    assert policy.confident_levels == (0.8, 0.8)


def test_app_policy_alerts_on_every_class_when_none_is_known(caplog):
    from tinyfuse.apps.policy import template_policy
    from tinyfuse.fusion.config import PolicySettings

    policy = template_policy(PolicySettings(alert_classes=("cough",), cooldown_s=10.0),
                             ("negative", "positive"))
    assert policy.alert_classes == ("negative", "positive")
    assert "every class alerts" in caplog.text
