"""Real-data loaders on ../shared/datasets (skipped when it is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from tinyfuse.sensors.sources import (
    detect_dataset,
    load_ceiling_fan,
    load_coswara,
    load_covid_cough,
    load_cwru,
    load_dataset,
    load_thermal_d6t,
    load_urfd,
)

pytestmark = pytest.mark.realdata

EMPTY_COSWARA = "9XKj7fAmvwPUas9GFPZuTpev7T03"  # its three wavs are header-only (44 bytes)


def test_detect_every_set(datasets_dir):
    for name in ("coswara_20200413", "covid19_cough", "thermal_d6t_posture",
                 "urfd_depth_features", "cwru_0hp", "ceiling_fan"):
        assert detect_dataset(datasets_dir / name) == name


def test_coswara_skips_empty_and_keeps_good(datasets_dir):
    result = load_coswara(datasets_dir / "coswara_20200413")
    assert result.counts_by_class() == {"breathing": 66, "cough": 68, "counting": 67}
    assert len(result.counts_by_group()) == 69
    empty = [s for s in result.skipped if EMPTY_COSWARA in s.path]
    assert len(empty) == 3 and all("no audio frames" in s.reason for s in empty)
    assert all("near-silent" in s.reason or "no audio" in s.reason or "too short" in s.reason
               for s in result.skipped)
    assert len(result) + len(result.skipped) == 228
    sample = result.samples[0]
    assert sample.data["audio"].dtype == np.float32 and sample.meta_value("sample_rate_hz") == 16000


def test_coswara_participant_join(datasets_dir):
    root = datasets_dir / "coswara_20200413"
    dropped = load_coswara(root, mode="participant", limit=30)
    kept = load_coswara(root, mode="participant", missing="keep", limit=30)
    assert dropped.modalities == ("breathing", "cough", "counting")
    assert all(not s.missing for s in dropped)
    assert len(kept) > len(dropped)
    partial = [s for s in kept if s.missing]
    assert partial and all(set(s.data) | set(s.missing) ==
                           {"breathing", "cough", "counting"} for s in partial)
    assert any("dropped: missing" in s.reason for s in dropped.skipped)


def test_covid_cough_limit_keeps_native_rate_and_source(datasets_dir):
    import soundfile

    result = load_covid_cough(datasets_dir / "covid19_cough", limit=15)
    assert result.counts_by_class() == {"negative": 15, "positive": 15}
    for sample in result.samples[:5]:
        assert sample.meta_value("sample_rate_hz") == soundfile.info(sample.source).samplerate
        assert sample.data["audio"].dtype == np.float32 and sample.data["audio"].ndim == 1
    assert {s.meta_value("source") for s in result} <= {"call-center", "telegram"}
    assert len(result.counts_by_group()) == 30


def test_thermal_frames_in_celsius_grouped_by_volunteer(datasets_dir):
    result = load_thermal_d6t(datasets_dir / "thermal_d6t_posture", limit=1)
    assert len(result.classes) == 16 and not result.skipped
    frames = result.stack("thermal")
    assert frames.shape[1:] == (4, 4) and 10.0 < frames.mean() < 40.0
    assert set(result.counts_by_group()) <= {"A", "B", "C", "D", "E", "none"}
    assert {s.meta_value("room") for s in result} == {"bedroom", "bathroom"}
    assert result.notes[0].startswith("dropped")


def test_urfd_sequences(datasets_dir):
    result = load_urfd(datasets_dir / "urfd_depth_features")
    assert len(result) == 11544 and len(result.counts_by_group()) == 70
    assert result.classes == ("falling", "lying", "not_lying")
    assert result.stack("depth_features").shape == (11544, 8)
    train, test = result.group_split(test_fraction=0.3, seed=0)
    assert not {s.group for s in train} & {s.group for s in test}


def test_cwru_windows_and_time_split(datasets_dir):
    result = load_cwru(datasets_dir / "cwru_0hp", window_s=0.25)
    assert result.counts_by_class() == {"ball": 160, "inner_race": 160, "normal": 20,
                                        "outer_race": 280}
    assert result.samples[0].data["vibration"].shape == (3000, 1)
    train, test = result.time_split(test_fraction=0.3)
    assert len(train) > 2 * len(test) > 0
    assert max(s.meta_value("end_fraction") for s in train) <= 0.7 + 1e-9
    both = load_cwru(datasets_dir / "cwru_0hp", channels=("DE", "FE"), limit=2)
    assert both.samples[0].data["vibration"].shape == (3000, 2)
    assert sorted(s.path.split("/")[-1] for s in both.skipped) == ["B028_0.mat", "IR028_0.mat"]


def test_ceiling_fan_labels_and_deploy(datasets_dir):
    result = load_ceiling_fan(datasets_dir / "ceiling_fan", limit=5)
    assert result.counts_by_class() == {"imbalance": 15, "moved": 5, "normal": 20}
    assert result.samples[0].data["vibration"].shape == (200, 3)
    deploy = load_dataset("ceiling_fan", datasets_dir / "ceiling_fan", split="deploy", limit=3)
    assert deploy.counts_by_class() == {"unknown": 3}


def test_cwru_selects_motor_loads_and_channels(datasets_dir):
    from tinyfuse.core.errors import DataError
    from tinyfuse.sensors.sources import load_cwru

    loaded = load_cwru(datasets_dir / "cwru_0hp", limit=1, loads_hp=(0,), channels=("DE",),
                       channel_names=("drive_end",))
    assert {s.meta_value("load_hp") for s in loaded.samples} == {0}
    assert {tuple(s.data) for s in loaded.samples} == {("drive_end",)}
    with pytest.raises(DataError, match=r"no recording at motor load\(s\) \[2\] hp"):
        load_cwru(datasets_dir / "cwru_0hp", loads_hp=(2,))


def test_group_by_groups_and_labels_work_with_any_loader(datasets_dir):
    from tinyfuse.core.errors import DataError

    root = datasets_dir / "ceiling_fan"
    loaded = load_dataset("auto", root, limit=4, group_by="speed", keep_groups="low,high",
                          keep_labels=["normal", "imbalance"])
    assert {(s.group, s.label) for s in loaded.samples} == {
        ("low", "normal"), ("low", "imbalance"), ("high", "normal"), ("high", "imbalance")}
    assert len(loaded.samples) == 16  # 4 windows of each of the 4 recordings kept
    with pytest.raises(DataError, match=r"group_by='room'.*meta keys: \[.*'speed'"):
        load_dataset("auto", root, limit=1, group_by="room")
    per_file = load_dataset("auto", root, limit=2, group_by="file")
    by_recording = load_dataset("auto", root, limit=2)
    assert [s.group for s in per_file.samples] == [s.source for s in per_file.samples]
    assert len({s.group for s in by_recording.samples}) * 2 == len(per_file.samples)
    with pytest.raises(DataError, match=r"keep_groups=\['fast'\]: \['fast'\] not among"):
        load_dataset("auto", root, limit=1, group_by="speed", keep_groups=["fast"])
