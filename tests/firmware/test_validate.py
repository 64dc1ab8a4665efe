"""The graph validator refuses the structural corruptions that used to crash, hang or compile
wrong C: an op reading its own output, ops out of order, a tensor written twice, repeated graph
inputs, an out-of-range zero point, a convolution without its filter, a depthwise
depth_multiplier or a softmax output shape TFLite Micro would not fill."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.models import cached_tflite
from tinyfuse.core.errors import ExportError
from tinyfuse.firmware.compiler.reader import read_model
from tinyfuse.firmware.compiler.validate import check_graph


@pytest.fixture(scope="module")
def graph():
    return read_model(cached_tflite("fusion"))


def _with_ops(graph, operators):
    return dataclasses.replace(graph, operators=tuple(operators))


def _first(graph, name):
    return next(i for i, op in enumerate(graph.operators) if op.op == name)


def test_a_good_graph_passes(graph):
    check_graph(graph)


def test_an_op_reading_its_own_output(graph):
    ops = list(graph.operators)
    index = _first(graph, "RESHAPE") if any(o.op == "RESHAPE" for o in ops) else 0
    op = ops[index]
    ops[index] = dataclasses.replace(op, inputs=(op.outputs[0], *op.inputs[1:]))
    with pytest.raises(ExportError, match="reads its own output"):
        check_graph(_with_ops(graph, ops))


def test_ops_out_of_order_and_written_twice(graph):
    ops = list(graph.operators)
    with pytest.raises(ExportError, match="before any op writes it"):
        check_graph(_with_ops(graph, [ops[-1], *ops[:-1]]))
    with pytest.raises(ExportError, match="is written by op"):
        check_graph(_with_ops(graph, [*ops, ops[-1]]))


def test_repeated_inputs_and_bad_zero_points(graph):
    with pytest.raises(ExportError, match="repeat a tensor"):
        check_graph(dataclasses.replace(graph, inputs=(graph.inputs[0], graph.inputs[0])))
    tensors = list(graph.tensors)
    index = next(t.index for t in tensors if t.dtype == "int8" and t.quant is not None)
    quant = dataclasses.replace(tensors[index].quant,
                                zero_point=np.array([579_820_585_088], np.int64))
    tensors[index] = dataclasses.replace(tensors[index], quant=quant)
    with pytest.raises(ExportError, match=r"zero point 579820585088 outside the int8 range"):
        check_graph(dataclasses.replace(graph, tensors=tuple(tensors)))


def test_a_convolution_without_its_filter(graph):
    ops = list(graph.operators)
    index = _first(graph, "CONV_2D")
    for inputs, message in [((), "needs an input and a filter"),
                            ((ops[index].inputs[0], -1), "needs an input and a filter"),
                            ((ops[index].inputs[0], ops[index].inputs[2]), "expected rank 4")]:
        ops[index] = dataclasses.replace(graph.operators[index], inputs=inputs)
        with pytest.raises(ExportError, match=message):
            check_graph(_with_ops(graph, ops))


def test_an_arena_no_microcontroller_has_is_refused(monkeypatch):
    import tinyfuse.firmware.compiler.plan as plan
    from tinyfuse.firmware.compiler import compile_model

    tflite = cached_tflite("fusion")
    assert compile_model(tflite).arena_bytes > 64
    monkeypatch.setattr(plan, "MAX_ARENA_BYTES", 64)
    with pytest.raises(ExportError, match=r"arena, more than 64 \(no microcontroller"):
        compile_model(tflite)


def test_a_depth_multiplier_or_softmax_shape_tflite_micro_would_not_fill_is_refused():
    from tinyfuse.firmware.compiler import ops, ops_misc

    conv = read_model(cached_tflite("conv"))

    def lower_op(op, tensors=conv.tensors):
        ctx = ops.OpContext(op=op, tensors=tensors, name="op", pointer=lambda _: "0")
        return (ops.depthwise_conv_2d if op.op == "DEPTHWISE_CONV_2D" else ops_misc.softmax)(ctx)

    depthwise = conv.operators[_first(conv, "DEPTHWISE_CONV_2D")]
    lower_op(depthwise)
    for bad in (0, 1, 3):
        options = {**depthwise.options, "depth_multiplier": bad}
        with pytest.raises(ExportError, match=rf"depth_multiplier {bad} does not match input "
                                              r"channels 6 and output channels 12 \(expected 2"):
            lower_op(dataclasses.replace(depthwise, options=options))
    softmax = conv.operators[_first(conv, "SOFTMAX")]
    lower_op(softmax)
    tensors = list(conv.tensors)
    out = tensors[softmax.outputs[0]]
    tensors[out.index] = dataclasses.replace(out, shape=(1, 32773))
    with pytest.raises(ExportError, match=r"SOFTMAX\): output .* has shape \[1, 32773\], but "
                                          r"the input .* has \[1, 5\]"):
        lower_op(softmax, tuple(tensors))
