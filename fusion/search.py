"""Memory-aware student search: the best candidate that fits a board budget, never worse than
a linear model.

For every candidate the footprint is measured first (it does not depend on training): the
untrained model is converted to int8, compiled to C and linked for a Cortex-M4
(``tinyfuse.firmware.size.compiled_size``: flash = code + constants of the model and its
kernels, RAM = static arena and buffers + a stack allowance), the numbers ``tinyfuse deploy``
measures. Only candidates that fit are trained, each with the recipe the deployed student
gets (``train``: distilled from the teacher, class-balanced, early-stopped on validation),
and scored on the validation split by the balanced accuracy of their int8 model on TFLite
Micro. Candidates within the validation noise of the best score are tied, and a tie goes to
the smallest (fewest MACs, then fewest weight bytes). The noise is the best one's standard
error (the error of a balanced accuracy, from the validation count of each class:
``metrics.balanced_accuracy_error``) or, when the validation rows come in groups, the group
jackknife error of the two candidates' difference where that is larger (``_Noise``). With
branch selection the grid also holds the student without each of its branches; such a
candidate joins the tie only when it beats the best one with every branch by more than the
noise, so a branch is dropped only when validation says it hurts. The grid
includes the linear student (one int8 FULLY_CONNECTED layer from the
concatenated inputs), so a linear model that does as well wins, and a deep one must beat it by
more than the validation noise. The winner's trained model is the student the build goes on
with.

When the compiler cannot read a model (an op it does not support yet) the footprint falls
back to the TFLite Micro arena and the flatbuffer's constant bytes plus the code allowance,
and says so in ``source``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import keras
import numpy as np

from tinyfuse.core.errors import BudgetExceeded, ExportError
from tinyfuse.core.tflm import ReferenceModel, inspect_tflite, tflm_arena_bytes
from tinyfuse.fusion.export import convert_int8
from tinyfuse.fusion.metrics import (
    balanced_accuracy_error,
    class_metrics,
    confusion_matrix,
    group_jackknife_error,
)
from tinyfuse.fusion.model import build_model
from tinyfuse.fusion.spec import Budget, FusionSpec
from tinyfuse.fusion.train import Fit, Recipe, train_classifier
from tinyfuse.sensors.spec import AudioSpec, ImageSpec, ModalitySpec

log = logging.getLogger(__name__)

Split = tuple[Sequence[np.ndarray], np.ndarray]
FeaturesFor = Callable[[FusionSpec], tuple[Split, Split]]
Trainer = Callable[[FusionSpec, keras.Model, Split, Split], Fit]


@dataclass(frozen=True, slots=True, kw_only=True)
class Footprint:
    """Board cost of one int8 model (bytes, MACs) and where the numbers came from."""

    weights_bytes: int
    arena_bytes: int
    macs: int
    flash_bytes: int
    ram_bytes: int
    source: str

    def overage(self, budget: Budget) -> tuple[int, int]:
        """Bytes over the budget as ``(flash, ram)``; zero where it fits."""
        return (max(0, self.flash_bytes - budget.flash_bytes),
                max(0, self.ram_bytes - budget.ram_bytes))

    def fits(self, budget: Budget) -> bool:
        return self.overage(budget) == (0, 0)


def footprint(tflite_bytes: bytes) -> Footprint:
    """Flash, RAM and MACs of an int8 ``.tflite`` compiled for a Cortex-M4 (see the module
    docstring)."""
    from tinyfuse.core.errors import DeployError
    from tinyfuse.firmware.size import CODE_ALLOWANCE_BYTES, STACK_BYTES, compiled_size

    try:
        size = compiled_size(tflite_bytes)
        return Footprint(weights_bytes=size.weights_bytes, arena_bytes=size.arena_bytes,
                         macs=size.macs, flash_bytes=size.flash_bytes, ram_bytes=size.ram_bytes,
                         source=size.source)
    except (ExportError, DeployError) as exc:
        log.warning("the compiler cannot size this model (%s); using the TFLM arena", exc)
    weights = inspect_tflite(tflite_bytes).weights_bytes
    arena = tflm_arena_bytes(tflite_bytes)
    return Footprint(weights_bytes=int(weights), arena_bytes=int(arena), macs=0,
                     flash_bytes=int(weights) + CODE_ALLOWANCE_BYTES,
                     ram_bytes=int(arena) + STACK_BYTES,
                     source="tflite_micro arena + code allowance (fallback)")


def check_fit(cost: Footprint, budget: Budget, *, what: str = "model") -> None:
    """Raise ``BudgetExceeded`` naming how many bytes of flash and/or RAM are missing."""
    flash_over, ram_over = cost.overage(budget)
    if flash_over or ram_over:
        parts = []
        if flash_over:
            parts.append(f"flash by {flash_over} bytes ({cost.flash_bytes} > "
                         f"{budget.flash_bytes})")
        if ram_over:
            parts.append(f"RAM by {ram_over} bytes ({cost.ram_bytes} > {budget.ram_bytes})")
        raise BudgetExceeded(f"{what} exceeds the {budget.name} budget: " + " and ".join(parts))


def candidate_grid(base: FusionSpec, *, width_multipliers: Sequence[float] = (1.0,),
                   depths: Sequence[int | None] = (None,),
                   input_scales: Sequence[float] = (1.0,),
                   linear: bool = False, drop_branches: bool = False,
                   fusions: Sequence[str] = ()) -> list[FusionSpec]:
    """Student specs: every width multiplier x depth x input scale (image height/width and
    MFCC count scaled by ``input_scale``) x fusion (``fusions``, e.g. ``("concat",
    "gated")``; empty: the base's own), then (``drop_branches``, with two modalities or more)
    ``base`` without each of its branches in turn, then (``linear``) the linear student of
    ``base``; duplicates removed, order kept."""
    specs: list[FusionSpec] = []
    for scale in input_scales:
        scaled_inputs = replace(base, modalities=tuple(_scale_input(m, scale)
                                                       for m in base.modalities))
        for depth in depths:
            for multiplier in width_multipliers:
                spec = scaled_inputs.scaled(width_multiplier=multiplier, depth=depth)
                for fused in _fused_as(spec, fusions):
                    if fused not in specs:
                        specs.append(fused)
    if drop_branches and len(base.modalities) > 1:
        for name in base.modality_names:
            fewer = base.only([n for n in base.modality_names if n != name])
            if fewer not in specs:
                specs.append(fewer)
    if linear and base.linear() not in specs:
        specs.append(base.linear())
    return specs


def _fused_as(spec: FusionSpec, fusions: Sequence[str]) -> list[FusionSpec]:
    """``spec`` with each of ``fusions`` (only concat for linear branches or one modality)."""
    if not fusions or len(spec.modalities) < 2:
        return [spec]
    allowed = [f for f in fusions
               if f == "concat" or all(b.block != "linear" for b in spec.branches)]
    return [replace(spec, fusion=f) for f in allowed] or [spec]


def _scale_input(modality: ModalitySpec, scale: float) -> ModalitySpec:
    frontend = modality.frontend
    if scale == 1.0:
        return modality
    if isinstance(frontend, ImageSpec):
        frontend = replace(frontend, height=max(2, round(frontend.height * scale)),
                           width=max(2, round(frontend.width * scale)))
    elif isinstance(frontend, AudioSpec):
        frontend = replace(frontend, n_mfcc=max(2, min(frontend.n_mels,
                                                       round(frontend.n_mfcc * scale))))
    return replace(modality, frontend=frontend)


@dataclass(frozen=True, slots=True, kw_only=True)
class CandidateResult:
    """One candidate: its footprint and, when it fits and was trained, its validation score
    (balanced accuracy of the int8 model on TFLite Micro; ``None`` when not trained) and the
    score's standard error."""

    spec: FusionSpec
    cost: Footprint
    fits: bool
    accuracy: float | None
    error: float = 0.0
    model: keras.Model | None = field(default=None, compare=False, repr=False)
    fit: Fit | None = None
    predicted: np.ndarray | None = field(default=None, compare=False, repr=False)


def measure(spec: FusionSpec, representative: Sequence[np.ndarray]) -> Footprint:
    """Footprint of ``spec`` from an untrained model (footprint does not depend on weights)."""
    return footprint(convert_int8(build_model(spec), representative, n_samples=8))


def int8_balanced_accuracy(model: keras.Model, spec: FusionSpec, train: Sequence[np.ndarray],
                           val: Split) -> tuple[float, float, np.ndarray]:
    """Balanced accuracy on ``val`` of ``model`` converted to int8 (calibrated on ``train``)
    and run on TFLite Micro, its standard error (``metrics.balanced_accuracy_error``) and the
    predicted classes ``(n_val,)``."""
    x_val, y_val = val
    tflite = convert_int8(model, list(train), n_samples=64)
    probs = ReferenceModel(tflite).predict(dict(zip(spec.modality_names, x_val, strict=True)))
    truth, predicted = np.asarray(y_val, int), probs.argmax(1)
    matrix = confusion_matrix(truth, predicted, n_classes=len(spec.classes))
    support = matrix.sum(axis=1)
    present = support > 0
    score = float(class_metrics(truth, predicted, classes=spec.classes)["balanced_accuracy"])
    return score, balanced_accuracy_error(np.diag(matrix)[present], support[present]), predicted


def default_trainer(epochs: int, learning_rate: float) -> Trainer:
    """A plain fixed-epoch trainer (no validation, no class weights)."""
    def train(spec: FusionSpec, model: keras.Model, train_split: Split, val_split: Split) -> Fit:
        return train_classifier(model, train_split[0], train_split[1],
                                recipe=Recipe.plain(epochs, 32, learning_rate))
    return train


def search(candidates: Sequence[FusionSpec], budget: Budget, features_for: FeaturesFor, *,
           train: Trainer | None = None, epochs: int = 5, learning_rate: float = 1e-2,
           seed: int = 0, val_groups: np.ndarray | None = None
           ) -> tuple[FusionSpec, list[CandidateResult]]:
    """Pick the best candidate whose int8 footprint fits ``budget`` (see the module doc; a
    single candidate is only measured, not trained: its ``accuracy`` is ``None``).

    Parameters
    ----------
    candidates : sequence of FusionSpec
        Student architectures (e.g. from ``candidate_grid``).
    features_for : callable
        ``spec -> ((train_inputs, train_labels), (val_inputs, val_labels))`` with inputs in
        ``spec.modalities`` order (candidates with other input sizes need other features).
    val_groups : array, optional
        The group of each validation row: the noise between two candidates is then at least
        the group jackknife error of their difference (``_noise``).
    train : callable, optional
        ``(spec, model, train_split, val_split) -> Fit``: how each candidate is trained (the
        recipe the deployed student gets); default a plain ``epochs``-epoch fit.

    Raises
    ------
    BudgetExceeded
        No candidate fits; the message gives the smallest candidate's overage in bytes.
    """
    trainer = train or default_trainer(epochs, learning_rate)
    results = []
    y_truth: np.ndarray | None = None
    for spec in candidates:
        (x_train, y_train), (x_val, y_val) = features_for(spec)
        cost = measure(spec, x_train)
        fits = cost.fits(budget)
        score, error, model, fit, predicted = None, 0.0, None, None, None
        if fits and len(candidates) > 1:  # one candidate: nothing to choose, nothing to train
            keras.utils.set_random_seed(seed)
            model = build_model(spec, seed=seed)
            fit = trainer(spec, model, (x_train, y_train), (x_val, y_val))
            score, error, predicted = int8_balanced_accuracy(model, spec, x_train,
                                                             (x_val, y_val))
            y_truth = np.asarray(y_val, int)
        log.info("candidate %s%s: flash %d B, RAM %d B, %d MACs, fits=%s, int8 balanced "
                 "accuracy %s", [b.width for b in spec.branches],
                 " (linear)" if spec.is_linear else "", cost.flash_bytes, cost.ram_bytes,
                 cost.macs, fits, "-" if score is None else f"{score:.3f}")
        results.append(CandidateResult(spec=spec, cost=cost, fits=fits, accuracy=score,
                                       error=error, model=model, fit=fit, predicted=predicted))
    fitting = [r for r in results if r.fits]
    if not fitting:
        smallest = min(results, key=lambda r: sum(r.cost.overage(budget)))
        check_fit(smallest.cost, budget, what=f"the smallest of {len(results)} candidates")
    scored = [r for r in fitting if r.accuracy is not None]
    leader = max(scored, key=lambda r: r.accuracy or 0.0, default=None)
    noise = _Noise(y_truth, val_groups)
    top = leader.accuracy or 0.0 if leader else 0.0
    tied = [r for r in fitting if r.accuracy is None or leader is None
            or r.accuracy >= top - noise(leader, r)]
    tied = _keep_branches_that_help(tied, scored, noise)
    best = min(tied, key=lambda r: (r.cost.macs, r.cost.weights_bytes))
    log.info("search: best int8 balanced accuracy %.3f; %d candidate(s) within the noise; "
             "the smallest wins%s", top, len(tied),
             " (the linear student)" if best.spec.is_linear else "")
    return best.spec, results


class _Noise:
    """How far apart two candidates' validation scores may be and still be tied: the
    leader's per-row standard error, or, when the validation rows come in groups, the group
    jackknife error of the two candidates' difference if that is larger
    (``metrics.group_jackknife_error``). Windows of one experiment or recording are not
    independent: on SKAB (overlapping windows, 4-10 experiments a validation split) the
    per-row error is a fraction of a point, while the score moves by several points from
    one experiment to the next."""

    def __init__(self, truth: np.ndarray | None, groups: np.ndarray | None):
        self.truth, self.groups = truth, groups

    def __call__(self, leader: CandidateResult, other: CandidateResult) -> float:
        if (self.truth is None or self.groups is None or leader.predicted is None
                or other.predicted is None or other is leader):
            return leader.error
        return max(leader.error, group_jackknife_error(self.truth, leader.predicted,
                                                       other.predicted, self.groups))


def _keep_branches_that_help(tied: list[CandidateResult], scored: list[CandidateResult],
                             noise: Callable[[CandidateResult, CandidateResult], float]
                             = lambda best, other: best.error) -> list[CandidateResult]:
    """Ties without the candidates that drop a branch unless they beat the best candidate
    with every branch by more than the noise (``_Noise``): a branch is dropped only when
    validation says it hurts, not when leaving it out merely costs less than the noise (on a
    small validation split the noise would otherwise drop branches at random; measured on
    coswara_participant, 11 validation participants a fold, that cost 4.6 points)."""
    most = max((len(r.spec.modalities) for r in tied), default=0)
    full = [r for r in scored if len(r.spec.modalities) == most]
    if not full:
        return tied
    best = max(full, key=lambda r: r.accuracy or 0.0)
    return [r for r in tied if len(r.spec.modalities) == most
            or (r.accuracy is not None and r.accuracy > (best.accuracy or 0.0) + noise(best, r))]


def winner(results: Sequence[CandidateResult], spec: FusionSpec) -> CandidateResult:
    """The result of ``spec`` among ``results``."""
    return next(r for r in results if r.spec == spec)
