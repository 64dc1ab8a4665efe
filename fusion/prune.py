"""Structured channel pruning: drop the lowest-L1 channels, rebuild narrower, copy survivors.

Every branch loses the same fraction of channels in every layer and the head loses the same
fraction of units, so the pruned model is again described by a plain ``FusionSpec`` (branch
``width`` and ``head_units`` shrink). Each layer keeps its own top channels by the L1 norm of
their outgoing kernel; the next layer keeps the matching input rows. Depthwise layers and
gates follow the channels of the layer before them.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import keras
import numpy as np

from tinyfuse.core.errors import SpecError
from tinyfuse.fusion.model import branch_layer_names, build_model
from tinyfuse.fusion.spec import BranchSpec, FusionSpec

log = logging.getLogger(__name__)


def kept_count(count: int, fraction: float) -> int:
    """Channels left after removing ``fraction`` of ``count`` (at least one)."""
    return max(1, int(round(count * (1.0 - fraction))))


def l1_ranking(kernel: np.ndarray) -> np.ndarray:
    """Output channels of a Conv2D/Dense kernel (last axis), strongest L1 norm first."""
    norms = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)
    return np.argsort(-norms, kind="stable")


def _top(kernel: np.ndarray, keep: int) -> np.ndarray:
    return np.sort(l1_ranking(kernel)[:keep])


def _slice_dense_or_conv(weights, rows, keep):
    kernel, bias = weights
    chosen = _top(kernel[..., rows, :] if rows is not None else kernel, keep)
    kernel = kernel[..., rows, :] if rows is not None else kernel
    return [kernel[..., chosen], bias[chosen]], chosen


def _prune_branch(model: keras.Model, spec: FusionSpec, name: str, keep: int,
                  new: dict[str, list[np.ndarray]]) -> np.ndarray:
    """Fill ``new`` with the sliced weights of one branch; return its kept feature channels."""
    rows: np.ndarray | None = None
    for layer_name in branch_layer_names(spec.branch(name)):
        weights = model.get_layer(layer_name).get_weights()
        if "_dw" in layer_name:  # depthwise: keep the channels of the layer before
            if rows is None:
                raise SpecError(f"branch {name!r}: a depthwise layer cannot come first")
            kernel, bias = weights
            new[layer_name] = [kernel[:, :, rows, :], bias[rows]]
            continue
        new[layer_name], rows = _slice_dense_or_conv(weights, rows, keep)
    if spec.fusion == "gated":
        kernel, bias = model.get_layer(f"{name}_gate").get_weights()
        new[f"{name}_gate"] = [kernel[rows][:, rows], bias[rows]]
    if rows is None:
        raise SpecError(f"branch {name!r} has no layer to prune")
    return rows


def prune_model(model: keras.Model, spec: FusionSpec, *,
                fraction: float) -> tuple[FusionSpec, keras.Model]:
    """Remove ``fraction`` of the channels of every branch layer and of the head.

    Parameters
    ----------
    model : keras.Model
        A model built by ``tinyfuse.fusion.model.build_model(spec)`` (trained).
    fraction : float
        In [0, 1); each layer keeps ``kept_count(width, fraction)`` channels.

    Returns
    -------
    (FusionSpec, keras.Model)
        The narrower spec and a model built from it holding the surviving weights
        (fine-tune it afterwards).
    """
    new: dict[str, list[np.ndarray]] = {}
    fused_rows, offset = [], 0
    for branch in spec.branches:
        keep = kept_count(branch.width, fraction)
        rows = _prune_branch(model, spec, branch.modality, keep, new)
        fused_rows.append(rows + offset)
        offset += branch.width
    rows = np.concatenate(fused_rows)
    head_keep = kept_count(spec.head_units, fraction)
    new["head"], head_rows = _slice_dense_or_conv(model.get_layer("head").get_weights(), rows,
                                                  head_keep)
    kernel, bias = model.get_layer("logits").get_weights()
    new["logits"] = [kernel[head_rows], bias]
    pruned_spec = replace(spec, branches=tuple(_narrow(b, fraction) for b in spec.branches),
                          head_units=head_keep)
    pruned = build_model(pruned_spec)
    for layer_name, weights in new.items():
        pruned.get_layer(layer_name).set_weights(weights)
    log.info("pruned %.0f%% of channels: %d -> %d parameters", 100 * fraction,
             model.count_params(), pruned.count_params())
    return pruned_spec, pruned


def _narrow(branch: BranchSpec, fraction: float) -> BranchSpec:
    return replace(branch, width=kept_count(branch.width, fraction))
