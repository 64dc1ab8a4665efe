"""The benchmark's evaluation plumbing on a small synthetic two-modality task (no data
needed): validation held out from training, the final refit on train + validation, grouped
k-fold pooling, the written model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bench.tasks import evaluate
from bench.tasks.common import Pool, TaskData, fold_task, pooled_task
from bench.tasks.crossval import run_crossval
from bench.tasks.evaluate import Recipe, split_parts
from tinyfuse.core.tflm import inspect_tflite
from tinyfuse.sensors.spec import ModalitySpec, VectorSpec

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
def test_repeated_crossval_tests_every_group_once_per_repeat(tmp_path):
    pool = _pool()
    path = tmp_path / "toy.tflite"
    result = run_crossval(_task(pool), replace(TINY, cv_repeats=2), seed=0, model_path=path)
    assert result["n_test"] == 2 * int(pool.testable.sum()) == 144
    assert result["final_fit"].startswith("train+validation")
    for fold in result["folds"]:  # final fit on every pooled row of the other groups
        assert fold["n_train"] == 2 * (72 - fold["n_test"])
        assert fold["n_train"] > fold["validation"]["n_fit"] > 0
    assignments = []
    for repeat in (0, 1):
        folds = [f for f in result["folds"] if f["repeat"] == repeat]
        tested = [g for fold in folds for g in fold["test_groups"]]
        assert sorted(tested) == sorted(set(pool.groups)) and len(tested) == len(set(tested))
        assert sum(fold["n_test"] for fold in folds) == 72
        assignments.append({frozenset(fold["test_groups"]) for fold in folds})
    assert assignments[0] != assignments[1]  # a new fold assignment each repeat
    acc = result["accuracy"]
    assert acc["int8_minus_float_points"] == pytest.approx(
        100 * (acc["student_int8"] - acc["student_float_after_qat"]))
    assert 0.0 <= acc["int8_agrees_with_float"] <= 1.0
    assert set(result["per_modality"]["single_branch_float_accuracy"]) == {"left", "right"}
    assert result["footprint"]["runs_in_tflite_micro"] is True
    assert {t.name for t in inspect_tflite(path.read_bytes()).inputs} == {"left", "right"}


def _id_task() -> TaskData:
    """The toy task with each original row's index in the last feature of both modalities
    (the crops of a row share it)."""
    pool = _pool()
    ids = np.tile(np.arange(len(pool.y) // 2, dtype=np.float32), 2)
    for name in ("left", "right"):
        pool.x[name][:, -1] = ids
    return _task(pool)


def _ids(inputs) -> set[int]:
    return set(np.asarray(inputs[0])[:, -1].astype(int).tolist())


def test_final_fit_sees_validation_rows_and_never_test_rows(monkeypatch):
    seen: list[tuple[str, set[int]]] = []

    def recording(name, real):
        def wrapper(*args, **kwargs):
            seen.append((name, _ids(args[2] if name == "distill" else args[1])))
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(evaluate, "standardize", lambda x, stats: x)  # keep the row ids
    monkeypatch.setattr(evaluate, "train_classifier",
                        recording("train", evaluate.train_classifier))
    monkeypatch.setattr(evaluate, "distill", recording("distill", evaluate.distill))
    task = _id_task()
    train_ids, test_ids = _ids([task.x_train["right"]]), _ids([task.x_test["right"]])
    val_ids = _ids([split_parts(task, TINY, seed=0).x_val["right"]])
    assert val_ids and val_ids < train_ids and not train_ids & test_ids
    run = evaluate.measure(task, TINY, seed=0)
    # validation stage: teacher and student on the fit rows only
    assert seen[:2] == [("train", train_ids - val_ids), ("distill", train_ids - val_ids)]
    # final teacher, final student, the two single-branch students: every training row
    assert seen[2:] == [("train", train_ids), ("distill", train_ids),
                        ("train", train_ids), ("train", train_ids)]
    assert run.n_final_train == len(task.y_train)
    assert run.parts.validation["n_val"] > 0
    assert len(run.int8_pred) == len(task.y_test) == len(run.student_after_qat_pred)


def test_final_data_standardises_with_every_training_row():
    task = _id_task()
    data = evaluate.final_data(task)
    assert len(data.y_train) == len(task.y_train) and len(data.x_test["left"]) == 18
    np.testing.assert_allclose(data.x_train["left"].mean(axis=0), 0.0, atol=1e-5)
