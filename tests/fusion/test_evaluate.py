"""`tinyfuse evaluate`: grouped cross-validation of the build's passes on a tiny simulated
posture config (every group tested once per repeat, never trained on in its fold), and the
refit pass."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest

from tinyfuse.apps.cli import main
from tinyfuse.fusion.config import parse_config
from tinyfuse.fusion.evaluate import fold_passes, fold_split

TINY = """
name = "posture"
[data]
simulator = "posture"
options = { n_per_class = 4, n_people = 4 }
test_fraction = 0.25
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
height = 8
width = 8
min_value = 0.0
max_value = 5.0
[model]
classes = ["standing", "sitting", "lying", "empty"]
width = 4
depth = 1
head_units = 8
[model.branches.depth]
block = "dense"
width = 6
[compression]
teacher_width_multiplier = 1.0
prune_fraction = 0.0
quantization = "int8"
representative_samples = 16
[budget]
board = "rp2040"
[train]
teacher_epochs = 2
student_epochs = 2
finetune_epochs = 1
search_epochs = 1
quantize_epochs = 1
width_multipliers = [1.0]
branch_selection = false
[evaluate]
folds = 2
repeats = 2
by_meta = "person"
"""


def test_fold_split_keeps_groups_whole():
    groups = np.repeat([f"p{i}" for i in range(6)], 3)
    labels = np.tile([0, 1, 2], 6)
    split = fold_split(groups, labels, np.arange(6), val_fraction=0.25, seed=0)
    assert split.test.tolist() == list(range(6))
    parts = [set(groups[rows]) for rows in (split.train, split.val, split.test)]
    assert not parts[0] & parts[2] and not parts[1] & parts[2] and not parts[0] & parts[1]
    assert [p.name for p in fold_passes()] == ["features", "teacher", "search", "distill",
                                               "prune", "quantize", "compare", "refit"]


def test_evaluate_cli_cross_validates_the_build(tmp_path, capsys):
    path = tmp_path / "app.toml"
    path.write_text(TINY)
    assert main(["evaluate", str(path), "--out", str(tmp_path / "eval")]) == 0
    result = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert result["n_samples"] == 16 and result["n_groups"] == 4
    assert result["n_test_answers"] == 32  # every sample tested once in each of 2 repeats
    assert len(result["folds"]) == 4 and sum(f["n_test"] for f in result["folds"]) == 32
    acc = result["accuracy"]
    assert acc["int8_engine"] == "tflite_micro" and 0 <= acc["student_int8"] <= 1
    assert acc["int8_minus_float_points"] == pytest.approx(
        100 * (acc["student_int8"] - acc["student_float"]))
    assert set(result["per_modality_int8"]) == {"thermal", "depth"}
    assert set(result["baselines"]) == {
        "majority", "logistic_regression", "logistic_regression_balanced_accuracy",
        "teacher_float_balanced_accuracy", "student_float_balanced_accuracy"}
    assert np.asarray(result["int8_confusion"]).sum() == 32
    assert result["footprint"]["weights_bytes"] > 0
    assert "4 groups" in capsys.readouterr().out
    assert (tmp_path / "eval" / "fold0_model.tflite").read_bytes()[4:8] == b"TFL3"


def test_refit_trains_again_on_train_and_validation(tmp_path):
    config = parse_config(tomllib.loads(TINY.replace("width_multipliers = [1.0]",
                                                     "width_multipliers = [1.0]\nrefit = true")))
    from tinyfuse.apps.build import build

    result, calibrated = build(config, tmp_path / "out")
    assert result.report["refit_on_train_and_validation"] is True
    assert result.bundle.policy == calibrated.policy  # calibrated before the refit
    assert result.report["data"]["n_train"] + result.report["data"]["n_test"] == 16
    assert "**Refit.**" in (tmp_path / "out" / "model_card.md").read_text()
    assert result.report["accuracy"]["validation"]["note"].startswith("measured on the validation")
