"""Quantization: full-integer PTQ, quantization-aware fine-tuning and 4-bit weights.

* ``int8``: post-training quantization with a representative dataset (int8 in and out).
* ``int8-qat``: PTQ first; if it loses more than ``qat_threshold`` accuracy against the float
  model, or changes the class of more than that fraction of validation rows, fine-tune with
  fake-quantized weights (straight-through estimator: the forward pass uses weights snapped to
  the int8 per-channel grid, the gradient updates the float shadow weights as if the snapping
  were the identity), then convert again.
* Every conversion narrows the logits' int8 range to what a class decision uses
  (``tinyfuse.fusion.export.narrow_logits``).
* ``int4-weights``: kernels fine-tuned with 4-bit fake quantization and finally snapped to 16
  levels per output channel (symmetric, ``scale = max|w| / 7``, codes in [-8, 7]) before int8
  conversion; the report gives the accuracy cost and the packed 4-bit weight size.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np

from tinyfuse.core.tflm import inspect_tflite, predict_int8
from tinyfuse.fusion.export import convert_int8
from tinyfuse.fusion.spec import CompressionSpec

log = logging.getLogger(__name__)


def _channel_axis(layer: keras.layers.Layer) -> int:
    """Axis of a kernel that TFLite quantizes per channel (depthwise: the input channels)."""
    return 2 if isinstance(layer, keras.layers.DepthwiseConv2D) else -1


def snap(kernel: np.ndarray, *, bits: int, axis: int = -1) -> np.ndarray:
    """Snap a kernel to ``2**bits`` symmetric levels per channel along ``axis``.

    ``scale = max|w| / (2**(bits-1) - 1)`` per channel; returns ``clip(round(w / scale),
    -2**(bits-1), 2**(bits-1) - 1) * scale`` (float32, same shape; all-zero channels stay 0).
    """
    kernel = np.asarray(kernel, np.float32)
    moved = np.moveaxis(kernel, axis, -1)
    top = (1 << (bits - 1)) - 1
    scale = np.abs(moved).reshape(-1, moved.shape[-1]).max(axis=0) / top
    scale = np.where(scale > 0, scale, 1.0)
    codes = np.clip(np.round(moved / scale), -top - 1, top)
    return np.moveaxis((codes * scale).astype(np.float32), -1, axis)


def _kernels(model: keras.Model):
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense |
                      keras.layers.DepthwiseConv2D) and layer.weights:
            yield layer, layer.weights[0]


def snap_model(model: keras.Model, *, bits: int) -> None:
    """Snap every Conv2D/DepthwiseConv2D/Dense kernel of ``model`` in place."""
    for layer, kernel in _kernels(model):
        kernel.assign(snap(kernel.numpy(), bits=bits, axis=_channel_axis(layer)))


def packed_weight_bytes(model: keras.Model, *, bits: int) -> int:
    """Bytes of the kernels packed at ``bits`` per weight, plus int32 biases and one float32
    scale per channel (what a 4-bit kernel store on the board would hold)."""
    total = 0
    for layer, kernel in _kernels(model):
        channels = kernel.shape[_channel_axis(layer)]
        total += (int(np.prod(kernel.shape)) * bits + 7) // 8 + 4 * channels
        if len(layer.weights) > 1:
            total += 4 * int(np.prod(layer.weights[1].shape))
    return total


def fake_quant_finetune(model: keras.Model, inputs: Sequence[np.ndarray], labels: np.ndarray,
                        *, bits: int = 8, epochs: int = 3, batch_size: int = 32,
                        learning_rate: float = 1e-3, seed: int = 0) -> list[float]:
    """Fine-tune with straight-through fake-quantized kernels; returns per-epoch mean loss.

    Each step: remember the float kernels, assign their snapped copies, take one optimizer
    step there (``train_on_batch``: loss and gradients with the snapped kernels), then move
    each float kernel by the step its snapped copy took. The update does not depend on the
    weights (Adam, no weight decay), so this is the straight-through estimator applied to the
    float kernels, with public Keras calls only (no backend gradient tape).
    """
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy())
    kernels = list(_kernels(model))
    order_rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        order = order_rng.permutation(len(labels))
        epoch_losses = []
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            floats = [kernel.numpy() for _, kernel in kernels]
            snapped = [snap(value, bits=bits, axis=_channel_axis(layer))
                       for (layer, _), value in zip(kernels, floats, strict=True)]
            stepped = None
            try:
                for (_, kernel), value in zip(kernels, snapped, strict=True):
                    kernel.assign(value)
                loss = model.train_on_batch([x[rows] for x in inputs], labels[rows])
                stepped = [kernel.numpy() for _, kernel in kernels]
            finally:
                for index, ((_, kernel), value) in enumerate(zip(kernels, floats, strict=True)):
                    step = 0.0 if stepped is None else stepped[index] - snapped[index]
                    kernel.assign(value + step)
            epoch_losses.append(float(np.asarray(loss).reshape(-1)[0]))
        losses.append(float(np.mean(epoch_losses)))
    return losses


@dataclass(frozen=True, slots=True, kw_only=True)
class QuantizationResult:
    """The int8 model and what quantization cost (accuracies in [0, 1])."""

    tflite: bytes
    mode: str
    float_accuracy: float
    ptq_accuracy: float
    final_accuracy: float
    qat_applied: bool
    ptq_disagreement: float = 0.0
    packed_4bit_weights_bytes: int | None = None


def int8_accuracy(tflite: bytes, model: keras.Model, inputs: Sequence[np.ndarray],
                  labels: np.ndarray) -> float:
    names = [t.name for t in model.inputs]
    probs = predict_int8(tflite, dict(zip(names, inputs, strict=True)))
    return float(np.mean(probs.argmax(axis=1) == np.asarray(labels)))


def int8_disagreement(tflite: bytes, model: keras.Model,
                      inputs: Sequence[np.ndarray]) -> float:
    """Fraction of rows whose int8 class differs from the float model's: quantization damage
    measured directly, without labels (an accuracy difference on a small validation split
    can hide it when the changed rows are wrong either way)."""
    names = [t.name for t in model.inputs]
    int8 = predict_int8(tflite, dict(zip(names, inputs, strict=True))).argmax(axis=1)
    return float(np.mean(int8 != model.predict(list(inputs), verbose=0).argmax(axis=1)))


def quantize_model(model: keras.Model, compression: CompressionSpec, *,
                   train: tuple[Sequence[np.ndarray], np.ndarray],
                   val: tuple[Sequence[np.ndarray], np.ndarray],
                   epochs: int = 3) -> QuantizationResult:
    """Quantize ``model`` (modified in place for QAT / 4-bit) as ``compression`` says.

    ``train`` and ``val`` are ``(inputs in model order, integer labels)``;
    ``compression.representative_samples`` training rows drawn at random (seeded, see
    ``tinyfuse.fusion.export.calibration_rows``) calibrate the int8 ranges. The QAT decision and the
    reported accuracies use ``val``: pass rows held out from training, never the test split.
    """
    x_train, y_train = train
    x_val, y_val = val
    n_rep = compression.representative_samples
    float_acc = float(np.mean(model.predict(list(x_val), verbose=0).argmax(1) == y_val))
    tflite = convert_int8(model, x_train, n_samples=n_rep)
    ptq_acc = int8_accuracy(tflite, model, x_val, y_val)
    changed = int8_disagreement(tflite, model, x_val)
    log.info("PTQ int8: float %.3f -> int8 %.3f (%.1f %% of classes changed)", float_acc,
             ptq_acc, 100 * changed)
    mode, qat, packed = compression.quantization, False, None
    damaged = max(float_acc - ptq_acc, changed) > compression.qat_threshold
    if mode == "int8-qat" and damaged:
        fake_quant_finetune(model, x_train, y_train, bits=8, epochs=epochs)
        tflite, qat = convert_int8(model, x_train, n_samples=n_rep), True
    elif mode == "int4-weights":
        fake_quant_finetune(model, x_train, y_train, bits=4, epochs=epochs)
        snap_model(model, bits=4)
        tflite, qat = convert_int8(model, x_train, n_samples=n_rep), True
        packed = packed_weight_bytes(model, bits=4)
    final_acc = ptq_acc if not qat else int8_accuracy(tflite, model, x_val, y_val)
    log.info("quantization %s: final int8 accuracy %.3f (%d weight bytes)", mode, final_acc,
             inspect_tflite(tflite).weights_bytes)
    return QuantizationResult(tflite=tflite, mode=mode, float_accuracy=float_acc,
                              ptq_accuracy=ptq_acc, final_accuracy=final_acc, qat_applied=qat,
                              ptq_disagreement=changed,
                              packed_4bit_weights_bytes=packed)
