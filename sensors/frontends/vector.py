"""Vector front-end: precomputed feature vectors pass through, optionally standardised with
the fixed ``mean`` / ``scale`` stored in the :class:`~tinyfuse.sensors.spec.VectorSpec`
(``tinyfuse.sensors.preprocess.standardize``, in float64)."""

from __future__ import annotations

import numpy as np

from tinyfuse.sensors.preprocess import standardize
from tinyfuse.sensors.spec import VectorSpec


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
    return standardize(vector, mean=mean, scale=scale, dtype=np.float64).astype(np.float32)
