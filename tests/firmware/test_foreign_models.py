"""Keras 3 models tinyfuse did not build (keras.applications MobileNets, ResNet-style, DS-CNN,
1-D conv, assorted activations and tensor ops), converted by the standard TFLite converter with
full-integer quantization: the compiled C is bit-exact with the TFLite Micro reference, and an
unsupported model is refused with every missing op named."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from bench.models import to_int8_tflite
from tests.firmware.foreign_models import foreign_tflite
from tinyfuse.apps.cli import main
from tinyfuse.core.errors import ExportError
from tinyfuse.firmware.compiler import compile_model
from tinyfuse.firmware.host import HostModel
from tinyfuse.firmware.parity import check_parity

SMALL = ["resnet_blocks", "ds_cnn", "conv1d_net", "activations_mlp", "elementwise_net",
         "tensor_ops_net"]
LARGE = ["mobilenet_v1", "mobilenet_v2"]


@pytest.mark.parametrize("name", SMALL + LARGE)
def test_int8_io_model_is_bit_exact(name):
    vectors = 6 if name in LARGE else 24
    result = check_parity(foreign_tflite(name), vectors=vectors, seed=11)
    assert result.vectors == vectors
    assert result.ok, f"{name}:\n{result}"


@pytest.mark.parametrize("name", ["resnet_blocks", "activations_mlp", "elementwise_net",
                                  "tensor_ops_net"])
def test_float_io_model_is_bit_exact(name):
    data = foreign_tflite(name, float_io=True)
    assert compile_model(data).inputs[0].float_io
    result = check_parity(data, vectors=16, seed=12)
    assert result.ok, f"{name} (float I/O):\n{result}"


def test_foreign_models_cover_the_new_ops():
    used: set[str] = set()
    for name in SMALL:
        used |= set(compile_model(foreign_tflite(name)).ops_used)
    assert used >= {"PAD", "MUL", "SUB", "TANH", "RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH",
                    "MAXIMUM", "MINIMUM", "TRANSPOSE", "STRIDED_SLICE", "REDUCE_MAX",
                    "RESIZE_NEAREST_NEIGHBOR", "SPLIT", "SPLIT_V", "PACK", "UNPACK", "ADD",
                    "CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "AVERAGE_POOL_2D", "MAX_POOL_2D"}


def test_unsupported_model_names_every_missing_op():
    data = foreign_tflite("gelu_mlp")
    with pytest.raises(ExportError) as info:
        compile_model(data)
    message = str(info.value)
    assert "GELU" in message and "ELU (op" in message
    assert "2 op type(s)" in message


def test_verify_cli_lists_all_missing_ops(tmp_path, capsys):
    model = tmp_path / "gelu.tflite"
    model.write_bytes(foreign_tflite("gelu_mlp"))
    assert main(["verify", str(model), "--vectors", "2"]) == 2
    err = capsys.readouterr().err
    assert "GELU" in err and "ELU (op" in err


def test_verify_cli_passes_on_a_foreign_model(tmp_path, capsys):
    model = tmp_path / "dscnn.tflite"
    model.write_bytes(foreign_tflite("ds_cnn"))
    assert main(["verify", str(model), "--vectors", "4"]) == 0
    assert "bit-exact" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None
                    or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_verify_cli_runs_any_emulated_board_and_kernel_path(tmp_path, capsys):
    model = tmp_path / "dscnn.tflite"
    model.write_bytes(foreign_tflite("ds_cnn"))
    assert main(["verify", str(model), "--target", "mps2-an505", "--kernels", "dsp",
                 "--vectors", "3"]) == 0
    out = capsys.readouterr().out
    assert "mps2-an505 (dsp)" in out and "bit-exact" in out
    # the Cortex-M0 has no DSP extension: one line, exit 2, nothing built
    assert main(["verify", str(model), "--target", "microbit", "--kernels", "dsp"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "microbit" in err[0] and "no Arm DSP extension" in err[0]


def test_dynamic_reshape_shape_arithmetic_is_folded():
    """A Reshape the converter computes at run time (SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE):
    the integer shape ops are folded at compile time and the reshape stays a view."""
    import keras

    inp = keras.Input((6, 6, 2), batch_size=1)
    x = keras.layers.GlobalAveragePooling2D(keepdims=True)(keras.layers.Conv2D(4, 3)(inp))
    x = keras.layers.Conv2D(3, 1)(x)
    out = keras.layers.Reshape((3,))(x)
    compiled = compile_model(to_int8_tflite(keras.Model(inp, out)))
    assert "SHAPE" not in compiled.ops_used and "PACK" not in compiled.ops_used
    assert compiled.outputs[0].shape == (1, 3)


def test_tile_matches_numpy_repeat(rng):
    """UpSampling2D becomes RESHAPE/TILE; TFLM has no TILE kernel, so check a known answer."""
    import keras

    inp = keras.Input((3, 4, 2), batch_size=1)
    out = keras.layers.UpSampling2D((2, 3))(inp)
    model = HostModel.build(to_int8_tflite(keras.Model(inp, out)))
    assert "TILE" in model.compiled.ops_used
    x = rng.integers(-128, 128, (1, 3, 4, 2)).astype(np.int8)
    got = model.run([x])[0]
    np.testing.assert_array_equal(got, np.repeat(np.repeat(x, 2, axis=1), 3, axis=2))
