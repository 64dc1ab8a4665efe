"""Classification benchmark: teacher -> distilled student -> int8 -> footprint, per task.

Every number comes from the public ``fusion`` API: ``build_model``, ``train_classifier``,
``distill``, ``fusion.compress.quantize_model`` (int8 PTQ; QAT fine-tuning when PTQ loses more
than the threshold on a VALIDATION split of held-out training groups: neither the test split
nor the rows the model trained on steer a decision), ``predict_int8`` (the TFLite interpreter
on the int8 ``.tflite``), ``footprint`` (the compiler's memory planner) and
``tflm_arena_bytes`` (the TFLite Micro reference interpreter).

Two stages: the validation stage trains teacher and student on the fit rows and takes the
QAT decision on the validation rows; the final stage refits teacher and student on every
training row (fit + validation, standardiser refitted) with the same recipe and seed, applies
the decided quantization, and only its models predict the test rows.

``measure`` trains and predicts once (one train/test split); ``run_classification`` turns one
measurement into the JSON result; ``bench.tasks.crossval`` pools several of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from bench import baselines
from bench.tasks.common import TaskData
from tinyfuse.core.errors import ExportError
from tinyfuse.core.tflm import inspect_tflite, predict_int8, reference_invoke, tflm_arena_bytes
from tinyfuse.fusion.compress import (
    QuantizationResult,
    fake_quant_finetune,
    footprint,
    int8_disagreement,
    quantize_model,
)
from tinyfuse.fusion.export import convert_int8
from tinyfuse.fusion.model import as_inputs, build_model
from tinyfuse.fusion.report import confusion_matrix, fused_gain
from tinyfuse.fusion.spec import BranchSpec, CompressionSpec, FusionSpec
from tinyfuse.fusion.split import validation_split
from tinyfuse.fusion.train import distill, fit_standardizer, standardize, train_classifier

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipe:
    """Student architecture and training budget of one task.

    ``branches`` maps modality name -> (block, width, depth); the teacher is the student
    with every width and the head multiplied by ``teacher_multiplier``.
    ``validation_fraction`` of the training rows (whole groups where possible) are held out
    to decide on QAT. ``cv_folds`` > 1: evaluate by grouped k-fold cross-validation,
    ``cv_repeats`` times with a different fold assignment each time. ``activation`` is that
    of every branch block (``relu`` or the bounded ``relu6``).
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
    qat_epochs: int = 3
    representative_samples: int = 500
    validation_fraction: float = 0.2
    cv_folds: int = 0
    cv_repeats: int = 1
    activation: str = "relu"


def student_spec(task: TaskData, recipe: Recipe, *, names: tuple[str, ...] | None = None
                 ) -> FusionSpec:
    """The student ``FusionSpec`` (all modalities, or only ``names``)."""
    names = names or task.modality_names
    chosen = {b[0]: BranchSpec(modality=b[0], block=b[1], width=b[2], depth=b[3],
                               activation=recipe.activation) for b in recipe.branches}
    modalities = tuple(m for m in task.modalities if m.name in names)
    return FusionSpec(modalities=modalities, classes=task.classes,
                      branches=tuple(chosen[m.name] for m in modalities),
                      head_units=recipe.head_units,
                      modality_dropout=recipe.modality_dropout if len(modalities) > 1 else 0.0)


def save_model(tflite: bytes, path: Path | None) -> None:
    """Write ``tflite`` to ``path`` (parents created); nothing if ``path`` is None."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tflite)
    log.info("wrote %s (%d bytes)", path, len(tflite))


def carving_groups(task: TaskData) -> tuple[np.ndarray, str]:
    """Groups that validation holds out whole, and what they are. Synthetic pairs
    (``thermal|depth``) are held out by their depth sequence: the three training thermal
    volunteers are too few to spare one."""
    groups = task.train_groups.astype(str)
    if len(groups) and all("|" in g for g in groups):
        return np.array([g.split("|")[1] for g in groups]), (
            "depth sequences of the synthetic pairs (thermal volunteers are shared with "
            "training)")
    return groups, "the task's training groups"


@dataclass(frozen=True, slots=True, kw_only=True)
class Parts:
    """Standardised inputs of the fit (training minus validation) and validation rows: all
    the decisions are taken here, the test rows are not in it."""

    x_fit: dict[str, np.ndarray]
    y_fit: np.ndarray
    x_val: dict[str, np.ndarray]
    y_val: np.ndarray
    validation: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class FinalData:
    """Standardised inputs of the final fit (every training row: fit + validation) and of
    the test rows, with the standardiser refitted on the training rows."""

    x_train: dict[str, np.ndarray]
    y_train: np.ndarray
    x_test: dict[str, np.ndarray]


def _per_channel(task: TaskData) -> dict[str, bool]:
    return {m.name: m.frontend.kind != "image" for m in task.modalities}


def split_parts(task: TaskData, recipe: Recipe, *, seed: int) -> Parts:
    """Carve validation from the training rows, fit the standardiser on the rest, apply."""
    groups, what = carving_groups(task)
    carved = validation_split(groups, task.y_train, fraction=recipe.validation_fraction,
                              seed=seed, fallback="time" if task.in_time_order else "rows")
    raw_fit = {k: v[carved.train] for k, v in task.x_train.items()}
    raw_val = {k: v[carved.val] for k, v in task.x_train.items()}
    stats = fit_standardizer(raw_fit, per_channel=_per_channel(task))
    log.info("%s: validation %s (%d rows)", task.name, carved.how, len(carved.val))
    return Parts(x_fit=standardize(raw_fit, stats), y_fit=task.y_train[carved.train],
                 x_val=standardize(raw_val, stats), y_val=task.y_train[carved.val],
                 validation={"how": carved.how, "groups": what,
                             "n_fit": int(len(carved.train)), "n_val": int(len(carved.val))})


def final_data(task: TaskData) -> FinalData:
    """Every training row (validation included), standardised with statistics of those rows;
    the test rows standardised with the same statistics."""
    stats = fit_standardizer(task.x_train, per_channel=_per_channel(task))
    return FinalData(x_train=standardize(task.x_train, stats), y_train=task.y_train,
                     x_test=standardize(task.x_test, stats))


def _train_plain(spec: FusionSpec, x_train: dict, y_train: np.ndarray, recipe: Recipe, *,
                 epochs: int, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = build_model(spec, seed=seed)
    train_classifier(model, as_inputs(spec, x_train), y_train, epochs=epochs,
                     batch_size=recipe.batch_size, learning_rate=recipe.learning_rate)
    return model


def _predict(model: keras.Model, inputs: list[np.ndarray]) -> np.ndarray:
    return model.predict(inputs, verbose=0, batch_size=256).argmax(1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Measured:
    """One train/test run: the decision taken on validation, and the test-set predictions of
    the final models (refitted on every training row, same recipe and seed)."""

    spec: FusionSpec
    teacher_spec: FusionSpec
    teacher_params: int
    student_params: int
    parts: Parts
    decision: QuantizationResult  # validation stage: float vs PTQ, whether QAT is needed
    n_final_train: int
    tflite: bytes  # the final int8 student
    qat_final: bool  # QAT ran on the final student (decided on validation, or PTQ changed
    final_ptq_disagreement: float  # the class of this fraction of the final training rows)
    teacher_pred: np.ndarray
    student_pred: np.ndarray  # final float student before any QAT
    student_after_qat_pred: np.ndarray
    int8_pred: np.ndarray
    logistic_pred: np.ndarray
    single_branch_pred: dict[str, np.ndarray]
    zeroed_int8_pred: dict[str, np.ndarray]


def _teacher_and_student(task: TaskData, recipe: Recipe, x_train: dict, y_train: np.ndarray,
                         *, seed: int):
    spec = student_spec(task, recipe)
    teacher_spec = spec.scaled(width_multiplier=recipe.teacher_multiplier,
                               head_units=int(spec.head_units * recipe.teacher_multiplier))
    log.info("%s: teacher (%d rows)", task.name, len(y_train))
    teacher = _train_plain(teacher_spec, x_train, y_train, recipe,
                           epochs=recipe.teacher_epochs, seed=seed)
    log.info("%s: student (distilled)", task.name)
    keras.utils.set_random_seed(seed + 1)
    student = build_model(spec, seed=seed)
    distill(student, teacher, as_inputs(spec, x_train), y_train,
            temperature=recipe.temperature, alpha=recipe.distill_alpha,
            epochs=recipe.student_epochs, batch_size=recipe.batch_size,
            learning_rate=recipe.learning_rate)
    return spec, teacher_spec, teacher, student


def _single_branches(task: TaskData, recipe: Recipe, data: FinalData, tflite: bytes, *,
                     seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Test predictions of single-branch students trained alone, and of the fused int8
    model with the other modalities zeroed (empty for one-modality tasks)."""
    alone, zeroed = {}, {}
    if len(task.modality_names) < 2:
        return alone, zeroed
    for name in task.modality_names:
        spec = student_spec(task, recipe, names=(name,))
        model = _train_plain(spec, data.x_train, data.y_train, recipe,
                             epochs=recipe.student_epochs, seed=seed)
        alone[name] = _predict(model, as_inputs(spec, data.x_test))
        only = {n: (x if n == name else np.zeros_like(x)) for n, x in data.x_test.items()}
        zeroed[name] = predict_int8(tflite, only).argmax(1)
    return alone, zeroed


def decide_quantization(task: TaskData, recipe: Recipe, parts: Parts, *,
                        seed: int) -> QuantizationResult:
    """Validation stage: teacher and student trained on the fit rows; int8 PTQ vs float on
    the validation rows decides whether the final student gets QAT."""
    spec, _, _, student = _teacher_and_student(task, recipe, parts.x_fit, parts.y_fit,
                                               seed=seed)
    log.info("%s: int8 decision on validation", task.name)
    compression = CompressionSpec(quantization="int8-qat", qat_threshold=recipe.qat_threshold,
                                  representative_samples=recipe.representative_samples)
    return quantize_model(student, compression,
                          train=(as_inputs(spec, parts.x_fit), parts.y_fit),
                          val=(as_inputs(spec, parts.x_val), parts.y_val),
                          epochs=recipe.qat_epochs)


def final_int8(student: keras.Model, spec: FusionSpec, data: FinalData, recipe: Recipe, *,
               qat: bool) -> tuple[bytes, bool, float]:
    """The final student to int8: ``(tflite, qat_applied, ptq_disagreement)``.

    PTQ first; QAT fine-tuning on every training row (same epochs as ``quantize_model``)
    follows when it was decided on validation, or when PTQ changes the class of more than
    ``recipe.qat_threshold`` of the training rows (label-free, so no test row is needed).
    """
    inputs = as_inputs(spec, data.x_train)
    tflite = convert_int8(student, inputs, n_samples=recipe.representative_samples)
    changed = int8_disagreement(tflite, student, inputs)
    if not (qat or changed > recipe.qat_threshold):
        return tflite, False, changed
    fake_quant_finetune(student, inputs, data.y_train, bits=8, epochs=recipe.qat_epochs)
    return convert_int8(student, inputs, n_samples=recipe.representative_samples), True, changed


def measure(task: TaskData, recipe: Recipe, *, seed: int = 0) -> Measured:
    """Decide on QAT on validation, refit teacher and student on train + validation with the
    same recipe and seed, quantize as decided, predict the test rows with every model."""
    parts = split_parts(task, recipe, seed=seed)
    decision = decide_quantization(task, recipe, parts, seed=seed)
    data = final_data(task)
    log.info("%s: final fit on train+validation, QAT %s", task.name, decision.qat_applied)
    spec, teacher_spec, teacher, student = _teacher_and_student(
        task, recipe, data.x_train, data.y_train, seed=seed)
    test_in = as_inputs(spec, data.x_test)
    student_pred = _predict(student, test_in)
    tflite, qat_final, changed = final_int8(student, spec, data, recipe,
                                            qat=decision.qat_applied)
    alone, zeroed = _single_branches(task, recipe, data, tflite, seed=seed)
    return Measured(
        spec=spec, teacher_spec=teacher_spec, teacher_params=int(teacher.count_params()),
        student_params=int(student.count_params()), parts=parts, decision=decision,
        n_final_train=int(len(data.y_train)), tflite=tflite,
        teacher_pred=_predict(teacher, test_in), student_pred=student_pred,
        qat_final=qat_final, final_ptq_disagreement=changed,
        student_after_qat_pred=_predict(student, test_in) if qat_final else student_pred,
        int8_pred=predict_int8(tflite, data.x_test).argmax(1),
        logistic_pred=baselines.logistic_regression(task.x_train, task.y_train, task.x_test,
                                                    names=task.modality_names, seed=seed),
        single_branch_pred=alone, zeroed_int8_pred=zeroed)


def hit_rate(predicted: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(predicted) == np.asarray(labels)))


def accuracy_block(y_test: np.ndarray, *, teacher: np.ndarray, student: np.ndarray,
                   after_qat: np.ndarray, int8: np.ndarray) -> dict[str, float]:
    """Test accuracies, the int8 - float difference (float = after any QAT) and how often
    the int8 student answers the same class as the float one."""
    block = {"teacher_float": hit_rate(teacher, y_test),
             "student_float": hit_rate(student, y_test),
             "student_float_after_qat": hit_rate(after_qat, y_test),
             "student_int8": hit_rate(int8, y_test)}
    block["int8_minus_float_points"] = 100 * (block["student_int8"]
                                              - block["student_float_after_qat"])
    block["int8_agrees_with_float"] = hit_rate(int8, after_qat)
    return block


def per_modality_block(y_test: np.ndarray, *, alone: dict[str, np.ndarray],
                       zeroed: dict[str, np.ndarray], fused_float: float,
                       fused_int8: float) -> dict[str, Any]:
    """Single-branch accuracies and the fused gain over the best separately trained one."""
    alone_acc = {name: hit_rate(pred, y_test) for name, pred in alone.items()}
    return {
        "single_branch_float_accuracy": alone_acc,
        "fused_int8_with_others_zeroed_accuracy": {
            name: hit_rate(pred, y_test) for name, pred in zeroed.items()},
        "fused_gain_float_points": 100 * fused_gain(fused_float, alone_acc),
        "fused_gain_int8_points": 100 * fused_gain(fused_int8, alone_acc),
        "best_single_branch": max(alone_acc, key=alone_acc.get),
    }


def runs_in_tflite_micro(tflite: bytes) -> bool:
    """One inference on zero int8 inputs in the TFLite Micro reference interpreter."""
    try:
        zeros = [np.zeros(t.shape, np.int8) for t in inspect_tflite(tflite).inputs]
        reference_invoke(tflite, zeros)
    except ExportError as exc:
        log.warning("tflite_micro cannot run the model: %s", exc)
        return False
    return True


def footprint_block(tflite: bytes) -> dict[str, Any]:
    """Weights, planned RAM, TFLM arena and MACs of the int8 model, and whether TFLM runs it."""
    cost = footprint(tflite)
    return {"runs_in_tflite_micro": runs_in_tflite_micro(tflite),
        "student_weights_bytes": cost.weights_bytes, "flash_estimate_bytes": cost.flash_bytes,
        "peak_ram_plan_bytes": cost.arena_bytes, "ram_estimate_bytes": cost.ram_bytes,
        "tflm_arena_bytes": tflm_arena_bytes(tflite), "macs": cost.macs,
        "tflite_bytes": len(tflite), "source": cost.source,
        "flash_note": "flash estimate = constant bytes + a fixed 40 KiB runtime allowance",
    }


def validation_block(run: Measured) -> dict[str, Any]:
    """How validation was carved and what it decided (validation-stage models: teacher and
    student trained on the fit rows only; accuracies on the validation rows)."""
    decision = run.decision
    return {**run.parts.validation, "float": decision.float_accuracy,
            "int8_ptq": decision.ptq_accuracy, "int8_final": decision.final_accuracy,
            "ptq_disagreement": decision.ptq_disagreement, "qat_decided": decision.qat_applied}


def _tag_accuracy(task: TaskData, predicted: np.ndarray) -> dict[str, dict[str, Any]]:
    """Accuracy within every value of every test tag (e.g. per ``source``)."""
    out: dict[str, dict[str, Any]] = {}
    for tag, values in task.test_tags.items():
        out[tag] = {}
        for value in sorted(set(values.tolist())):
            rows = values == value
            counts = np.bincount(task.y_test[rows], minlength=len(task.classes))
            out[tag][value] = {"n": int(rows.sum()),
                               "accuracy": hit_rate(predicted[rows], task.y_test[rows]),
                               "class_counts": counts.tolist(),
                               "best_constant_accuracy": float(counts.max() / rows.sum())}
    return out


QAT_DECISION = ("QAT when PTQ loses more than qat_threshold accuracy on the VALIDATION split "
                "or changes the class of more than that fraction of its rows (see "
                "result.validation), or when PTQ of the final student changes the class of "
                "more than that fraction of the training rows (label-free); never on test")
FINAL_FIT = ("train+validation after decisions on validation: teacher and student refitted "
             "on every training row with the same recipe and seed, QAT as in qat_decision; "
             "test accuracies are the final models'")


def run_classification(task: TaskData, recipe: Recipe, *, seed: int = 0,
                       model_path: Path | None = None) -> dict[str, Any]:
    """Train, distil, quantize and measure one classification task; JSON-ready dict.

    ``model_path``: where to write the final int8 student ``.tflite`` (not written if None).
    """
    run = measure(task, recipe, seed=seed)
    save_model(run.tflite, model_path)
    acc = accuracy_block(task.y_test, teacher=run.teacher_pred, student=run.student_pred,
                         after_qat=run.student_after_qat_pred, int8=run.int8_pred)
    result: dict[str, Any] = {
        "n_train": run.n_final_train, "n_val": run.parts.validation["n_val"],
        "final_fit": FINAL_FIT,
        "n_test": int(len(task.y_test)), "classes": list(task.classes),
        "test_class_counts": np.bincount(task.y_test, minlength=len(task.classes)).tolist(),
        "student_spec": run.spec.to_dict(), "teacher_spec": run.teacher_spec.to_dict(),
        "recipe": {k: getattr(recipe, k) for k in Recipe.__slots__},
        "teacher_params": run.teacher_params, "student_params": run.student_params,
        "accuracy": {**acc, "qat_applied": run.qat_final,
                     "final_ptq_disagreement": run.final_ptq_disagreement,
                     "qat_decision": QAT_DECISION},
        "validation": validation_block(run),
        "int8_by_tag": _tag_accuracy(task, run.int8_pred),
        "int8_confusion": confusion_matrix(task.y_test, run.int8_pred,
                                           n_classes=len(task.classes)).tolist(),
        "footprint": footprint_block(run.tflite),
        "baselines": {
            "majority": baselines.majority(task.y_train, task.y_test),
            "logistic_regression": {
                "accuracy": hit_rate(run.logistic_pred, task.y_test),
                "by_tag": _tag_accuracy(task, run.logistic_pred),
                "features": "standardised, flattened, concatenated features of all modalities",
            },
        },
    }
    if run.single_branch_pred:
        result["per_modality"] = per_modality_block(
            task.y_test, alone=run.single_branch_pred, zeroed=run.zeroed_int8_pred,
            fused_float=acc["student_float_after_qat"], fused_int8=acc["student_int8"])
    return result

