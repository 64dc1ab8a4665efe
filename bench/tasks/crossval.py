"""Grouped k-fold cross-validation for tasks too small for one split (Coswara).

Every group (participant) is tested once per repeat: the pooled rows are dealt into ``k``
folds of whole groups (``fusion.split.grouped_folds``, balanced by label, a new assignment
each repeat); each fold trains on the other folds (validation carved from them for the QAT
decision, then refitted on all of them, as in ``evaluate.measure``) and predicts its own
groups. Accuracies are computed on the predictions pooled over all folds and repeats, so
float and int8 are compared on every participant, several times over independently trained
models; per-fold numbers are kept in the result.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from bench import baselines
from bench.tasks.common import TaskData, fold_task
from bench.tasks.evaluate import (
    FINAL_FIT,
    QAT_DECISION,
    Measured,
    Recipe,
    accuracy_block,
    footprint_block,
    hit_rate,
    measure,
    per_modality_block,
    save_model,
    validation_block,
)
from tinyfuse.fusion.report import confusion_matrix
from tinyfuse.fusion.split import grouped_folds

log = logging.getLogger(__name__)

FOLD_SEED_STEP = 1000  # repeat r assigns folds (and seeds its models) from seed + 1000 r


def _fold_row(repeat: int, index: int, fold: TaskData, run: Measured) -> dict[str, Any]:
    acc = accuracy_block(fold.y_test, teacher=run.teacher_pred, student=run.student_pred,
                         after_qat=run.student_after_qat_pred, int8=run.int8_pred)
    row: dict[str, Any] = {"repeat": repeat, "fold": index, "n_train": run.n_final_train,
                           "n_test": int(len(fold.y_test)),
                           "test_groups": sorted(set(fold.test_groups.tolist())),
                           **acc, "logistic_regression": hit_rate(run.logistic_pred,
                                                                   fold.y_test),
                           "validation": validation_block(run)}
    if run.single_branch_pred:
        row["single_branch_float_accuracy"] = {
            name: hit_rate(pred, fold.y_test) for name, pred in run.single_branch_pred.items()}
    return row


def _pooled(runs: list[Measured], attribute: str) -> np.ndarray:
    return np.concatenate([getattr(run, attribute) for run in runs])


def _pooled_branches(runs: list[Measured], attribute: str) -> dict[str, np.ndarray]:
    names = getattr(runs[0], attribute).keys()
    return {name: np.concatenate([getattr(run, attribute)[name] for run in runs])
            for name in names}


def run_crossval(task: TaskData, recipe: Recipe, *, seed: int = 0,
                 model_path: Path | None = None) -> dict[str, Any]:
    """``recipe.cv_folds``-fold grouped cross-validation of ``task`` (it needs a pool),
    repeated ``recipe.cv_repeats`` times; JSON-ready dict with the keys of
    ``run_classification`` plus ``folds``. The model written to ``model_path`` is the first
    fold's int8 student (every fold has the same shape)."""
    pool = task.pool
    runs, parts, rows = [], [], []
    for repeat in range(recipe.cv_repeats):
        folds = grouped_folds(pool.groups, pool.y, k=recipe.cv_folds,
                              seed=seed + FOLD_SEED_STEP * repeat)
        for index, rows_of_fold in enumerate(folds):
            fold = fold_task(task, sorted(set(pool.groups[rows_of_fold].tolist())))
            log.info("%s: repeat %d/%d fold %d/%d (%d test rows)", task.name, repeat + 1,
                     recipe.cv_repeats, index + 1, len(folds), len(fold.y_test))
            run = measure(fold, recipe, seed=seed + FOLD_SEED_STEP * repeat + index)
            runs.append(run)
            parts.append(fold)
            rows.append(_fold_row(repeat, index, fold, run))
    save_model(runs[0].tflite, model_path)
    return _pooled_result(task, recipe, runs, parts, rows)


def _pooled_result(task: TaskData, recipe: Recipe, runs: list[Measured],
                   folds: list[TaskData], rows: list[dict[str, Any]]) -> dict[str, Any]:
    y_test = np.concatenate([fold.y_test for fold in folds])
    int8 = _pooled(runs, "int8_pred")
    acc = accuracy_block(y_test, teacher=_pooled(runs, "teacher_pred"),
                         student=_pooled(runs, "student_pred"),
                         after_qat=_pooled(runs, "student_after_qat_pred"), int8=int8)
    logistic = _pooled(runs, "logistic_pred")
    repeats = recipe.cv_repeats
    result: dict[str, Any] = {
        "evaluation": f"grouped {recipe.cv_folds}-fold cross-validation repeated {repeats} "
                      f"time(s) with a new fold assignment each: every participant tested "
                      f"{repeats} time(s); accuracies pool the predictions of all folds",
        "n_test": int(len(y_test)), "n_groups": int(len(set(task.pool.groups.tolist()))),
        "classes": list(task.classes),
        "test_class_counts": np.bincount(y_test, minlength=len(task.classes)).tolist(),
        "student_spec": runs[0].spec.to_dict(), "teacher_spec": runs[0].teacher_spec.to_dict(),
        "recipe": {k: getattr(recipe, k) for k in Recipe.__slots__},
        "teacher_params": runs[0].teacher_params, "student_params": runs[0].student_params,
        "final_fit": FINAL_FIT,
        "accuracy": {**acc, "qat_applied_folds": sum(r.qat_final for r in runs),
                     "qat_decision": QAT_DECISION},
        "folds": rows,
        "int8_confusion": confusion_matrix(y_test, int8,
                                           n_classes=len(task.classes)).tolist(),
        "footprint": {**footprint_block(runs[0].tflite), "model": "fold 0 student"},
        "baselines": {
            "majority": _pooled_majority(folds),
            "logistic_regression": {"accuracy": hit_rate(logistic, y_test),
                                    "features": "standardised, flattened, concatenated "
                                                "features of all modalities"}},
    }
    if runs[0].single_branch_pred:
        result["per_modality"] = per_modality_block(
            y_test, alone=_pooled_branches(runs, "single_branch_pred"),
            zeroed=_pooled_branches(runs, "zeroed_int8_pred"),
            fused_float=acc["student_float_after_qat"], fused_int8=acc["student_int8"])
    return result


def _pooled_majority(folds: list[TaskData]) -> dict[str, Any]:
    """Each fold answers its own training majority; accuracy over all test rows."""
    hits = [baselines.majority(fold.y_train, fold.y_test)["accuracy"] * len(fold.y_test)
            for fold in folds]
    return {"accuracy": float(sum(hits) / sum(len(f.y_test) for f in folds)),
            "rule": "the most frequent training class of each fold"}
