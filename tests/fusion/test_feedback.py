"""The feedback loop: alerts people answer are kept as labelled examples
(``apps.confirm.FeedbackRecorder``, the format of ``fusion.feedback``), and ``tinyfuse build
--feedback DIR`` folds them into the next build with a report of what they changed.

The round trip runs the session's tiny posture bundle (``bundle_dir``) on simulated people with
a sensitive "lying" threshold and a file confirmation hook whose person answers from the true
posture (false alarms dismissed), adds a corrupt file, an example of another sensor set and one
recorded by another bundle, then builds a tiny posture config with the folder (one ~20 s
build)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from tinyfuse.apps.alerts import LocalOutbox
from tinyfuse.apps.cli import main
from tinyfuse.apps.confirm import (
    Confirmations,
    FeedbackRecorder,
    FileConfirm,
    apply_answer,
    expire,
    raise_alert,
)
from tinyfuse.apps.policy import Decision
from tinyfuse.apps.runner import bundle_policy, episodes, replay, run_stream
from tinyfuse.apps.scoring import TfliteScorer, load_bundle
from tinyfuse.core.errors import DataError
from tinyfuse.fusion.feedback import (
    FORMAT,
    dismissal_label,
    load_feedback,
    part_of,
    read_example,
    write_example,
)
from tinyfuse.sensors.simulate import simulate_posture
from tinyfuse.sensors.spec import ImageSpec, ModalitySpec

CLASSES = ("standing", "sitting", "lying", "empty")
QUIET = ("standing", "sitting", "empty")

TINY = """
name = "posture"
[data]
simulator = "posture"
options = { n_per_class = 12, n_people = 6 }
test_fraction = 0.34
seed = 0
[[modalities]]
name = "thermal"
kind = "image"
sensor = "thermal"
height = 8
width = 8
min_value = 15.0
max_value = 40.0
[[modalities]]
name = "depth"
kind = "image"
sensor = "depth"
height = 16
width = 16
min_value = 0.0
max_value = 4.0
[model]
classes = ["standing", "sitting", "lying", "empty"]
width = 4
depth = 1
blocks = { thermal = "dense", depth = "dense" }
head_units = 8
modality_dropout = 0.2
[compression]
teacher_width_multiplier = 1.0
prune_fraction = 0.0
representative_samples = 16
[budget]
board = "rp2040"
[train]
teacher_epochs = 3
student_epochs = 3
finetune_epochs = 1
search_epochs = 1
width_multipliers = [1.0]
[policy]
alert_classes = ["lying"]
"""


def _decision(label: str = "lying", scores=(0.3, 0.1, 0.5, 0.1), time_s: float = 4.0):
    return Decision(label=label, score=scores[CLASSES.index(label)], time_s=time_s,
                    classes=CLASSES, scores=tuple(scores), hits=1, needs_confirmation=True,
                    reason="test")


def _window(rng):
    return {"thermal": rng.uniform(18, 30, (8, 8)).astype(np.float32),
            "depth": rng.uniform(0.5, 3.5, (16, 16)).astype(np.float32)}


class _Sample:
    def __init__(self, data):
        self.data, self.source, self.group, self.meta = data, "simulated:test", "p1", ()


def test_a_dismissal_is_labelled_with_the_normal_class_scored_highest():
    assert dismissal_label("lying", classes=CLASSES, quiet=QUIET,
                           scores=(0.3, 0.1, 0.5, 0.1)) == "standing"
    assert dismissal_label("lying", classes=CLASSES, quiet=("sitting",),
                           scores=(0.3, 0.1, 0.5, 0.1)) == "sitting"
    assert dismissal_label("lying", classes=CLASSES, quiet=(), scores=(0, 0, 1, 0)) == ""


def test_parts_are_stable_and_about_the_fractions():
    parts = [part_of(f"posture-{i}", test_fraction=0.3, val_fraction=0.2) for i in range(2000)]
    assert parts == [part_of(f"posture-{i}", test_fraction=0.3, val_fraction=0.2)
                     for i in range(2000)]
    share = {p: parts.count(p) / len(parts) for p in ("train", "val", "test")}
    assert abs(share["test"] - 0.3) < 0.04 and abs(share["val"] - 0.14) < 0.04


def test_recorder_keeps_what_a_person_answered_and_drops_the_rest(tmp_path, rng):
    recorder = FeedbackRecorder(tmp_path, quiet_classes=QUIET, modalities=("thermal", "depth"))
    answers = {"a-confirm": "confirm", "a-dismiss": "dismiss", "a-expire": None,
               "a-auto": "auto"}
    kept = {}
    for alert_id, answer in answers.items():
        alert = dataclasses.replace(raise_alert(_decision(), alert_id=alert_id, app="posture",
                                                device="fused", bundle_hash="ab" * 32),
                                    state="awaiting")
        window = _window(rng)
        recorder.hold(alert, sample=_Sample(window), features={"thermal": window["thermal"],
                                                              "depth": None},
                      int8={"thermal": np.zeros((1, 8, 8), np.int8)})
        assert (tmp_path / "pending" / f"{alert_id}.npz").is_file()
        if answer is None:
            final = expire(alert, now_s=9.0)
        else:
            final = apply_answer(alert, "confirm" if answer != "dismiss" else "dismiss",
                                 now_s=6.0, by="auto-confirm" if answer == "auto" else "file")
        kept[alert_id] = recorder.settle(final)
        assert not (tmp_path / "pending" / f"{alert_id}.npz").exists()
        kept[alert_id + "-window"] = window
    assert kept["a-expire"] is None and kept["a-auto"] is None
    confirmed, dismissed = read_example(kept["a-confirm"]), read_example(kept["a-dismiss"])
    assert confirmed.meta["label"] == "lying" and confirmed.meta["answer"] == "confirm"
    assert dismissed.meta["label"] == "standing" and dismissed.meta["answer"] == "dismiss"
    assert dismissed.meta["format"] == FORMAT and dismissed.meta["bundle_hash"] == "ab" * 32
    np.testing.assert_array_equal(dismissed.raw["depth"], kept["a-dismiss-window"]["depth"])
    assert set(dismissed.features) == {"thermal"} and dismissed.int8["thermal"].dtype == np.int8


def test_bad_files_are_one_line_errors_naming_the_file(tmp_path, rng):
    modalities = (ModalitySpec(name="thermal", frontend=ImageSpec(min_value=15.0,
                                                                  max_value=40.0)),)
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 not a zip at all")
    np.savez(tmp_path / "pickled.npz", meta=np.array([{"a": 1}], dtype=object))
    np.savez(tmp_path / "old.npz", meta=np.array(json.dumps({"format": "other/0"})))
    meta = {"app": "posture", "label": "lying", "alert_id": "x"}
    write_example(tmp_path / "audio.npz", meta=meta, raw={"audio": np.zeros(800, np.float32)})
    write_example(tmp_path / "shape.npz", meta=meta, raw={"thermal": np.zeros(5, np.float32)})
    write_example(tmp_path / "app.npz", meta={**meta, "app": "cough"},
                  raw={"thermal": _window(rng)["thermal"]})
    write_example(tmp_path / "label.npz", meta={**meta, "label": "fallen"},
                  raw={"thermal": _window(rng)["thermal"]})
    write_example(tmp_path / "good.npz", meta=meta, raw={"thermal": _window(rng)["thermal"]})
    found = load_feedback(tmp_path, app="posture", modalities=modalities, classes=CLASSES)
    assert [s.source for s in found.samples] == [str(tmp_path / "good.npz")]
    assert found.samples[0].group == "feedback" and found.samples[0].label == "lying"
    assert len(found.skipped) == 7
    for line, name in zip(found.skipped, ("app", "audio", "corrupt", "label", "old", "pickled",
                                          "shape"), strict=True):
        assert line.startswith(str(tmp_path / f"{name}.npz")) and "\n" not in line, line
    with pytest.raises(DataError, match="no such folder"):
        load_feedback(tmp_path / "nope", app="posture", modalities=modalities, classes=CLASSES)


def _answered_run(bundle_dir, folder, tmp_path):
    """The tiny bundle on three new people; "lying" alerts at a sensitive level, every one
    asked; the person answers each from the true posture."""
    bundle = load_bundle(bundle_dir)
    policy = dataclasses.replace(bundle_policy(bundle), on_levels=(0.05,), off_levels=(0.02,),
                                 confident_levels=(1.0,), k=1, n=1, cooldown_s=0.0)
    samples = episodes(simulate_posture(n_per_class=16, n_people=3, seed=21).samples, seed=1,
                       min_length=1, max_length=3)
    truth = {float(i): s.label for i, s in enumerate(samples)}

    class Person(FileConfirm):
        def request(self, alert):
            super().request(alert)
            right = truth[alert.decision.time_s] == alert.decision.label
            (self.folder / "answers" / alert.alert_id).write_text(
                "confirm" if right else "dismiss")

    recorder = FeedbackRecorder(folder, quiet_classes=QUIET, modalities=bundle.modalities)
    result = run_stream(replay(samples), scorer=TfliteScorer(bundle), policy=policy,
                        sink=LocalOutbox(tmp_path / "outbox"), device="fused",
                        confirmations=Confirmations(Person(tmp_path / "confirm")),
                        feedback=recorder)
    return bundle, result.summary()


@pytest.mark.slow
def test_feedback_round_trip(bundle_dir, tmp_path, capsys):
    folder = tmp_path / "feedback"
    bundle, summary = _answered_run(bundle_dir, folder, tmp_path)
    states = summary["alerts_by_state"]
    answered = states.get("confirmed", 0) + states.get("dismissed", 0)
    # both answers occur (how many of each depends on the tiny model's mistakes)
    assert states.get("dismissed", 0) >= 1 and states.get("confirmed", 0) >= 1
    assert len(summary["feedback_examples"]) == answered
    # three bad files, and one example recorded by another bundle
    (folder / "corrupt.npz").write_bytes(b"\x00" * 64)
    write_example(folder / "vibration.npz", meta={"app": "posture", "label": "lying"},
                  raw={"vibration": np.zeros((256, 3), np.float32)})
    first = read_example(summary["feedback_examples"][0])
    meta = {k: v for k, v in first.meta.items() if k != "format"}
    write_example(folder / "zz-other-bundle.npz", meta={**meta, "bundle_hash": "cd" * 32},
                  raw=first.raw)
    config, out = tmp_path / "app.toml", tmp_path / "build"
    config.write_text(TINY)
    out.mkdir()
    for name in ("bundle.json", "model.tflite"):  # the bundle this build replaces
        shutil.copy(bundle_dir / name, out / name)
    assert main(["build", str(config), "--out", str(out), "--feedback", str(folder)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    info = report["feedback"]
    assert info["n_files"] == answered + 3 and info["n_used"] == answered + 1
    assert info["n_skipped"] == 2 and all(line.startswith(str(folder)) for line in
                                          info["skipped"])
    assert sum(info["by_part"].values()) == info["n_used"]
    expected = {"confirm": states.get("confirmed", 0), "dismiss": states.get("dismissed", 0)}
    expected[first.meta["answer"]] += 1
    assert {k: v for k, v in info["by_answer"].items() if v} == \
        {k: v for k, v in expected.items() if v}
    assert info["previous_bundle"] == bundle.bundle_hash and info["bundle_hash_mismatches"] == 1
    assert info["recorded_with"] == {bundle.bundle_hash[:16]: answered, "cd" * 8: 1}
    effect = info["effect"]
    for name in ("validation_balanced_accuracy_linear_without_feedback",
                 "validation_balanced_accuracy_linear_with_feedback",
                 "validation_balanced_accuracy_new_int8",
                 "validation_balanced_accuracy_new_int8_base_rows"):
        assert 0.0 <= effect[name] <= 1.0, name
    held = info["by_part"]["val"] + info["by_part"]["test"]
    assert effect["held_out_examples"] == held
    if held:
        assert 0.0 <= effect["held_out_accuracy_new_int8"] <= 1.0
        assert 0.0 <= effect["held_out_accuracy_recording_bundle"] <= 1.0
    assert report["data"]["n_train"] + report["data"]["n_val"] + report["data"]["n_test"] == \
        48 + info["n_used"]
    assert "feedback examples apart, by alert id" in report["data"]["validation"]
    card = (out / "model_card.md").read_text()
    assert "## Field feedback" in card and "## Drift monitoring" in card
    assert json.loads((out / "feedback.json").read_text())["n_used"] == info["n_used"]
    assert load_bundle(out).drift is not None and set(report["drift"]) == {"thermal", "depth"}
    assert f"feedback: {info['n_used']} of {info['n_files']} examples used" in printed
    print(json.dumps({"alerts": states, "feedback": {k: info[k] for k in (
        "n_files", "n_used", "n_skipped", "by_part", "by_answer", "by_label",
        "bundle_hash_mismatches")}, "effect": effect}, indent=1))
