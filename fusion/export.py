"""Keras float model -> fully-int8 ``.tflite`` (the only module that imports the TFLite
converter), and the model as TFLite Micro C sources. Running and inspecting models lives in
``tinyfuse.core.tflm``.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Sequence
from contextlib import redirect_stdout

import numpy as np

from tinyfuse.core.errors import ExportError
from tinyfuse.core.tflm import inspect_tflite

# --- conversion (Keras float model -> fully-int8 .tflite) and inspection --------------------

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
        The ``.tflite`` flatbuffer, its logits range narrowed by ``narrow_logits``. Raises
        ``ExportError`` when conversion fails or leaves a float op or tensor in the graph.
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
    return narrow_logits(tflite_bytes, model, [array[rows] for array in representative])


LOGIT_MARGIN = 0.1  # headroom below the lowest runner-up, as a fraction of the span above it


def narrow_logits(tflite: bytes, model, rows: Sequence[np.ndarray]) -> bytes:
    """``tflite`` with the int8 range of its logits (the input of the final SOFTMAX) cut from
    below to what a class decision can use; ``rows`` are the calibration rows (one array per
    model input).

    The converter spans the lowest logit of any calibration row. Only the top of each row
    decides its class, so codes spent far below every runner-up are wasted: on the 16-class
    thermal posture task the logits spanned -84 to 40 (0.49 per code) and top-two ties cost
    1.3 points of accuracy. The new low end is the lowest second-largest logit of the rows,
    less ``LOGIT_MARGIN`` of the span above it; the high end stays. Logits below it saturate
    there, which changes no calibration row's class and raises a softmax probability by at
    most ``exp(low - top)``. TFLite Micro and the compiler derive the multipliers from the
    tensor scales, so only the logits' scale and zero point change
    (``tinyfuse.firmware.compiler.ranges``). Unchanged with two classes, when the model's last
    layer is not a Softmax fed by the logits, or when the cut would not narrow the range.
    """
    import keras

    from tinyfuse.firmware.compiler.ranges import softmax_logits, tensor_range, with_range

    last = model.layers[-1] if getattr(model, "layers", None) else None
    index = softmax_logits(tflite)
    if index is None or not isinstance(last, keras.layers.Softmax) or not model.inputs:
        return tflite
    logits = keras.Model(model.inputs, last.input).predict(
        [np.asarray(x, np.float32) for x in rows], verbose=0)
    if logits.ndim != 2 or logits.shape[1] < 3:  # two classes: the runner-up is the minimum
        return tflite
    lo, hi = tensor_range(tflite, index)
    runner_up = float(np.sort(logits, axis=1)[:, -2].min())
    cut = min(runner_up - LOGIT_MARGIN * (hi - runner_up), 0.0)
    if cut <= lo:
        return tflite
    return with_range(tflite, index, cut, hi)


# --- TFLM-ready C sources (generators return strings; the pipeline writes the files) -----

_RESOLVER_NAMES = {"CONV_2D": "Conv2D", "DEPTHWISE_CONV_2D": "DepthwiseConv2D",
                   "AVERAGE_POOL_2D": "AveragePool2D", "MAX_POOL_2D": "MaxPool2D"}


def resolver_method(op: str) -> str:
    """``MicroMutableOpResolver`` method of a builtin op, e.g. ``CONV_2D`` -> ``AddConv2D``."""
    if op in _RESOLVER_NAMES:
        return "Add" + _RESOLVER_NAMES[op]
    return "Add" + "".join(part.capitalize() for part in op.split("_"))


def c_sources(tflite_bytes: bytes, *, symbol: str = "g_model",
              bundle_hash: str = "") -> tuple[str, str]:
    """``model_data.h`` and ``model_data.cc`` text for TensorFlow Lite Micro.

    The header declares the 16-byte-aligned array, its length, the op count and a
    ``TINYFUSE_REGISTER_OPS(resolver)`` macro that adds every op the model needs to a
    ``tflite::MicroMutableOpResolver<TINYFUSE_MODEL_OP_COUNT>``, and
    ``TINYFUSE_BUNDLE_HASH``, the hash of the bundle the model belongs to.
    """
    if bundle_hash and not re.fullmatch(r"[0-9a-f]{64}", bundle_hash):
        raise ExportError(f"bundle_hash: {bundle_hash!r} is not a SHA-256 hex digest")
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", symbol):
        raise ExportError(f"symbol: {symbol!r} is not a C identifier")
    ops = inspect_tflite(tflite_bytes).ops
    adds = " \\\n".join(f"  (resolver).{resolver_method(op)}();" for op in ops)
    header = (
        "// Generated by tinyfuse: TFLM model data. Do not edit.\n"
        "#ifndef TINYFUSE_MODEL_DATA_H_\n#define TINYFUSE_MODEL_DATA_H_\n\n"
        f'#define TINYFUSE_BUNDLE_HASH "{bundle_hash}"\n'
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
