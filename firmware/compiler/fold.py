"""Constant folding of shape arithmetic: SHAPE of a static tensor, and integer ops whose inputs
are all constants (STRIDED_SLICE, PACK, CONCATENATION, RESHAPE, ...), which the converter emits
for e.g. ``keras.layers.Reshape`` with a -1 dimension. Folded ops disappear from the graph; their
outputs become constant tensors."""

from __future__ import annotations

import dataclasses

import numpy as np

from tinyfuse.firmware.compiler.reader import Graph, Operator, Tensor
from tinyfuse.firmware.compiler.slicing import slice_plan

_INT_TYPES = ("int32", "int64")
_FOLDABLE = frozenset({"SHAPE", "STRIDED_SLICE", "PACK", "CONCATENATION", "RESHAPE", "SQUEEZE",
                       "EXPAND_DIMS", "CAST"})


def fold_constants(graph: Graph) -> Graph:
    """Return ``graph`` with foldable integer shape computations replaced by constants."""
    tensors = list(graph.tensors)
    kept: list[Operator] = []
    for op in graph.operators:
        value = _evaluate(op, tensors)
        if value is None:
            kept.append(op)
            continue
        out = tensors[op.outputs[0]]
        tensors[out.index] = dataclasses.replace(
            out, data=np.asarray(value, dtype=out.dtype).reshape(out.shape))
    if len(kept) == len(graph.operators):
        return graph
    return Graph(tensors=tuple(tensors), operators=tuple(kept), inputs=graph.inputs,
                 outputs=graph.outputs)


def _evaluate(op: Operator, tensors: list[Tensor]) -> np.ndarray | None:
    if op.op not in _FOLDABLE or len(op.outputs) != 1:
        return None
    out = tensors[op.outputs[0]]
    if out.dtype not in _INT_TYPES:
        return None
    if op.op == "SHAPE":
        return np.array(tensors[op.inputs[0]].shape)
    found = [tensors[t].data if t >= 0 else None for t in op.inputs]
    data = [d for d in found if d is not None]
    if len(data) != len(found):
        return None
    try:
        return _compute(op, data, out)
    except (ValueError, IndexError):
        return None


def _compute(op: Operator, data: list[np.ndarray], out: Tensor) -> np.ndarray | None:
    if op.op == "STRIDED_SLICE":
        begin, end, strides = ([int(v) for v in d.reshape(-1)] for d in data[1:4])
        starts, counts, steps = slice_plan(op.options, data[0].shape, begin, end, strides,
                                           op.label())
        index = tuple(slice(s, s + c * k if s + c * k >= 0 else None, k) if c else slice(0, 0)
                      for s, c, k in zip(starts, counts, steps, strict=True))
        return data[0][index]
    if op.op == "PACK":
        return np.stack(data, axis=op.options["axis"])
    if op.op == "CONCATENATION":
        return np.concatenate(data, axis=op.options["axis"])
    return data[0].reshape(out.shape)
