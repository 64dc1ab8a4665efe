"""`tinyfuse build`: a real (tiny, ~15 s) build on simulated posture frames; the decision
thresholds are calibrated on the validation split and stored in the bundle before it is
written (one hash in bundle.json, report.json and model_data.h), and a bad [policy] table
fails before any training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinyfuse.apps.cli import main
from tinyfuse.apps.runner import bundle_policy
from tinyfuse.apps.scoring import load_bundle
from tinyfuse.apps.thresholds import CARD_HEADING

TINY_APP = """
name = "posture"

[data]
simulator = "posture"
options = { n_per_class = 8, n_people = 4 }
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

[model]
classes = ["standing", "sitting", "lying", "empty"]
width = 4
depth = 1
head_units = 8

[compression]
teacher_width_multiplier = 1.0
prune_fraction = 0.0
quantization = "int8"
representative_samples = 16

[budget]
board = "rp2040"

[train]
teacher_epochs = 20
student_epochs = 20
finetune_epochs = 1
quantize_epochs = 1
width_multipliers = [1.0]

[policy]
alert_classes = ["lying"]
k = 2
n = 3
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("build")
    (root / "app.toml").write_text(TINY_APP)
    out = root / "out"
    code = main(["build", str(root / "app.toml"), "--out", str(out)])
    return code, out


def test_build_writes_one_bundle_with_the_calibrated_policy(built):
    code, out = built
    assert code == 0
    params = json.loads((out / "bundle.json").read_text())
    bundle = load_bundle(out)
    assert params["bundle_hash"] == bundle.bundle_hash
    assert json.loads((out / "report.json").read_text())["bundle_hash"] == bundle.bundle_hash
    assert f'"{bundle.bundle_hash}"' in (out / "model_data.h").read_text()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no temps
    stored = json.loads((out / "policy.json").read_text())
    assert params["policy"] == stored["policy"]
    assert stored["target"] == "recall >= 0.9"  # the default target
    assert (stored["policy"]["k"], stored["policy"]["n"]) == (2, 3)
    [lying] = stored["classes"]
    assert lying["label"] == "lying" and lying["positives"] >= 1
    assert lying["source"] == "calibrated" and lying["recall"] >= 0.9  # recall is always met
    assert bundle.policy is not None and bundle_policy(bundle) == bundle.policy
    assert bundle.policy.on_levels == pytest.approx((lying["threshold"],))
    assert np.isfinite(bundle.policy.on_levels).all()


def test_build_appends_decision_thresholds_to_the_model_card(built):
    _, out = built
    card = (out / "model_card.md").read_text()
    assert card.startswith("# Model card: posture")
    assert card.count(f"\n{CARD_HEADING}\n") == 1
    n_validation = json.loads((out / "policy.json").read_text())["n_validation"]
    assert f"Calibrated on the validation split ({n_validation} samples" in card
    assert "| lying |" in card and "**Caveat:** few validation examples" in card


def test_bad_policy_table_fails_before_training(tmp_path, capsys):
    (tmp_path / "app.toml").write_text(TINY_APP + "target_recall = 0.9\n"
                                       "target_precision = 0.9\n")
    code = main(["build", str(tmp_path / "app.toml"), "--out", str(tmp_path / "out")])
    assert code == 2
    assert "app.toml: policy: give at most one of" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
