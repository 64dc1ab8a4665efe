"""apps.thresholds: calibration of an app policy on hand-checked validation scores, what is
stored in the bundle, the model card section, and `tinyfuse run` picking the stored policy."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from apps.cli import main
from apps.policy import Policy
from apps.runner import app_policy, default_policy
from apps.scoring import load_bundle
from apps.thresholds import (
    CARD_HEADING,
    CalibrationTarget,
    calibrate_bundle,
    calibrate_policy,
    centre_of_gap,
    read_target,
    wilson_interval,
)
from sensors.errors import DataError, SpecError

CLASSES = ("normal", "fault", "other")
TEMPLATE = Policy(classes=CLASSES, alert_classes=("fault", "other"), on_levels=(0.5, 0.5),
                  off_levels=(0.4, 0.4), confident_levels=(0.8, 0.8), k=2, n=3,
                  cooldown_s=60.0)


def held_out():
    """Four ``fault`` examples scoring 0.9..0.6 and four ``normal`` ones, one of which
    (0.65) outscores the weakest fault; ``other`` never appears."""
    fault = np.array([0.9, 0.8, 0.7, 0.6, 0.65, 0.3, 0.2, 0.1])
    scores = np.stack([1 - fault, fault, np.zeros_like(fault)], axis=1)
    return scores, np.array([1, 1, 1, 1, 0, 0, 0, 0])


def test_centre_of_gap_known_answers():
    values = np.array([0.9, 0.8, 0.6, 0.3])
    assert centre_of_gap(values, 0.6) == pytest.approx(0.45)
    assert centre_of_gap(values, 0.9) == pytest.approx(0.85)
    assert centre_of_gap(values, 0.3) == 0.3  # nothing below
    assert centre_of_gap(values, 0.95) == 0.95  # above every score: never alerts


def test_wilson_interval_known_answers():
    low, high = wilson_interval(8, 8)
    assert (round(low, 4), high) == (0.6756, 1.0)
    low, high = wilson_interval(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(("target", "threshold", "precision", "recall"), [
    # calibrate picks 0.6 (all four faults); the gap below it reaches down to 0.3
    (CalibrationTarget(target_recall=1.0), 0.45, 0.8, 1.0),
    # calibrate picks 0.8 (two faults); the next lower score is 0.7
    (CalibrationTarget(target_recall=0.5), 0.75, 1.0, 0.5),
    # precision 1.0 first fails when 0.65 (normal) is raised: 0.7 is chosen, gap down to 0.65
    (CalibrationTarget(target_precision=1.0), 0.675, 1.0, 0.75),
])
def test_calibrated_levels_keep_the_app_shape(target, threshold, precision, recall):
    scores, labels = held_out()
    result = calibrate_policy(TEMPLATE, scores, labels, target=target)
    fault, other = result.classes
    assert (fault.label, fault.source, fault.positives) == ("fault", "calibrated", 4)
    assert fault.threshold == pytest.approx(threshold)
    assert (fault.precision, fault.recall) == pytest.approx((precision, recall))
    assert (other.source, other.threshold, other.positives) == (
        "default (no validation example)", 0.5, 0)
    rule = result.policy
    assert rule.on_levels == pytest.approx((threshold, 0.5))
    assert rule.off_levels == pytest.approx((threshold - 0.1, 0.4))  # same hysteresis gap
    assert rule.confident_levels == pytest.approx((max(threshold, 0.8), 0.8))
    assert (rule.k, rule.n, rule.cooldown_s) == (2, 3, 60.0)
    assert result.n_validation == 8 and result.small_sample


def test_unreachable_target_keeps_the_default_and_says_so():
    fault = np.array([0.9, 0.5, 0.4])
    scores = np.stack([1 - fault, fault, np.zeros(3)], axis=1)
    result = calibrate_policy(TEMPLATE, scores, np.array([0, 1, 1]),
                              target=CalibrationTarget(target_precision=1.0))
    fault_row = result.classes[0]
    assert (fault_row.source, fault_row.threshold) == ("default (target not met)", 0.5)
    assert (fault_row.precision, fault_row.recall) == pytest.approx((0.5, 0.5))


def test_a_level_that_raises_every_window_keeps_the_default():
    fault = np.array([0.3, 0.2, 0.1, 0.0])  # the faults score lowest: recall 1 needs 0.0
    scores = np.stack([1 - fault, fault, np.zeros(4)], axis=1)
    result = calibrate_policy(TEMPLATE, scores, np.array([0, 0, 1, 1]),
                              target=CalibrationTarget(target_recall=1.0))
    fault_row = result.classes[0]
    assert fault_row.source == "default (calibrated level raised every window)"
    assert fault_row.threshold == 0.5 and fault_row.recall == 0.0


def test_false_alarm_target_uses_the_validation_stream_length():
    scores, labels = held_out()
    # 8 windows 450 s apart = 1 hour: one false alarm allowed, so 0.6 (all faults, one normal)
    target = CalibrationTarget(max_false_alarms_per_hour=1.0, period_s=450.0)
    [fault, _] = calibrate_policy(TEMPLATE, scores, labels, target=target).classes
    assert fault.threshold == pytest.approx(0.45) and fault.recall == 1.0
    strict = CalibrationTarget(max_false_alarms_per_hour=0.0, period_s=450.0)
    [fault, _] = calibrate_policy(TEMPLATE, scores, labels, target=strict).classes
    assert fault.threshold == pytest.approx(0.675) and fault.precision == 1.0


def test_alert_classes_can_be_overridden():
    scores, labels = held_out()
    target = CalibrationTarget(target_recall=1.0, alert_classes=("fault",))
    result = calibrate_policy(TEMPLATE, scores, labels, target=target)
    assert result.policy.alert_classes == ("fault",)
    assert result.policy.on_levels == pytest.approx((0.45,))


def test_read_target(tmp_path):
    path = tmp_path / "app.toml"
    path.write_text('name = "x"\n')
    assert read_target(path) == CalibrationTarget(target_recall=0.9)
    path.write_text("[policy]\ntarget_precision = 0.95\nalert_classes = ['fault']\n")
    assert read_target(path) == CalibrationTarget(target_precision=0.95,
                                                  alert_classes=("fault",))
    path.write_text("[policy]\ntarget_recal = 0.9\n")
    with pytest.raises(SpecError, match=r"app.toml: \[policy\]: unknown keys \['target_recal'"):
        read_target(path)
    path.write_text("[policy]\ntarget_recall = 0.9\ntarget_precision = 0.9\n")
    with pytest.raises(SpecError, match=r"app.toml: \[policy\] policy: give exactly one"):
        read_target(path)
    path.write_text("[policy]\nmax_false_alarms_per_hour = 1\nperiod_s = 0\n")
    with pytest.raises(SpecError, match=r"app.toml: \[policy\] policy.period_s"):
        read_target(path)


# --- stored in a real bundle -------------------------------------------------------------------

def posture_held_out():
    """Validation scores for the posture classes: three lying examples and five others."""
    lying = np.array([0.95, 0.85, 0.7, 0.4, 0.2, 0.1, 0.05, 0.0])
    rest = (1 - lying) / 3
    scores = np.stack([rest, rest, lying, rest], axis=1)
    return scores, np.array([2, 2, 2, 0, 1, 3, 0, 1])


@pytest.fixture
def calibrated_dir(bundle_dir, tmp_path):
    folder = tmp_path / "bundle"
    shutil.copytree(bundle_dir, folder)
    (folder / "model_card.md").write_text("# Model card: posture\n\n## Decision threshold\n"
                                          "Argmax.\n")
    return folder


def test_calibrate_bundle_stores_policy_without_touching_the_rest(calibrated_dir):
    before = json.loads((calibrated_dir / "params.json").read_text())
    assert load_bundle(calibrated_dir).policy is None
    scores, labels = posture_held_out()
    result = calibrate_bundle(calibrated_dir, scores, labels,
                              target=CalibrationTarget(target_recall=1.0))
    # recall 1.0 needs 0.7; the next lower lying score is 0.4: threshold 0.55
    assert result.policy.alert_classes == ("lying",)
    assert result.policy.on_levels == pytest.approx((0.55,))
    after = json.loads((calibrated_dir / "params.json").read_text())
    assert after.pop("policy") == result.policy.to_dict()
    assert after == before  # spec_hash and every other field unchanged
    stored = json.loads((calibrated_dir / "policy.json").read_text())
    assert stored["policy"] == result.policy.to_dict() and stored["n_validation"] == 8
    assert stored["classes"][0]["recall_interval_95"][1] == 1.0
    bundle = load_bundle(calibrated_dir)
    assert bundle.policy == result.policy == default_policy(bundle)
    assert app_policy(bundle).on_levels == (0.5,)  # the uncalibrated app default


def test_model_card_section_is_written_once(calibrated_dir):
    scores, labels = posture_held_out()
    for _ in range(2):
        calibrate_bundle(calibrated_dir, scores, labels,
                         target=CalibrationTarget(target_recall=1.0))
    card = (calibrated_dir / "model_card.md").read_text()
    assert card.startswith("# Model card: posture\n\n## Decision threshold\nArgmax.\n")
    assert card.count(f"\n{CARD_HEADING}\n") == 1
    assert "8 samples" in card and "**recall >= 1**" in card
    assert "| lying | 0.550 | 0.450 | 0.800 | calibrated | 3 | 1.000 | 1.000 (0.44-1.00) |" \
        in card
    assert "**Caveat:** few validation examples (fewest: 3 of lying)" in card


def test_bad_stored_policy_names_the_file(calibrated_dir):
    path = calibrated_dir / "params.json"
    params = json.loads(path.read_text())
    params["policy"] = {**TEMPLATE.to_dict()}
    path.write_text(json.dumps(params))
    with pytest.raises(DataError, match=r"params.json: policy classes \['normal'"):
        load_bundle(calibrated_dir)
    params["policy"] = {"classes": params["classes"], "alert_classes": ["lying"],
                        "on_levels": [0.5], "k": 4, "n": 3}
    path.write_text(json.dumps(params))
    with pytest.raises(DataError, match=r"params.json: policy.k: need 1 <= k <= n"):
        load_bundle(calibrated_dir)


def test_cli_run_uses_the_stored_policy_on_an_onset_stream(calibrated_dir, tmp_path, capsys):
    scores, labels = posture_held_out()
    stored = calibrate_bundle(calibrated_dir, scores, labels,
                              target=CalibrationTarget(target_recall=1.0)).policy
    out = tmp_path / "run"
    code = main(["run", str(calibrated_dir), "--out", str(out), "--stream", "onsets",
                 "--per-class", "18", "--period-s", "10", "--drop-modality", "depth@120",
                 "--scorer", "tflite"])
    assert code == 0
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["policy_source"] == "calibrated" and summary["policy"] == stored.to_dict()
    # six people, each 3 windows standing then 3 lying; the depth camera fails at t=120 s
    assert summary["n_steps"] == 36 and summary["steps_with_missing_modality"] == 24
    assert {a["label"] for a in summary["alerts"]} == {"lying"}
    missing = [a for a in summary["alerts"] if a["missing"]]
    assert missing and len(missing) < len(summary["alerts"])
    assert all(a["time_s"] >= 120 and a["answered_by"] == "auto-confirm" for a in missing)
    printed = capsys.readouterr().out
    assert "calibrated policy (lying 0.550; 2 of 3, cooldown 30 s)" in printed
    lines = [json.loads(line) for line in
             (out / "confirm" / "asked.jsonl").read_text().splitlines()]
    assert [line["alert_id"] for line in lines] == [a["alert_id"] for a in missing]
    assert "modalities missing: depth" in lines[0]["question"]
    assert f"asked: {lines[0]['question']}" in printed
