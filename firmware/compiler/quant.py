"""Compile-time quantization arithmetic, as TFLite computes it in the kernels' Prepare step
(quantization_util.cc): multipliers/shifts from double-precision scale ratios, activation ranges
from float32 scales."""

from __future__ import annotations

import math

import numpy as np

from tinyfuse.core.errors import ExportError


def round_half_away(value: float) -> int:
    """std::round: halves go away from zero."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: ``real ~= multiplier * 2**(shift - 31)``, multiplier in
    [2**30, 2**31) (int32), shift an int; (0, 0) for 0."""
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real) or real < 0:
        raise ExportError(f"cannot quantize the multiplier {real!r}")
    fraction, shift = math.frexp(real)
    fixed = round_half_away(fraction * (1 << 31))
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise ExportError(f"requantization multiplier {real!r} is too large")
    return fixed, shift


def effective_scales(input_scale: float, filter_scales: np.ndarray, output_scale: float,
                     channels: int) -> tuple[list[int], list[int]]:
    """Per-output-channel (multiplier, shift) lists for conv/depthwise/dense:
    double(input_scale) * double(filter_scale) / double(output_scale)."""
    scales = np.broadcast_to(filter_scales.astype(np.float64), (channels,)) if \
        filter_scales.size == 1 else filter_scales.astype(np.float64)
    pairs = [quantize_multiplier(float(input_scale) * float(s) / float(output_scale))
             for s in scales]
    return [m for m, _ in pairs], [s for _, s in pairs]


def quantize_float32(value: float, scale: float, zero_point: int) -> int:
    """zero_point + round(value / scale) with the division in float32 (TFLite's Quantize)."""
    ratio = np.float32(value) / np.float32(scale)
    return int(zero_point) + round_half_away(float(ratio))


def activation_range(activation: str, scale: float, zero_point: int, where: str
                     ) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for an int8 output."""
    lo, hi = -128, 127
    if activation == "NONE":
        return lo, hi
    if activation == "RELU":
        return max(lo, quantize_float32(0.0, scale, zero_point)), hi
    if activation == "RELU6":
        return (max(lo, quantize_float32(0.0, scale, zero_point)),
                min(hi, quantize_float32(6.0, scale, zero_point)))
    if activation == "RELU_N1_TO_1":
        return (max(lo, quantize_float32(-1.0, scale, zero_point)),
                min(hi, quantize_float32(1.0, scale, zero_point)))
    raise ExportError(f"{where}: fused activation {activation} is not supported")


def input_radius(integer_bits: int, left_shift: int, total_bits: int = 31) -> int:
    """CalculateInputRadius."""
    rescaled = (((1 << integer_bits) - 1) * float(1 << (total_bits - integer_bits))
                / float(1 << left_shift))
    return math.floor(rescaled)
