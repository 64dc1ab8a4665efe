"""Samples -> standardised model inputs, with a cache per modality spec.

A sample that lacks a modality gets zeros for it after standardisation (the training mean),
which is exactly what the model sees at run time when a sensor is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from fusion.config import DataSettings
from fusion.spec import FusionSpec
from fusion.train import fit_standardizer, standardize
from sensors.errors import DataError
from sensors.spec import ModalitySpec

log = logging.getLogger(__name__)


def load_samples(settings: DataSettings, *, data_dir: str | None = None):
    """The ``LoadResult`` an app config names (simulator, or dataset at ``path``/``data_dir``)."""
    options = dict(settings.options)
    if settings.simulator and not data_dir:
        from sensors import simulate

        maker = {"cough": simulate.simulate_cough, "posture": simulate.simulate_posture,
                 "factory": simulate.simulate_factory}[settings.simulator]
        return maker(seed=settings.seed, **options)
    from sensors.sources import load_dataset

    root = data_dir or settings.path
    if not root:
        raise DataError("data: a dataset needs a 'path' (or --data DIR)")
    return load_dataset(settings.dataset or "auto", root, **options)


def restrict_to_present(spec: FusionSpec, present: Sequence[str]) -> FusionSpec:
    """Drop the modalities (and branches) that no sample carries."""
    keep = [i for i, m in enumerate(spec.modalities) if m.name in present]
    if not keep:
        raise DataError(f"data carries none of the modalities {list(spec.modality_names)} "
                        f"(it has {list(present)})")
    return replace(spec, modalities=tuple(spec.modalities[i] for i in keep),
                   branches=tuple(spec.branches[i] for i in keep))


def adopt_data_classes(spec: FusionSpec, samples) -> FusionSpec:
    """The spec with the data's own classes when its labels are not the app's (a bundled app
    pointed at a real set with ``--data``); unchanged otherwise."""
    found = sorted({s.label for s in samples})
    if set(found) <= set(spec.classes):
        return spec
    log.warning("data labels %s are not the app's classes %s: training on the data's classes",
                found, list(spec.classes))
    return replace(spec, classes=tuple(found))


def _extract_one(modality: ModalitySpec, sample) -> np.ndarray | None:
    from sensors import extract

    raw = sample.data.get(modality.name)
    if raw is None:
        return None
    rate = sample.meta_value("sample_rate_hz") if modality.frontend.kind == "audio" else None
    return extract(modality, raw, sample_rate_hz=rate if isinstance(rate, int | float) else None)


@dataclass
class FeatureStore:
    """Raw (unstandardised) features per modality spec, extracted once and cached."""

    samples: tuple
    cache: dict

    @classmethod
    def of(cls, result) -> FeatureStore:
        return cls(samples=tuple(result.samples), cache={})

    def raw(self, modality: ModalitySpec) -> tuple[np.ndarray, np.ndarray]:
        """``(features (n, *shape) float32, present (n,) bool)`` for every sample."""
        if modality not in self.cache:
            arrays, present = [], []
            for sample in self.samples:
                value = _extract_one(modality, sample)
                present.append(value is not None)
                arrays.append(np.zeros(modality.output_shape, np.float32) if value is None
                              else value)
            self.cache[modality] = (np.stack(arrays).astype(np.float32), np.array(present))
            log.info("extracted %s features %s for %d samples", modality.name,
                     modality.output_shape, len(arrays))
        return self.cache[modality]


def labels_of(samples, classes: Sequence[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted({s.label for s in samples} - set(index))
    if unknown:
        raise DataError(f"labels {unknown} are not among the classes {list(classes)}")
    return np.array([index[s.label] for s in samples], np.int64)


def model_inputs(store: FeatureStore, spec: FusionSpec, rows: np.ndarray, stats) -> list:
    """Standardised inputs (spec order) for sample ``rows``; absent modalities are zeros."""
    out = []
    for modality in spec.modalities:
        raw, present = store.raw(modality)
        std = standardize({modality.name: raw[rows]}, stats)[modality.name]
        std[~present[rows]] = 0.0
        out.append(std)
    return out


def fit_stats(store: FeatureStore, spec: FusionSpec, rows: np.ndarray) -> dict:
    """Standardisation statistics learnt on the training ``rows`` (present samples only)."""
    raw = {}
    per_channel = {}
    for modality in spec.modalities:
        features, present = store.raw(modality)
        chosen = rows[present[rows]]
        if len(chosen) == 0:
            raise DataError(f"no training sample carries modality {modality.name!r}")
        raw[modality.name] = features[chosen]
        per_channel[modality.name] = modality.frontend.kind != "image"
    return fit_standardizer(raw, per_channel=per_channel)
