"""The logits' int8 range is cut to what a class decision uses (``narrow_logits``)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tinyfuse.core.errors import ExportError
from tinyfuse.core.tflm import predict_int8
from tinyfuse.firmware.compiler.ranges import affine, softmax_logits, tensor_range, with_range
from tinyfuse.firmware.parity import check_parity
from tinyfuse.fusion.export import convert_int8


def _close_call_model() -> keras.Model:
    """Five classes: 0 and 1 differ by 0.3 * x1, classes 2-4 sit near -60 (a long tail the
    converter spans, as a distilled student's logits do)."""
    x = keras.Input(shape=(2,), name="x")
    logits = keras.layers.Dense(5, name="logits")(x)
    model = keras.Model(x, keras.layers.Softmax(name="probs")(logits))
    kernel = np.array([[1.0, 1.0, 0.1, 0.0, -0.1], [0.0, 0.3, 0.0, 0.1, 0.0]], np.float32)
    model.get_layer("logits").set_weights([kernel, np.array([0, 0, -60, -61, -59], np.float32)])
    return model


@pytest.fixture(scope="module")
def converted():
    model = _close_call_model()
    rows = np.random.default_rng(0).normal(size=(400, 2)).astype(np.float32)
    return model, convert_int8(model, [rows], n_samples=200)


def _agreement(tflite, model, rows):
    int8 = predict_int8(tflite, {"x": rows}).argmax(1)
    return float(np.mean(int8 == model.predict(rows, verbose=0).argmax(1)))


def test_range_is_cut_to_the_runner_up_and_decisions_follow_float(converted):
    model, tflite = converted
    index = softmax_logits(tflite)
    assert index is not None
    lo, hi = tensor_range(tflite, index)
    assert -6.0 < lo < -2.0 and hi > 2.0  # not -61: the tail is cut
    fresh = np.random.default_rng(1).normal(size=(2000, 2)).astype(np.float32)
    wide = with_range(tflite, index, -61.5, hi)  # what the converter's min/max would keep
    assert _agreement(tflite, model, fresh) >= 0.97
    assert _agreement(tflite, model, fresh) >= _agreement(wide, model, fresh) + 0.05


def test_narrowed_model_stays_bit_exact_with_tflite_micro(converted):
    _, tflite = converted
    result = check_parity(tflite, vectors=16)
    assert result.ok, str(result)


def test_with_range_changes_only_scale_and_zero_point(converted):
    _, tflite = converted
    index = softmax_logits(tflite)
    changed = with_range(tflite, index, -3.0, 5.0)
    diff = [i for i, (a, b) in enumerate(zip(tflite, changed, strict=True)) if a != b]
    assert len(changed) == len(tflite) and 0 < len(diff) <= 12
    lo, hi = tensor_range(changed, index)
    scale, zero = affine(-3.0, 5.0)
    assert scale == pytest.approx(8.0 / 255) and zero == round(-128 + 3.0 / scale)
    assert lo == pytest.approx(-3.0, abs=scale) and hi == pytest.approx(5.0, abs=scale)


def test_affine_holds_zero_and_refuses_empty_ranges():
    assert affine(1.0, 4.0)[1] == -128  # widened down to 0
    assert affine(-4.0, -1.0)[1] == 127  # widened up to 0
    with pytest.raises(ExportError, match="empty"):
        affine(0.0, 0.0)


def test_bad_tensor_index_is_named(converted):
    _, tflite = converted
    with pytest.raises(ExportError, match="tensor 999"):
        tensor_range(tflite, 999)


def test_two_classes_are_left_alone():
    x = keras.Input(shape=(2,), name="x")
    logits = keras.layers.Dense(2, name="logits")(x)
    model = keras.Model(x, keras.layers.Softmax(name="probs")(logits))
    model.get_layer("logits").set_weights([np.eye(2, dtype=np.float32) * 20,
                                           np.array([0, -40], np.float32)])
    rows = np.random.default_rng(0).normal(size=(100, 2)).astype(np.float32)
    tflite = convert_int8(model, [rows], n_samples=100)
    lo, _ = tensor_range(tflite, softmax_logits(tflite))
    assert lo < -60  # the converter's own range
