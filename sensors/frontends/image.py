"""Thermal and depth image front-end (OpenCV): any grid -> a fixed grid in [0, 1].

:func:`process_image` applies an :class:`~sensors.spec.ImageSpec` in this order, at the input
resolution first and on the output grid last:

1. depth with ``fill_holes``: invalid pixels (0) take the value of the nearest valid pixel;
2. ``subtract_background``: ``frame - background``; without a background frame the frame's own
   median stands in (most of a room is background). The fixed range ``min_value..max_value``
   then applies to the *difference* (e.g. ``0..10`` degC above background);
3. :func:`to_grid` to ``(height, width)``: area averaging along an axis that shrinks, bilinear
   along an axis that grows;
4. ``normalize="fixed"``: ``(x - min_value) / (max_value - min_value)`` clipped to [0, 1];
   ``normalize="minmax"``: per-frame min-max, a constant frame gives zeros.
"""

from __future__ import annotations

import cv2
import numpy as np
import scipy.ndimage

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.spec import ImageSpec


def _as_image(frame: np.ndarray, op: str) -> np.ndarray:
    array = np.asarray(frame)
    if array.ndim != 2 or 0 in array.shape:
        raise DataError(f"{op}: expected a non-empty 2-D frame (rows, cols), got {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise DataError(f"{op}: expected real numbers, got dtype {array.dtype}")
    return array.astype(np.float64, copy=False)


def _resize_axis(image: np.ndarray, *, size: int, axis: int) -> np.ndarray:
    current = image.shape[axis]
    if current == size:
        return image
    interpolation = cv2.INTER_AREA if size < current else cv2.INTER_LINEAR
    rows, cols = image.shape
    dsize = (cols, size) if axis == 0 else (size, rows)
    return cv2.resize(image, dsize, interpolation=interpolation)


def to_grid(frame: np.ndarray, *, height: int, width: int) -> np.ndarray:
    """Resample a frame to ``(height, width)``.

    Each axis is handled on its own: ``cv2.INTER_AREA`` (area averaging) where it shrinks,
    ``cv2.INTER_LINEAR`` where it grows, untouched where it keeps its size. A 32x24 frame
    (24 rows, 32 columns) goes to 8x8 as exact 3x4 block means.

    Parameters
    ----------
    frame : np.ndarray, shape (rows, cols), real
    height, width : int, positive

    Returns
    -------
    np.ndarray, shape (height, width), float64
    """
    image = _as_image(frame, "to_grid")
    if height <= 0 or width <= 0:
        raise DataError(f"to_grid: height ({height}) and width ({width}) must be positive")
    image = _resize_axis(image, size=height, axis=0)
    return _resize_axis(image, size=width, axis=1)


def normalize_fixed(frame: np.ndarray, *, min_value: float, max_value: float) -> np.ndarray:
    """Map a fixed physical range to [0, 1], clipping outside it; same shape, float64."""
    if not min_value < max_value:
        raise DataError(f"normalize_fixed: min_value {min_value} must be below {max_value}")
    scaled = (np.asarray(frame, dtype=np.float64) - min_value) / (max_value - min_value)
    return np.clip(scaled, 0.0, 1.0)


def normalize_minmax(frame: np.ndarray) -> np.ndarray:
    """Per-frame min-max to [0, 1]; a constant frame gives all zeros. Same shape, float64."""
    image = np.asarray(frame, dtype=np.float64)
    low, high = float(image.min()), float(image.max())
    if high <= low:
        return np.zeros_like(image)
    return np.clip((image - low) / (high - low), 0.0, 1.0)


def subtract_background(frame: np.ndarray, *, background: np.ndarray | float) -> np.ndarray:
    """``frame - background``; ``background`` is a frame of the same shape or a scalar.

    Returns
    -------
    np.ndarray, shape of ``frame``, float64
    """
    image = _as_image(frame, "subtract_background")
    reference = np.asarray(background, dtype=np.float64)
    if reference.ndim != 0 and reference.shape != image.shape:
        raise DataError(f"subtract_background: background shape {reference.shape} does not "
                        f"match frame shape {image.shape}")
    return image - reference


def update_background(
    background: np.ndarray, frame: np.ndarray, *, alpha: float,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """One exponential update: ``(1 - alpha) * background + alpha * frame``.

    Parameters
    ----------
    background, frame : np.ndarray, shape (rows, cols)
    alpha : float in (0, 1]
        Weight of the new frame (time constant about ``1 / alpha`` frames).
    mask : np.ndarray of bool, shape (rows, cols), optional
        Pixels to update (e.g. those not covered by a person); the others keep their value.

    Returns
    -------
    np.ndarray, shape (rows, cols), float64
    """
    if not 0.0 < alpha <= 1.0:
        raise DataError(f"update_background: alpha must be in (0, 1], got {alpha}")
    old = _as_image(background, "update_background")
    new = _as_image(frame, "update_background")
    if old.shape != new.shape:
        raise DataError(f"update_background: frame shape {new.shape} does not match "
                        f"background shape {old.shape}")
    blended = (1.0 - alpha) * old + alpha * new
    if mask is None:
        return blended
    return np.where(np.asarray(mask, dtype=bool), blended, old)


class BackgroundModel:
    """Running background of a static scene: the first frame, then exponential updates.

    Deterministic: the same frames in the same order give the same background.

    Parameters
    ----------
    alpha : float in (0, 1]
        Weight of each new frame.
    """

    def __init__(self, *, alpha: float = 0.05) -> None:
        if not 0.0 < alpha <= 1.0:
            raise DataError(f"BackgroundModel: alpha must be in (0, 1], got {alpha}")
        self.alpha = alpha
        self.background: np.ndarray | None = None

    def update(self, frame: np.ndarray, *, mask: np.ndarray | None = None) -> np.ndarray:
        """Fold in one frame, shape (rows, cols); returns the new background (a copy)."""
        if self.background is None:
            self.background = _as_image(frame, "BackgroundModel.update").copy()
        else:
            self.background = update_background(
                self.background, frame, alpha=self.alpha, mask=mask)
        return self.background.copy()


def fill_holes(depth: np.ndarray, *, invalid: float = 0.0) -> np.ndarray:
    """Replace invalid depth pixels by the nearest valid pixel (Euclidean; ties resolved by
    ``scipy.ndimage.distance_transform_edt``, deterministic).

    Parameters
    ----------
    depth : np.ndarray, shape (rows, cols)
    invalid : float
        The value a sensor writes where it has no reading.

    Returns
    -------
    np.ndarray, shape (rows, cols), float64; unchanged when no pixel (or every pixel) is valid.
    """
    image = _as_image(depth, "fill_holes")
    holes = image == invalid
    if not holes.any() or holes.all():
        return image.copy()
    _, (rows, cols) = scipy.ndimage.distance_transform_edt(holes, return_indices=True)
    return image[rows, cols]


def clip_range(depth: np.ndarray, *, min_m: float, max_m: float) -> np.ndarray:
    """Clip depth to ``[min_m, max_m]`` metres; same shape, float64."""
    if not min_m < max_m:
        raise DataError(f"clip_range: min_m {min_m} must be below max_m {max_m}")
    return np.clip(np.asarray(depth, dtype=np.float64), min_m, max_m)


def process_image(
    frame: np.ndarray, *, spec: ImageSpec, background: np.ndarray | None = None
) -> np.ndarray:
    """Apply an ImageSpec (order in the module docs).

    Parameters
    ----------
    frame : np.ndarray, shape (rows, cols), degC (thermal) or metres (depth)
    spec : ImageSpec
    background : np.ndarray, shape (rows, cols), optional
        Used only when ``spec.subtract_background``; ``None`` means the frame's median.

    Returns
    -------
    np.ndarray, shape (spec.height, spec.width), float32 in [0, 1]
    """
    image = _as_image(frame, "process_image")
    if spec.sensor == "depth" and spec.fill_holes:
        image = fill_holes(image, invalid=0.0)
    if spec.subtract_background:
        reference = float(np.median(image)) if background is None else background
        image = subtract_background(image, background=reference)
    image = to_grid(image, height=spec.height, width=spec.width)
    if spec.normalize == "minmax":
        image = normalize_minmax(image)
    else:
        image = normalize_fixed(image, min_value=spec.min_value, max_value=spec.max_value)
    return image.astype(np.float32)
