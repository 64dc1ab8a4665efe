"""The only module that imports the TFLite converter and the TFLite Micro interpreter.

The ``tflite_micro`` interpreter is the reference (oracle) for every compiled model: it gives the
expected int8 outputs (`reference_invoke`) and the arena a TFLM deployment needs
(`tflm_arena_bytes`).
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import warnings
from collections.abc import Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass

import numpy as np

from sensors.errors import ExportError

_ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")


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
    interpreter = _micro_interpreter(tflite_bytes)
    for index, array in enumerate(inputs):
        details = interpreter.get_input_details(index)
        want_shape = tuple(int(d) for d in details["shape"])
        if tuple(array.shape) != want_shape or array.dtype != details["dtype"]:
            raise ExportError(
                f"input {index}: expected {np.dtype(details['dtype']).name}{list(want_shape)}, "
                f"got {array.dtype.name}{list(array.shape)}"
            )
        interpreter.set_input(np.ascontiguousarray(array), index)
    interpreter.invoke()
    return [np.array(interpreter.get_output(i)) for i in range(_output_count(interpreter))]


def _output_count(interpreter) -> int:
    count = 0
    with _captured_fd2():  # the probe past the last output logs a C++ error line
        while True:
            try:
                interpreter.get_output_details(count)
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


# --- conversion (Keras float model -> fully-int8 .tflite) and inspection --------------------

_INPUT_NAME = re.compile(r"^serving_default_(.+):\d+$")


def _tf():
    import tensorflow as tf

    return tf


def _batch_one_clone(model):
    """The same model with a static batch of 1 (no SHAPE/PACK ops around reshapes).

    The new inputs follow the structure of ``model.input`` (one tensor, a list or a dict):
    ``clone_model`` rejects ``input_tensors`` of any other structure.
    """
    import keras

    def batch_one(tensor):
        return keras.Input(batch_shape=(1, *tensor.shape[1:]), dtype=tensor.dtype,
                           name=tensor.name)

    inputs = keras.tree.map_structure(batch_one, model.input)
    clone = keras.models.clone_model(model, input_tensors=inputs)
    clone.set_weights(model.get_weights())
    return clone


def calibration_rows(n_rows: int, n_samples: int, *, seed: int = 0) -> np.ndarray:
    """Row indices that calibrate the int8 ranges: ``min(n_samples, n_rows)`` rows drawn
    without replacement with ``seed``, in increasing order.

    Loaders return rows sorted by file and class, so the first rows would calibrate the
    activation ranges on one class only.
    """
    count = min(int(n_samples), int(n_rows))
    if count < 1:
        raise ExportError("representative: no samples")
    rows = np.random.default_rng(seed).choice(n_rows, size=count, replace=False)
    return np.sort(rows)


def convert_int8(model, representative: Sequence[np.ndarray], *, n_samples: int = 100,
                 seed: int = 0) -> bytes:
    """Full-integer post-training quantization: int8 weights, activations, inputs and outputs.

    Parameters
    ----------
    model : keras.Model
        Float model whose inputs are named (the modality names); its input structure may be
        one tensor, a list or a dict.
    representative : sequence of ndarray
        One float32 array ``(n, *input_shape)`` per model input, in ``model.inputs`` order;
        ``n_samples`` rows drawn at random (``calibration_rows`` with ``seed``) calibrate
        the activation ranges.

    Returns
    -------
    bytes
        The ``.tflite`` flatbuffer. Raises ``ExportError`` when conversion fails or leaves
        a float op or tensor in the graph.
    """
    tf = _tf()
    names = [tensor.name for tensor in model.inputs]
    if len(representative) != len(names):
        raise ExportError(f"representative: {len(representative)} arrays for {len(names)} inputs")
    rows = calibration_rows(min(len(array) for array in representative), n_samples, seed=seed)

    def dataset():
        for row in rows:
            yield {name: np.asarray(array[row:row + 1], np.float32)
                   for name, array in zip(names, representative, strict=True)}

    converter = tf.lite.TFLiteConverter.from_keras_model(_batch_one_clone(model))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    try:
        with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # Keras prints the traced signature to stdout
            tflite_bytes = bytes(converter.convert())
    except Exception as exc:  # the converter raises many unrelated types
        raise ExportError(f"TFLite int8 conversion failed: {exc}") from exc
    float_types = {"FLOAT32", "FLOAT16"} & set(inspect_tflite(tflite_bytes).tensor_types)
    if float_types:
        raise ExportError(f"converted model still has {sorted(float_types)} tensors")
    return tflite_bytes


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


def quantize(values: np.ndarray, *, scale: float, zero_point: int) -> np.ndarray:
    """float -> int8 as TFLite does: ``clip(round(x / scale) + zero_point, -128, 127)``."""
    q = np.round(np.asarray(values, np.float64) / scale) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(values: np.ndarray, *, scale: float, zero_point: int) -> np.ndarray:
    """int8 -> float32: ``(q - zero_point) * scale``."""
    return ((np.asarray(values, np.int32) - zero_point) * scale).astype(np.float32)


def predict_int8(tflite_bytes: bytes, features: dict[str, np.ndarray]) -> np.ndarray:
    """Run an int8 model on float features (quantized here) and return float outputs.

    Parameters
    ----------
    features : dict of str to ndarray
        ``(n, *input_shape)`` float32 per input name (the modality names).

    Returns
    -------
    ndarray
        ``(n, n_outputs)`` float32, dequantized from the int8 output.
    """
    info = inspect_tflite(tflite_bytes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = _tf().lite.Interpreter(model_content=bytes(tflite_bytes))
    interpreter.allocate_tensors()
    missing = [t.name for t in info.inputs if t.name not in features]
    if missing:
        raise ExportError(f"predict_int8: no features for inputs {missing}")
    count = len(features[info.inputs[0].name])
    out = info.outputs[0]
    rows = []
    for row in range(count):
        for tensor in info.inputs:
            values = features[tensor.name][row:row + 1]
            interpreter.set_tensor(tensor.index, quantize(
                values, scale=tensor.scale, zero_point=tensor.zero_point).reshape(tensor.shape))
        interpreter.invoke()
        raw = interpreter.get_tensor(out.index)
        rows.append(dequantize(raw, scale=out.scale, zero_point=out.zero_point).reshape(-1))
    return np.stack(rows)


# --- TFLM-ready C sources (generators return strings; the pipeline writes the files) -----

_RESOLVER_NAMES = {"CONV_2D": "Conv2D", "DEPTHWISE_CONV_2D": "DepthwiseConv2D",
                   "AVERAGE_POOL_2D": "AveragePool2D", "MAX_POOL_2D": "MaxPool2D"}


def resolver_method(op: str) -> str:
    """``MicroMutableOpResolver`` method of a builtin op, e.g. ``CONV_2D`` -> ``AddConv2D``."""
    if op in _RESOLVER_NAMES:
        return "Add" + _RESOLVER_NAMES[op]
    return "Add" + "".join(part.capitalize() for part in op.split("_"))


def c_sources(tflite_bytes: bytes, *, symbol: str = "g_model",
              spec_hash: str = "") -> tuple[str, str]:
    """``model_data.h`` and ``model_data.cc`` text for TensorFlow Lite Micro.

    The header declares the 16-byte-aligned array, its length, the op count and a
    ``TINYFUSE_REGISTER_OPS(resolver)`` macro that adds every op the model needs to a
    ``tflite::MicroMutableOpResolver<TINYFUSE_MODEL_OP_COUNT>``.
    """
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", symbol):
        raise ExportError(f"symbol: {symbol!r} is not a C identifier")
    ops = inspect_tflite(tflite_bytes).ops
    adds = " \\\n".join(f"  (resolver).{resolver_method(op)}();" for op in ops)
    header = (
        "// Generated by tinyfuse: TFLM model data. Do not edit.\n"
        "#ifndef TINYFUSE_MODEL_DATA_H_\n#define TINYFUSE_MODEL_DATA_H_\n\n"
        f'#define TINYFUSE_SPEC_HASH "{spec_hash}"\n'
        f"#define TINYFUSE_MODEL_OP_COUNT {len(ops)}\n"
        f"// Ops: {', '.join(ops)}\n"
        f"#define TINYFUSE_REGISTER_OPS(resolver) \\\n{adds}\n\n"
        f"extern const unsigned char {symbol}[];\n"
        f"extern const unsigned int {symbol}_len;\n\n#endif  // TINYFUSE_MODEL_DATA_H_\n"
    )
    rows = [", ".join(f"0x{b:02x}" for b in tflite_bytes[i:i + 12])
            for i in range(0, len(tflite_bytes), 12)]
    body = ",\n  ".join(rows)
    source = (
        '// Generated by tinyfuse: TFLM model data. Do not edit.\n#include "model_data.h"\n\n'
        f"alignas(16) const unsigned char {symbol}[] = {{\n  {body}\n}};\n"
        f"const unsigned int {symbol}_len = {len(tflite_bytes)};\n"
    )
    return header, source
