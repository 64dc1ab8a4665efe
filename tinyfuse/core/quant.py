"""float <-> int8 exactly as TFLite (Micro) does it; the one place these formulas live."""

from __future__ import annotations

import numpy as np


def quantize(values: np.ndarray, *, scale: float, zero_point: int) -> np.ndarray:
    """float -> int8 as TFLite's ``AffineQuantize``.

    ``clip(round(float32(x) / float32(scale)) + zero_point, -128, 127)`` with the division in
    float32 and rounding half away from zero (``std::round``), not NumPy's half to even.

    Examples
    --------
    >>> quantize(np.array([0.25, 0.75, -0.25, 1.25]), scale=0.5, zero_point=0).tolist()
    [1, 2, -1, 3]
    """
    ratio = (np.asarray(values, np.float32) / np.float32(scale)).astype(np.float64)
    rounded = np.sign(ratio) * np.floor(np.abs(ratio) + 0.5)
    return np.clip(rounded + int(zero_point), -128, 127).astype(np.int8)


def dequantize(values: np.ndarray, *, scale: float, zero_point: int) -> np.ndarray:
    """int8 -> float32 as TFLite's ``Dequantize``: ``float(double(scale) * (q - zero_point))``.
    """
    return (np.float64(scale) * (np.asarray(values, np.int64) - int(zero_point))).astype(
        np.float32)
