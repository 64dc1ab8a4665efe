"""End to end: `tinyfuse build` on a tiny simulated factory config; the passes one by one."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest

from tinyfuse.apps.cli import main
from tinyfuse.core.errors import SpecError
from tinyfuse.core.tflm import inspect_tflite, reference_invoke
from tinyfuse.fusion.config import load_config, parse_config
from tinyfuse.fusion.report import missing_keys

TINY = """
name = "tiny-factory"
[data]
simulator = "factory"
options = { n_per_class = 8, n_machines = 4, audio_s = 0.5 }
test_fraction = 0.5
seed = 1
[[modalities]]
name = "vibration"
kind = "vibration"
n_bands = 16
n_envelope_bands = 8
[[modalities]]
name = "thermal"
kind = "image"
min_value = 15.0
max_value = 80.0
[[modalities]]
name = "audio"
kind = "audio"
duration_s = 0.5
hop_length = 512
[model]
classes = ["normal", "imbalance", "outer_race", "lubrication", "cavitation"]
width = 4
depth = 2
head_units = 8
[compression]
teacher_width_multiplier = 2.0
prune_fraction = 0.25
representative_samples = 16
[budget]
board = "nrf52840"
[train]
teacher_epochs = 4
student_epochs = 4
finetune_epochs = 2
search_epochs = 2
width_multipliers = [1.0]
[policy]
alert_classes = ["imbalance", "outer_race", "lubrication"]
"""


def test_build_cli_end_to_end(tmp_path, capsys):
    config_path = tmp_path / "app.toml"
    config_path.write_text(TINY)
    out = tmp_path / "bundle"
    assert main(["build", str(config_path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "tiny-factory: int8 accuracy" in printed and "fits nrf52840: True" in printed
    for name in ("model.tflite", "model_data.cc", "model_data.h", "bundle.json", "policy.json",
                 "report.json", "confusion.png", "summary.txt", "model_card.md"):
        assert (out / name).stat().st_size > 0, name
    report = json.loads((out / "report.json").read_text())
    assert missing_keys(report) == []
    assert report["data"]["split"] == "by group" and report["data"]["n_test"] > 0
    assert set(report["accuracy"]["per_modality"]) == {"vibration", "thermal", "audio"}
    assert 0 <= report["accuracy"]["baselines"]["logistic_regression"] <= 1
    assert set(report["accuracy"]["int8_metrics"]["per_class"]) == set(report["data"]["classes"])
    assert isinstance(report["accuracy"]["warnings"], list)
    assert "Balanced accuracy" in (out / "model_card.md").read_text()
    tflite = (out / "model.tflite").read_bytes()
    info = inspect_tflite(tflite)
    assert set(info.tensor_types) <= {"INT8", "INT32"}
    assert report["model"]["weights_bytes"] > 0 and report["model"]["tflm_arena_bytes"] > 0
    params = json.loads((out / "bundle.json").read_text())
    assert params["schema_version"] == 1 and params["tinyfuse_version"]
    assert params["bundle_hash"] == report["bundle_hash"]
    assert params["bundle_hash"] in (out / "model_data.h").read_text()
    by_name = {m["name"]: m for m in params["inputs"]}
    assert [t.name for t in info.inputs] == [m["name"] for m in params["inputs"]]
    assert all(m["scale"] > 0 for m in by_name.values())
    assert params["policy"]["alert_classes"] == ["imbalance", "outer_race", "lubrication"]
    zeros = [np.zeros(t.shape, np.int8) for t in info.inputs]
    assert reference_invoke(tflite, zeros)[0].shape == (1, 5)


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(SpecError, match="no such config"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.replace("teacher_epochs = 4", "teacher_epochs = 4\nspeed = 3"))
    with pytest.raises(SpecError, match=r"bad.toml: \[train\]: unknown keys \['speed'\]"):
        load_config(bad)
    bad.write_text(TINY.replace("teacher_epochs = 4", "teacher_epoch = 4"))
    with pytest.raises(SpecError, match=r"\['teacher_epoch'\] \(did you mean 'teacher_epochs'\?\)"):
        load_config(bad)
    bad.write_text(TINY.replace("[train]", "[trian]"))
    with pytest.raises(SpecError, match=r"top level: unknown keys \['trian'\] \(did you mean"):
        load_config(bad)
    with pytest.raises(SpecError, match="exactly one of"):
        parse_config({"data": {}, "modalities": [{"name": "a", "kind": "vector"}],
                      "model": {"classes": ["x", "y"]}})


def test_model_activation_applies_to_every_branch(tmp_path):
    path = tmp_path / "app.toml"
    path.write_text(TINY.replace("head_units = 8", 'head_units = 8\nactivation = "relu6"'))
    assert {b.activation for b in load_config(path).fusion.branches} == {"relu6"}
    path.write_text(TINY.replace("head_units = 8", 'head_units = 8\nactivation = "gelu"'))
    with pytest.raises(SpecError, match=r"app.toml: branch vibration.activation: 'gelu'"):
        load_config(path)


def test_bundled_app_configs_parse():
    from tinyfuse.apps.cli.demo import APPS, app_config_path

    for app in APPS:
        config = load_config(app_config_path(app))
        assert config.name == app and config.data.simulator == app


def _samples(n_groups: int, per_group: int):
    from tinyfuse.sensors.sources.base import LoadResult, Sample

    samples = tuple(
        Sample(data={"x": np.zeros(2, np.float32)}, label=("a", "b")[(g + i) % 2],
               group=f"p{g}", key=f"p{g}/{i}", source=f"mem:p{g}/{i}")
        for g in range(n_groups) for i in range(per_group))
    return LoadResult(samples=samples, name="mem")


def test_validation_groups_are_held_out_from_training():
    from tinyfuse.fusion.split import split_by_group

    result = _samples(10, 6)
    split = split_by_group(result, test_fraction=0.3, val_fraction=0.25, seed=0)
    groups = np.array([s.group for s in result.samples])
    parts = [set(groups[rows]) for rows in (split.train, split.val, split.test)]
    assert all(parts) and not parts[0] & parts[1] and not parts[0] & parts[2]
    assert not parts[1] & parts[2] and split.validation.startswith("held-out groups")
    assert len(split.train) + len(split.val) + len(split.test) == len(groups)


def test_too_few_groups_fall_back_to_held_out_rows():
    from tinyfuse.fusion.split import split_by_group

    result = _samples(3, 8)  # 2 training groups: none can be spared
    split = split_by_group(result, test_fraction=0.34, val_fraction=0.25, seed=0)
    assert split.validation.startswith("held-out rows")
    assert len(split.val) > 0 and not set(split.val) & set(split.train)


def test_passes_run_one_at_a_time(tmp_path):
    from tinyfuse.core.errors import TinyfuseError
    from tinyfuse.fusion.pipeline import PASSES, BuildState, run_passes, with_pass

    config = parse_config(tomllib.loads(TINY))
    state = BuildState(config=config, out_dir=tmp_path)
    with pytest.raises(TinyfuseError, match="'data' is not set"):
        PASSES[1].run(state)  # split before load
    run_passes(state, PASSES[:3])  # load, split, features
    assert state.base.modality_names == ("vibration", "thermal", "audio")
    assert len(state.labels) == len(state.data.samples) == 40  # 5 classes x 8
    rows = np.concatenate([state.split.train, state.split.val, state.split.test])
    assert sorted(rows.tolist()) == list(range(40))
    assert [x.shape[0] for x in state.prepared.x_train] == [len(state.split.train)] * 3
    assert list(tmp_path.iterdir()) == []  # nothing written before export
    names = [p.name for p in PASSES]
    assert names == ["load", "split", "features", "teacher", "search", "distill", "prune",
                     "quantize", "compare", "refit", "export", "report"]
    extra = with_pass(PASSES, PASSES[0], before="export")
    assert [p.name for p in extra][10:12] == ["load", "export"]
    with pytest.raises(TinyfuseError, match="no pass 'calibrated'"):
        with_pass(PASSES, PASSES[0], before="calibrated")


def test_the_apps_build_calibrates_before_export():
    from tinyfuse.apps.build import BUILD_PASSES

    names = [p.name for p in BUILD_PASSES]
    assert names.index("quantize") < names.index("calibrate") < names.index("refit") \
        < names.index("export")


def test_folder_data_takes_its_modality_from_the_config(tmp_path):
    from tinyfuse.core.errors import DataError
    from tinyfuse.fusion.config import DataSettings
    from tinyfuse.fusion.features import load_samples

    for label in ("hot", "cold"):
        (tmp_path / label / "p1").mkdir(parents=True)
        np.save(tmp_path / label / "p1" / "0.npy", np.zeros((4, 4), np.float32))
    settings = DataSettings(dataset="folder", options=(("groups", "folder"),))
    loaded = load_samples(settings, data_dir=str(tmp_path), modalities=("thermal",))
    assert {tuple(s.data) for s in loaded.samples} == {("thermal",)}
    assert {s.group for s in loaded.samples} == {"hot/p1", "cold/p1"}
    with pytest.raises(DataError, match=r"holds one modality; the config has \['a', 'b'\]"):
        load_samples(settings, data_dir=str(tmp_path), modalities=("a", "b"))
    with pytest.raises(DataError, match="bad loader option"):
        load_samples(DataSettings(dataset="folder", options=(("colour", 1),)),
                     data_dir=str(tmp_path), modalities=("thermal",))


def test_data_path_is_relative_to_the_config_file(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "recordings").mkdir()
    config = tmp_path / "conf" / "app.toml"
    body = TINY.replace('simulator = "factory"\noptions = { n_per_class = 8, n_machines = 4, '
                        'audio_s = 0.5 }', 'dataset = "folder"\npath = "../recordings"')
    config.write_text(body)
    assert load_config(config).data.path == str(tmp_path / "conf" / ".." / "recordings")
    config.write_text(body.replace("../recordings", "../missing"))
    with pytest.raises(SpecError, match=r"\[data\].path '../missing' is not a folder"):
        load_config(config)
