"""Read and set the int8 range of one activation tensor of a .tflite, in place.

TFLite Micro (and this compiler) derive every requantisation multiplier from the tensor
scales when the model is prepared, so a tensor's ``scale`` and ``zero_point`` can be changed
after conversion without touching any other byte: its producer then saturates to the new
range, its consumers read it. ``tinyfuse.fusion.export.narrow_logits`` uses this to narrow
the logits that feed the final SOFTMAX of every converted model.
"""

from __future__ import annotations

import struct

from tinyfuse.core.errors import ExportError
from tinyfuse.firmware.compiler import schema as S
from tinyfuse.firmware.compiler.flatbuf import Table, root_table
from tinyfuse.firmware.compiler.reader import read_model

QMIN, QMAX = -128, 127


def softmax_logits(tflite: bytes) -> int | None:
    """The tensor index of the int8 logits that only the graph's final SOFTMAX reads (the
    softmax output being a graph output), or None when the graph has no such tensor."""
    graph = read_model(tflite)
    for op in graph.operators:
        if op.op != "SOFTMAX" or op.outputs[0] not in graph.outputs:
            continue
        logits = op.inputs[0]
        readers = [o for o in graph.operators if logits in o.inputs]
        tensor = graph.tensors[logits]
        if (len(readers) == 1 and logits not in graph.outputs and tensor.data is None
                and tensor.dtype == "int8" and tensor.quant is not None
                and not tensor.quant.per_channel):
            return logits
    return None


def _quant_fields(tflite: bytes, index: int) -> tuple[int, int]:
    """Byte positions of tensor ``index``'s single scale (float32) and zero point (int64)."""
    model = root_table(tflite, S.FILE_IDENTIFIER, "TFLite model")
    subgraph = model.tables(S.MODEL_SUBGRAPHS, "subgraphs")[0]
    tensors = subgraph.tables(S.SUBGRAPH_TENSORS, "tensors")
    if not 0 <= index < len(tensors):
        raise ExportError(f"tensor {index}: the model has {len(tensors)} tensors")
    quant: Table | None = tensors[index].table(S.TENSOR_QUANT, "quantization")
    if quant is None:
        raise ExportError(f"tensor {index}: not quantized")
    scale_at, n_scale = quant.vector_len(S.QUANT_SCALE, "scale")
    zero_at, n_zero = quant.vector_len(S.QUANT_ZERO_POINT, "zero_point")
    if n_scale != 1 or n_zero != 1:
        raise ExportError(f"tensor {index}: {n_scale} scales and {n_zero} zero points "
                          "(a per-tensor range needs one of each)")
    return scale_at, zero_at


def tensor_range(tflite: bytes, index: int) -> tuple[float, float]:
    """The real values ``(lo, hi)`` that int8 codes -128 and 127 of tensor ``index`` stand for."""
    scale_at, zero_at = _quant_fields(tflite, index)
    scale = struct.unpack_from("<f", tflite, scale_at)[0]
    zero = struct.unpack_from("<q", tflite, zero_at)[0]
    return (QMIN - zero) * scale, (QMAX - zero) * scale


def affine(lo: float, hi: float) -> tuple[float, int]:
    """``(scale, zero_point)`` of the int8 range that spans ``[lo, hi]`` widened to hold 0
    (TFLite's rule: ``scale = (hi - lo) / 255``, zero point rounded and clamped to int8)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if not hi - lo > 0:
        raise ExportError(f"int8 range [{lo}, {hi}] is empty")
    scale = (hi - lo) / (QMAX - QMIN)
    zero = int(min(max(round(QMIN - lo / scale), QMIN), QMAX))
    return scale, zero


def with_range(tflite: bytes, index: int, lo: float, hi: float) -> bytes:
    """A copy of ``tflite`` in which tensor ``index`` is quantized over ``[lo, hi]`` (see
    ``affine``); no other byte changes."""
    scale_at, zero_at = _quant_fields(tflite, index)
    scale, zero = affine(lo, hi)
    out = bytearray(tflite)
    struct.pack_into("<f", out, scale_at, scale)
    struct.pack_into("<q", out, zero_at, zero)
    return bytes(out)
