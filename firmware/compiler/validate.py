"""Graph checks before lowering: what a well-formed TFLite graph guarantees and a corrupt or
hand-edited file may not. A model that fails one is refused with an ``ExportError`` naming the
op or tensor; nothing is compiled from it.

* every int8 / int16 / uint8 zero point fits its type;
* the graph inputs are distinct and no op writes one, nor a constant;
* every tensor is written by at most one op, and no op reads its own output;
* the ops run in a valid order: every non-constant input is a graph input or the output of an
  earlier op (this also rules out cycles);
* the ops with weights have them: a CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED has an input
  and a filter tensor (not an omitted ``-1``) of the rank the op needs.
"""

from __future__ import annotations

from tinyfuse.core.errors import ExportError

ZERO_POINT_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}
FILTER_RANK = {"CONV_2D": 4, "DEPTHWISE_CONV_2D": 4, "FULLY_CONNECTED": 2}


def check_graph(graph) -> None:
    """Raise ``ExportError`` for the first broken rule of the module docstring."""
    tensors = graph.tensors
    for tensor in tensors:
        bounds = ZERO_POINT_RANGE.get(tensor.dtype)
        if bounds and tensor.quant is not None:
            low, high = bounds
            bad = [int(z) for z in tensor.quant.zero_point if not low <= int(z) <= high]
            if bad:
                raise ExportError(f"{tensor.label()}: zero point {bad[0]} outside the "
                                  f"{tensor.dtype} range [{low}, {high}]")
    if len(set(graph.inputs)) != len(graph.inputs):
        raise ExportError(f"corrupt model: the graph inputs {list(graph.inputs)} repeat a "
                          f"tensor")
    ready = set(graph.inputs) | {t.index for t in tensors if t.is_const}
    written: dict[int, int] = {}
    for op in graph.operators:
        _check_weights(op, tensors)
        for tensor_id in op.inputs:
            if tensor_id in op.outputs:
                raise ExportError(f"corrupt model: {op.label()} reads its own output "
                                  f"{tensors[tensor_id].label()}")
            if tensor_id >= 0 and tensor_id not in ready:
                raise ExportError(f"corrupt model: {op.label()} reads "
                                  f"{tensors[tensor_id].label()} before any op writes it (the "
                                  f"ops are out of order, or it is never written)")
        for tensor_id in op.outputs:
            if tensor_id in graph.inputs or tensors[tensor_id].is_const:
                raise ExportError(f"corrupt model: {op.label()} writes "
                                  f"{tensors[tensor_id].label()}, a graph input or a constant")
            if tensor_id in written:
                raise ExportError(f"corrupt model: {tensors[tensor_id].label()} is written by "
                                  f"op {written[tensor_id]} and by {op.label()}")
            written[tensor_id] = op.index
            ready.add(tensor_id)
    missing = [t for t in graph.outputs if t not in ready]
    if missing:
        raise ExportError(f"corrupt model: graph output {tensors[missing[0]].label()} is never "
                          f"written")


def _check_weights(op, tensors) -> None:
    rank = FILTER_RANK.get(op.op)
    if rank is None:
        return
    if len(op.inputs) < 2 or op.inputs[0] < 0 or op.inputs[1] < 0:
        raise ExportError(f"corrupt model: {op.label()} needs an input and a filter tensor, "
                          f"got inputs {list(op.inputs)}")
    weights = tensors[op.inputs[1]]
    if len(weights.shape) != rank:
        raise ExportError(f"corrupt model: {op.label()} filter {weights.label()} has shape "
                          f"{list(weights.shape)}, expected rank {rank}")
