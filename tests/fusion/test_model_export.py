"""Model construction, modality dropout and fully-int8 conversion."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tinyfuse.core.errors import DataError, ExportError
from tinyfuse.core.tflm import inspect_tflite, predict_int8, reference_invoke
from tinyfuse.firmware.compiler.reader import read_model
from tinyfuse.fusion.export import c_sources, calibration_rows, convert_int8, resolver_method
from tinyfuse.fusion.model import ModalityDropout, as_inputs, build_model
from tinyfuse.fusion.train import accuracy

from .conftest import make_spec


@pytest.mark.parametrize("fusion", ["concat", "gated"])
def test_model_has_one_named_input_per_modality(fusion):
    model = build_model(make_spec(fusion=fusion))
    assert [t.name for t in model.inputs] == ["thermal", "vec"]
    assert tuple(model.inputs[0].shape) == (None, 8, 8)
    assert tuple(model.outputs[0].shape) == (None, 3)
    names = {layer.name for layer in model.layers}
    assert {"thermal_conv0", "thermal_dw1", "thermal_pw1", "vec_dense0", "head",
            "logits"} <= names
    assert ("thermal_gate" in names) == (fusion == "gated")


def test_modality_dropout_zeroes_whole_inputs_only_in_training():
    layer = ModalityDropout(0.5, seed=3)
    a, b = np.ones((200, 4, 4), np.float32), np.ones((200, 6), np.float32)
    out_a, out_b = (np.asarray(t) for t in layer([a, b], training=True))
    kept_a = out_a.reshape(200, -1).max(axis=1)
    kept_b = out_b.max(axis=1)
    assert set(np.unique(out_a)) <= {0.0, 1.0}
    assert np.all(out_a.reshape(200, -1).min(axis=1) == kept_a)  # whole input, not pixels
    assert np.all(kept_a + kept_b >= 1)  # never both dropped
    assert 0.1 < 1 - kept_a.mean() < 0.5
    same = layer([a, b], training=False)
    assert np.array_equal(np.asarray(same[0]), a)


def test_missing_modality_is_fed_as_zeros(task):
    inputs = as_inputs(task.spec, {"thermal": task.test["thermal"][:5]})
    assert inputs[1].shape == (5, 8) and not inputs[1].any()
    zeroed = as_inputs(task.spec, task.test, missing=("thermal",))
    assert not zeroed[0].any() and zeroed[1].any()
    with pytest.raises(DataError, match="vec"):
        as_inputs(task.spec, {"thermal": task.test["thermal"], "vec": np.zeros((3, 9))})


@pytest.mark.parametrize("fusion", ["concat", "gated"])
def test_converted_model_is_fully_int8(task, fusion):
    keras.utils.set_random_seed(1)
    model = build_model(make_spec(fusion=fusion))
    tflite = convert_int8(model, task.inputs("train"), n_samples=32)
    info = inspect_tflite(tflite)
    assert set(info.tensor_types) <= {"INT8", "INT32"}
    assert not {"DEQUANTIZE", "QUANTIZE", "SHAPE", "PACK"} & set(info.ops)
    assert {t.dtype for t in info.inputs + info.outputs} == {"INT8"}
    assert sorted(t.name for t in info.inputs) == ["thermal", "vec"]
    assert ("LOGISTIC" in info.ops) == (fusion == "gated")
    # the TFLM reference interpreter runs it
    zeros = [np.zeros(t.shape, np.int8) for t in info.inputs]
    (out,) = reference_invoke(tflite, zeros)
    assert out.shape == (1, 3) and out.dtype == np.int8


def test_int8_matches_float_on_trained_model(task, trained):
    tflite = convert_int8(trained, task.inputs("train"), n_samples=100)
    probs = predict_int8(tflite, task.test)
    float_acc = accuracy(trained, task.inputs("test"), task.y_test)
    int8_acc = float(np.mean(probs.argmax(axis=1) == task.y_test))
    assert float_acc > 0.9
    assert int8_acc >= float_acc - 0.01  # PTQ within one point


def _branch_output_maxima(tflite: bytes) -> dict[str, float]:
    """Largest real value each branch conv/dense op's int8 output can hold, by activation."""
    graph = read_model(tflite)
    maxima: dict[str, float] = {}
    for op in graph.operators:
        if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D") or "vec_dense" in _out(graph, op).name:
            quant = _out(graph, op).quant
            top = float(quant.scale[0]) * (127 - int(quant.zero_point[0]))
            kind = op.options["activation"]
            maxima[kind] = max(maxima.get(kind, 0.0), top)
    return maxima


def _out(graph, op):
    return graph.tensors[op.outputs[0]]


def test_relu6_branches_bound_the_int8_ranges(task):
    """Calibrated on inputs 40x larger than usual, a ReLU branch's int8 ranges grow with
    them; ReLU6 branches are fused RELU6 ops whose ranges stay within [0, 6]."""
    loud = [40.0 * x for x in task.inputs("train")]
    ranges = {}
    for activation in ("relu", "relu6"):
        keras.utils.set_random_seed(3)
        model = build_model(make_spec(activation=activation))
        ranges[activation] = _branch_output_maxima(convert_int8(model, loud, n_samples=64))
    assert set(ranges["relu"]) == {"RELU"} and ranges["relu"]["RELU"] > 6.5
    assert set(ranges["relu6"]) == {"RELU6"}
    assert ranges["relu6"]["RELU6"] <= 6.0 + 0.05


def test_c_sources_list_ops_and_bytes(task):
    model = build_model(make_spec())
    tflite = convert_int8(model, task.inputs("train"), n_samples=8)
    digest = "ab" * 32
    header, source = c_sources(tflite, bundle_hash=digest)
    assert "TINYFUSE_MODEL_OP_COUNT" in header and f'TINYFUSE_BUNDLE_HASH "{digest}"' in header
    with pytest.raises(ExportError, match="not a SHA-256"):
        c_sources(tflite, bundle_hash="abc123")
    assert "(resolver).AddConv2D();" in header and "AddDepthwiseConv2D" in header
    assert f"g_model_len = {len(tflite)};" in source
    assert source.count("0x") == len(tflite)
    assert resolver_method("FULLY_CONNECTED") == "AddFullyConnected"


def _dense_model(structure: str) -> keras.Model:
    a = keras.Input(shape=(6,), name="a")
    b = keras.Input(shape=(4,), name="b")
    if structure == "single":
        return keras.Model(a, keras.layers.Dense(3, name="out")(a))
    joined = keras.layers.Concatenate()([a, b])
    out = keras.layers.Dense(3, name="out")(joined)
    return keras.Model({"a": a, "b": b} if structure == "dict" else [a, b], out)


@pytest.mark.parametrize("structure", ["single", "list", "dict"])
def test_convert_int8_accepts_any_input_structure(structure, rng):
    """A model built on one bare input (not a list), or on a dict of inputs, used to fail in
    ``clone_model`` ("input_tensors must have the same structure as model.input")."""
    keras.utils.set_random_seed(0)
    model = _dense_model(structure)
    rep = [rng.normal(size=(40, *t.shape[1:])).astype(np.float32) for t in model.inputs]
    tflite = convert_int8(model, rep, n_samples=20)
    info = inspect_tflite(tflite)
    assert sorted(t.name for t in info.inputs) == sorted(t.name for t in model.inputs)
    assert all(t.shape[0] == 1 for t in info.inputs)
    features = {t.name: x for t, x in zip(model.inputs, rep, strict=True)}
    fed = {"single": rep[0], "list": rep, "dict": features}[structure]
    expected = model.predict(fed, verbose=0)
    got = predict_int8(tflite, features)
    assert np.abs(got - expected).max() < 0.1 * np.abs(expected).max()


def test_calibration_rows_are_a_seeded_random_subset():
    rows = calibration_rows(1000, 100, seed=3)
    assert len(rows) == 100 == len(set(rows.tolist())) and np.all(np.diff(rows) > 0)
    assert rows.max() > 500  # not the first rows
    assert np.array_equal(rows, calibration_rows(1000, 100, seed=3))
    assert not np.array_equal(rows, calibration_rows(1000, 100, seed=4))
    assert calibration_rows(5, 100, seed=0).tolist() == [0, 1, 2, 3, 4]


def test_calibration_on_sorted_rows_covers_every_class():
    """Rows sorted by class (as loaders return them): the int8 input range must cover the
    last class too, which the first rows alone never reach."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(1,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(inputs))
    ordered = np.linspace(0.0, 10.0, 1000, dtype=np.float32).reshape(-1, 1)
    tflite = convert_int8(model, [ordered], n_samples=100)
    (tensor,) = inspect_tflite(tflite).inputs
    top = (127 - tensor.zero_point) * tensor.scale
    assert top > 9.0  # the first 100 rows would stop near 1.0
