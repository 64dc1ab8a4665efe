"""Samples -> standardised model inputs through the :class:`Preprocessor`, with a cache of
front-end features per modality spec.

A sample that lacks a modality gets zeros for it after standardisation (the training mean),
which is exactly what the model sees at run time when a sensor is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tinyfuse.core.errors import DataError
from tinyfuse.fusion.config import DataSettings
from tinyfuse.fusion.spec import FusionSpec
from tinyfuse.sensors.preprocess import Preprocessor, fit_standardization, per_channel
from tinyfuse.sensors.spec import ModalitySpec

log = logging.getLogger(__name__)


def load_samples(settings: DataSettings, *, data_dir: str | None = None,
                 modalities: Sequence[str] = ()):
    """The ``LoadResult`` an app config names (simulator, or dataset at ``path``/``data_dir``).

    A ``<class>/<file>`` folder holds one modality: it is the config's (``modalities``, the
    names of its ``[[modalities]]``), never guessed; name it with ``[data].options.modality``
    when the config has several.
    """
    options = dict(settings.options)
    if settings.simulator and not data_dir:
        from tinyfuse.sensors import simulate

        makers: dict[str, Callable[..., Any]] = {
            "cough": simulate.simulate_cough, "posture": simulate.simulate_posture,
            "factory": simulate.simulate_factory}
        maker = makers[settings.simulator]
        try:
            return maker(seed=settings.seed, **options)
        except TypeError as exc:  # an option the simulator does not take
            raise DataError(f"[data].options: the {settings.simulator} simulator: {exc}") \
                from None
    from tinyfuse.sensors.sources import detect_dataset, load_dataset

    root = data_dir or settings.path
    if not root:
        raise DataError("data: a dataset needs a 'path' (or --data DIR)")
    name = settings.dataset or "auto"
    if name == "auto":
        name = detect_dataset(root)
    if name in ("folder", "manifest") and "modality" not in options:
        if len(modalities) == 1:  # a manifest without a modality column, or a folder
            options["modality"] = modalities[0]
        elif name == "folder":
            raise DataError(f"{root}: a <class>/<file> folder holds one modality; the config "
                            f"has {list(modalities)}: set [data].options.modality")
    return load_dataset(name, root, **options)


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
            preprocessor = Preprocessor((modality,))
            for sample in self.samples:
                value = preprocessor.feature(modality, sample)
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


def preprocessor_for(spec: FusionSpec, stats) -> Preprocessor:
    """The :class:`Preprocessor` of ``spec``'s modalities with the fitted ``stats``."""
    return Preprocessor(spec.modalities, stats=stats)


def model_inputs(store: FeatureStore, spec: FusionSpec, rows: np.ndarray, stats) -> list:
    """Standardised inputs (spec order) for sample ``rows``; absent modalities are zeros."""
    preprocessor = preprocessor_for(spec, stats)
    out = []
    for modality in spec.modalities:
        raw, present = store.raw(modality)
        out.append(preprocessor.standardize_batch(modality.name, raw[rows], present[rows]))
    return out


def fit_stats(store: FeatureStore, spec: FusionSpec, rows: np.ndarray) -> dict:
    """Standardisation statistics learnt on the training ``rows`` (present samples only)."""
    stats = {}
    for modality in spec.modalities:
        features, present = store.raw(modality)
        chosen = rows[present[rows]]
        if len(chosen) == 0:
            raise DataError(f"no training sample carries modality {modality.name!r}")
        stats[modality.name] = fit_standardization(features[chosen],
                                                   per_channel=per_channel(modality))
    return stats
