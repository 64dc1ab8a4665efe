"""The benchmark's evaluation plumbing on a small synthetic two-modality task (no data
needed): validation held out from training, grouped k-fold pooling, the written model."""

from __future__ import annotations

import numpy as np
import pytest

from bench.tasks.common import Pool, TaskData, fold_task, pooled_task
from bench.tasks.crossval import run_crossval
from bench.tasks.evaluate import Recipe, split_parts
from fusion.export import inspect_tflite
from sensors.spec import ModalitySpec, VectorSpec

MODALITIES = (ModalitySpec(name="left", frontend=VectorSpec(size=4)),
              ModalitySpec(name="right", frontend=VectorSpec(size=3)))
TINY = Recipe(branches=(("left", "dense", 4, 1), ("right", "dense", 4, 1)), head_units=4,
              teacher_multiplier=2.0, teacher_epochs=2, student_epochs=2, batch_size=32,
              representative_samples=32, cv_folds=3)


def _pool(n_groups: int = 12, per_group: int = 6, *, crops: int = 2) -> Pool:
    """Class = group parity; every group has ``per_group`` recordings x ``crops`` crops
    (crop-major, like the Coswara tasks); only crop 0 is testable."""
    gen = np.random.default_rng(5)
    groups = np.repeat([f"p{i:02d}" for i in range(n_groups)], per_group)
    labels = np.repeat(np.arange(n_groups) % 2, per_group)
    x = {"left": gen.normal(size=(len(labels), 4)).astype(np.float32),
         "right": gen.normal(size=(len(labels), 3)).astype(np.float32)}
    x["left"][:, 0] += 2.0 * labels
    return Pool(x={k: np.tile(v, (crops, 1)) for k, v in x.items()},
                y=np.tile(labels, crops).astype(np.int64), groups=np.tile(groups, crops),
                testable=np.arange(crops * len(labels)) < len(labels))


def _task(pool: Pool) -> TaskData:
    return pooled_task(pool=pool, test_groups=["p00", "p01", "p02"], name="toy",
                       kind="classify", modalities=MODALITIES, classes=("even", "odd"))


def test_pooled_task_tests_one_crop_of_the_test_groups_and_trains_the_rest():
    pool = _pool()
    task = _task(pool)
    assert set(task.test_groups) == {"p00", "p01", "p02"} and len(task.y_test) == 18
    assert not set(task.train_groups) & set(task.test_groups)
    assert len(task.y_train) == 2 * 9 * 6  # both crops of the nine other groups
    fold = fold_task(task, ["p05"])
    assert set(fold.test_groups) == {"p05"} and len(fold.y_test) == 6


def test_validation_rows_never_train():
    task = _task(_pool())
    parts = split_parts(task, TINY, seed=0)
    assert parts.validation["how"].startswith("held-out groups")
    assert parts.validation["n_fit"] + parts.validation["n_val"] == len(task.y_train)
    fit_rows = {row.tobytes() for row in parts.x_fit["left"]}
    val_rows = {row.tobytes() for row in parts.x_val["left"]}
    assert val_rows and not fit_rows & val_rows  # no crop of a validation group trains
    assert set(parts.y_val.tolist()) == {0, 1}


@pytest.mark.slow
def test_crossval_tests_every_group_once_and_writes_fold_zero(tmp_path):
    pool = _pool()
    path = tmp_path / "toy.tflite"
    result = run_crossval(_task(pool), TINY, seed=0, model_path=path)
    assert result["n_test"] == int(pool.testable.sum()) == 72
    tested = [g for fold in result["folds"] for g in fold["test_groups"]]
    assert sorted(tested) == sorted(set(pool.groups)) and len(tested) == len(set(tested))
    assert sum(fold["n_test"] for fold in result["folds"]) == 72
    acc = result["accuracy"]
    assert acc["int8_minus_float_points"] == pytest.approx(
        100 * (acc["student_int8"] - acc["student_float_after_qat"]))
    assert set(result["per_modality"]["single_branch_float_accuracy"]) == {"left", "right"}
    assert result["footprint"]["runs_in_tflite_micro"] is True
    assert {t.name for t in inspect_tflite(path.read_bytes()).inputs} == {"left", "right"}
