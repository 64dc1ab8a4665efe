"""Outputs that may share bytes with the input they consume (the memory plan then puts both in
one buffer, the input ``displacement`` bytes after the output's start).

The kernels write their output in order: a convolution row by row (output row ``r`` reads
input rows from ``r * stride - pad_top`` on, and every later row reads rows from there on too),
a dense ADD element by element after reading both inputs' element. So the output may start
``d`` bytes before its input as long as, for every output row ``r``, all of row ``r``'s bytes
lie below the first input row that row ``r`` or a later row still reads:

    d >= max over r of (r + 1) * out_row_bytes - max(0, r * stride - pad_top) * in_row_bytes

The pair then spans ``max(d + input_bytes, output_bytes)`` bytes instead of both tensors side
by side: a pointwise convolution from 8 to 16 channels about the output's (the input sits in
its upper half), a stride-2 convolution the input's and one output row. The kernels need no
change and no copy. Qualifying ops (batch 1): CONV_2D and DEPTHWISE_CONV_2D, and ADD without
broadcast (``d`` = 0). A convolution's output never starts exactly at its input
(``d`` >= ``ALIGN_BYTES``): the kernels take ``output == input`` for the in-place kernels of
``firmware.compiler.in_place``, which need other shapes.
"""

from __future__ import annotations

from tinyfuse.firmware.compiler.reader import Graph, Operator

CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def pad_before(in_size: int, k: int, stride: int, dilation: int, out_size: int) -> int:
    """Padding before the first input row (column) of a convolution or pool, as TFLite pads
    (SAME puts the odd row after; VALID gives 0)."""
    effective = (k - 1) * dilation + 1
    return max(((out_size - 1) * stride + effective - in_size) // 2, 0)


def displacement(graph: Graph, op: Operator, source: int, align: int) -> int | None:
    """Smallest ``align``-multiple byte offset of input ``source`` (an index into ``op.inputs``)
    after the start of the op's output such that the kernel never overwrites input it still
    reads; None when the op does not qualify."""
    shape = [tuple(graph.tensors[t].shape) for t in op.inputs[:2]]
    out_shape = tuple(graph.tensors[op.outputs[0]].shape)
    if op.op == "ADD":
        return 0 if shape[0] == shape[1] == out_shape else None
    if op.op not in CONV_OPS or source != 0 or len(shape) < 2:
        return None
    in_shape, filt = shape
    if len(in_shape) != 4 or len(out_shape) != 4 or in_shape[0] != 1 or out_shape[0] != 1:
        return None
    _, in_h, in_w, in_c = in_shape
    _, out_h, out_w, out_c = out_shape
    stride, dilation = op.options.get("stride_h", 1), op.options.get("dilation_h", 1)
    pad = pad_before(in_h, filt[1], stride, dilation, out_h)
    in_row, out_row = in_w * in_c, out_w * out_c
    need = max((r + 1) * out_row - max(0, r * stride - pad) * in_row for r in range(out_h))
    return max(align, -(-need // align) * align)
