"""apps.thresholds: calibration of an app policy on hand-checked validation scores, the
``[policy]`` table, the policy in the bundle (and its hash), the model card section, and
`tinyfuse run` picking the stored policy."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tinyfuse.apps.cli import main
from tinyfuse.apps.policy import Policy, template_policy
from tinyfuse.apps.runner import bundle_policy
from tinyfuse.apps.scoring import load_bundle
from tinyfuse.apps.thresholds import (
    CARD_HEADING,
    CalibrationTarget,
    calibrate_policy,
    centre_of_gap,
    model_card_section,
    wilson_interval,
)
from tinyfuse.core.errors import DataError, SpecError
from tinyfuse.fusion.config import PolicySettings, parse_config

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


APP = {"name": "x", "modalities": [{"name": "audio", "kind": "audio"}],
       "model": {"classes": ["normal", "fault"]}, "data": {"simulator": "cough"}}


def test_policy_table_of_the_app_toml():
    assert parse_config(APP).policy == PolicySettings()
    assert CalibrationTarget.of(PolicySettings()) == CalibrationTarget(target_recall=0.9)
    table = {"target_precision": 0.95, "alert_classes": ["fault", "ball"], "k": 2, "n": 3,
             "cooldown_s": 60.0, "hysteresis": 0.2, "on_level": 0.6}
    settings = parse_config({**APP, "policy": table}).policy
    assert CalibrationTarget.of(settings) == CalibrationTarget(target_precision=0.95)
    template = template_policy(settings, ("normal", "fault"))
    assert template.alert_classes == ("fault",) and (template.k, template.n) == (2, 3)
    assert template.on_levels == (0.6,) and template.off == pytest.approx((0.4,))
    assert template.confident == (0.8,) and template.cooldown_s == 60.0
    for bad, message in [({"target_recal": 0.9}, r"\[policy\]: unknown keys \['target_recal'"),
                         ({"target_recall": 0.9, "target_precision": 0.9},
                          "policy: give at most one"),
                         ({"period_s": 0}, "policy.period_s"),
                         ({"k": 4, "n": 3}, "policy.k, policy.n"),
                         ({"on_level": 1.5}, "policy.on_level")]:
        with pytest.raises(SpecError, match=message):
            parse_config({**APP, "policy": bad}, source="app.toml")


# --- stored in a real bundle -------------------------------------------------------------------

def posture_held_out():
    """Validation scores for the posture classes: three lying examples and five others."""
    lying = np.array([0.95, 0.85, 0.7, 0.4, 0.2, 0.1, 0.05, 0.0])
    rest = (1 - lying) / 3
    scores = np.stack([rest, rest, lying, rest], axis=1)
    return scores, np.array([2, 2, 2, 0, 1, 3, 0, 1])


POSTURE = PolicySettings(alert_classes=("lying",), k=2, n=3, cooldown_s=30.0)


ALL_OF_THEM = CalibrationTarget(target_recall=1.0)


def calibrate_into(folder, scores, labels, *, target=ALL_OF_THEM):
    """What the build's calibrate pass does, on a written bundle: calibrate its template
    policy and write the bundle again with it."""
    bundle = load_bundle(folder)
    result = calibrate_policy(template_policy(POSTURE, bundle.classes), scores, labels,
                              target=target)
    bundle.with_policy(result.policy).write(folder)
    return result


@pytest.fixture
def calibrated_dir(bundle_dir, tmp_path):
    folder = tmp_path / "bundle"
    shutil.copytree(bundle_dir, folder)
    return folder


def test_calibrated_policy_goes_into_the_bundle_and_its_hash(calibrated_dir):
    before = json.loads((calibrated_dir / "bundle.json").read_text())
    scores, labels = posture_held_out()
    result = calibrate_into(calibrated_dir, scores, labels)
    # recall 1.0 needs 0.7; the next lower lying score is 0.4: threshold 0.55
    assert result.policy.alert_classes == ("lying",)
    assert result.policy.on_levels == pytest.approx((0.55,))
    after = json.loads((calibrated_dir / "bundle.json").read_text())
    assert after.pop("policy") == result.policy.to_dict() != before.pop("policy")
    assert after.pop("bundle_hash") != before.pop("bundle_hash")
    assert after == before  # every other field unchanged
    assert result.to_dict()["n_validation"] == 8
    assert result.to_dict()["classes"][0]["recall_interval_95"][1] == 1.0
    bundle = load_bundle(calibrated_dir)
    assert bundle.policy == result.policy == bundle_policy(bundle)


def test_model_card_section():
    scores, labels = posture_held_out()
    classes = ("standing", "sitting", "lying", "empty")
    result = calibrate_policy(template_policy(POSTURE, classes), scores, labels,
                              target=CalibrationTarget(target_recall=1.0))
    card = model_card_section(result)
    assert card.startswith(f"{CARD_HEADING}\n")
    assert "8 samples" in card and "**recall >= 1**" in card
    assert "| lying | 0.550 | 0.450 | 0.800 | calibrated | 3 | 1.000 | 1.000 (0.44-1.00) |" \
        in card
    assert "**Caveat:** few validation examples (fewest: 3 of lying)" in card


def test_bad_stored_policy_names_the_file(calibrated_dir):
    path = calibrated_dir / "bundle.json"
    params = json.loads(path.read_text())
    params["policy"] = {**TEMPLATE.to_dict()}
    path.write_text(json.dumps(params))
    with pytest.raises(DataError, match=r"bundle.json: bundle.policy: its classes"):
        load_bundle(calibrated_dir)
    params["policy"] = {"classes": params["classes"], "alert_classes": ["lying"],
                        "on_levels": [0.5], "k": 4, "n": 3}
    path.write_text(json.dumps(params))
    with pytest.raises(DataError, match=r"bundle.json: policy.k: need 1 <= k <= n"):
        load_bundle(calibrated_dir)


def test_cli_run_uses_the_stored_policy_on_an_onset_stream(calibrated_dir, tmp_path, capsys):
    scores, labels = posture_held_out()
    stored = calibrate_into(calibrated_dir, scores, labels).policy
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
