"""The build as an ordered list of small named passes, in the spirit of hls4ml's optimizer
passes: ``load -> split -> features -> teacher -> search -> distill -> prune -> quantize ->
refit -> export -> report`` (``refit`` only with ``[train] refit = true``).
``tinyfuse.apps.build`` adds ``calibrate`` after ``quantize``: thresholds are calibrated on the
validation scores of a model that never trained on them.

Each pass is a function of one :class:`BuildState`: it reads what earlier passes left there and
adds its own product (:meth:`BuildState.need` names the pass that should have run). The
quantize pass makes the :class:`~tinyfuse.core.bundle.Bundle` in memory; calibration adds the
policy; export writes it once (atomically). Every int8 number (validation scores, test
accuracy, per-modality accuracy) comes from TFLite Micro (``tinyfuse.core.tflm``).

Examples
--------
>>> from tinyfuse.fusion.config import load_config
>>> result = run_build(load_config("apps/posture/app.toml"), "out/posture")  # doctest: +SKIP
>>> " ".join(p.name for p in PASSES)
'load split features teacher search distill prune quantize compare refit export report'
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tinyfuse.core.bundle import Bundle, BundleInput, BundleOutput, atomic_write
from tinyfuse.core.errors import DataError, TinyfuseError
from tinyfuse.core.tflm import ReferenceModel, inspect_tflite, tflm_arena_bytes
from tinyfuse.fusion import baseline, compare, export, report
from tinyfuse.fusion.compress import (
    QuantizationResult,
    candidate_grid,
    footprint,
    prune_and_finetune,
    quantize_model,
    search,
)
from tinyfuse.fusion.config import AppConfig
from tinyfuse.fusion.features import (
    FeatureStore,
    adopt_data_classes,
    fit_stats,
    labels_of,
    load_samples,
    model_inputs,
    restrict_to_present,
)
from tinyfuse.fusion.feedback import drift_reference
from tinyfuse.fusion.metrics import (
    balanced_accuracy,
    class_metrics,
    confusion_matrix,
    per_group,
    roc_auc,
    write_confusion_png,
)
from tinyfuse.fusion.metrics import warnings_for as metrics_warnings
from tinyfuse.fusion.model import build_model
from tinyfuse.fusion.spec import FusionSpec
from tinyfuse.fusion.split import Split, split_mismatch, split_samples
from tinyfuse.fusion.train import (
    Fit,
    Recipe,
    accuracy,
    distill,
    fit_logistic,
    predicted_classes,
    train_classifier,
)

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """Standardisation fitted on the training rows and the standardised inputs of each part
    (model input order)."""

    spec: FusionSpec
    stats: dict
    x_train: list
    x_val: list
    x_test: list


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportPart:
    """Something a pass adds to the build's report: a file to write beside it and a model
    card section."""

    file_name: str
    text: str
    card_section: str


@dataclass
class BuildState:
    """What the passes share; each field is set by the pass named in its comment."""

    config: AppConfig
    out_dir: Path
    data_dir: str | None = None
    data: Any = None                       # load: the LoadResult
    base: FusionSpec | None = None         # load: the app's spec on the data's modalities
    labels: np.ndarray | None = None       # load: integer label per sample
    split: Split | None = None             # split
    store: FeatureStore | None = None      # features
    prepared: Prepared | None = None       # features: inputs of the base spec
    teacher: keras.Model | None = None     # teacher
    spec: FusionSpec | None = None         # search: the student's spec (prune narrows it)
    student_prep: Prepared | None = None   # search: inputs of the student's spec
    candidates: list = field(default_factory=list)  # search
    student: keras.Model | None = None     # distill (prune replaces it)
    distilled: bool = False                # distill: taught by the teacher (same inputs)
    quant: QuantizationResult | None = None  # quantize
    bundle: Bundle | None = None           # quantize (calibrate adds the policy)
    val_probs: np.ndarray | None = None    # quantize: int8 scores on the validation split
    report: dict = field(default_factory=dict)  # report
    parts: list[ReportPart] = field(default_factory=list)  # any pass
    products: dict[str, Any] = field(default_factory=dict)  # any pass: what else it made

    def need(self, name: str) -> Any:
        """The field ``name``; a ``TinyfuseError`` naming it when no pass has set it."""
        value = getattr(self, name)
        if value is None:
            raise TinyfuseError(f"build: {name!r} is not set; a pass that makes it did not "
                                f"run before this one")
        return value

    @property
    def y_train(self) -> np.ndarray:
        return self.need("labels")[self.need("split").train]

    @property
    def train_groups(self) -> np.ndarray:
        """The group of each training row (as strings)."""
        samples = self.need("data").samples
        return np.array([str(samples[int(i)].group) for i in self.need("split").train])

    @property
    def y_val(self) -> np.ndarray:
        return self.need("labels")[self.need("split").val]

    @property
    def y_test(self) -> np.ndarray:
        return self.need("labels")[self.need("split").test]


@dataclass(frozen=True, slots=True)
class Pass:
    """One named step of the build."""

    name: str
    run: Callable[[BuildState], None]


def prepare(store: FeatureStore, spec: FusionSpec, split: Split) -> Prepared:
    """Fit the standardisation on the training rows and standardise every part."""
    stats = fit_stats(store, spec, split.train)
    x_train = model_inputs(store, spec, split.train, stats)
    if all(np.ptp(x) == 0 for x in x_train):
        raise DataError(f"features: every feature of the {len(split.train)} training samples "
                        f"is constant ({', '.join(spec.modality_names)}): the data carries "
                        f"nothing a model could learn; check the files and the front-end")
    return Prepared(spec=spec, stats=stats, x_train=x_train,
                    x_val=model_inputs(store, spec, split.val, stats),
                    x_test=model_inputs(store, spec, split.test, stats))


# --- the passes ------------------------------------------------------------------------------


def load_pass(state: BuildState) -> None:
    """Load the samples the config names; keep the modalities and classes the data has."""
    config = state.config
    state.data = load_samples(config.data, data_dir=state.data_dir,
                              modalities=config.fusion.modality_names)
    state.base = adopt_data_classes(restrict_to_present(config.fusion, state.data.modalities),
                                    state.data.samples)
    state.labels = labels_of(state.data.samples, state.base.classes)


def split_pass(state: BuildState) -> None:
    """Train / validation / test, by group (or in time when a class has one recording)."""
    config = state.config
    state.split = split_samples(state.need("data"), test_fraction=config.data.test_fraction,
                                val_fraction=config.train.validation_fraction,
                                seed=config.data.seed, test_groups=config.data.test_groups,
                                how=config.data.split)


def features_pass(state: BuildState) -> None:
    """Front-end features through the Preprocessor; standardisation fitted on train."""
    state.store = FeatureStore.of(state.need("data"))
    state.prepared = prepare(state.store, state.need("base"), state.need("split"))


AUGMENT = (0.1, 0.1, 1)  # noise std, gain std (standardised units), max shift in cells


TEACHER_EXTEND = 4  # a teacher still improving at teacher_epochs trains on, up to 4x as long


def recipe(state: BuildState, epochs: int, *, fixed: bool = False,
           fresh: bool = True, extend: int = 1) -> Recipe:
    """The ``[train]`` recipe with ``epochs`` as its ceiling (``fixed``: exactly ``epochs``,
    no validation, as a refit trains; ``fresh``: a model from scratch, which gets at least
    ``2 * patience`` epochs before it may stop; ``extend``: see ``Recipe``); augmented when
    the teacher pass chose it."""
    settings = state.config.train
    return Recipe(epochs=max(1, epochs), batch_size=settings.batch_size,
                  learning_rate=settings.learning_rate,
                  patience=0 if fixed else settings.patience,
                  min_epochs=2 * settings.patience if fresh else 0, extend=extend,
                  balanced=settings.class_balance,
                  augment=AUGMENT if state.products.get("augment") else None,
                  seed=state.config.data.seed)


def _teacher_spec(state: BuildState) -> FusionSpec:
    spec = state.need("prepared").spec
    return spec.scaled(width_multiplier=state.config.compression.teacher_width_multiplier,
                       head_units=spec.head_units * 2)


def _new_teacher(state: BuildState) -> keras.Model:
    keras.utils.set_random_seed(state.config.data.seed)
    return build_model(_teacher_spec(state), seed=state.config.data.seed)


def teacher_pass(state: BuildState) -> None:
    """A wide teacher on the base spec's inputs, trained under the recipe (``augment =
    "auto"``: once plain and once augmented, the better on validation kept) to convergence:
    still improving at ``teacher_epochs``, it trains on, up to ``TEACHER_EXTEND`` times as
    long; and the logistic regression it must at least match on validation. Students keep
    their ceilings: on small validation splits a longer search only fits the split's noise
    (the posture demo's deep student, trained on past its ceiling, beat the linear one on 28
    validation samples and lost to it by 7 points on the test split)."""
    config, prepared = state.config, state.need("prepared")
    validation = (prepared.x_val, state.y_val)
    mode = config.train.augment
    tries = {"off": [False], "on": [True], "auto": [False, True]}[mode]
    best = None
    for augment in tries:
        state.products["augment"] = augment
        teacher = _new_teacher(state)
        fit = train_classifier(teacher, prepared.x_train, state.y_train,
                               recipe=recipe(state, config.train.teacher_epochs,
                                             extend=TEACHER_EXTEND),
                               validation=validation)
        log.info("teacher%s: validation balanced accuracy %s after %d epochs (kept %d)",
                 " (augmented)" if augment else "", fit.val_balanced_accuracy, fit.epochs_run,
                 fit.best_epoch)
        score = fit.val_balanced_accuracy or 0.0
        if best is None or score > best[0] + 1e-9:
            best = (score, augment, teacher, fit)
    assert best is not None
    _, state.products["augment"], state.teacher, state.products["teacher_fit"] = best
    linear = baseline.logistic_regression(prepared.x_train, state.y_train, prepared.x_val,
                                          seed=config.data.seed)
    state.products["validation_baselines"] = {
        "teacher_float": best[0],
        "logistic_regression": balanced_accuracy(state.y_val, linear),
        "augmented": bool(state.products["augment"]),
    }


def search_pass(state: BuildState) -> None:
    """The best candidate student that fits the budget, the linear one included, each trained
    with the student's recipe and judged on validation by int8 balanced accuracy (ties go to
    the smallest); the winner's trained model is kept for the distill pass."""
    config, store, split = state.config, state.need("store"), state.need("split")
    labels, settings = state.need("labels"), config.train
    grid = candidate_grid(state.need("base"), width_multipliers=settings.width_multipliers,
                          depths=settings.depths or (None,), input_scales=settings.input_scales,
                          linear=settings.linear_candidate,
                          drop_branches=settings.branch_selection, fusions=settings.fusions)
    cache: dict[tuple, Prepared] = {state.need("base").modalities: state.need("prepared")}

    def features_for(spec: FusionSpec):
        if spec.modalities not in cache:
            cache[spec.modalities] = prepare(store, spec, split)
        part = cache[spec.modalities]
        return (part.x_train, labels[split.train]), (part.x_val, labels[split.val])

    def train(spec: FusionSpec, model: keras.Model, train_split, val_split) -> Fit:
        if spec.is_linear:  # solved exactly: the linear student is the logistic regression
            return fit_logistic(model, train_split[0], train_split[1],
                                balanced=settings.class_balance, seed=config.data.seed,
                                validation=val_split, groups=state.train_groups)
        plan = recipe(state, settings.candidate_epochs)
        if spec.modalities == state.need("base").modalities:  # as the student will be taught
            return distill(model, state.need("teacher"), train_split[0], train_split[1],
                           temperature=config.compression.temperature,
                           alpha=config.compression.distill_alpha, recipe=plan,
                           validation=val_split)
        return train_classifier(model, train_split[0], train_split[1], recipe=plan,
                                validation=val_split)

    samples = state.need("data").samples
    val_groups = np.array([str(samples[int(i)].group) for i in split.val])
    best, state.candidates = search(grid, config.budget, features_for, train=train,
                                    seed=config.data.seed, val_groups=val_groups)
    features_for(best)
    state.spec, state.student_prep = best, cache[best.modalities]


def _fit_student(state: BuildState, model: keras.Model, *, epochs: int,
                 fixed: bool = False, fresh: bool = False) -> Fit:
    """Distil from the teacher when the student sees the teacher's inputs, else hard labels;
    early-stopped on validation unless ``fixed`` (``fresh``: a new model, see ``recipe``)."""
    config, prepared = state.config, state.need("student_prep")
    validation = None if fixed else (prepared.x_val, state.y_val)
    plan = recipe(state, epochs, fixed=fixed, fresh=fresh)
    if state.distilled:
        return distill(model, state.need("teacher"), prepared.x_train, state.y_train,
                       temperature=config.compression.temperature,
                       alpha=config.compression.distill_alpha, recipe=plan,
                       validation=validation)
    return train_classifier(model, prepared.x_train, state.y_train, recipe=plan,
                            validation=validation)


def distill_pass(state: BuildState) -> None:
    """The student: the search's trained winner (distilled from the teacher there when its
    inputs are the teacher's). A linear winner stays the exact class-weighted logistic
    regression of the training rows, the optimum of its loss: no fine-tuning toward the
    teacher, which a small validation split can only pick by noise. Without a search (one
    candidate), a new student is taught."""
    config, spec = state.config, state.need("spec")
    found = next((c for c in state.candidates if c.spec == spec and c.model is not None), None)
    steps: list[tuple[str, int]] = []
    state.distilled = spec.modalities == state.need("base").modalities and not spec.is_linear
    if found is not None:  # trained by the search: distilled already unless linear
        state.student = found.model
        kind = "logistic" if spec.is_linear else ("distill" if state.distilled else "train")
        steps.append((kind, found.fit.best_epoch))
    else:
        keras.utils.set_random_seed(config.data.seed)
        state.student = build_model(spec, seed=config.data.seed)
    if found is None:
        fit = _fit_student(state, state.student, epochs=config.train.student_epochs,
                           fresh=found is None)
        steps.append(("distill" if state.distilled else "train", fit.best_epoch))
        state.products["student_fit"] = fit
    state.products["student_steps"] = steps


def prune_pass(state: BuildState) -> None:
    """Structured channel pruning, then fine-tuning the same way the student was trained."""
    config = state.config
    state.spec, state.student = prune_and_finetune(
        state.need("student"), state.need("spec"), fraction=config.compression.prune_fraction,
        finetune=lambda pruned: _fit_student(state, pruned,
                                             epochs=config.train.finetune_epochs))


def quantize_pass(state: BuildState) -> None:
    """int8 (PTQ, QAT when PTQ hurts on validation, or 4-bit weights); the bundle in memory
    and the int8 validation scores (TFLite Micro) that calibration uses."""
    config, prepared = state.config, state.need("student_prep")
    state.quant = quantize_model(state.need("student"), config.compression,
                                 train=(prepared.x_train, state.y_train),
                                 val=(prepared.x_val, state.y_val),
                                 epochs=config.train.quantize_epochs)
    state.bundle = make_bundle(config, state.need("spec"), prepared.stats, state.quant.tflite)
    state.val_probs = int8_scores(state.quant.tflite, state.need("spec"), prepared.x_val)


def compare_pass(state: BuildState) -> None:
    """With ``[train] compare_fusion = true`` and several modalities: late, gated and early
    fusion, each branch alone and the linear model, trained alike on the training rows (the
    student's epoch ceiling, early-stopped on validation) and scored int8 on validation and
    test (``tinyfuse.fusion.compare``); before any refit, so
    every variant sees the same rows. Off: a no-op."""
    config, base, split = state.config, state.need("base"), state.need("split")
    specs = compare.variants(base) if config.train.compare_fusion else {}
    if not specs:
        return
    store, settings = state.need("store"), config.train

    def inputs_for(spec: FusionSpec):
        part = prepare(store, spec, split)
        return part.x_train, part.x_val, part.x_test

    def train(spec: FusionSpec, model: keras.Model, x_train, x_val) -> None:
        if spec.is_linear:
            fit_logistic(model, x_train, state.y_train, balanced=settings.class_balance,
                         seed=config.data.seed, groups=state.train_groups)
            return
        train_classifier(model, x_train, state.y_train,
                         recipe=recipe(state, settings.student_epochs),
                         validation=(x_val, state.y_val))

    scores = compare.score_variants(specs, inputs_for, train, seed=config.data.seed)
    state.products["fusion_scores"] = scores
    result = compare.comparison(scores, y_val=state.y_val, y_test=state.y_test,
                                classes=base.classes)
    state.products["fusion_comparison"] = result
    state.parts.append(ReportPart(file_name="fusion.json",
                                  text=json.dumps(result, indent=2, sort_keys=True) + "\n",
                                  card_section=compare.card_section(result)))


def refit_pass(state: BuildState) -> None:
    """With ``[train] refit = true``: after every decision was taken on validation (search,
    pruning, QAT), train teacher and student again on train + validation (standardisation
    refitted, the student's final architecture from scratch, same recipe and seed) and
    quantize them; the QAT decision of the refit uses its own training rows (the label-free
    disagreement criterion). The policy calibrated on the validation split is kept. Off: a
    no-op."""
    if not state.config.train.refit:
        return
    config, split = state.config, state.need("split")
    merged = Split(train=np.sort(np.concatenate([split.train, split.val])), val=split.val,
                   test=split.test, kind=split.kind,
                   validation=f"{split.validation}; refitted on train + validation")
    policy = state.need("bundle").policy
    state.products["decided_on_validation"] = state.need("quant")
    state.split = merged
    state.prepared = prepare(state.need("store"), state.need("base"), merged)
    state.student_prep = prepare(state.need("store"), state.need("spec"), merged)
    teacher_epochs = state.products["teacher_fit"].best_epoch
    state.teacher = _new_teacher(state)
    train_classifier(state.teacher, state.prepared.x_train, state.y_train,
                     recipe=recipe(state, teacher_epochs, fixed=True))
    keras.utils.set_random_seed(config.data.seed)
    state.student = build_model(state.need("spec"), seed=config.data.seed)
    for kind, epochs in state.products.get("student_steps", []):
        if kind == "logistic":
            state.products["l2_c"] = fit_logistic(
                state.student, state.need("student_prep").x_train, state.y_train,
                balanced=config.train.class_balance, seed=config.data.seed,
                groups=state.train_groups).l2_c
        elif epochs < 1:
            continue
        elif kind == "distill":
            _fit_student(state, state.student, epochs=epochs, fixed=True)
        else:
            train_classifier(state.student, state.need("student_prep").x_train, state.y_train,
                             recipe=recipe(state, epochs, fixed=True))
    prepared = state.need("student_prep")
    state.quant = quantize_model(state.student, config.compression,
                                 train=(prepared.x_train, state.y_train),
                                 val=(prepared.x_train, state.y_train),
                                 epochs=config.train.quantize_epochs)
    bundle = make_bundle(config, state.need("spec"), prepared.stats, state.quant.tflite)
    state.bundle = bundle if policy is None else bundle.with_policy(policy)
    state.products["refit"] = True


def export_pass(state: BuildState) -> None:
    """Add the inputs' drift reference (``tinyfuse.fusion.feedback.drift_reference``), write
    the bundle (once, atomically) and the model as TFLite Micro C sources."""
    bundle = state.bundle = state.need("bundle").with_drift(drift_reference(state))
    bundle.write(state.out_dir)
    header, source = export.c_sources(bundle.tflite, bundle_hash=bundle.bundle_hash)
    atomic_write(state.out_dir / "model_data.h", header.encode())
    atomic_write(state.out_dir / "model_data.cc", source.encode())


def report_pass(state: BuildState) -> None:
    """Test-split accuracies (int8 on TFLite Micro), confusion matrix, footprint, the search,
    the model card (with every pass's sections) and the parts' files."""
    out = state.out_dir
    state.report = build_report(state)
    spec = state.need("spec")
    matrix = np.asarray(state.report["accuracy"]["confusion_matrix"])
    write_confusion_png(matrix, spec.classes, out / "confusion.png")
    atomic_write(out / "summary.txt", (report.summary(state.need("student")) + "\n").encode())
    card = report.model_card(state.report)
    for part in state.parts:
        atomic_write(out / part.file_name, part.text.encode())
        card = card.rstrip("\n") + "\n\n" + part.card_section
    if state.products.get("refit"):
        card = card.rstrip("\n") + "\n\n" + REFIT_NOTE
    atomic_write(out / "report.json",
                 (json.dumps(state.report, indent=2, sort_keys=True) + "\n").encode())
    atomic_write(out / "model_card.md", card.encode())


REFIT_NOTE = ("**Refit.** After every decision was taken on the validation split, the "
              "deployed model was trained again on train + validation; the decision thresholds "
              "above were calibrated on the validation scores of the model before the refit, "
              "and the test accuracies are the refitted model's.\n")

PASSES: tuple[Pass, ...] = (
    Pass("load", load_pass), Pass("split", split_pass), Pass("features", features_pass),
    Pass("teacher", teacher_pass), Pass("search", search_pass),
    Pass("distill", distill_pass), Pass("prune", prune_pass),
    Pass("quantize", quantize_pass), Pass("compare", compare_pass), Pass("refit", refit_pass),
    Pass("export", export_pass), Pass("report", report_pass),
)


def with_pass(passes: Sequence[Pass], new: Pass, *, before: str) -> tuple[Pass, ...]:
    """``passes`` with ``new`` inserted before the pass named ``before``."""
    names = [p.name for p in passes]
    if before not in names:
        raise TinyfuseError(f"build: no pass {before!r} (passes: {names})")
    index = names.index(before)
    return (*passes[:index], new, *passes[index:])


def run_passes(state: BuildState, passes: Sequence[Pass]) -> BuildState:
    """Run ``passes`` in order on ``state``, logging each with its time."""
    for number, step in enumerate(passes, start=1):
        log.info("[%d/%d] %s", number, len(passes), step.name)
        started = time.monotonic()
        step.run(state)
        log.debug("%s took %.1f s", step.name, time.monotonic() - started)
    return state


@dataclass
class BuildResult:
    """The bundle (as written), its folder and report, and the int8 model's probabilities on
    the validation split (``val_probs`` ``(n, classes)``, ``val_labels`` ``(n,)``)."""

    out_dir: Path
    bundle: Bundle
    report: dict[str, Any]
    val_probs: np.ndarray
    val_labels: np.ndarray
    products: dict[str, Any]


def run_build(config: AppConfig, out_dir: str | Path, *, data_dir: str | None = None,
              passes: Sequence[Pass] = PASSES) -> BuildResult:
    """Run ``passes`` (default :data:`PASSES`) and return what they made in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = run_passes(BuildState(config=config, out_dir=out, data_dir=data_dir), passes)
    return BuildResult(out_dir=out, bundle=state.need("bundle"), report=state.report,
                       val_probs=state.need("val_probs"), val_labels=state.y_val,
                       products=state.products)


# --- the bundle and the numbers of the report ----------------------------------------------


def make_bundle(config: AppConfig, spec: FusionSpec, stats: dict, tflite: bytes) -> Bundle:
    """The in-memory bundle of an int8 model: front-ends, standardisation, int8 I/O, classes,
    and a record of the spec, ops, compression and budget (no policy yet)."""
    info = inspect_tflite(tflite)
    by_name = {t.name: t for t in info.inputs}
    inputs = []
    for modality in spec.modalities:
        tensor = by_name[modality.name]
        mean, scale = stats[modality.name]
        inputs.append(BundleInput(
            name=modality.name, frontend=modality.to_dict()["frontend"],
            index=info.inputs.index(tensor), shape=tensor.shape,
            mean=tuple(float(v) for v in np.ravel(mean)),
            std_scale=tuple(float(v) for v in np.ravel(scale)),
            scale=tensor.scale, zero_point=tensor.zero_point))
    out = info.outputs[0]
    record = {"spec": spec.to_dict(), "ops": list(info.ops),
              "compression": config.compression.to_dict(), "budget": config.budget.to_dict()}
    return Bundle(app=config.name, classes=tuple(spec.classes),
                  inputs=tuple(sorted(inputs, key=lambda item: item.index)),
                  output=BundleOutput(scale=out.scale, zero_point=out.zero_point,
                                      shape=out.shape),
                  tflite=tflite, record=record)


def int8_scores(tflite: bytes, spec: FusionSpec, inputs: Sequence[np.ndarray], *,
                zero: Sequence[str] = ()) -> np.ndarray:
    """int8 class probabilities on TFLite Micro for standardised ``inputs`` (spec order);
    the modalities in ``zero`` are fed as zeros (missing)."""
    features = {m.name: (np.zeros_like(x) if m.name in zero else x)
                for m, x in zip(spec.modalities, inputs, strict=True)}
    return ReferenceModel(tflite).predict(features)


def per_modality_accuracy(tflite: bytes, spec: FusionSpec, inputs: Sequence[np.ndarray],
                          labels: np.ndarray) -> dict[str, float]:
    """int8 accuracy with only one modality present (the others fed as zeros)."""
    if len(spec.modalities) < 2:
        return {}
    names = spec.modality_names
    return {name: float(np.mean(int8_scores(tflite, spec, inputs, zero=tuple(
        n for n in names if n != name)).argmax(1) == labels)) for name in names}


def dropped_sensor_accuracy(tflite: bytes, spec: FusionSpec, inputs: Sequence[np.ndarray],
                            labels: np.ndarray) -> dict[str, float]:
    """int8 balanced accuracy with one modality missing (fed as zeros, as the app does when
    a sensor drops out), per modality: what losing that sensor costs."""
    if len(spec.modalities) < 2:
        return {}
    return {name: balanced_accuracy(labels, int8_scores(tflite, spec, inputs,
                                                        zero=(name,)).argmax(1))
            for name in spec.modality_names}


def _accuracy_block(state: BuildState, probs: np.ndarray) -> dict[str, Any]:
    """Accuracies on the TEST split (teacher, float student, int8, one modality at a time);
    the validation numbers that steered QAT are kept apart."""
    quant, spec = state.need("quant"), state.need("spec")
    decided = state.products.get("decided_on_validation", quant)
    prepared, y_test = state.need("student_prep"), state.y_test
    int8_acc = float(np.mean(probs.argmax(1) == y_test))
    per_mod = per_modality_accuracy(quant.tflite, spec, prepared.x_test, y_test)
    metrics = class_metrics(y_test, probs.argmax(1), classes=spec.classes)
    majority = float(np.mean(y_test == baseline.majority_class(state.y_train)))
    linear_predicted = baseline.logistic_regression(prepared.x_train, state.y_train,
                                                    prepared.x_test, seed=state.config.data.seed)
    linear = float(np.mean(linear_predicted == y_test))
    linear_balanced = balanced_accuracy(y_test, linear_predicted)
    teacher_predicted = predicted_classes(state.need("teacher"), state.need("prepared").x_test)
    teacher_balanced = balanced_accuracy(y_test, teacher_predicted)
    baselines = {"majority": majority, "logistic_regression": linear,
                 "logistic_regression_balanced_accuracy": linear_balanced,
                 "majority_balanced_accuracy": 1.0 / max(1, len(np.unique(y_test))),
                 "teacher_float_balanced_accuracy": teacher_balanced,
                 "note": "on the same standardised features (flattened, all modalities)"}
    validation_baselines = state.products.get("validation_baselines", {})
    return {
        "teacher_float": float(np.mean(teacher_predicted == y_test)),
        "student_float": accuracy(state.need("student"), prepared.x_test, y_test),
        "student_int8": int8_acc, "int8_engine": "tflite_micro",
        "quantization": quant.mode, "qat_applied": quant.qat_applied,
        "validation": {"student_float": decided.float_accuracy,
                       "student_int8_ptq": decided.ptq_accuracy,
                       "student_int8": decided.final_accuracy,
                       "qat_applied": decided.qat_applied,
                       "note": "measured on the validation split before any refit; these "
                               "steer QAT"},
        "per_modality": per_mod,
        "without_modality_balanced_accuracy": dropped_sensor_accuracy(
            quant.tflite, spec, prepared.x_test, y_test),
        "fused_gain_over_best_branch": report.fused_gain(int8_acc, per_mod),
        "fused_beats_every_branch": all(int8_acc > v for v in per_mod.values()),
        "baselines": baselines,
        "int8_metrics": metrics,
        "int8_roc_auc": roc_auc(y_test, probs),
        "per_group": per_group(y_test, probs.argmax(1), np.array(
            [str(state.need("data").samples[int(i)].group) for i in state.need("split").test])),
        "warnings": metrics_warnings(metrics, classes=spec.classes, majority=majority,
                                     linear=linear_balanced) + _training_warnings(
                                         validation_baselines) + [
            w for w in [split_mismatch(state.need("split"))] if w],
        "training": {"validation_balanced_accuracy": validation_baselines,
                     "student_steps": state.products.get("student_steps", []),
                     "teacher_epochs": getattr(state.products.get("teacher_fit"),
                                               "best_epoch", None)},
    }


def _training_warnings(validation: dict[str, Any]) -> list[str]:
    teacher, linear = validation.get("teacher_float"), validation.get("logistic_regression")
    if teacher is None or linear is None or teacher >= linear - 0.01:
        return []
    return [f"the float teacher's validation balanced accuracy {teacher:.3f} is below a "
            f"logistic regression's ({linear:.3f}): the deep models are undertrained or the "
            f"data favours a linear model"]


def _deployed_c(state: BuildState) -> float | None:
    """The L2 inverse strength the deployed linear student was solved at: the refit's own
    choice on train + validation, else the search's on the training rows."""
    if "l2_c" in state.products:
        return state.products["l2_c"]
    found = next((c for c in state.candidates if c.spec == state.spec and c.fit is not None),
                 None)
    return None if found is None else found.fit.l2_c


def build_report(state: BuildState) -> dict[str, Any]:
    """``report.json``: accuracies, confusion matrix, footprint, data, budget, the search."""
    config, spec, quant = state.config, state.need("spec"), state.need("quant")
    bundle, split, data = state.need("bundle"), state.need("split"), state.need("data")
    tflite = quant.tflite
    probs = int8_scores(tflite, spec, state.need("student_prep").x_test)
    matrix = confusion_matrix(state.y_test, probs.argmax(1), n_classes=len(spec.classes))
    cost = footprint(tflite)
    by_meta = {} if not config.evaluate.by_meta else {"by_meta": report.accuracy_by_meta(
        data.samples, split.test, state.y_test, probs.argmax(1), name=config.evaluate.by_meta,
        n_classes=len(spec.classes))}
    fusion = state.products.get("fusion_comparison")
    dropped = [n for n in state.need("base").modality_names if n not in spec.modality_names]
    return {
        **by_meta, **({"fusion": fusion} if fusion else {}),
        **state.products.get("report_sections", {}),
        "app": config.name, "bundle_hash": bundle.bundle_hash, "spec_hash": spec.spec_hash(),
        "refit_on_train_and_validation": bool(state.products.get("refit", False)),
        "policy": None if bundle.policy is None else bundle.policy.to_dict(),
        "accuracy": {**_accuracy_block(state, probs), "confusion_matrix": matrix.tolist()},
        "model": {
            "weights_bytes": cost.weights_bytes, "flash_bytes": cost.flash_bytes,
            "ram_peak_bytes": cost.ram_bytes, "arena_bytes": cost.arena_bytes,
            "tflm_arena_bytes": tflm_arena_bytes(tflite), "macs": cost.macs,
            "tflite_bytes": len(tflite), "tflite_sha256": hashlib.sha256(tflite).hexdigest(),
            "footprint_source": cost.source, "fits_budget": cost.fits(config.budget),
            "packed_4bit_weights_bytes": quant.packed_4bit_weights_bytes,
            "student": "linear" if spec.is_linear else "late-fusion",
            **({"l2_c": _deployed_c(state)} if spec.is_linear else {}),
            "branch_widths": {b.modality: b.width for b in spec.branches
                              if b.block != "linear"},
            "head_units": spec.head_units,
            "modalities": list(spec.modality_names),
            "dropped_branches": dropped,
        },
        "data": {
            "dataset": data.name, "split": split.kind, "n_train": int(len(split.train)),
            "n_val": int(len(split.val)), "n_test": int(len(split.test)),
            "validation": split.validation, "classes": list(spec.classes),
            "n_skipped": len(getattr(data, "skipped", ())),
        },
        "budget": config.budget.to_dict(),
        "search": [{"widths": [b.width for b in c.spec.branches],
                    "modalities": list(c.spec.modality_names), "fusion": c.spec.fusion,
                    "input_shapes": [list(m.output_shape) for m in c.spec.modalities],
                    "flash_bytes": c.cost.flash_bytes, "ram_bytes": c.cost.ram_bytes,
                    "macs": c.cost.macs, "fits": c.fits, "linear": c.spec.is_linear,
                    "val_balanced_accuracy_int8": c.accuracy,
                    "val_standard_error": c.error,
                    **({"l2_c": c.fit.l2_c} if c.fit is not None and c.fit.l2_c is not None
                       else {})}
                   for c in state.candidates],
    }
