"""int8 model inputs -> class probabilities: the :class:`Scorer` protocol and two host scorers
over the same bundle.

The inputs come from ``Preprocessor.from_bundle(bundle).int8_inputs(features)``
(``tinyfuse.sensors.preprocess``), the one path training used too.

* :class:`HostScorer`: the model compiled to C by tinyfuse and loaded with ctypes
  (``tinyfuse.firmware.host.HostModel``): no TensorFlow, the arithmetic of the board. It refuses
  a compiled model whose bundle hash is not the bundle's.
* :class:`TfliteScorer`: the TFLite Micro reference interpreter (``tinyfuse.core.tflm``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from tinyfuse.core.bundle import Bundle
from tinyfuse.core.errors import DataError, DeployError
from tinyfuse.core.quant import dequantize


def load_bundle(folder: str | Path) -> Bundle:
    """``Bundle.read(folder)``: a one-line ``DataError`` naming the file and field when it is
    missing, malformed, of another schema version, or does not match its hash."""
    return Bundle.read(folder)


def _probabilities(bundle: Bundle, raw: np.ndarray) -> np.ndarray:
    return dequantize(np.asarray(raw).reshape(-1), scale=bundle.output.scale,
                      zero_point=bundle.output.zero_point)


class Scorer(Protocol):
    """Turns one sample's int8 model inputs into ``(n_classes,)`` float32 probabilities."""

    bundle: Bundle

    def score(self, inputs: Sequence[np.ndarray]) -> np.ndarray: ...


class TfliteScorer:
    """Scores with the TFLite Micro reference interpreter."""

    name = "tflite"

    def __init__(self, bundle: Bundle) -> None:
        from tinyfuse.core.tflm import ReferenceModel

        self.bundle = bundle
        self._model = ReferenceModel(bundle.tflite)

    def score(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        return _probabilities(self.bundle, self._model.run(list(inputs))[0])


class HostScorer:
    """Scores with the compiled C model (built with gcc once and cached): bit-exact with the
    board's int8 arithmetic. ``model`` (a ``HostModel``) defaults to the bundle's own model
    compiled here; any model whose bundle hash differs from the bundle's is refused."""

    name = "host"

    def __init__(self, bundle: Bundle, *, model=None) -> None:
        from tinyfuse.firmware.host import HostModel

        self.bundle = bundle
        self._model = model or HostModel.build(bundle.tflite, bundle=bundle)
        if self._model.bundle_hash != bundle.bundle_hash:
            raise DeployError(f"compiled model {self._model.library_path}: bundle hash "
                              f"{self._model.bundle_hash[:12] or '(none)'} is not the bundle's "
                              f"{bundle.bundle_hash[:12]}; recompile it from this bundle")
        infos = self._model.compiled.inputs
        if [info.bytes for info in infos] != [int(np.prod(i.shape)) for i in bundle.inputs]:
            raise DataError(f"compiled inputs {[i.shape for i in infos]} do not match the "
                            f"bundle's {[i.shape for i in bundle.inputs]}")

    def score(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        output = self._model.run(list(inputs))[0]
        if self._model.compiled.outputs[0].float_io:
            return np.asarray(output, np.float32).reshape(-1)
        return _probabilities(self.bundle, output)


SCORERS: dict[str, type[HostScorer] | type[TfliteScorer]] = {"host": HostScorer,
                                                              "tflite": TfliteScorer}


def make_scorer(bundle: Bundle, *, kind: str = "host") -> Scorer:
    """``"host"`` (compiled C) or ``"tflite"`` (reference interpreter)."""
    if kind not in SCORERS:
        raise DataError(f"scorer: {kind!r} is not one of {sorted(SCORERS)}")
    return SCORERS[kind](bundle)
