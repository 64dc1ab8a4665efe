"""Which convolutions may write their output over their input (the memory plan then gives both
one buffer), and the scratch such a kernel needs.

Two kinds qualify, when the input's bytes die at that step (nothing later reads them, they are
not a model output) and batch is 1:

- a pointwise CONV_2D (1x1 kernel, stride 1, as many output as input channels, no groups):
  each output pixel depends only on the same input pixel, so the kernel computes the pixel's
  channels into scratch (``out_c`` bytes) and then copies them over it;
- a stride-1 DEPTHWISE_CONV_2D whose output has the input's shape (depth multiplier 1, SAME
  padding): input row ``j`` is last read by output row ``j + pad_top``, so the kernel keeps the
  newest ``pad_top + 1`` output rows in a ring (scratch) and writes each row over the input
  once its input row is dead.
"""

from __future__ import annotations

from tinyfuse.firmware.compiler.reader import Graph, Operator


def _shape(graph: Graph, tensor_id: int) -> tuple[int, ...]:
    return tuple(graph.tensors[tensor_id].shape)


def can_run_in_place(graph: Graph, op: Operator) -> bool:
    """True when the op's kernel supports writing its output over its input."""
    if op.op not in ("CONV_2D", "DEPTHWISE_CONV_2D") or len(op.inputs) < 2:
        return False
    in_shape, out_shape = _shape(graph, op.inputs[0]), _shape(graph, op.outputs[0])
    o = op.options
    if len(in_shape) != 4 or in_shape != out_shape or in_shape[0] != 1:
        return False
    if o.get("stride_h") != 1 or o.get("stride_w") != 1:
        return False
    filt = _shape(graph, op.inputs[1])
    if op.op == "CONV_2D":
        return filt == (in_shape[3], 1, 1, in_shape[3])
    return filt[0] == 1 and filt[3] == in_shape[3]


def pad_top(graph: Graph, op: Operator) -> int:
    """Padding rows above the input of a stride-1 convolution whose output keeps its height."""
    k_h = _shape(graph, op.inputs[1])[1]
    effective = (k_h - 1) * op.options.get("dilation_h", 1) + 1
    return (effective - 1) // 2


def in_place_scratch_bytes(graph: Graph, op: Operator) -> int:
    """Scratch of an in-place kernel: one output pixel (pointwise) or pad_top + 1 output rows
    (depthwise)."""
    _, _, width, channels = _shape(graph, op.outputs[0])
    if op.op == "CONV_2D":
        return channels
    return (pad_top(graph, op) + 1) * width * channels
