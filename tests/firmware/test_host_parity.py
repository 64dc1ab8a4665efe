"""Compiled C on the host vs the TFLite Micro reference: identical int8 outputs."""

from __future__ import annotations

import numpy as np
import pytest

from bench.models import cached_tflite
from tinyfuse.core.tflm import reference_invoke
from tinyfuse.firmware.compiler import compile_model
from tinyfuse.firmware.host import HostModel
from tinyfuse.firmware.parity import check_parity


@pytest.mark.parametrize("name", ["conv", "fusion", "dense_float", "mean_keepdims"])
def test_random_and_extreme_inputs_are_bit_exact(name):
    result = check_parity(cached_tflite(name), vectors=40, seed=7)
    assert result.vectors == 40
    assert result.ok, str(result)
    assert result.max_abs_diff == 0


def test_covers_every_supported_op():
    used = set()
    for name in ("conv", "fusion", "dense_float", "mean_keepdims"):
        used |= set(compile_model(cached_tflite(name)).ops_used)
    assert used >= {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D",
                    "AVERAGE_POOL_2D", "MEAN", "CONCATENATION", "RESHAPE", "SOFTMAX", "ADD",
                    "LOGISTIC", "QUANTIZE", "DEQUANTIZE"}


def test_two_input_fusion_model_takes_inputs_in_order(rng):
    data = cached_tflite("fusion")
    model = HostModel.build(data)
    assert [i.shape for i in model.compiled.inputs] == [(1, 8, 8, 1), (1, 20)]
    thermal = rng.integers(-128, 128, (1, 8, 8, 1)).astype(np.int8)
    audio = rng.integers(-128, 128, (1, 20)).astype(np.int8)
    got = model.run([thermal, audio])
    want = reference_invoke(data, [thermal, audio])
    np.testing.assert_array_equal(got[0], want[0])


def test_float_io_model_quantizes_like_tflm(rng):
    data = cached_tflite("dense_float")
    model = HostModel.build(data)
    assert model.compiled.inputs[0].float_io and model.compiled.outputs[0].float_io
    x = rng.normal(0, 2, (1, 10)).astype(np.float32)
    got = model.run([x])[0]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, reference_invoke(data, [x])[0])


def test_parity_report_prints_the_diff():
    data = cached_tflite("conv")
    result = check_parity(data, vectors=3)
    text = str(result)
    assert "bit-exact" in text and "3 vectors" in text
    assert '"mismatches": 0' in result.to_json()
