"""Raw samples -> features: one pure numeric module per front-end kind, and :func:`extract`.

``extract(spec, sample)`` is the one entry point the rest of tinyfuse calls; it validates the
sample, dispatches on the spec's front-end kind and returns float32 of exactly
``spec.output_shape``.
"""

from __future__ import annotations

import numpy as np

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.frontends import audio, image, vector, vibration
from tinyfuse.sensors.spec import (
    AudioSpec,
    FrontendSpec,
    ImageSpec,
    ModalitySpec,
    VectorSpec,
    VibrationSpec,
)

__all__ = ["extract", "audio", "image", "vector", "vibration"]

_EXPECTED_NDIM = {"audio": (1,), "image": (2,), "vibration": (1, 2), "vector": (1, 2)}


def _validate(sample: np.ndarray, *, kind: str, field: str) -> np.ndarray:
    array = np.asarray(sample)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number) \
            or np.iscomplexobj(array):
        raise DataError(f"{field}: expected real numbers, got dtype {array.dtype}")
    if array.ndim not in _EXPECTED_NDIM[kind]:
        raise DataError(f"{field}: a {kind} sample must have ndim in {_EXPECTED_NDIM[kind]}, "
                        f"got shape {array.shape}")
    if array.size == 0:
        raise DataError(f"{field}: sample is empty (shape {array.shape})")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        bad = int(array.size - np.isfinite(array).sum())
        raise DataError(f"{field}: sample has {bad} NaN or infinite value(s)")
    return array


def _pcm_to_float(signal: np.ndarray) -> np.ndarray:
    """Integer PCM -> float64 in [-1, 1) (divide by 2**(bits-1)); floats pass unchanged."""
    if np.issubdtype(signal.dtype, np.integer):
        info = np.iinfo(signal.dtype)
        if info.min < 0:
            return signal.astype(np.float64) / float(-info.min)
        middle = (int(info.max) + 1) // 2
        return (signal.astype(np.float64) - middle) / float(middle)
    return signal.astype(np.float64)


def _audio(spec: AudioSpec, signal: np.ndarray, sample_rate_hz: float | None) -> np.ndarray:
    """Resample (only here: loaders keep the native rate), fix the length, featurize."""
    rate_hz = spec.sample_rate_hz if sample_rate_hz is None else sample_rate_hz
    x = audio.resample_window(_pcm_to_float(signal), orig_hz=rate_hz,
                              target_hz=spec.sample_rate_hz, n_samples=spec.n_samples)
    return audio.features(x, spec=spec)


def _vector(spec: VectorSpec, sample: np.ndarray, field: str) -> np.ndarray:
    if sample.ndim == 2 and 1 in sample.shape:  # one CSV row or one column
        sample = sample.reshape(-1)
    if sample.shape != (spec.size,):
        raise DataError(f"{field}: expected a vector of shape ({spec.size},), "
                        f"got {sample.shape}")
    return vector.vector_features(sample, spec=spec)


def extract(
    spec: ModalitySpec | FrontendSpec,
    sample: np.ndarray,
    *,
    sample_rate_hz: float | None = None,
    background: np.ndarray | None = None,
) -> np.ndarray:
    """Turn one raw sample into the features of its modality.

    Parameters
    ----------
    spec : ModalitySpec or a bare front-end spec
    sample : np.ndarray, real numbers, finite
        audio: shape (n,), float in [-1, 1] or integer PCM (scaled by 1 / 2**(bits-1)), at
        ``spec.sample_rate_hz`` unless ``sample_rate_hz`` says otherwise; its first
        ``duration_s`` is resampled to the spec's rate (the one resampler in tinyfuse:
        loaders return audio at its native rate), then zero-padded at the end when short.
        image: shape (rows, cols) of any size, degC (thermal) or metres (depth).
        vibration: shape (n_samples, n_axes) (or (n_samples,) for one axis), trimmed or
        zero-padded at the end to ``window_s``.
        vector: shape (size,).
    sample_rate_hz : float, optional
        Native rate of an audio sample (``sample.meta_value("sample_rate_hz")``), in
        ``AUDIO_NATIVE_RATE_RANGE_HZ``; ``None`` means the spec's rate.
    background : np.ndarray, optional
        Background frame for an image spec with ``subtract_background``.

    Returns
    -------
    np.ndarray, shape ``spec.output_shape``, float32, finite

    Raises
    ------
    DataError
        Wrong dtype, ndim, shape or axis count, empty, NaN/inf, or an audio rate out of
        range; the message names the modality.
    """
    frontend = spec.frontend if isinstance(spec, ModalitySpec) else spec
    field = spec.name if isinstance(spec, ModalitySpec) else frontend.kind
    array = _validate(sample, kind=frontend.kind, field=field)
    try:
        if isinstance(frontend, AudioSpec):
            out = _audio(frontend, array, sample_rate_hz)
        elif isinstance(frontend, ImageSpec):
            out = image.process_image(array, spec=frontend, background=background)
        elif isinstance(frontend, VibrationSpec):
            out = vibration.vibration_features(array, spec=frontend)
        elif isinstance(frontend, VectorSpec):
            out = _vector(frontend, array, field)
        else:
            raise DataError(f"{field}: no front-end for {type(frontend).__name__}")
    except DataError as exc:
        if str(exc).startswith(f"{field}:"):
            raise
        raise DataError(f"{field}: {exc}") from None
    if out.shape != frontend.output_shape or out.dtype != np.float32:
        raise DataError(f"{field}: front-end produced {out.dtype}{out.shape}, "
                        f"expected float32{frontend.output_shape}")
    return out
