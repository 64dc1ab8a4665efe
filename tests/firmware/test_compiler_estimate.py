"""estimate(): flash, arena and MACs; the memory plan never overlaps live tensors (but an
output and the input it is planned to overlap)."""

from __future__ import annotations

import itertools

import pytest

from bench.models import cached_tflite
from tinyfuse.core.errors import ExportError
from tinyfuse.firmware.compiler import compile_model, estimate
from tinyfuse.firmware.compiler.lower import lower
from tinyfuse.firmware.compiler.plan import plan_memory, scratch_bytes, scratch_key
from tinyfuse.firmware.compiler.reader import read_model


def test_conv_model_known_macs_and_layers():
    footprint = estimate(cached_tflite("conv"))
    ops = [layer.op for layer in footprint.layers]
    assert ops == ["CONV_2D", "CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D",
                   "AVERAGE_POOL_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"]
    # 12x10x8 outputs x 3x3x3 + 8x6x6 x 3x3x8 + 8x6x12 x 3x3 + 5 x 12
    assert footprint.macs == 12 * 10 * 8 * 27 + 8 * 6 * 6 * 72 + 8 * 6 * 12 * 9 + 5 * 12
    assert footprint.layers[0].output_shape == (1, 12, 10, 8)
    assert footprint.layers[0].params == 8 * 27 + 8
    # peak: the 24x20x3 input and the first conv's 12x10x8 output share one buffer (the
    # output starts one output row, 10 x 8 bytes, before the input: firmware/compiler/
    # overlap.py), beside its 3x3x3 im2col scratch (27 bytes, on a 16-byte boundary)
    assert footprint.arena_bytes == 24 * 20 * 3 + 10 * 8 + 32
    assert "MACs" in footprint.summary()


def test_estimate_matches_the_compiled_model():
    for name in ("conv", "fusion", "dense_float"):
        data = cached_tflite(name)
        footprint, compiled = estimate(data), compile_model(data)
        assert footprint.arena_bytes == compiled.arena_bytes
        assert footprint.weights_bytes == compiled.weights_bytes


@pytest.mark.parametrize("name", ["conv", "fusion", "dense_float", "mean_keepdims"])
def test_plan_never_overlaps_live_buffers(name):
    plan = plan_memory(lower(read_model(cached_tflite(name))))
    linked = {(a, b) for a, b, _ in plan.links} | {(b, a) for a, b, _ in plan.links}
    for a, b in itertools.combinations(plan.buffers.values(), 2):
        alive_together = a.first_step <= b.last_step and b.first_step <= a.last_step
        disjoint = (a.offset_bytes + a.size_bytes <= b.offset_bytes
                    or b.offset_bytes + b.size_bytes <= a.offset_bytes)
        assert disjoint or not alive_together or (a.tensor, b.tensor) in linked
        assert a.offset_bytes % 16 == 0
    assert plan.arena_bytes >= max(b.offset_bytes + b.size_bytes for b in plan.buffers.values())


def test_conv_scratch_is_planned_for_its_step_only():
    program = lower(read_model(cached_tflite("conv")))
    plan = plan_memory(program)
    # the two 3x3 convolutions gather 3x3x3 and 3x3x8 bytes; the depthwise one needs none
    assert scratch_bytes(program) == {0: 27, 1: 72}
    assert plan.buffers[scratch_key(1)].first_step == plan.buffers[scratch_key(1)].last_step == 1
    assert plan.scratch_offset(2) is None
    assert plan.live_bytes(0) == 24 * 20 * 3 + 12 * 10 * 8 + 27


def test_reshape_is_a_view_sharing_bytes():
    program = lower(read_model(cached_tflite("fusion")))
    plan = plan_memory(program)
    assert program.alias
    for view, owner in program.alias.items():
        assert plan.offset(view) == plan.offset(owner)


def test_unsupported_op_is_named():
    import keras

    from bench.models import to_int8_tflite

    inp = keras.Input((8,), batch_size=1)
    out = keras.layers.Activation("elu")(keras.layers.Dense(4)(inp))
    data = to_int8_tflite(keras.Model(inp, out))
    with pytest.raises(ExportError, match="ELU"):
        estimate(data)
