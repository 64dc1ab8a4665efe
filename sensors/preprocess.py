"""Raw samples -> features -> standardised features -> int8 model inputs: the one path.

Training, validation, calibration, evaluation, host scoring, the benchmarks and the
``features`` command all go through a :class:`Preprocessor`; at build time it is made from the
modality specs (and, once fitted, the standardisation), at run time from the bundle
(:meth:`Preprocessor.from_bundle`), so both sides compute the same numbers.

A sample that lacks a modality gets zeros for it *after* standardisation (the training mean):
exactly what the model saw in training with modality dropout.

Examples
--------
>>> pre = Preprocessor.from_bundle(Bundle.read("demo-out"))          # doctest: +SKIP
>>> features = pre.features(sample)                                   # doctest: +SKIP
>>> inputs = pre.int8_inputs(features)   # one int8 array per model input   # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tinyfuse.core.bundle import Bundle
from tinyfuse.core.errors import DataError
from tinyfuse.core.quant import quantize
from tinyfuse.sensors.spec import ImageSpec, ModalitySpec

log = logging.getLogger(__name__)

# Beyond these a reading is a sensor fault, not a measurement: float audio beyond +-16 full
# scale, vibration beyond +-10,000 g, an image further than ten spans outside its
# min_value..max_value (1e6 degC on a 15..40 degC thermal spec).
AUDIO_LIMIT = 16.0
VIBRATION_LIMIT_G = 1.0e4
IMAGE_SPANS = 10.0


def sensor_fault(modality: ModalitySpec, raw) -> str:
    """Why ``raw`` cannot be a reading of ``modality``'s sensor ("" when it can)."""
    frontend = modality.frontend
    values = np.asarray(raw)
    if values.size == 0 or not np.issubdtype(values.dtype, np.number):
        return ""  # the front-end's own checks name those
    if frontend.kind == "audio" and np.issubdtype(values.dtype, np.floating):
        low, high = -AUDIO_LIMIT, AUDIO_LIMIT
    elif frontend.kind == "vibration":
        low, high = -VIBRATION_LIMIT_G, VIBRATION_LIMIT_G
    elif isinstance(frontend, ImageSpec):
        span = float(frontend.max_value - frontend.min_value)
        low = frontend.min_value - IMAGE_SPANS * span
        high = frontend.max_value + IMAGE_SPANS * span
    else:
        return ""
    finite = values[np.isfinite(values)] if np.issubdtype(values.dtype, np.floating) else values
    if not finite.size:
        return ""
    smallest, largest = float(finite.min()), float(finite.max())
    if smallest < low or largest > high:
        return (f"values {smallest:.4g}..{largest:.4g} outside the plausible "
                f"{low:.4g}..{high:.4g} of a {frontend.kind} sensor")
    return ""

Features = Mapping[str, "np.ndarray | None"]


def standardize(values: np.ndarray, *, mean: np.ndarray, scale: np.ndarray,
                dtype: type = np.float32) -> np.ndarray:
    """``(x - mean) / scale`` computed in ``dtype`` (float32: the model inputs), ``mean`` and
    ``scale`` broadcast over the last axis."""
    return ((np.asarray(values, dtype) - np.asarray(mean, dtype))
            / np.asarray(scale, dtype)).astype(dtype)


def fit_standardization(features: np.ndarray, *, per_channel: bool,
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale learnt on training features ``(n, *shape)``.

    ``per_channel``: one mean/scale per last-axis column (shape ``(shape[-1],)``); else one
    scalar (shape ``(1,)``), which keeps spatial maps comparable across pixels. A scale below
    1e-6 (a constant column) becomes 1.
    """
    array = np.asarray(features, np.float64)
    if array.ndim < 2 or len(array) < 1:
        raise DataError(f"standardisation: expected (n, ...) features with n >= 1, got "
                        f"shape {array.shape}")
    flat = array.reshape(-1, array.shape[-1]) if per_channel else array.reshape(-1, 1)
    scale = flat.std(axis=0)
    scale = np.where(scale > 1e-6, scale, 1.0)
    return flat.mean(axis=0).astype(np.float32), scale.astype(np.float32)


def per_channel(modality: ModalitySpec) -> bool:
    """Images are standardised with one scalar, every other front-end per last-axis column."""
    return modality.frontend.kind != "image"


@dataclass(frozen=True, slots=True, kw_only=True)
class InputQuantization:
    """A model input's int8 quantisation and tensor shape (batch 1 included)."""

    scale: float
    zero_point: int
    shape: tuple[int, ...]


class Preprocessor:
    """Front-ends, standardisation and int8 quantisation for the modalities of one model.

    Parameters
    ----------
    modalities : sequence of ModalitySpec
        In model input order.
    stats : mapping of str to (mean, scale), optional
        Standardisation per modality name (:func:`fit_standardization`); needed by
        :meth:`standardized` and :meth:`int8_inputs`.
    quantization : mapping of str to InputQuantization, optional
        Needed by :meth:`int8_inputs`.
    """

    def __init__(self, modalities: Sequence[ModalitySpec], *,
                 stats: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                 quantization: Mapping[str, InputQuantization] | None = None) -> None:
        self.modalities = tuple(modalities)
        self.stats = dict(stats or {})
        self.quantization = dict(quantization or {})

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> Preprocessor:
        """The bundle's front-ends, standardisation and input quantisation."""
        modalities, stats, quantization = [], {}, {}
        for item in bundle.inputs:
            try:
                modalities.append(ModalitySpec.from_dict({"name": item.name,
                                                          "frontend": dict(item.frontend)}))
            except ValueError as exc:
                raise DataError(f"bundle: inputs[{item.name!r}].frontend: {exc}") from None
            stats[item.name] = (np.asarray(item.mean, np.float32),
                                np.asarray(item.std_scale, np.float32))
            quantization[item.name] = InputQuantization(scale=item.scale,
                                                        zero_point=item.zero_point,
                                                        shape=item.shape)
        return cls(modalities, stats=stats, quantization=quantization)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.modalities)

    def feature(self, modality: ModalitySpec, sample) -> np.ndarray | None:
        """One modality's front-end output for ``sample`` (``None`` when the sample lacks it,
        or when its values cannot come from the sensor: :func:`sensor_fault`).
        Audio is resampled by the front-end from the sample's native rate
        (``Sample.sample_rate_hz``)."""
        from tinyfuse.sensors.frontends import extract

        raw = sample.data.get(modality.name)
        if raw is None:
            return None
        fault = sensor_fault(modality, raw)
        if fault:
            log.warning("%s: %s: %s; treated as missing (a sensor fault)",
                        getattr(sample, "source", "sample"), modality.name, fault)
            return None
        rate = sample.sample_rate_hz(modality.name) if modality.frontend.kind == "audio" \
            else None
        return extract(modality, raw, sample_rate_hz=rate)

    def faults(self, sample) -> tuple[str, ...]:
        """The modality names whose reading in ``sample`` is a sensor fault
        (:func:`sensor_fault`); :meth:`feature` treats them as missing."""
        return tuple(m.name for m in self.modalities
                     if sample.data.get(m.name) is not None
                     and sensor_fault(m, sample.data[m.name]))

    def features(self, sample) -> dict[str, np.ndarray | None]:
        """Front-end features per modality name (``None`` where the sample lacks it)."""
        return {m.name: self.feature(m, sample) for m in self.modalities}

    def standardize_batch(self, name: str, values: np.ndarray,
                          present: np.ndarray | None = None) -> np.ndarray:
        """Standardise ``(n, *shape)`` features of one modality; rows not ``present`` become
        zeros (the training mean)."""
        if name not in self.stats:
            raise DataError(f"preprocessor: no standardisation for modality {name!r}")
        mean, scale = self.stats[name]
        out = standardize(values, mean=mean, scale=scale)
        if present is not None:
            out[~np.asarray(present, bool)] = 0.0
        return out

    def standardized(self, features: Features) -> list[np.ndarray]:
        """Standardised features in model input order; a missing modality is zeros."""
        out = []
        for modality in self.modalities:
            value = features.get(modality.name)
            if value is None:
                out.append(np.zeros(modality.output_shape, np.float32))
                continue
            array = np.asarray(value, np.float32)
            if array.shape != modality.output_shape:
                raise DataError(f"features[{modality.name!r}]: expected shape "
                                f"{modality.output_shape}, got {array.shape}")
            out.append(self.standardize_batch(modality.name, array))
        return out

    def int8_inputs(self, features: Features) -> list[np.ndarray]:
        """int8 model inputs (model input order, tensor shapes) from front-end features,
        quantised with TFLite's rounding (``tinyfuse.core.quant``)."""
        arrays = []
        for modality, standard in zip(self.modalities, self.standardized(features),
                                      strict=True):
            quant = self.quantization.get(modality.name)
            if quant is None:
                raise DataError(f"preprocessor: no int8 quantisation for modality "
                                f"{modality.name!r}")
            arrays.append(quantize(standard, scale=quant.scale,
                                   zero_point=quant.zero_point).reshape(quant.shape))
        return arrays

    def require_any(self, samples, *, where: str) -> None:
        """``DataError`` unless some sample carries one of the modalities: a source with none
        of them would be scored as all zeros."""
        present = {key for sample in samples for key in sample.data}
        if not present & set(self.names):
            raise DataError(f"{where}: carries none of the modalities {list(self.names)} "
                            f"(it has {sorted(present)[:10]}); check the loader options or "
                            f"the modality names")

    def missing(self, features: Features) -> tuple[str, ...]:
        """The modality names ``features`` lacks (or holds as ``None``)."""
        return tuple(m.name for m in self.modalities if features.get(m.name) is None)
