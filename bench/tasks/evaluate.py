"""Classification benchmark: teacher -> distilled student -> int8 -> footprint, per task.

Every number comes from the public ``fusion`` API: ``build_model``, ``train_classifier``,
``distill``, ``quantize_model`` (int8 PTQ, QAT fine-tuning when PTQ loses more than the
threshold ON TRAINING DATA: the test split never steers a decision), ``predict_int8`` (the
TFLite interpreter on the int8 ``.tflite``), ``footprint`` (the compiler's memory planner)
and ``tflm_arena_bytes`` (the TFLite Micro reference interpreter).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np

from bench import baselines
from bench.tasks.common import TaskData
from fusion.export import predict_int8, tflm_arena_bytes
from fusion.model import as_inputs, build_model
from fusion.quantize import quantize_model
from fusion.report import confusion_matrix, fused_gain
from fusion.search import footprint
from fusion.spec import BranchSpec, CompressionSpec, FusionSpec
from fusion.train import accuracy, distill, fit_standardizer, standardize, train_classifier

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipe:
    """Student architecture and training budget of one task.

    ``branches`` maps modality name -> (block, width, depth); the teacher is the student
    with every width and the head multiplied by ``teacher_multiplier``.
    """

    branches: tuple[tuple[str, str, int, int], ...]
    head_units: int = 16
    teacher_multiplier: float = 4.0
    teacher_epochs: int = 20
    student_epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 3e-3
    temperature: float = 4.0
    distill_alpha: float = 0.3
    modality_dropout: float = 0.2
    qat_threshold: float = 0.005
    representative_samples: int = 500


def student_spec(task: TaskData, recipe: Recipe, *, names: tuple[str, ...] | None = None
                 ) -> FusionSpec:
    """The student ``FusionSpec`` (all modalities, or only ``names``)."""
    names = names or task.modality_names
    chosen = {b[0]: BranchSpec(modality=b[0], block=b[1], width=b[2], depth=b[3])
              for b in recipe.branches}
    modalities = tuple(m for m in task.modalities if m.name in names)
    return FusionSpec(modalities=modalities, classes=task.classes,
                      branches=tuple(chosen[m.name] for m in modalities),
                      head_units=recipe.head_units,
                      modality_dropout=recipe.modality_dropout if len(modalities) > 1 else 0.0)


def shuffled_train(task: TaskData, *, seed: int) -> TaskData:
    """The task with its training rows in a seeded random order: the int8 converter
    calibrates on the FIRST rows, and loaders return them sorted by file."""
    order = np.random.default_rng(seed).permutation(len(task.y_train))
    return replace(task, x_train={k: v[order] for k, v in task.x_train.items()},
                   y_train=task.y_train[order])


def _standardized(task: TaskData) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    per_channel = {m.name: m.frontend.kind != "image" for m in task.modalities}
    stats = fit_standardizer(task.x_train, per_channel=per_channel)
    return standardize(task.x_train, stats), standardize(task.x_test, stats)


def _train_plain(spec: FusionSpec, x_train: dict, y_train: np.ndarray, recipe: Recipe, *,
                 epochs: int, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = build_model(spec, seed=seed)
    train_classifier(model, as_inputs(spec, x_train), y_train, epochs=epochs,
                     batch_size=recipe.batch_size, learning_rate=recipe.learning_rate)
    return model


def _tag_accuracy(task: TaskData, predicted: np.ndarray) -> dict[str, dict[str, Any]]:
    """Accuracy within every value of every test tag (e.g. per ``source``)."""
    out: dict[str, dict[str, Any]] = {}
    for tag, values in task.test_tags.items():
        out[tag] = {}
        for value in sorted(set(values.tolist())):
            rows = values == value
            counts = np.bincount(task.y_test[rows], minlength=len(task.classes))
            out[tag][value] = {"n": int(rows.sum()),
                               "accuracy": float(np.mean(predicted[rows] == task.y_test[rows])),
                               "class_counts": counts.tolist(),
                               "best_constant_accuracy": float(counts.max() / rows.sum())}
    return out


def _per_modality(task: TaskData, recipe: Recipe, x_train: dict, x_test: dict, *, seed: int,
                  tflite: bytes, fused_float: float, fused_int8: float) -> dict[str, Any]:
    """Single-branch students trained alone, and the fused int8 model with the other
    modalities zeroed; the fused gain is over the best separately trained branch."""
    alone, zeroed = {}, {}
    for name in task.modality_names:
        spec = student_spec(task, recipe, names=(name,))
        model = _train_plain(spec, x_train, task.y_train, recipe,
                             epochs=recipe.student_epochs, seed=seed)
        alone[name] = accuracy(model, as_inputs(spec, x_test), task.y_test)
        only = {n: (x if n == name else np.zeros_like(x)) for n, x in x_test.items()}
        zeroed[name] = float(np.mean(predict_int8(tflite, only).argmax(1) == task.y_test))
    return {
        "single_branch_float_accuracy": alone,
        "fused_int8_with_others_zeroed_accuracy": zeroed,
        "fused_gain_float_points": 100 * fused_gain(fused_float, alone),
        "fused_gain_int8_points": 100 * fused_gain(fused_int8, alone),
        "best_single_branch": max(alone, key=alone.get),
    }


def run_classification(task: TaskData, recipe: Recipe, *, seed: int = 0) -> dict[str, Any]:
    """Train, distil, quantize and measure one classification task; JSON-ready dict."""
    task = shuffled_train(task, seed=seed)
    x_train, x_test = _standardized(task)
    spec = student_spec(task, recipe)
    teacher_spec = spec.scaled(width_multiplier=recipe.teacher_multiplier,
                               head_units=int(spec.head_units * recipe.teacher_multiplier))
    train_in, test_in = as_inputs(spec, x_train), as_inputs(spec, x_test)
    log.info("%s: teacher", task.name)
    teacher = _train_plain(teacher_spec, x_train, task.y_train, recipe,
                           epochs=recipe.teacher_epochs, seed=seed)
    teacher_acc = accuracy(teacher, test_in, task.y_test)
    log.info("%s: student (distilled)", task.name)
    keras.utils.set_random_seed(seed + 1)
    student = build_model(spec, seed=seed)
    distill(student, teacher, train_in, task.y_train, temperature=recipe.temperature,
            alpha=recipe.distill_alpha, epochs=recipe.student_epochs,
            batch_size=recipe.batch_size, learning_rate=recipe.learning_rate)
    student_acc = accuracy(student, test_in, task.y_test)
    log.info("%s: int8", task.name)
    compression = CompressionSpec(quantization="int8-qat", qat_threshold=recipe.qat_threshold,
                                  representative_samples=recipe.representative_samples)
    quant = quantize_model(student, compression, train=(train_in, task.y_train),
                           val=(train_in, task.y_train))
    if quant.qat_applied:
        student_acc_after_qat = accuracy(student, test_in, task.y_test)
    else:
        student_acc_after_qat = student_acc
    predicted = predict_int8(quant.tflite, x_test).argmax(1)
    int8_acc = float(np.mean(predicted == task.y_test))
    cost = footprint(quant.tflite)
    names = task.modality_names
    baseline_pred = baselines.logistic_regression(task.x_train, task.y_train, task.x_test,
                                                  names=names, seed=seed)
    result: dict[str, Any] = {
        "n_train": int(len(task.y_train)), "n_test": int(len(task.y_test)),
        "classes": list(task.classes),
        "test_class_counts": np.bincount(task.y_test, minlength=len(task.classes)).tolist(),
        "student_spec": spec.to_dict(), "teacher_spec": teacher_spec.to_dict(),
        "recipe": {k: getattr(recipe, k) for k in Recipe.__slots__},
        "teacher_params": int(teacher.count_params()),
        "student_params": int(student.count_params()),
        "accuracy": {
            "teacher_float": teacher_acc, "student_float": student_acc,
            "student_float_after_qat": student_acc_after_qat, "student_int8": int8_acc,
            "int8_minus_float_points": 100 * (int8_acc - student_acc_after_qat),
            "qat_applied": quant.qat_applied,
            "qat_decision": "PTQ vs float measured on the TRAINING split",
        },
        "int8_by_tag": _tag_accuracy(task, predicted),
        "int8_confusion": confusion_matrix(task.y_test, predicted,
                                           n_classes=len(task.classes)).tolist(),
        "footprint": {
            "student_weights_bytes": cost.weights_bytes, "flash_estimate_bytes": cost.flash_bytes,
            "peak_ram_plan_bytes": cost.arena_bytes, "ram_estimate_bytes": cost.ram_bytes,
            "tflm_arena_bytes": tflm_arena_bytes(quant.tflite), "macs": cost.macs,
            "tflite_bytes": len(quant.tflite), "source": cost.source,
            "flash_note": "flash estimate = constant bytes + a fixed 40 KiB runtime allowance",
        },
        "baselines": {
            "majority": baselines.majority(task.y_train, task.y_test),
            "logistic_regression": {
                "accuracy": float(np.mean(baseline_pred == task.y_test)),
                "by_tag": _tag_accuracy(task, baseline_pred),
                "features": "standardised, flattened, concatenated features of all modalities",
            },
        },
    }
    if len(names) > 1:
        result["per_modality"] = _per_modality(
            task, recipe, x_train, x_test, seed=seed, tflite=quant.tflite,
            fused_float=student_acc_after_qat, fused_int8=int8_acc)
    return result
