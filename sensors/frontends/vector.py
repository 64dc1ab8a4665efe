"""Vector front-end: precomputed feature vectors pass through, optionally standardised with
the fixed ``mean`` / ``scale`` stored in the :class:`~sensors.spec.VectorSpec`."""

from __future__ import annotations

import numpy as np

from tinyfuse.sensors.spec import VectorSpec


def standardize(vector: np.ndarray, *, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(vector - mean) / scale`` elementwise; all of shape (size,); returns float64."""
    return (np.asarray(vector, dtype=np.float64) - mean) / scale


def vector_features(vector: np.ndarray, *, spec: VectorSpec) -> np.ndarray:
    """Pass a vector through, standardised when the spec has ``mean`` and/or ``scale``.

    Parameters
    ----------
    vector : np.ndarray, shape (spec.size,)
    spec : VectorSpec
        An empty ``mean`` means 0, an empty ``scale`` means 1.

    Returns
    -------
    np.ndarray, shape (spec.size,), float32
    """
    mean = np.asarray(spec.mean, dtype=np.float64) if spec.mean else np.zeros(spec.size)
    scale = np.asarray(spec.scale, dtype=np.float64) if spec.scale else np.ones(spec.size)
    return standardize(vector, mean=mean, scale=scale).astype(np.float32)
