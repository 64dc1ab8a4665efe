"""Smoke tests of the real-data benchmark tasks on tiny subsets (skipped without the data).

They check what the JSON results rely on: shapes match the modality specs, labels index the
classes, and no group (volunteer, participant, sequence, recording) sits on both sides of a
split; plus the leading-silence trim and the baselines on known answers.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench import baselines
from bench.tasks import TASKS
from bench.tasks.common import trim_leading_silence
from bench.tasks.posture import coarse_thermal

pytestmark = pytest.mark.realdata


def _check_shapes(task) -> None:
    for modality in task.modalities:
        for features, labels in ((task.x_train, task.y_train), (task.x_test, task.y_test)):
            array = features[modality.name]
            assert array.shape == (len(labels), *modality.output_shape)
            assert array.dtype == np.float32 and np.isfinite(array).all()
    assert task.y_train.min() >= 0 and task.y_test.max() < len(task.classes)


def test_posture_thermal_splits_by_volunteer(datasets_dir):
    task = TASKS["posture_thermal"](datasets_dir, limit=1, use_cache=False)
    _check_shapes(task)
    shared = set(task.train_groups) & set(task.test_groups)
    assert shared <= {"none"}  # only the volunteer-less empty room is cut in time
    assert set(task.test_groups) - {"none"} <= {"C", "D"} and len(task.y_test) > 0


def test_posture_fusion_is_marked_synthetic_and_split_by_group(datasets_dir):
    task = TASKS["posture_fusion"](datasets_dir, limit=1, use_cache=False)
    _check_shapes(task)
    assert task.info["synthetic_pairing"] is True
    for part in (0, 1):
        train = {g.split("|")[part] for g in task.train_groups}
        test = {g.split("|")[part] for g in task.test_groups}
        assert not train & test
    assert task.classes == ("lying", "not_lying")


def test_coarse_thermal_labels():
    assert coarse_thermal("lying_floor") == "lying"
    assert coarse_thermal("toilet_sitting_light_clothes") == "not_lying"
    assert coarse_thermal("empty_bedroom") is None


@pytest.mark.parametrize("name", ["coswara_sound", "coswara_participant", "covid_cough"])
def test_audio_tasks_split_by_participant_or_recording(datasets_dir, name):
    task = TASKS[name](datasets_dir, limit=12, use_cache=False)
    _check_shapes(task)
    assert not set(task.train_groups) & set(task.test_groups)
    if name == "covid_cough":
        assert set(task.test_tags["source"]) <= {"call-center", "telegram"}


def test_cwru_two_sensors_time_split(datasets_dir):
    task = TASKS["cwru"](datasets_dir, limit=20, use_cache=False)
    _check_shapes(task)
    assert task.modality_names == ("drive_end", "fan_end")
    assert "B028" not in task.classes and "Normal" in task.classes


def test_cwru_drive_end_only_has_all_sixteen_codes(datasets_dir):
    task = TASKS["cwru_de"](datasets_dir, limit=10, use_cache=False)
    _check_shapes(task)
    assert len(task.classes) == 16 and {"B028", "IR028", "OR007@12"} <= set(task.classes)
    assert task.in_time_order


def test_coswara_pool_tests_one_crop_per_recording(datasets_dir):
    task = TASKS["coswara_participant"](datasets_dir, limit=12, use_cache=False)
    pool = task.pool
    assert pool is not None and pool.testable.sum() * 3 == len(pool.y)
    assert len(task.y_test) == np.isin(pool.groups[pool.testable], task.test_groups).sum()


def test_ceiling_fan_trains_on_normal_only(datasets_dir):
    task = TASKS["ceiling_fan"](datasets_dir, limit=20, use_cache=False)
    _check_shapes(task)
    assert task.kind == "anomaly" and not task.y_train.any()
    kinds = task.test_tags["kind"]
    assert set(kinds) == {"normal", "imbalance", "moved"}
    assert np.array_equal(task.y_test, (kinds != "normal").astype(np.int64))


def test_trim_leading_silence_starts_near_the_onset(rng):
    rate_hz = 8000
    signal = np.zeros(2 * rate_hz, np.float32)
    signal[rate_hz:] = rng.normal(0, 0.3, rate_hz)
    trimmed = trim_leading_silence(signal, sample_rate_hz=rate_hz, pre_roll_s=0.1)
    assert len(trimmed) == rate_hz + int(0.1 * rate_hz)


def test_baselines_on_separable_data(rng):
    x = {"a": rng.normal(size=(200, 3)).astype(np.float32)}
    y = (x["a"][:, 0] > 0).astype(np.int64)
    predicted = baselines.logistic_regression(x, y, x, names=("a",))
    assert np.mean(predicted == y) > 0.95
    assert baselines.majority(np.array([0, 1, 1]), np.array([1, 1, 0]))["accuracy"] == 2 / 3
    normal = {"a": rng.normal(size=(300, 4)) @ np.diag([3.0, 2.0, 0.1, 0.1])}
    outliers = {"a": rng.normal(size=(50, 4)) @ np.diag([3.0, 2.0, 3.0, 3.0])}
    test = {"a": np.concatenate([normal["a"][:50], outliers["a"]])}
    scores = baselines.pca_scores(normal, test, names=("a",), n_components=2)
    labels = np.r_[np.zeros(50), np.ones(50)]
    assert baselines.auc(labels, scores) > 0.9
    assert baselines.auc(np.zeros(4), np.arange(4.0)) is None
