"""Report pieces: per-layer summary snapshot, confusion matrix, required keys, model card."""

from __future__ import annotations

import numpy as np

from tinyfuse.fusion.metrics import confusion_matrix, write_confusion_png
from tinyfuse.fusion.model import build_model
from tinyfuse.fusion.report import (
    fused_gain,
    layer_rows,
    missing_keys,
    model_card,
    summary,
)

from .conftest import make_spec

SNAPSHOT = """\
layer                  type                 output          params      MACs   act B
thermal_reshape        Reshape              [8, 8, 1]            0         0      64
thermal_conv0          Conv2D               [4, 4, 4]           40       576      64
thermal_dw1            DepthwiseConv2D      [4, 4, 4]           40       576      64
vec_dense0             Dense                [4]                 36        32       4
thermal_pw1            Conv2D               [4, 4, 4]           20       256      64
thermal_pool           AveragePooling2D     [1, 1, 4]            0        64       4
thermal_features       Flatten              [4]                  0         0       4
vec_gate               Dense                [4]                 20        16       4
thermal_gate           Dense                [4]                 20        16       4
vec_gated              Multiply             [4]                  0         4       4
thermal_gated          Multiply             [4]                  0         4       4
fusion                 Concatenate          [8]                  0         0       8
head                   Dense                [8]                 72        64       8
logits                 Dense                [3]                 27        24       3
probs                  Softmax              [3]                  0         0       3
total: 275 params, 1632 MACs, largest activation 64 B"""


def test_summary_snapshot():
    model = build_model(make_spec(fusion="gated"))
    text = summary(model)
    assert sorted(text.splitlines()[1:-1]) == sorted(SNAPSHOT.splitlines()[1:-1])
    assert text.splitlines()[-1] == SNAPSHOT.splitlines()[-1]
    assert sum(r.params for r in layer_rows(model)) == model.count_params()


def test_confusion_matrix_and_png(tmp_path):
    matrix = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), n_classes=3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    path = tmp_path / "cm.png"
    write_confusion_png(matrix, ("a", "b", "c"), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_required_keys_and_model_card():
    report = {
        "accuracy": {"teacher_float": 0.9, "student_float": 0.85, "student_int8": 0.84,
                     "per_modality": {"a": 0.7, "b": 0.6},
                     "fused_gain_over_best_branch": fused_gain(0.84, {"a": 0.7, "b": 0.6})},
        "model": {"weights_bytes": 1, "flash_bytes": 2, "ram_peak_bytes": 3,
                  "tflm_arena_bytes": 4, "macs": 5, "tflite_sha256": "00"},
        "data": {"dataset": "sim", "split": "by group", "n_train": 10, "n_test": 5,
                 "classes": ["x", "y"]},
    }
    assert missing_keys(report) == []
    assert np.isclose(report["accuracy"]["fused_gain_over_best_branch"], 0.14)
    card = model_card(report)
    assert "beats every single branch" in card and "by group" in card
    del report["model"]["macs"]
    assert missing_keys(report) == ["model.macs"]
