"""What the build does with data that favours a linear model, and with data that carries no
information: the linear student is deployed and the card says so; a collapsed model is
called out in the report, the card and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tinyfuse.apps.cli import main
from tinyfuse.fusion.baseline import C_GRID

APP = """
name = "{name}"

[data]
dataset = "folder"
path = "data"
options = {{ group_regex = "(?P<group>g[0-9]+)_" }}
test_fraction = 0.3
seed = 0

[[modalities]]
name = "process"
kind = "vector"
size = 6

[model]
classes = {classes}
width = 8
depth = 1
head_units = 8
blocks = {{ process = "dense" }}

[compression]
teacher_width_multiplier = 2.0
prune_fraction = 0.0
quantization = "int8"
representative_samples = 64

[budget]
board = "nrf52840"

[train]
teacher_epochs = 30
student_epochs = 30
patience = 6
augment = "off"
class_balance = {balance}
width_multipliers = [1.0]
"""


def _write_set(root: Path, rows: dict[str, np.ndarray], groups: int) -> None:
    for label, matrix in rows.items():
        folder = root / "data" / label
        folder.mkdir(parents=True)
        for index, row in enumerate(matrix):
            text = ",".join(f"{v:.5f}" for v in row)
            (folder / f"g{index % groups}_{index}.csv").write_text(text + "\n")


def _build(root: Path, name: str, classes: list[str], *, balance: bool = True):
    config = root / "app.toml"
    config.write_text(APP.format(name=name, classes=json.dumps(classes),
                                 balance=str(balance).lower()))
    out = root / "out"
    assert main(["build", str(config), "--out", str(out)]) == 0
    return json.loads((out / "report.json").read_text()), (out / "model_card.md").read_text()


def test_the_linear_student_wins_on_linear_data_and_the_card_says_so(tmp_path):
    rng = np.random.default_rng(0)
    direction = rng.normal(size=6)
    x = rng.normal(size=(240, 6))
    label = x @ direction > 0
    _write_set(tmp_path, {"low": x[~label], "high": x[label]}, groups=8)
    report, card = _build(tmp_path, "linear_wins", ["low", "high"])
    searched = {c["linear"]: c["val_balanced_accuracy_int8"] for c in report["search"]}
    assert set(searched) == {True, False}  # both trained, with the same recipe
    assert report["model"]["student"] == "linear"
    assert "Linear int8 model" in card
    (linear_row,) = [c for c in report["search"] if c["linear"]]
    assert linear_row["l2_c"] in C_GRID and report["model"]["l2_c"] in C_GRID
    assert f"C = {report['model']['l2_c']:g}, chosen by grouped inner" in card
    acc = report["accuracy"]
    assert acc["int8_metrics"]["balanced_accuracy"] >= \
        acc["baselines"]["logistic_regression_balanced_accuracy"] - 0.05
    assert not any("collapsed" in w for w in acc["warnings"])


def test_a_model_of_uninformative_data_is_called_out(tmp_path, capsys):
    rng = np.random.default_rng(1)  # labels independent of the features, 80 % one class
    _write_set(tmp_path, {"normal": rng.normal(size=(160, 6)),
                          "fault": rng.normal(size=(40, 6))}, groups=8)
    report, card = _build(tmp_path, "collapsed", ["normal", "fault"], balance=False)
    warnings = report["accuracy"]["warnings"]
    assert any("collapsed to one class" in w for w in warnings)
    assert any("not better than always answering the majority class" in w for w in warnings)
    assert "**Warning:** the int8 model answers" in card
    assert "WARNING: the int8 model answers" in capsys.readouterr().out


def test_constant_features_are_one_clear_error(tmp_path, capsys):
    _write_set(tmp_path, {"normal": np.zeros((40, 6)), "fault": np.zeros((40, 6))}, groups=8)
    config = tmp_path / "app.toml"
    config.write_text(APP.format(name="flat", classes='["normal", "fault"]', balance="true"))
    assert main(["build", str(config), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "every feature" in error[0] and "is constant" in error[0]


@pytest.mark.parametrize("field", ["ci95"])
def test_report_has_intervals_auc_and_per_group_rows(tmp_path, field):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(160, 6))
    _write_set(tmp_path, {"a": x[:80] + 1.5, "b": x[80:] - 1.5}, groups=8)
    report, card = _build(tmp_path, "reported", ["a", "b"])
    acc = report["accuracy"]
    low, high = acc["int8_metrics"][field]["balanced_accuracy"]
    assert low <= acc["int8_metrics"]["balanced_accuracy"] <= high
    assert 0.5 <= acc["int8_roc_auc"] <= 1.0
    assert acc["per_group"] and sum(r["n"] for r in acc["per_group"].values()) == \
        report["data"]["n_test"]
    assert "| test group |" in card and "95 % interval" in card
    assert report["model"]["footprint_source"].startswith("arm-none-eabi-gcc")
