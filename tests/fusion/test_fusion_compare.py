"""Fusion against its parts: the variants, the branch-selection and fusion-type candidates of
the search, and a build on co-recorded data where each fault shows in one sensor family only,
so that fusion must beat every branch and the useless branch is reported (and may be
dropped)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.sensors.test_sources_skab import write_experiment
from tinyfuse.apps.cascade import calibrate_threshold, cascade_predictions
from tinyfuse.apps.cli import main
from tinyfuse.fusion.compare import comparison, variants, verdicts
from tinyfuse.fusion.search import candidate_grid
from tinyfuse.fusion.spec import FusionSpec
from tinyfuse.sensors.spec import ModalitySpec, VectorSpec


def _spec(names=("a", "b", "c")) -> FusionSpec:
    return FusionSpec(modalities=tuple(ModalitySpec(name=n, frontend=VectorSpec(size=4))
                                       for n in names), classes=("no", "yes"), head_units=8)


def test_only_and_early_keep_the_inputs_and_the_capacity():
    spec = _spec()
    alone = spec.only(["b"])
    assert alone.modality_names == ("b",) and alone.branches == (spec.branch("b"),)
    early = spec.early()
    assert early.modality_names == spec.modality_names
    assert all(b.block == "linear" for b in early.branches) and not early.is_linear
    assert early.head_units == sum(b.width for b in spec.branches)
    with pytest.raises(Exception, match="none of"):
        spec.only(["z"])


def test_variants_and_the_search_grid():
    spec = _spec()
    names = list(variants(spec))
    assert names == ["late", "gated", "early", "a only", "b only", "c only", "linear"]
    assert variants(_spec(("a",))) == {}
    grid = candidate_grid(spec, width_multipliers=(1.0,), linear=True, drop_branches=True,
                          fusions=("concat", "gated"))
    assert [(g.modality_names, g.fusion, g.is_linear) for g in grid] == [
        (("a", "b", "c"), "concat", False), (("a", "b", "c"), "gated", False),
        (("b", "c"), "concat", False), (("a", "c"), "concat", False),
        (("a", "b"), "concat", False), (("a", "b", "c"), "concat", True)]


def test_the_gate_threshold_keeps_the_target_recall():
    scores = np.array([0.05, 0.1, 0.4, 0.8, 0.9, 0.95])
    events = np.array([0, 0, 1, 1, 1, 1], bool)
    for target in (0.5, 0.75, 1.0):
        threshold = calibrate_threshold(scores, events, target)
        assert np.mean(scores[events] >= threshold) >= target
        assert np.mean(scores[events] > threshold) < target  # the highest such threshold
    assert calibrate_threshold(scores, np.zeros(6, bool), 0.9) == 0.0
    woken = cascade_predictions(scores, 0.5, np.array([2, 2, 1, 1, 3, 3]), quiet=0)
    assert woken.tolist() == [0, 0, 0, 1, 3, 3]


def test_energy_of_a_decision_adds_sensing_and_instructions():
    from tinyfuse.apps import energy

    chip = energy.mcu("nrf52840")
    assert chip.joules_per_instruction == pytest.approx(156e-12)
    microphone, capture_s = energy.sensor_of({"kind": "audio", "duration_s": 0.5})
    assert capture_s == 0.5
    assert energy.sensing_joules(microphone, capture_s, period_s=1.0, on=True) == \
        pytest.approx(1.4e-3 * 3.3 * 0.5)
    assert energy.sensing_joules(microphone, capture_s, period_s=1.0, on=False) == 0.0
    assert energy.sensor_of({"kind": "vector", "size": 4}) == (None, 0.0)


def test_verdicts_name_the_best_branch_and_fusion():
    probs = {"late": [0.9, 0.1, 0.8, 0.2], "a only": [0.9, 0.1, 0.4, 0.4],
             "b only": [0.4, 0.6, 0.8, 0.2]}  # score of "no"; truth no, yes, no, yes
    truth = np.array([0, 1, 0, 1])

    class Scores:
        def __init__(self, first):
            p = np.array(first)[:, None]
            self.val = self.test = np.hstack([p, 1 - p])

    result = comparison({k: Scores(v) for k, v in probs.items()}, y_val=truth, y_test=truth,
                        classes=("no", "yes"))
    assert result["variants"]["late"]["test"]["balanced_accuracy"] == 1.0
    assert result["best_fusion"] == "late" and result["best_branch"] == "a only"
    assert result["fusion_gain_points"] == pytest.approx(25.0)
    assert verdicts({"late": result["variants"]["late"]}) == {}


APP = """
name = "pump"

[data]
dataset = "skab"
path = "data"
test_fraction = 0.3
seed = 0

[data.options]
window_rows = 10
hop_rows = 5
baseline_rows = 30
modalities = ["vibration", "hydraulic", "thermal"]

{modalities}

[model]
classes = ["normal", "anomaly"]
width = 8
depth = 1
head_units = 8
blocks = {{ vibration = "dense", hydraulic = "dense", thermal = "dense" }}
dropout = 0.0
modality_dropout = 0.2

[compression]
teacher_width_multiplier = 2.0
quantization = "int8"
representative_samples = 64

[budget]
board = "nrf52840"

[policy]
alert_classes = ["anomaly"]

[train]
teacher_epochs = 25
student_epochs = 25
patience = 5
augment = "off"
width_multipliers = [1.0]
compare_fusion = true

[cascade]
gate = "hydraulic"
target_recall = 0.9
"""


def _pump_set(root, seed=0):
    """Valve faults drop the pressure (hydraulic only); imbalance raises the vibration
    (vibration only); the thermocouple never says anything."""
    rng = np.random.default_rng(seed)
    level = np.array([0.2, 0.27, 2.0, 1.0, 80.0, 26.0, 230.0, 120.0])
    noise = np.array([0.001, 0.001, 0.3, 0.02, 0.3, 0.01, 10.0, 0.4])
    kinds = {"valve1": (3, -0.1), "valve2": (7, -4.0), "other": (0, 0.006)}
    for folder, (column, step) in kinds.items():
        for index in range(3):
            rows = level + rng.normal(size=(120, 8)) * noise
            rows[60:, column] += step
            write_experiment(root / "data" / folder / f"{index}.csv", rows,
                             np.arange(120) >= 60)


def test_fusion_beats_every_branch_on_complementary_sensors(tmp_path, capsys):
    _pump_set(tmp_path)
    blocks = "\n".join(f'[[modalities]]\nname = "{m}"\nkind = "vector"\nsize = 20\n'
                       for m in ("vibration", "hydraulic", "thermal"))
    (tmp_path / "app.toml").write_text(APP.format(modalities=blocks))
    out = tmp_path / "out"
    assert main(["build", str(tmp_path / "app.toml"), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    fusion = report["fusion"]
    table = {name: row["test"]["balanced_accuracy"] for name, row in
             fusion["variants"].items()}
    assert set(table) == {"late", "gated", "early", "vibration only", "hydraulic only",
                          "thermal only", "linear"}
    assert fusion["best_branch"] in ("vibration only", "hydraulic only")
    assert fusion["fusion_gain_points"] > 5.0, table
    assert table["thermal only"] < 0.7, table
    assert json.loads((out / "fusion.json").read_text()) == fusion
    card = (out / "model_card.md").read_text()
    assert "## Fusion against its parts" in card and "beats the best single branch" in card
    searched = {tuple(c["modalities"]) for c in report["search"]}
    assert ("vibration", "hydraulic") in searched  # branch selection tried without thermal
    assert set(report["model"]["dropped_branches"]) <= {"thermal"}
    if report["model"]["dropped_branches"]:
        assert "**Branches dropped:** thermal" in card
    printed = capsys.readouterr().out
    assert "fusion against its parts" in printed and "best fusion" in printed
    cascade = json.loads((out / "cascade.json").read_text())
    assert report["cascade"] == cascade and "## Energy-aware cascade" in card
    assert cascade["stages"]["full_model"] > cascade["stages"]["gate_model"] > 0
    curve = cascade["curve"]
    assert curve[0]["wake_fraction"] == 1.0 and curve[-1]["wake_fraction"] == 0.0
    energies = [p["energy_uj"] for p in curve]
    assert energies == sorted(energies, reverse=True)  # waking less never costs more
    assert cascade["always_on"]["saving"] == 0.0 and 0 <= cascade["chosen"]["saving"] <= 1
    assert "cascade (hydraulic gate" in printed


def test_cross_validation_pools_the_variants_with_recall_per_fault(tmp_path, capsys):
    _pump_set(tmp_path, seed=1)
    blocks = "\n".join(f'[[modalities]]\nname = "{m}"\nkind = "vector"\nsize = 20\n'
                       for m in ("vibration", "hydraulic", "thermal"))
    text = APP.format(modalities=blocks).replace("teacher_epochs = 25", "teacher_epochs = 12")
    text = text.replace("student_epochs = 25", "student_epochs = 12\nbranch_selection = false")
    (tmp_path / "app.toml").write_text(
        text + '\n[evaluate]\nfolds = 2\nrepeats = 1\nby_meta = "fault"\n')
    out = tmp_path / "out"
    assert main(["evaluate", str(tmp_path / "app.toml"), "--out", str(out)]) == 0
    result = json.loads((out / "evaluation.json").read_text())
    variants = result["fusion"]["variants"]
    assert all(row["test"]["n"] == result["n_test_answers"] for row in variants.values())
    faults = variants["hydraulic only"]["by_meta"]
    assert set(faults) == {"valve1", "valve2", "other"}
    anomaly = 1  # class index of "anomaly"
    # the hydraulic branch sees the valve faults and misses the vibration one
    assert faults["valve2"]["recall"][anomaly] > faults["other"]["recall"][anomaly]
    assert "best fusion" in capsys.readouterr().out


def test_a_branch_is_dropped_only_when_validation_says_it_hurts():
    from tinyfuse.fusion.search import CandidateResult, Footprint, _keep_branches_that_help

    cost = Footprint(weights_bytes=1, arena_bytes=1, macs=1, flash_bytes=1, ram_bytes=1,
                     source="test")
    spec = _spec()
    full = CandidateResult(spec=spec, cost=cost, fits=True, accuracy=0.80, error=0.1)
    worse = CandidateResult(spec=spec.only(["a", "b"]), cost=cost, fits=True, accuracy=0.75,
                            error=0.1)
    level = CandidateResult(spec=spec.only(["b", "c"]), cost=cost, fits=True, accuracy=0.88,
                            error=0.1)
    clear = CandidateResult(spec=spec.only(["a", "c"]), cost=cost, fits=True, accuracy=0.95,
                            error=0.1)
    everyone = [full, worse, level, clear]
    kept = _keep_branches_that_help(everyone, everyone)
    assert kept == [full, clear]  # better by less than the noise is not enough to drop one


def test_a_cascade_gate_must_be_a_modality():
    import tomllib
    from pathlib import Path

    from tinyfuse.core.errors import SpecError
    from tinyfuse.fusion.config import parse_config

    app = Path(__file__).resolve().parents[2] / "apps" / "factory" / "app.toml"
    table = tomllib.loads(app.read_text())
    assert parse_config(table).cascade.gate == "vibration"
    table["cascade"]["gate"] = "sound"
    with pytest.raises(SpecError, match=r"\[cascade\].gate: 'sound' is not one of"):
        parse_config(table)
    table["cascade"] = {"gate": "vibration", "target_recall": 1.5}
    with pytest.raises(SpecError, match="cascade.target_recall"):
        parse_config(table)
