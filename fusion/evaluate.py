"""``tinyfuse evaluate``: grouped k-fold cross-validation of the build's own passes.

The samples are loaded once (the ``load`` pass) and their front-end features cached once;
each repeat deals the groups (participant, volunteer, recording) into ``folds`` folds of whole
groups, balanced by label (``tinyfuse.fusion.split.grouped_folds``), a new assignment per
repeat. Every
fold runs the same passes as ``tinyfuse build`` (``features`` .. ``quantize`` and ``refit``)
with its fold as the test split and a validation part carved from the other folds, and
predicts its own groups: the int8 student on TFLite Micro, the float student, the teacher,
the int8 student with one modality at a time (the others zeroed), and the baselines (majority,
logistic regression) on the same standardised features. Accuracies pool the predictions of
all folds and repeats, so every group is tested ``repeats`` times by models that never saw it.

Examples
--------
>>> from tinyfuse.fusion.config import load_config
>>> result, model = cross_validate(load_config("bench/configs/cwru_de.toml"))  # doctest: +SKIP
>>> result["accuracy"]["student_int8"]                                     # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tinyfuse.core.tflm import tflm_arena_bytes
from tinyfuse.fusion import baseline, compare, report
from tinyfuse.fusion.compress import footprint
from tinyfuse.fusion.config import AppConfig
from tinyfuse.fusion.features import FeatureStore
from tinyfuse.fusion.metrics import (
    balanced_accuracy,
    class_metrics,
    confusion_matrix,
    warnings_for,
)
from tinyfuse.fusion.pipeline import (
    PASSES,
    BuildState,
    Pass,
    int8_scores,
    load_pass,
    run_passes,
)
from tinyfuse.fusion.split import Split, grouped_folds, validation_split
from tinyfuse.fusion.train import predicted_classes

log = logging.getLogger(__name__)

FOLD_PASSES = ("features", "teacher", "search", "distill", "prune", "quantize", "compare",
               "refit")
FOLD_SEED_STEP = 1000  # repeat r deals its folds (and seeds its models) from seed + 1000 r


@dataclass
class FoldPredictions:
    """One fold's test rows and every model's predicted class for them."""

    repeat: int
    fold: int
    rows: np.ndarray
    truth: np.ndarray
    int8: np.ndarray
    student_float: np.ndarray
    teacher: np.ndarray
    logistic: np.ndarray
    majority: int
    one_modality: dict[str, np.ndarray] = field(default_factory=dict)
    variants: dict[str, np.ndarray] = field(default_factory=dict)  # compare: test probs
    modalities: list[str] = field(default_factory=list)  # the fold's student reads these
    qat_applied: bool = False
    validation: str = ""
    tflite: bytes = b""


def fold_passes(passes: Sequence[Pass] = PASSES) -> tuple[Pass, ...]:
    """The build's passes a fold runs (no load or split: the fold is the split; no export)."""
    return tuple(p for p in passes if p.name in FOLD_PASSES)


def fold_split(groups: np.ndarray, labels: np.ndarray, test: np.ndarray, *,
               val_fraction: float, seed: int) -> Split:
    """The fold's rows as the test part; validation carved from the other folds."""
    rest = np.setdiff1d(np.arange(len(groups)), test)
    carved = validation_split(groups[rest], labels[rest], fraction=val_fraction, seed=seed)
    return Split(train=rest[carved.train], val=rest[carved.val], test=np.sort(test),
                 kind="by group (cross-validation fold)", validation=carved.how)


def _predict_fold(state: BuildState, *, repeat: int, index: int) -> FoldPredictions:
    spec, prepared, quant = state.need("spec"), state.need("student_prep"), state.need("quant")
    truth = state.y_test
    int8 = int8_scores(quant.tflite, spec, prepared.x_test).argmax(1)
    names = spec.modality_names
    alone = {name: int8_scores(quant.tflite, spec, prepared.x_test, zero=tuple(
        n for n in names if n != name)).argmax(1) for name in names} if len(names) > 1 else {}
    return FoldPredictions(
        repeat=repeat, fold=index, rows=state.need("split").test, truth=truth, int8=int8,
        student_float=predicted_classes(state.need("student"), prepared.x_test),
        teacher=predicted_classes(state.need("teacher"), state.need("prepared").x_test),
        logistic=baseline.logistic_regression(prepared.x_train, state.y_train,
                                              prepared.x_test, seed=state.config.data.seed),
        majority=baseline.majority_class(state.y_train), one_modality=alone,
        modalities=list(names),
        variants={name: scores.test for name, scores in
                  state.products.get("fusion_scores", {}).items()},
        qat_applied=quant.qat_applied, validation=state.need("split").validation,
        tflite=quant.tflite)


def cross_validate(config: AppConfig, *, data_dir: str | None = None,
                   folds: int | None = None, repeats: int | None = None,
                   passes: Sequence[Pass] = PASSES) -> tuple[dict[str, Any], bytes]:
    """Cross-validate ``config``'s build (``[evaluate]`` folds and repeats unless given).

    Returns
    -------
    (dict, bytes)
        The JSON-ready result (the pooled accuracies, int8 - float points and agreement, per
        modality, per ``by_meta`` value, baselines, the int8 confusion matrix, every fold's
        numbers, the footprint of the first fold's int8 model) and that model's ``.tflite``.
    """
    settings = config.evaluate
    folds = folds or settings.folds
    repeats = repeats or settings.repeats
    loaded = BuildState(config=config, out_dir=Path("."), data_dir=data_dir)
    load_pass(loaded)
    groups = np.array([str(s.group) for s in loaded.data.samples])
    labels = loaded.need("labels")
    store = FeatureStore.of(loaded.data)
    runs = []
    for repeat in range(repeats):
        seed = config.data.seed + FOLD_SEED_STEP * repeat
        for index, test in enumerate(grouped_folds(groups, labels, k=folds, seed=seed)):
            log.info("repeat %d/%d, fold %d/%d: %d test rows", repeat + 1, repeats, index + 1,
                     folds, len(test))
            fold_config = replace(config, data=replace(config.data, seed=seed + index))
            state = replace(loaded, config=fold_config, store=store, parts=[], products={},
                            split=fold_split(groups, labels, test, seed=seed + index,
                                             val_fraction=config.train.validation_fraction))
            run_passes(state, fold_passes(passes))
            runs.append(_predict_fold(state, repeat=repeat, index=index))
    return pooled(config, loaded, runs, folds=folds, repeats=repeats), runs[0].tflite


def _rate(predicted: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(np.asarray(predicted) == np.asarray(truth))) if len(truth) else 0.0


def _cat(runs: list[FoldPredictions], name: str) -> np.ndarray:
    return np.concatenate([getattr(run, name) for run in runs])


def pooled(config: AppConfig, loaded: BuildState, runs: list[FoldPredictions], *, folds: int,
           repeats: int) -> dict[str, Any]:
    """The JSON result of :func:`cross_validate` from its folds' predictions."""
    truth, int8 = _cat(runs, "truth"), _cat(runs, "int8")
    student, classes = _cat(runs, "student_float"), loaded.need("base").classes
    majority = np.concatenate([np.full(len(r.truth), r.majority) for r in runs])
    int8_rate, float_rate = _rate(int8, truth), _rate(student, truth)
    accuracy = {"teacher_float": _rate(_cat(runs, "teacher"), truth),
                "student_float": float_rate, "student_int8": int8_rate,
                "int8_minus_float_points": 100 * (int8_rate - float_rate),
                "int8_agrees_with_float": _rate(int8, student), "int8_engine": "tflite_micro"}
    result: dict[str, Any] = {
        "app": config.name, "dataset": loaded.data.name,
        "evaluation": f"grouped {folds}-fold cross-validation repeated {repeats} time(s), a "
                      f"new fold assignment each: every group tested {repeats} time(s); "
                      f"accuracies pool the predictions of all folds",
        "refit_on_train_and_validation": config.train.refit,
        "n_samples": len(loaded.data.samples), "n_test_answers": int(len(truth)),
        "n_groups": len({str(s.group) for s in loaded.data.samples}),
        "n_skipped": len(getattr(loaded.data, "skipped", ())), "classes": list(classes),
        "test_class_counts": np.bincount(truth, minlength=len(classes)).tolist(),
        "accuracy": {**accuracy, "qat_applied_folds": sum(r.qat_applied for r in runs)},
        "baselines": {"majority": _rate(majority, truth),
                      "logistic_regression": _rate(_cat(runs, "logistic"), truth),
                      "logistic_regression_balanced_accuracy": balanced_accuracy(
                          truth, _cat(runs, "logistic")),
                      "teacher_float_balanced_accuracy": balanced_accuracy(
                          truth, _cat(runs, "teacher")),
                      "student_float_balanced_accuracy": balanced_accuracy(truth, student)},
        "int8_metrics": class_metrics(truth, int8, classes=classes),
        "int8_confusion": confusion_matrix(truth, int8,
                                                  n_classes=len(classes)).tolist(),
        "folds": [_fold_row(run) for run in runs],
        "footprint": _footprint(config, runs[0].tflite),
    }
    shared = [name for name in runs[0].one_modality  # a fold may have dropped a branch
              if all(name in r.one_modality for r in runs)]
    if shared:
        alone = {name: _rate(np.concatenate([r.one_modality[name] for r in runs]), truth)
                 for name in shared}
        result["per_modality_int8"] = alone
        result["fused_gain_over_best_branch_points"] = 100 * report.fused_gain(int8_rate, alone)
    if runs[0].variants:
        table = {name: {"test": compare.scores_row(
            truth, np.concatenate([r.variants[name] for r in runs]), classes)}
            for name in runs[0].variants}
        if config.evaluate.by_meta:
            for name, row in table.items():
                predicted = np.concatenate([r.variants[name] for r in runs]).argmax(1)
                row["by_meta"] = report.accuracy_by_meta(
                    loaded.data.samples, _cat(runs, "rows"), truth, predicted,
                    name=config.evaluate.by_meta, n_classes=len(classes))
        result["fusion"] = {"variants": table, **compare.verdicts(table)}
    result["warnings"] = warnings_for(result["int8_metrics"], classes=classes,
                                      majority=result["baselines"]["majority"],
                                      linear=result["baselines"][
                                          "logistic_regression_balanced_accuracy"])
    if config.evaluate.by_meta:
        result["by_meta"] = report.accuracy_by_meta(
            loaded.data.samples, _cat(runs, "rows"), truth, int8,
            name=config.evaluate.by_meta, n_classes=len(classes))
    return result


def _fold_row(run: FoldPredictions) -> dict[str, Any]:
    return {"repeat": run.repeat, "fold": run.fold, "n_test": int(len(run.truth)),
            "modalities": run.modalities,
            "student_int8": _rate(run.int8, run.truth),
            "student_float": _rate(run.student_float, run.truth),
            "teacher_float": _rate(run.teacher, run.truth),
            "logistic_regression": _rate(run.logistic, run.truth),
            "qat_applied": run.qat_applied, "validation": run.validation}


def _footprint(config: AppConfig, tflite: bytes) -> dict[str, Any]:
    cost = footprint(tflite)
    return {"model": "the first fold's int8 student", "weights_bytes": cost.weights_bytes,
            "flash_bytes": cost.flash_bytes, "ram_peak_bytes": cost.ram_bytes,
            "arena_bytes": cost.arena_bytes, "tflm_arena_bytes": tflm_arena_bytes(tflite),
            "macs": cost.macs, "fits_budget": cost.fits(config.budget),
            "tflite_sha256": hashlib.sha256(tflite).hexdigest()}
