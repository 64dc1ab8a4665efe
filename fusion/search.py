"""Memory-aware student search: the most accurate candidate that fits a board budget.

For every candidate the int8 footprint is measured first (it does not depend on training):
the untrained model is converted and passed to ``tinyfuse.firmware.compiler.estimate`` (the same
liveness-based planner that lays out the generated C). Only candidates that fit are trained
(briefly) and scored; the most accurate one wins (fewer MACs break ties).

Flash estimate = constant bytes (weights, biases, requantization tables) +
``RUNTIME_FLASH_BYTES`` (the C int8 kernels, front-end and glue; an allowance, not measured
per model). RAM estimate = the planner's arena peak + ``RUNTIME_RAM_BYTES`` (runtime state
and the float feature buffer; an allowance). When the compiler cannot read a model (an op it
does not support yet) the footprint falls back to the TFLite Micro arena and the
flatbuffer's constant bytes, and says so in ``source``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import keras
import numpy as np

from tinyfuse.core.errors import BudgetExceeded, ExportError
from tinyfuse.core.tflm import inspect_tflite, tflm_arena_bytes
from tinyfuse.fusion.export import convert_int8
from tinyfuse.fusion.model import build_model
from tinyfuse.fusion.spec import Budget, FusionSpec
from tinyfuse.fusion.train import accuracy, train_classifier
from tinyfuse.sensors.spec import AudioSpec, ImageSpec, ModalitySpec

log = logging.getLogger(__name__)

RUNTIME_FLASH_BYTES = 40 * 1024
RUNTIME_RAM_BYTES = 4 * 1024

Split = tuple[Sequence[np.ndarray], np.ndarray]
FeaturesFor = Callable[[FusionSpec], tuple[Split, Split]]


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
    """Flash, RAM and MACs of an int8 ``.tflite`` (see the module docstring)."""
    try:
        from tinyfuse.firmware.compiler import estimate

        plan = estimate(tflite_bytes)
        weights, arena, macs, source = plan.weights_bytes, plan.arena_bytes, plan.macs, \
            "tinyfuse.firmware.compiler.estimate"
    except (ImportError, ExportError) as exc:
        log.warning("compiler estimate unavailable (%s); using the TFLM arena instead", exc)
        weights = inspect_tflite(tflite_bytes).weights_bytes
        arena, macs, source = tflm_arena_bytes(tflite_bytes), 0, "tflite_micro (fallback)"
    return Footprint(weights_bytes=int(weights), arena_bytes=int(arena), macs=int(macs),
                     flash_bytes=int(weights) + RUNTIME_FLASH_BYTES,
                     ram_bytes=int(arena) + RUNTIME_RAM_BYTES, source=source)


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
                   input_scales: Sequence[float] = (1.0,)) -> list[FusionSpec]:
    """Student specs: every width multiplier x depth x input scale (image height/width and
    MFCC count scaled by ``input_scale``); duplicates removed, order kept."""
    specs: list[FusionSpec] = []
    for scale in input_scales:
        scaled_inputs = replace(base, modalities=tuple(_scale_input(m, scale)
                                                       for m in base.modalities))
        for depth in depths:
            for multiplier in width_multipliers:
                spec = scaled_inputs.scaled(width_multiplier=multiplier, depth=depth)
                if spec not in specs:
                    specs.append(spec)
    return specs


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
    spec: FusionSpec
    cost: Footprint
    fits: bool
    accuracy: float | None  # validation accuracy of the float model; None when not trained


def measure(spec: FusionSpec, representative: Sequence[np.ndarray]) -> Footprint:
    """Footprint of ``spec`` from an untrained model (footprint does not depend on weights)."""
    return footprint(convert_int8(build_model(spec), representative, n_samples=8))


def search(candidates: Sequence[FusionSpec], budget: Budget, features_for: FeaturesFor, *,
           epochs: int = 5, learning_rate: float = 1e-2,
           seed: int = 0) -> tuple[FusionSpec, list[CandidateResult]]:
    """Pick the most accurate candidate whose int8 footprint fits ``budget`` (a single
    candidate is only measured, not trained: its ``accuracy`` is ``None``).

    Parameters
    ----------
    candidates : sequence of FusionSpec
        Student architectures (e.g. from ``candidate_grid``).
    features_for : callable
        ``spec -> ((train_inputs, train_labels), (val_inputs, val_labels))`` with inputs in
        ``spec.modalities`` order (candidates with other input sizes need other features).

    Raises
    ------
    BudgetExceeded
        No candidate fits; the message gives the smallest candidate's overage in bytes.
    """
    results = []
    for spec in candidates:
        (x_train, y_train), (x_val, y_val) = features_for(spec)
        cost = measure(spec, x_train)
        fits = cost.fits(budget)
        acc = None
        if fits and len(candidates) > 1:  # one candidate: nothing to choose, nothing to train
            keras.utils.set_random_seed(seed)
            model = build_model(spec, seed=seed)
            train_classifier(model, x_train, y_train, epochs=epochs,
                             learning_rate=learning_rate)
            acc = accuracy(model, x_val, y_val)
        log.info("candidate %s: flash %d B, RAM %d B, %d MACs, fits=%s, acc=%s",
                 [b.width for b in spec.branches], cost.flash_bytes, cost.ram_bytes,
                 cost.macs, fits, acc)
        results.append(CandidateResult(spec=spec, cost=cost, fits=fits, accuracy=acc))
    fitting = [r for r in results if r.fits]
    if not fitting:
        smallest = min(results, key=lambda r: sum(r.cost.overage(budget)))
        check_fit(smallest.cost, budget, what=f"the smallest of {len(results)} candidates")
    best = max(fitting, key=lambda r: (r.accuracy or 0.0, -r.cost.macs))
    return best.spec, results
