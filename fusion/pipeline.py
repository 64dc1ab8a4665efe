"""config -> features -> teacher -> student search -> distil -> prune -> quantize -> export ->
report. Each step is a small function; ``run_build`` wires them and logs progress."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from fusion import export, report
from fusion.compress import (
    QuantizationResult,
    candidate_grid,
    footprint,
    prune_and_finetune,
    quantize_model,
    search,
)
from fusion.config import AppConfig
from fusion.features import (
    FeatureStore,
    adopt_data_classes,
    fit_stats,
    labels_of,
    load_samples,
    model_inputs,
    restrict_to_present,
)
from fusion.model import build_model
from fusion.spec import FusionSpec
from fusion.split import time_tail, validation_split
from fusion.train import accuracy, distill, train_classifier
from sensors.errors import DataError

log = logging.getLogger(__name__)
STEPS = ("data", "features", "teacher", "search", "distill", "prune", "quantize", "export",
         "report")


def _step(name: str) -> None:
    log.info("[%d/%d] %s", STEPS.index(name) + 1, len(STEPS), name)


@dataclass
class Split:
    """Sample rows of the train / validation / test parts; the three are disjoint.

    ``kind`` is ``"by group"`` (no group on both sides) or ``"by time"`` (every recording
    split in time). ``validation`` says how ``val`` was made (``fusion.split.Carved.how``):
    whole held-out groups, or held-out rows / time tails when there are too few groups.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    kind: str
    validation: str


def split_by_group(result, *, test_fraction: float, val_fraction: float, seed: int) -> Split:
    """Test groups first, then validation carved from the rest: train = all - test - val
    (``fusion.split.validation_split``; it logs a warning when it must fall back to rows)."""
    train_part, test_part = result.group_split(test_fraction=test_fraction, seed=seed)
    test_groups = {s.group for s in test_part.samples}
    if not test_groups or len(train_part) == 0:
        raise DataError(f"{result.name}: too few groups for a train/test split by group")
    groups = np.array([s.group for s in result.samples])
    labels = np.array([s.label for s in result.samples])
    test = np.flatnonzero(np.isin(groups, list(test_groups)))
    rest = np.flatnonzero(~np.isin(groups, list(test_groups)))
    carved = validation_split(groups[rest], labels[rest], fraction=val_fraction, seed=seed + 1)
    log.info("validation: %s (%d rows); %d training rows", carved.how, len(carved.val),
             len(carved.train))
    return Split(train=rest[carved.train], val=rest[carved.val], test=test, kind="by group",
                 validation=carved.how)


def _time_positions(samples) -> np.ndarray | None:
    starts = [s.meta_value("start_fraction") for s in samples]
    if all(isinstance(v, int | float) for v in starts):
        return np.asarray(starts, np.float64)
    return None


def split_by_time(result, *, test_fraction: float, val_fraction: float, seed: int) -> Split:
    """The last ``test_fraction`` of every recording tests, the tail of what remains
    validates (one window between the parts is dropped: windows may overlap)."""
    groups = np.array([s.group for s in result.samples])
    labels = np.array([s.label for s in result.samples])
    positions = _time_positions(result.samples)
    if positions is None:
        raise DataError(f"{result.name}: a split in time needs every sample's start_fraction")
    order = np.argsort(positions, kind="stable")
    rest, test = time_tail(groups[order], fraction=test_fraction)
    rest, test = order[rest], order[test]
    carved = validation_split(groups[rest], labels[rest], fraction=val_fraction, seed=seed + 1,
                              fallback="time")
    how = f"by time within each recording; validation: {carved.how}"
    log.warning("%s: %s", result.name, how)
    return Split(train=rest[carved.train], val=rest[carved.val], test=np.sort(test),
                 kind="by time", validation=how)


def split_samples(result, *, test_fraction: float, val_fraction: float, seed: int) -> Split:
    """By group, unless some class is recorded in one group only (CWRU: one recording per
    fault) and the windows know their time position: a group split would then test classes
    it never trained on, so each recording is split in time instead."""
    groups = np.array([s.group for s in result.samples])
    labels = np.array([s.label for s in result.samples])
    lonely = [c for c in sorted(set(labels.tolist()))
              if len(set(groups[labels == c].tolist())) < 2]
    if lonely and _time_positions(result.samples) is not None:
        log.info("classes %s are each recorded in one group only", lonely)
        return split_by_time(result, test_fraction=test_fraction, val_fraction=val_fraction,
                             seed=seed)
    return split_by_group(result, test_fraction=test_fraction, val_fraction=val_fraction,
                          seed=seed)


@dataclass
class Prepared:
    spec: FusionSpec
    stats: dict
    x_train: list
    x_val: list
    x_test: list


def prepare(store: FeatureStore, spec: FusionSpec, split: Split) -> Prepared:
    stats = fit_stats(store, spec, split.train)
    return Prepared(spec=spec, stats=stats,
                    x_train=model_inputs(store, spec, split.train, stats),
                    x_val=model_inputs(store, spec, split.val, stats),
                    x_test=model_inputs(store, spec, split.test, stats))


def _int8_acc(tflite: bytes, spec: FusionSpec, inputs: list, labels, *, zero=()) -> float:
    feats = {m.name: (np.zeros_like(x) if m.name in zero else x)
             for m, x in zip(spec.modalities, inputs, strict=True)}
    probs = export.predict_int8(tflite, feats)
    return float(np.mean(probs.argmax(axis=1) == labels))


def per_modality_accuracy(tflite: bytes, spec: FusionSpec, inputs: list, labels) -> dict:
    """int8 accuracy with only one modality present (the others fed as zeros)."""
    if len(spec.modalities) < 2:
        return {}
    names = spec.modality_names
    return {name: _int8_acc(tflite, spec, inputs, labels,
                            zero=tuple(n for n in names if n != name)) for name in names}


def params_json(config: AppConfig, spec: FusionSpec, stats: dict, tflite: bytes) -> dict:
    """The bundle's ``params.json``: spec, front-ends, standardisation, int8 I/O, classes."""
    info = export.inspect_tflite(tflite)
    inputs = {t.name: t for t in info.inputs}
    modalities = []
    for modality in spec.modalities:
        tensor = inputs[modality.name]
        mean, scale = stats[modality.name]
        modalities.append({**modality.to_dict(), "input_index": info.inputs.index(tensor),
                           "input_scale": tensor.scale, "input_zero_point": tensor.zero_point,
                           "input_shape": list(tensor.shape),
                           "standardize": {"mean": mean.tolist(), "scale": scale.tolist()}})
    out = info.outputs[0]
    return {"app": config.name, "spec": spec.to_dict(), "spec_hash": spec.spec_hash(),
            "classes": list(spec.classes), "modalities": modalities,
            "output": {"scale": out.scale, "zero_point": out.zero_point,
                       "shape": list(out.shape)},
            "ops": list(info.ops), "compression": config.compression.to_dict(),
            "budget": config.budget.to_dict(),
            "decision_threshold": config.train.decision_threshold}


def write_bundle(out_dir: Path, tflite: bytes, params: dict) -> None:
    header, source = export.c_sources(tflite, spec_hash=params["spec_hash"])
    (out_dir / "model.tflite").write_bytes(tflite)
    (out_dir / "model_data.h").write_text(header)
    (out_dir / "model_data.cc").write_text(source)
    (out_dir / "params.json").write_text(json.dumps(params, indent=2) + "\n")


@dataclass
class BuildResult:
    """The bundle folder, its report, and the int8 model's probabilities on the validation
    split (``val_probs`` ``(n, classes)``, ``val_labels`` ``(n,)``) for threshold calibration."""

    out_dir: Path
    report: dict[str, Any]
    val_probs: np.ndarray
    val_labels: np.ndarray


def _teacher(config: AppConfig, prepared: Prepared, labels: np.ndarray) -> keras.Model:
    spec = prepared.spec.scaled(width_multiplier=config.compression.teacher_width_multiplier,
                                head_units=prepared.spec.head_units * 2)
    model = build_model(spec, seed=config.data.seed)
    train_classifier(model, prepared.x_train, labels, epochs=config.train.teacher_epochs,
                     batch_size=config.train.batch_size,
                     learning_rate=config.train.learning_rate)
    return model


def _student(config, store, split, base, labels):
    """Search the candidates, then distil the winner (or train it on hard labels when its
    inputs differ from the teacher's)."""
    settings = config.train
    depths = settings.depths or (None,)
    grid = candidate_grid(base, width_multipliers=settings.width_multipliers, depths=depths,
                          input_scales=settings.input_scales)
    cache: dict[tuple, Prepared] = {}

    def features_for(spec):
        key = spec.modalities
        if key not in cache:
            cache[key] = prepare(store, spec, split)
        p = cache[key]
        return (p.x_train, labels[split.train]), (p.x_val, labels[split.val])

    best, results = search(grid, config.budget, features_for, epochs=settings.search_epochs,
                           seed=config.data.seed)
    features_for(best)
    return best, cache[best.modalities], results


def _compress(config, student, spec, teacher, prepared, y_train, distilled):
    comp, settings = config.compression, config.train

    def finetune(pruned: keras.Model) -> None:
        if distilled:
            distill(pruned, teacher, prepared.x_train, y_train,
                    temperature=comp.temperature, alpha=comp.distill_alpha,
                    epochs=settings.finetune_epochs, batch_size=settings.batch_size,
                    learning_rate=settings.learning_rate)
        else:
            train_classifier(pruned, prepared.x_train, y_train,
                             epochs=settings.finetune_epochs, batch_size=settings.batch_size,
                             learning_rate=settings.learning_rate)

    if comp.prune_fraction > 0:
        _step("prune")
    return prune_and_finetune(student, spec, fraction=comp.prune_fraction, finetune=finetune)


def run_build(config: AppConfig, out_dir: str | Path, *, data_dir: str | None = None,
              ) -> BuildResult:
    """Run every step and write the bundle and report files into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.data.seed)
    _step("data")
    result = load_samples(config.data, data_dir=data_dir)
    base = adopt_data_classes(restrict_to_present(config.fusion, result.modalities),
                              result.samples)
    labels = labels_of(result.samples, base.classes)
    split = split_samples(result, test_fraction=config.data.test_fraction,
                           val_fraction=config.train.validation_fraction, seed=config.data.seed)
    _step("features")
    store = FeatureStore.of(result)
    prepared = prepare(store, base, split)
    y_train, y_test = labels[split.train], labels[split.test]
    _step("teacher")
    teacher = _teacher(config, prepared, y_train)
    _step("search")
    spec, student_prep, candidates = _student(config, store, split, base, labels)
    _step("distill")
    keras.utils.set_random_seed(config.data.seed)
    student = build_model(spec, seed=config.data.seed)
    distilled = spec.modalities == base.modalities
    if distilled:
        distill(student, teacher, student_prep.x_train, y_train,
                temperature=config.compression.temperature,
                alpha=config.compression.distill_alpha, epochs=config.train.student_epochs,
                batch_size=config.train.batch_size, learning_rate=config.train.learning_rate)
    else:
        train_classifier(student, student_prep.x_train, y_train,
                         epochs=config.train.student_epochs, batch_size=config.train.batch_size,
                         learning_rate=config.train.learning_rate)
    spec, student = _compress(config, student, spec, teacher, student_prep, y_train, distilled)
    _step("quantize")
    quant = quantize_model(student, config.compression, train=(student_prep.x_train, y_train),
                           val=(student_prep.x_val, labels[split.val]),
                           epochs=config.train.quantize_epochs)
    _step("export")
    params = params_json(config, spec, student_prep.stats, quant.tflite)
    write_bundle(out, quant.tflite, params)
    _step("report")
    report_data = _report(config, result, split, spec, student, quant,
                          teacher_acc=accuracy(teacher, prepared.x_test, y_test),
                          prepared=student_prep, y_test=y_test, candidates=candidates, out=out)
    report.write_report(report_data, out)
    val_probs = export.predict_int8(quant.tflite, dict(zip(spec.modality_names,
                                                           student_prep.x_val, strict=True)))
    return BuildResult(out_dir=out, report=report_data, val_probs=val_probs,
                       val_labels=labels[split.val])


def _test_accuracy(spec, student, quant: QuantizationResult, *, prepared, y_test,
                   teacher_acc: float) -> dict:
    """Accuracies on the TEST split (float student with its final weights, int8 model,
    one modality at a time); the validation numbers that steered QAT are kept apart."""
    int8_acc = _int8_acc(quant.tflite, spec, prepared.x_test, y_test)
    per_mod = per_modality_accuracy(quant.tflite, spec, prepared.x_test, y_test)
    return {
        "teacher_float": teacher_acc,
        "student_float": accuracy(student, prepared.x_test, y_test),
        "student_int8": int8_acc, "quantization": quant.mode, "qat_applied": quant.qat_applied,
        "validation": {"student_float": quant.float_accuracy,
                       "student_int8_ptq": quant.ptq_accuracy,
                       "student_int8": quant.final_accuracy,
                       "note": "measured on the validation split; these steer QAT"},
        "per_modality": per_mod,
        "fused_gain_over_best_branch": report.fused_gain(int8_acc, per_mod),
        "fused_beats_every_branch": all(int8_acc > v for v in per_mod.values()),
    }


def _report(config, result, split, spec, student, quant: QuantizationResult, *, teacher_acc,
            prepared, y_test, candidates, out: Path) -> dict:
    tflite = quant.tflite
    probs = export.predict_int8(tflite, dict(zip(spec.modality_names, prepared.x_test,
                                                 strict=True)))
    matrix = report.confusion_matrix(y_test, probs.argmax(1), n_classes=len(spec.classes))
    report.write_confusion_png(matrix, spec.classes, out / "confusion.png")
    (out / "summary.txt").write_text(report.summary(student) + "\n")
    cost = footprint(tflite)
    accuracy_block = _test_accuracy(spec, student, quant, prepared=prepared, y_test=y_test,
                                    teacher_acc=teacher_acc)
    return {
        "app": config.name, "spec_hash": spec.spec_hash(),
        "decision_threshold": config.train.decision_threshold,
        "accuracy": {**accuracy_block, "confusion_matrix": matrix.tolist()},
        "model": {
            "weights_bytes": cost.weights_bytes, "flash_bytes_estimate": cost.flash_bytes,
            "ram_peak_bytes": cost.ram_bytes, "arena_bytes": cost.arena_bytes,
            "tflm_arena_bytes": export.tflm_arena_bytes(tflite), "macs": cost.macs,
            "tflite_bytes": len(tflite), "tflite_sha256": hashlib.sha256(tflite).hexdigest(),
            "footprint_source": cost.source, "fits_budget": cost.fits(config.budget),
            "packed_4bit_weights_bytes": quant.packed_4bit_weights_bytes,
            "branch_widths": {b.modality: b.width for b in spec.branches},
            "head_units": spec.head_units,
        },
        "data": {
            "dataset": result.name, "split": split.kind, "n_train": int(len(split.train)),
            "n_val": int(len(split.val)), "n_test": int(len(split.test)),
            "validation": split.validation, "classes": list(spec.classes),
            "n_skipped": len(getattr(result, "skipped", ())),
        },
        "budget": config.budget.to_dict(),
        "search": [{"widths": [b.width for b in c.spec.branches],
                    "input_shapes": [list(m.output_shape) for m in c.spec.modalities],
                    "flash_bytes": c.cost.flash_bytes, "ram_bytes": c.cost.ram_bytes,
                    "macs": c.cost.macs, "fits": c.fits, "val_accuracy": c.accuracy}
                   for c in candidates],
    }
