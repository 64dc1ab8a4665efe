"""Features -> class probabilities: the :class:`Scorer` protocol, the bundle it reads, and two
host scorers over the same int8 model.

A build folder holds ``model.tflite`` and ``params.json`` (written by ``fusion.pipeline``): per
modality its front-end spec, model input index, standardisation (``(x - mean) / scale``) and int8
input quantization; the output's quantization; classes and ``spec_hash``. :func:`model_inputs`
turns features into the int8 tensors exactly as training did: a missing modality becomes zeros
*after* standardisation (the training mean), the same thing the model saw with modality dropout.

* :class:`TfliteScorer`: the TFLite Micro reference interpreter (``fusion.export``).
* :class:`HostScorer`: the model compiled to C by tinyfuse and loaded with ctypes
  (``firmware.host.HostModel``): no TensorFlow at run time, the arithmetic of the board.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from apps.policy import Policy
from fusion.export import dequantize, quantize
from sensors.errors import DataError, SpecError
from sensors.spec import ModalitySpec

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleInput:
    """One model input: its modality, tensor index, standardisation and int8 quantization."""

    modality: ModalitySpec
    index: int
    shape: tuple[int, ...]
    mean: tuple[float, ...]
    std_scale: tuple[float, ...]
    scale: float
    zero_point: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Bundle:
    """What ``params.json`` says about a built model (inputs sorted by tensor index).

    ``policy`` is the calibrated decision policy stored by ``tinyfuse build`` (``None`` in a
    bundle written before calibration, or by ``fusion`` alone).
    """

    folder: Path
    app: str
    spec_hash: str
    classes: tuple[str, ...]
    inputs: tuple[BundleInput, ...]
    output_scale: float
    output_zero_point: int
    decision_threshold: float
    policy: Policy | None = None

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(i.modality.name for i in self.inputs)

    @property
    def tflite_path(self) -> Path:
        return self.folder / "model.tflite"

    def tflite_bytes(self) -> bytes:
        try:
            return self.tflite_path.read_bytes()
        except OSError as exc:
            raise DataError(f"{self.tflite_path}: cannot read the model: {exc}") from exc


def _field(data: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in data:
        raise DataError(f"{where}: missing field {name!r}")
    return data[name]


def _bundle_input(entry: Mapping[str, Any], where: str) -> BundleInput:
    try:
        modality = ModalitySpec.from_dict({"name": _field(entry, "name", where),
                                           "frontend": _field(entry, "frontend", where)})
        standard = _field(entry, "standardize", where)
        return BundleInput(
            modality=modality, index=int(_field(entry, "input_index", where)),
            shape=tuple(int(d) for d in _field(entry, "input_shape", where)),
            mean=tuple(float(v) for v in _field(standard, "mean", f"{where}.standardize")),
            std_scale=tuple(float(v) for v in _field(standard, "scale",
                                                     f"{where}.standardize")),
            scale=float(_field(entry, "input_scale", where)),
            zero_point=int(_field(entry, "input_zero_point", where)))
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: {exc}") from None


def load_bundle(folder: str | Path) -> Bundle:
    """Read ``<folder>/params.json`` (and check ``model.tflite`` is there).

    Raises
    ------
    DataError
        Naming the file and field when something is missing or malformed.
    """
    root = Path(folder)
    path = root / "params.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: no params.json (is {root} a `tinyfuse build` output?)") \
            from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not (root / "model.tflite").is_file():
        raise DataError(f"{root / 'model.tflite'}: missing (the bundle needs its model)")
    where = str(path)
    entries = _field(data, "modalities", where)
    inputs = sorted((_bundle_input(e, f"{where}: modalities[{i}]") for i, e in
                     enumerate(entries)), key=lambda item: item.index)
    output = _field(data, "output", where)
    classes = tuple(_field(data, "classes", where))
    if not classes or not inputs:
        raise DataError(f"{where}: needs at least one class and one modality")
    return Bundle(folder=root, app=str(data.get("app", root.name)),
                  spec_hash=str(_field(data, "spec_hash", where)), classes=classes,
                  inputs=tuple(inputs), output_scale=float(_field(output, "scale", where)),
                  output_zero_point=int(_field(output, "zero_point", where)),
                  decision_threshold=float(data.get("decision_threshold", 0.5)),
                  policy=_stored_policy(data.get("policy"), classes, where))


def _stored_policy(entry: Any, classes: tuple[str, ...], where: str) -> Policy | None:
    """``params.json["policy"]`` as a :class:`Policy` over the bundle's classes, or None."""
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise DataError(f"{where}: field 'policy' must be an object")
    try:
        policy = Policy.from_dict(entry)
    except SpecError as exc:
        raise DataError(f"{where}: {exc}") from None
    if policy.classes != classes:
        raise DataError(f"{where}: policy classes {list(policy.classes)} differ from the "
                        f"bundle's {list(classes)}")
    return policy


def model_inputs(bundle: Bundle, features: Mapping[str, np.ndarray | None],
                 ) -> tuple[list[np.ndarray], tuple[str, ...]]:
    """Standardised, int8-quantized model inputs (tensor-index order) and the missing names.

    Parameters
    ----------
    features : mapping of str to ndarray or None
        Front-end output per modality name, float32 of the modality's ``output_shape``;
        an absent key or ``None`` marks the modality missing (fed as zeros).
    """
    arrays, missing = [], []
    for item in bundle.inputs:
        raw = features.get(item.modality.name)
        if raw is None:
            missing.append(item.modality.name)
            standard = np.zeros(item.modality.output_shape, np.float32)
        else:
            standard = _standardize(item, raw)
        quantized = quantize(standard, scale=item.scale, zero_point=item.zero_point)
        arrays.append(quantized.reshape(item.shape))
    return arrays, tuple(missing)


def _standardize(item: BundleInput, raw: np.ndarray) -> np.ndarray:
    values = np.asarray(raw, np.float32)
    if values.shape != item.modality.output_shape:
        raise DataError(f"features[{item.modality.name!r}]: expected shape "
                        f"{item.modality.output_shape}, got {values.shape}")
    mean, scale = np.asarray(item.mean, np.float32), np.asarray(item.std_scale, np.float32)
    return ((values - mean) / scale).astype(np.float32)


def _dequantize(bundle: Bundle, raw: np.ndarray) -> np.ndarray:
    return dequantize(np.asarray(raw).reshape(-1), scale=bundle.output_scale,
                      zero_point=bundle.output_zero_point)


class Scorer(Protocol):
    """Turns one sample's features into ``(n_classes,)`` float32 class probabilities."""

    bundle: Bundle

    def score(self, features: Mapping[str, np.ndarray | None]) -> np.ndarray: ...


class TfliteScorer:
    """Scores with the TFLite Micro reference interpreter (``fusion.export.reference_invoke``)."""

    name = "tflite"

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self._model = bundle.tflite_bytes()

    def score(self, features: Mapping[str, np.ndarray | None]) -> np.ndarray:
        from fusion.export import reference_invoke

        inputs, _ = model_inputs(self.bundle, features)
        return _dequantize(self.bundle, reference_invoke(self._model, inputs)[0])


class HostScorer:
    """Scores with the compiled C model (``firmware.host.HostModel``, built with gcc once and
    cached): bit-exact with the board's int8 arithmetic, no TensorFlow needed."""

    name = "host"

    def __init__(self, bundle: Bundle) -> None:
        from firmware.host import HostModel

        self.bundle = bundle
        self._model = HostModel.build(bundle.tflite_bytes())
        infos = self._model.compiled.inputs
        if [info.bytes for info in infos] != [int(np.prod(i.shape)) for i in bundle.inputs]:
            raise DataError(f"{bundle.tflite_path}: compiled inputs {[i.shape for i in infos]} "
                            f"do not match params.json {[i.shape for i in bundle.inputs]}")

    def score(self, features: Mapping[str, np.ndarray | None]) -> np.ndarray:
        inputs, _ = model_inputs(self.bundle, features)
        output = self._model.run(inputs)[0]
        if self._model.compiled.outputs[0].float_io:
            return np.asarray(output, np.float32).reshape(-1)
        return _dequantize(self.bundle, output)


SCORERS: dict[str, type[HostScorer] | type[TfliteScorer]] = {"host": HostScorer,
                                                              "tflite": TfliteScorer}


def make_scorer(bundle: Bundle, *, kind: str = "host") -> Scorer:
    """``"host"`` (compiled C) or ``"tflite"`` (reference interpreter)."""
    if kind not in SCORERS:
        raise DataError(f"scorer: {kind!r} is not one of {sorted(SCORERS)}")
    return SCORERS[kind](bundle)
