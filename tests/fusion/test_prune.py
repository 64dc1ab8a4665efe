"""Structured pruning: exact at fraction 0, really shrinks the exported int8 model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tinyfuse.core.tflm import inspect_tflite, predict_int8
from tinyfuse.fusion.export import convert_int8
from tinyfuse.fusion.model import build_model
from tinyfuse.fusion.prune import kept_count, l1_ranking, prune_model
from tinyfuse.fusion.train import accuracy, train_classifier

from .conftest import make_spec


def test_l1_ranking_and_kept_count():
    kernel = np.zeros((3, 3, 2, 4), np.float32)
    kernel[..., 2] = 1.0
    kernel[..., 0] = -0.5
    kernel[0, 0, 0, 3] = 0.1
    assert list(l1_ranking(kernel)) == [2, 0, 3, 1]
    assert kept_count(8, 0.25) == 6 and kept_count(1, 0.9) == 1


@pytest.mark.parametrize("fusion", ["concat", "gated"])
def test_prune_zero_fraction_is_exact(task, fusion):
    keras.utils.set_random_seed(3)
    spec = make_spec(fusion=fusion)
    model = build_model(spec)
    pruned_spec, pruned = prune_model(model, spec, fraction=0.0)
    assert pruned_spec == spec
    x = [a[:16] for a in task.inputs("test")]
    np.testing.assert_allclose(pruned.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


def test_pruning_removes_dead_channels_exactly(task, trained):
    """Channels whose whole path is zero are the ones pruned, and outputs do not change."""
    spec = task.spec.scaled(width_multiplier=2.0)  # the trained fixture's spec: width 8
    model = keras.models.clone_model(trained)
    model.set_weights(trained.get_weights())
    for name in ("thermal_conv0", "thermal_dw1", "thermal_pw1", "vec_dense0", "head"):
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        kernel[..., :2] = 0.0
        bias[:2] = 0.0
        layer.set_weights([kernel, bias])
    pruned_spec, pruned = prune_model(model, spec, fraction=0.25)
    assert [b.width for b in pruned_spec.branches] == [6, 6]
    assert pruned_spec.head_units == 6
    x = task.inputs("test")
    np.testing.assert_allclose(pruned.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-5)


def test_pruning_shrinks_exported_weights(task, trained):
    spec = task.spec.scaled(width_multiplier=2.0)
    keras.utils.set_random_seed(5)
    pruned_spec, pruned = prune_model(trained, spec, fraction=0.5)
    train_classifier(pruned, task.inputs("train"), task.y_train, epochs=5)
    full = inspect_tflite(convert_int8(trained, task.inputs("train"), n_samples=50))
    small_tflite = convert_int8(pruned, task.inputs("train"), n_samples=50)
    small = inspect_tflite(small_tflite)
    assert small.weights_bytes < 0.6 * full.weights_bytes
    assert pruned.count_params() < 0.5 * trained.count_params()
    float_acc = accuracy(pruned, task.inputs("test"), task.y_test)
    int8_acc = float(np.mean(predict_int8(small_tflite, task.test).argmax(1) == task.y_test))
    assert float_acc > 0.85 and int8_acc > 0.85
