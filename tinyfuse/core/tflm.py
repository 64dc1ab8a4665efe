"""The TFLite Micro reference interpreter (the oracle for every int8 number) and a reader of
what a ``.tflite`` holds. Imports neither TensorFlow nor any other part of tinyfuse.

* :func:`reference_invoke`: one inference, int8 in, int8 out;
* :class:`ReferenceModel`: one interpreter kept for many inferences;
* :func:`predict_int8`: float features in (quantized here with TFLite's rounding), float
  probabilities out: every int8 accuracy, calibration score and evaluation goes through it;
* :func:`tflm_arena_bytes`: the arena a TFLite Micro deployment needs;
* :func:`inspect_tflite`: ops, tensor types, I/O quantization and weight bytes.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from tinyfuse.core.errors import ExportError
from tinyfuse.core.quant import dequantize, quantize

_ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")
_INPUT_NAME = re.compile(r"^serving_default_(.+):\d+$")


def _micro_runtime():
    from tflite_micro.python.tflite_micro import runtime

    return runtime


def _micro_interpreter(tflite_bytes: bytes, *, arena_size_bytes: int | None = None):
    runtime = _micro_runtime()
    try:
        return runtime.Interpreter.from_bytes(bytes(tflite_bytes), arena_size=arena_size_bytes)
    except (RuntimeError, ValueError) as exc:
        raise ExportError(f"tflite_micro cannot load the model: {exc}") from exc


def reference_invoke(tflite_bytes: bytes, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run one inference in the ``tflite_micro`` reference interpreter.

    Parameters
    ----------
    tflite_bytes : bytes
        A ``.tflite`` flatbuffer.
    inputs : sequence of ndarray
        One array per model input, already in the input tensor's dtype (int8 for int8 models)
        and shape (batch 1 included).

    Returns
    -------
    list of ndarray
        One array per model output, in the output tensor's dtype and shape.
    """
    return ReferenceModel(tflite_bytes).run(inputs)


def _count(details) -> int:
    """How many inputs (or outputs) an interpreter has: probe ``details(i)`` until it fails."""
    count = 0
    with _captured_fd2():  # the probe past the last one logs a C++ error line
        while True:
            try:
                details(count)
            except (IndexError, RuntimeError, ValueError):
                return count
            count += 1


@contextmanager
def _captured_fd2():
    """Capture what C++ code writes to file descriptor 2 (Python's sys.stderr cannot)."""
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        captured: list[str] = []
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read().decode(errors="replace"))


def tflm_arena_bytes(tflite_bytes: bytes) -> int:
    """Arena bytes the TFLite Micro interpreter allocates for this model (its recording
    allocator's total, head plus tail), measured after one inference on zero inputs."""
    interpreter = _micro_interpreter(tflite_bytes)
    with _captured_fd2() as captured:
        interpreter.print_allocations()
    match = _ARENA_TOTAL.search(captured[0])
    if match is None:
        raise ExportError("tflite_micro did not report its arena allocation")
    return int(match.group(1))


@dataclass(frozen=True, slots=True, kw_only=True)
class TensorInfo:
    """One model input or output: its tensor index, name, shape and int8 quantization."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float
    zero_point: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TfliteInfo:
    """What a ``.tflite`` holds: builtin op names (in first-use order), tensor types,
    inputs and outputs, and the bytes of its constant buffers (weights + biases)."""

    ops: tuple[str, ...]
    tensor_types: tuple[str, ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    weights_bytes: int


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def _enum_names(enum_class) -> dict[int, str]:
    return {value: key for key, value in vars(enum_class).items() if not key.startswith("_")}


def inspect_tflite(tflite_bytes: bytes) -> TfliteInfo:
    """Read the op list, tensor types, I/O quantization and weight bytes of a ``.tflite``."""
    schema = _schema()
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(tflite_bytes), 0)
    except Exception as exc:  # flatbuffers raises bare errors on garbage
        raise ExportError(f"not a .tflite flatbuffer: {exc}") from exc
    op_names = _enum_names(schema.BuiltinOperator)
    type_names = _enum_names(schema.TensorType)
    graph = model.subgraphs[0]
    used = [graph_op.opcodeIndex for graph_op in graph.operators]
    codes = model.operatorCodes
    ops = tuple(dict.fromkeys(
        op_names[max(codes[i].builtinCode, codes[i].deprecatedBuiltinCode)] for i in used))
    weights = sum(len(buffer.data) for buffer in model.buffers
                  if buffer is not None and buffer.data is not None)
    return TfliteInfo(
        ops=ops,
        tensor_types=tuple(sorted({type_names[t.type] for t in graph.tensors})),
        inputs=tuple(_tensor_info(graph, i, type_names) for i in graph.inputs),
        outputs=tuple(_tensor_info(graph, i, type_names) for i in graph.outputs),
        weights_bytes=int(weights),
    )


def _tensor_info(graph, index: int, type_names: dict[int, str]) -> TensorInfo:
    tensor = graph.tensors[index]
    name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
    match = _INPUT_NAME.match(name)
    quant = tensor.quantization
    scale = float(quant.scale[0]) if quant is not None and quant.scale is not None else 0.0
    zero = int(quant.zeroPoint[0]) if quant is not None and quant.zeroPoint is not None else 0
    return TensorInfo(index=int(index), name=match.group(1) if match else name,
                      shape=tuple(int(d) for d in tensor.shape), dtype=type_names[tensor.type],
                      scale=scale, zero_point=zero)




class ReferenceModel:
    """One TFLite Micro interpreter kept for many inferences (``run`` is :func:`reference_invoke`
    without re-creating the interpreter)."""

    def __init__(self, tflite_bytes: bytes) -> None:
        self._bytes = bytes(tflite_bytes)
        self._interpreter = _micro_interpreter(self._bytes)
        self._inputs = _count(self._interpreter.get_input_details)
        self._outputs = _count(self._interpreter.get_output_details)
        self._info: TfliteInfo | None = None

    @property
    def info(self) -> TfliteInfo:
        """What the model holds (:func:`inspect_tflite`), read on first use."""
        if self._info is None:
            self._info = inspect_tflite(self._bytes)
        return self._info

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """int8 arrays in (input order, batch 1 included), int8 arrays out."""
        if len(inputs) != self._inputs:
            raise ExportError(f"the model takes {self._inputs} inputs, got {len(inputs)}")
        interpreter = self._interpreter
        for index, array in enumerate(inputs):
            details = interpreter.get_input_details(index)
            want_shape = tuple(int(d) for d in details["shape"])
            if tuple(array.shape) != want_shape or array.dtype != details["dtype"]:
                raise ExportError(
                    f"input {index}: expected {np.dtype(details['dtype']).name}"
                    f"{list(want_shape)}, got {array.dtype.name}{list(array.shape)}")
            interpreter.set_input(np.ascontiguousarray(array), index)
        interpreter.invoke()
        return [np.array(interpreter.get_output(i)) for i in range(self._outputs)]

    def predict(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Float features ``(n, *input_shape)`` per input name -> ``(n, n_outputs)`` float32
        (quantized and dequantized with TFLite's rounding, ``tinyfuse.core.quant``)."""
        missing = [t.name for t in self.info.inputs if t.name not in features]
        if missing:
            raise ExportError(f"predict_int8: no features for inputs {missing}")
        count = len(features[self.info.inputs[0].name])
        out = self.info.outputs[0]
        rows = []
        for row in range(count):
            arrays = [quantize(features[t.name][row:row + 1], scale=t.scale,
                               zero_point=t.zero_point).reshape(t.shape)
                      for t in self.info.inputs]
            raw = self.run(arrays)[0]
            rows.append(dequantize(raw, scale=out.scale, zero_point=out.zero_point).reshape(-1))
        if not rows:
            return np.zeros((0, int(np.prod(out.shape))), np.float32)
        return np.stack(rows)


def predict_int8(tflite_bytes: bytes, features: Mapping[str, np.ndarray]) -> np.ndarray:
    """Run an int8 model on TFLite Micro over float features and return float outputs.

    Parameters
    ----------
    features : mapping of str to ndarray
        ``(n, *input_shape)`` float32 per input name (the modality names).

    Returns
    -------
    ndarray
        ``(n, n_outputs)`` float32, dequantized from the int8 output.
    """
    return ReferenceModel(tflite_bytes).predict(features)
