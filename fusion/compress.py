"""The compression passes, importable from one place: pruning, quantization, student search.

Each pass is a small function that takes a model (or candidate specs) and returns the
smaller thing plus what it cost; the pipeline runs them in this order:

1. ``search(candidate_grid(base, ...), budget, features_for)``: the most accurate student
   whose int8 footprint (``footprint``: the firmware compiler's memory plan) fits the board
   budget, judged on the validation split.
2. ``prune_and_finetune(model, spec, fraction=..., finetune=...)``: structured L1 channel
   pruning (``prune_model``) followed by a fine-tuning callback (distillation or plain).
3. ``quantize_model(model, compression, train=, val=)``: int8 post-training quantization;
   with ``int8-qat``, fake-quantized fine-tuning (``fake_quant_finetune``) when PTQ loses
   more than ``compression.qat_threshold`` on validation; with ``int4-weights``, kernels
   snapped to 16 levels per channel (``snap``, ``snap_model``, ``packed_weight_bytes``).

The implementations live in ``tinyfuse.fusion.prune``, ``tinyfuse.fusion.quantize`` and
``tinyfuse.fusion.search``; this module is the documented API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import keras

from tinyfuse.fusion.prune import kept_count, l1_ranking, prune_model
from tinyfuse.fusion.quantize import (
    QuantizationResult,
    fake_quant_finetune,
    int8_accuracy,
    int8_disagreement,
    packed_weight_bytes,
    quantize_model,
    snap,
    snap_model,
)
from tinyfuse.fusion.search import (
    CandidateResult,
    Footprint,
    candidate_grid,
    check_fit,
    footprint,
    measure,
    search,
)
from tinyfuse.fusion.spec import FusionSpec

log = logging.getLogger(__name__)

__all__ = [
    "CandidateResult", "Footprint", "QuantizationResult", "candidate_grid", "check_fit",
    "fake_quant_finetune", "footprint", "int8_accuracy", "int8_disagreement", "kept_count",
    "l1_ranking", "measure",
    "packed_weight_bytes", "prune_and_finetune", "prune_model", "quantize_model", "search",
    "snap", "snap_model",
]


def prune_and_finetune(model: keras.Model, spec: FusionSpec, *, fraction: float,
                       finetune: Callable[[keras.Model], object]
                       ) -> tuple[FusionSpec, keras.Model]:
    """Prune ``fraction`` of every layer's channels, then ``finetune(pruned_model)``.

    Parameters
    ----------
    model : keras.Model
        Trained model built from ``spec``.
    fraction : float
        In [0, 1); 0 returns ``(spec, model)`` untouched (``finetune`` is not called).
    finetune : callable
        Trains the pruned model in place (e.g. a distillation run); its return is ignored.

    Returns
    -------
    (FusionSpec, keras.Model)
        The narrower spec and the fine-tuned pruned model.
    """
    if fraction <= 0:
        return spec, model
    if spec.head_units == 0:  # a linear student (or one without a head): nothing to narrow
        log.info("no head layer: the student is not pruned")
        return spec, model
    pruned_spec, pruned = prune_model(model, spec, fraction=fraction)
    finetune(pruned)
    return pruned_spec, pruned
