"""The convolution kernels on the emulated Cortex-M4, both kernel paths, bit-exact with TFLite
Micro: im2col with zero-point padding on every border, two output channels per dot product
(odd channel counts leave one alone), 1x1 convolutions read in place, grouped convolution, and
the depthwise window with the DSP path's four-channel lanes (channel counts that are and are
not multiples of 4, depth multiplier 2, dilation, kernels larger than the input), and the
pointwise and depthwise convolutions the memory plan runs in place (output over input)."""

from __future__ import annotations

import pytest

from bench.models import _randomize, to_int8_tflite
from tinyfuse.firmware.compiler import compile_model
from tinyfuse.firmware.compiler.lower import lower
from tinyfuse.firmware.compiler.plan import plan_memory, scratch_bytes, scratch_key
from tinyfuse.firmware.compiler.reader import read_model
from tinyfuse.firmware.parity import check_parity

pytestmark = pytest.mark.slow


def _keras():
    import keras

    return keras


def wide_conv_model():
    """Strided SAME conv with 5 -> 7 channels, depthwise over 7 channels, a dilated VALID conv
    with a 2x3 kernel, a 1x1 conv, then a dense head."""
    keras = _keras()
    inp = keras.Input((9, 11, 5), batch_size=1)
    x = keras.layers.Conv2D(7, 3, strides=2, padding="same", activation="relu")(inp)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.Conv2D(8, (2, 3), dilation_rate=(1, 2), padding="valid")(x)
    x = keras.layers.Conv2D(5, 1, activation="relu6")(x)
    x = keras.layers.Dense(3)(keras.layers.Flatten()(x))
    return keras.Model(inp, x)


def depthwise_model():
    """Depthwise with depth multiplier 2 and dilation 2, then a 5x5 stride-2 depthwise over 8
    channels (two DSP lanes of 4) whose window is padded on every side."""
    keras = _keras()
    inp = keras.Input((7, 6, 4), batch_size=1)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, dilation_rate=2, padding="same")(inp)
    x = keras.layers.DepthwiseConv2D(5, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="valid")(x)
    return keras.Model(inp, keras.layers.Flatten()(x))


def kernel_larger_than_input_model():
    """A 5x5 SAME conv on a 3x3 input: every output pixel's receptive field is padded."""
    keras = _keras()
    inp = keras.Input((3, 3, 6), batch_size=1)
    x = keras.layers.Conv2D(9, 5, padding="same")(inp)
    return keras.Model(inp, keras.layers.Flatten()(x))


def grouped_conv_model():
    """Conv2D with groups=2: each half of the output channels sees half of the input."""
    keras = _keras()
    inp = keras.Input((6, 5, 8), batch_size=1)
    x = keras.layers.Conv2D(6, 3, groups=2, padding="same")(inp)
    return keras.Model(inp, keras.layers.Flatten()(x))


def in_place_model():
    """Pointwise 8 -> 8 and stride-1 SAME depthwise convolutions whose inputs die there (planned
    in place): 3x3, 5x5 with dilation 2 (4 padding rows), 4x4 (asymmetric padding), and one
    depthwise whose input a residual ADD still reads (must not run in place)."""
    keras = _keras()
    inp = keras.Input((9, 7, 3), batch_size=1)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(8, 1, activation="relu6")(x)
    x = keras.layers.DepthwiseConv2D(5, dilation_rate=2, padding="same")(x)  # 4 rows of padding
    x = keras.layers.DepthwiseConv2D(4, padding="same", activation="relu")(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.Conv2D(8, 1)(keras.layers.Add()([x, y]))
    return keras.Model(inp, keras.layers.Flatten()(x))


BUILDERS = {
    "in_place": in_place_model,
    "wide_conv": wide_conv_model,
    "depthwise": depthwise_model,
    "kernel_larger_than_input": kernel_larger_than_input_model,
    "grouped_conv": grouped_conv_model,
}


@pytest.fixture(scope="module")
def tflites() -> dict[str, bytes]:
    models = {}
    for seed, (name, builder) in enumerate(BUILDERS.items()):
        model = builder()
        _randomize(model, seed)
        models[name] = to_int8_tflite(model, seed=seed, input_range=2.0)
    return models


@pytest.mark.parametrize("kernels", ["portable", "dsp"])
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_conv_kernels_are_bit_exact_on_qemu(tflites, name, kernels):
    result = check_parity(tflites[name], target="qemu-m4", vectors=16, seed=3, kernels=kernels)
    assert result.vectors == 16
    assert result.ok, str(result)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_conv_kernels_are_bit_exact_on_the_host(tflites, name):
    result = check_parity(tflites[name], vectors=16, seed=3)
    assert result.ok, str(result)


def test_grouped_conv_is_compiled_as_groups(tflites):
    graph = read_model(tflites["grouped_conv"])
    convs = [op for op in graph.operators if op.op == "CONV_2D"]
    assert [graph.tensors[op.inputs[1]].shape for op in convs] == [(6, 3, 3, 4)]


def test_scratch_is_the_receptive_field_and_1x1_needs_none(tflites):
    program = lower(read_model(tflites["wide_conv"]))
    kinds = [op.op for op in program.steps]
    needs = scratch_bytes(program)
    # 3x3x5 for the first conv, 2x3x7 for the dilated one; the depthwise and 1x1 need none
    assert sorted(needs.values()) == [2 * 3 * 7, 3 * 3 * 5]
    assert all(kinds[step] == "CONV_2D" for step in needs)
    plan = plan_memory(program)
    assert compile_model(tflites["wide_conv"]).arena_bytes == plan.arena_bytes


def test_in_place_steps_are_planned_and_share_bytes(tflites):
    program = lower(read_model(tflites["in_place"]))
    plan = plan_memory(program)
    kinds = {step: op.op for step, op in enumerate(program.steps)}
    # conv, dw, pointwise, dw, dw, dw (its input is read by the ADD), add, pointwise
    assert [kinds[s] for s in sorted(plan.in_place)] == [
        "DEPTHWISE_CONV_2D", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D"]
    assert 5 not in plan.in_place and kinds[5] == "DEPTHWISE_CONV_2D"
    for step in plan.in_place:
        op = program.steps[step]
        assert plan.offset(op.inputs[0]) == plan.offset(op.outputs[0])
    # the ring of the dilated 5x5 depthwise (9 rows tall: 4 padding rows above) holds 4 + 1
    # output rows of 7 x 8 bytes
    assert plan.buffers[scratch_key(3)].size_bytes == (4 + 1) * 7 * 8
    # in place, two 9x7x8 activations are never alive together except around the ADD
    assert plan.arena_bytes < 3 * 9 * 7 * 8 + 16 * 4
