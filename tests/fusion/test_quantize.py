"""PTQ within one point, fake-quant fine-tuning, 4-bit weights."""

from __future__ import annotations

import keras
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tinyfuse.core.tflm import inspect_tflite
from tinyfuse.fusion.quantize import (
    fake_quant_finetune,
    packed_weight_bytes,
    quantize_model,
    snap,
    snap_model,
)
from tinyfuse.fusion.spec import CompressionSpec


def test_snap_known_answer():
    kernel = np.array([[0.7, -0.35], [0.1, 0.2], [-0.05, 0.0]], np.float32)  # 2 channels
    got = snap(kernel, bits=4)
    # channel 0: scale 0.1 -> codes 7, 1, -0 (round half to even on -0.5)
    np.testing.assert_allclose(got[:, 0], [0.7, 0.1, -0.0], atol=1e-6)
    # channel 1: scale 0.05 -> codes -7, 4, 0
    np.testing.assert_allclose(got[:, 1], [-0.35, 0.2, 0.0], atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, (5, 4), elements=st.floats(-3, 3, width=32)),
       st.sampled_from([4, 8]))
def test_snap_levels_and_idempotence(kernel, bits):
    snapped = snap(kernel, bits=bits)
    np.testing.assert_allclose(snap(snapped, bits=bits), snapped, rtol=1e-5, atol=1e-6)
    for channel in range(4):
        assert len(np.unique(snapped[:, channel])) <= 2 ** bits
        limit = np.abs(kernel[:, channel]).max()
        assert np.all(np.abs(snapped[:, channel] - kernel[:, channel])
                      <= limit / (2 ** (bits - 1) - 1) / 2 + 1e-6)


def _copy(model):
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def test_ptq_within_one_point(task, trained):
    result = quantize_model(_copy(trained), CompressionSpec(quantization="int8"),
                            train=(task.inputs("train"), task.y_train),
                            val=(task.inputs("test"), task.y_test))
    assert result.float_accuracy > 0.9
    assert result.final_accuracy >= result.float_accuracy - 0.01
    assert not result.qat_applied


def test_int4_weights_option(task, trained):
    model = _copy(trained)
    result = quantize_model(model, CompressionSpec(quantization="int4-weights"),
                            train=(task.inputs("train"), task.y_train),
                            val=(task.inputs("test"), task.y_test), epochs=2)
    assert result.qat_applied and result.packed_4bit_weights_bytes is not None
    assert result.packed_4bit_weights_bytes < inspect_tflite(result.tflite).weights_bytes
    assert result.final_accuracy > 0.8
    kernel = model.get_layer("head").get_weights()[0]
    assert max(len(np.unique(kernel[:, c])) for c in range(kernel.shape[1])) <= 16
    assert packed_weight_bytes(model, bits=4) < packed_weight_bytes(model, bits=8)


def test_fake_quant_finetune_reduces_loss_and_keeps_float_shadow(task, trained):
    keras.utils.set_random_seed(2)
    model = _copy(trained)
    snap_model(model, bits=4)  # start on the grid: the loss has room to fall
    losses = fake_quant_finetune(model, task.inputs("train"), task.y_train, bits=4, epochs=3,
                                 learning_rate=3e-3)
    assert losses[-1] <= losses[0]
    kernel = model.get_layer("head").get_weights()[0]
    assert not np.allclose(snap(kernel, bits=4), kernel)  # float shadow left the 4-bit grid


def test_int8_disagreement_counts_changed_classes(task, trained):
    from tinyfuse.core.tflm import predict_int8
    from tinyfuse.fusion.export import convert_int8
    from tinyfuse.fusion.quantize import int8_disagreement

    inputs = task.inputs("test")
    tflite = convert_int8(trained, task.inputs("train"), n_samples=64)
    names = [t.name for t in trained.inputs]
    int8 = predict_int8(tflite, dict(zip(names, inputs, strict=True))).argmax(1)
    floats = trained.predict(list(inputs), verbose=0).argmax(1)
    assert int8_disagreement(tflite, trained, inputs) == np.mean(int8 != floats)
    # a model whose int8 copy came from different weights disagrees on many rows
    other = _copy(trained)
    other.set_weights([-w for w in trained.get_weights()])
    assert int8_disagreement(tflite, other, inputs) > 0.3
