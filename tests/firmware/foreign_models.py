"""Keras 3 models tinyfuse did not design ("foreign" models), for the compiler's coverage tests.

Each builder returns a small Keras model with random weights; :func:`foreign_tflite` converts one
with the standard TFLite converter and full-integer quantization (cached per test session).
The shapes are small so conversion + compilation + parity stay fast.
"""

from __future__ import annotations

import numpy as np

from bench.models import _randomize, to_int8_tflite


def _keras():
    import keras

    return keras


def mobilenet_v2(*, include_top: bool = False):
    """keras.applications.MobileNetV2, alpha 0.35, 32x32x3: the body with global average pooling
    (``include_top=False``) or the 10-class classifier."""
    keras = _keras()
    return keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None,
                                          classes=10, include_top=include_top, pooling="avg")


def mobilenet_v1(*, include_top: bool = False):
    """keras.applications.MobileNet, alpha 0.25, 32x32x3: body + global average pooling, or the
    10-class classifier (whose Reshape the converter computes with SHAPE/STRIDED_SLICE/PACK)."""
    keras = _keras()
    return keras.applications.MobileNet(input_shape=(32, 32, 3), alpha=0.25, weights=None,
                                        classes=10, include_top=include_top, pooling="avg")


def resnet_blocks(*, seed: int = 11):
    """Two residual blocks: conv-BN-ReLU6 twice, ADD skip (one with a 1x1 projection), ReLU."""
    keras = _keras()
    layers = keras.layers
    inp = keras.Input((16, 16, 3), batch_size=1, name="image")
    x = layers.Conv2D(8, 3, padding="same", use_bias=False)(inp)
    x = layers.ReLU(max_value=6.0)(layers.BatchNormalization()(x))
    for filters, stride in ((8, 1), (12, 2)):
        y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        y = layers.ReLU(max_value=6.0)(layers.BatchNormalization()(y))
        y = layers.BatchNormalization()(layers.Conv2D(filters, 3, padding="same")(y))
        skip = x if stride == 1 else layers.Conv2D(filters, 1, strides=stride)(x)
        x = layers.ReLU()(layers.Add()([y, skip]))
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(4, activation="softmax")(x)
    model = keras.Model(inp, out)
    _randomize_bn_safe(model, seed)
    return model


def _randomize_bn_safe(model, seed: int) -> None:
    """Random weights, but BatchNormalization variances stay positive."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if "batch_normalization" in layer.name:
            gamma, beta, mean, var = (w.shape for w in weights)
            layer.set_weights([rng.uniform(0.5, 1.5, gamma).astype(np.float32),
                               rng.normal(0, 0.2, beta).astype(np.float32),
                               rng.normal(0, 0.2, mean).astype(np.float32),
                               rng.uniform(0.5, 1.5, var).astype(np.float32)])
        else:
            layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in weights])


def ds_cnn(*, seed: int = 12):
    """Keyword-spotting DS-CNN on a 49x10 MFCC patch: conv, depthwise-separable blocks with BN
    and ReLU, average pooling, dense, softmax."""
    keras = _keras()
    layers = keras.layers
    inp = keras.Input((49, 10, 1), batch_size=1, name="mfcc")
    x = layers.Conv2D(16, (10, 4), strides=(2, 2), padding="same", use_bias=False)(inp)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for _ in range(2):
        x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.Conv2D(16, 1, use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.AveragePooling2D(pool_size=(25, 5))(x)
    x = layers.Flatten()(x)
    out = layers.Dense(12, activation="softmax")(x)
    model = keras.Model(inp, out)
    _randomize_bn_safe(model, seed)
    return model


def conv1d_net(*, seed: int = 13):
    """1-D conv net on a 64-step, 3-axis time series: Conv1D (EXPAND_DIMS/CONV_2D/RESHAPE),
    MaxPooling1D, global max pooling, dense."""
    keras = _keras()
    layers = keras.layers
    inp = keras.Input((64, 3), batch_size=1, name="accel")
    x = layers.Conv1D(8, 5, padding="same", activation="relu")(inp)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(8, 3, strides=2, padding="valid", activation="relu")(x)
    x = layers.GlobalMaxPooling1D()(x)
    out = layers.Dense(3)(x)
    model = keras.Model(inp, out)
    _randomize(model, seed)
    return model


def activations_mlp(*, seed: int = 14):
    """MLP with LeakyReLU, tanh, hard-swish, ReLU and ReLU6 as separate layers (standalone
RELU / RELU6 ops where they act on the model input)."""
    keras = _keras()
    layers = keras.layers
    inp = keras.Input((12,), batch_size=1, name="x")
    x = layers.LeakyReLU(negative_slope=0.2)(layers.Dense(16)(inp))
    x = layers.Activation("tanh")(layers.Dense(16)(x))
    x = layers.Activation("hard_swish")(layers.Dense(16)(x))
    x = layers.Activation("relu")(layers.Dense(16)(x))
    x = layers.Activation("relu6")(layers.Dense(16)(x))
    raw = [layers.ReLU()(inp), layers.ReLU(max_value=6.0)(inp)]  # nothing to fuse into
    out = layers.Dense(4)(layers.Concatenate()([x, *raw]))
    model = keras.Model(inp, out)
    _randomize(model, seed)
    return model


def elementwise_net(*, seed: int = 15):
    """ZeroPadding2D, Multiply, Subtract, Maximum, Minimum and a broadcast multiply."""
    keras = _keras()
    layers = keras.layers
    inp = keras.Input((8, 8, 2), batch_size=1, name="x")
    x = layers.ZeroPadding2D(((1, 2), (2, 1)))(inp)
    a = layers.Conv2D(4, 3, padding="valid")(x)
    b = layers.Conv2D(4, 3, padding="valid", activation="relu")(x)
    c = layers.Conv2D(4, 3, padding="valid")(x)
    m = layers.Multiply()([a, b])
    s = layers.Subtract()([c, a])
    hi = layers.Maximum()([m, s])
    lo = layers.Minimum()([m, c])
    gate = layers.Dense(4, activation="sigmoid")(layers.GlobalAveragePooling2D()(lo))
    y = layers.Multiply()([hi, layers.Reshape((1, 1, 4))(gate)])
    y = layers.Concatenate()([y, lo])
    out = layers.Dense(3)(layers.GlobalAveragePooling2D()(y))
    model = keras.Model(inp, out)
    _randomize(model, seed)
    return model


def tensor_ops_net(*, seed: int = 16):
    """GlobalMaxPooling2D (REDUCE_MAX), Permute + Flatten (TRANSPOSE), Cropping2D and a strided
    slice (STRIDED_SLICE), Resizing nearest (RESIZE_NEAREST_NEIGHBOR),
    equal and unequal channel splits (SPLIT, SPLIT_V), unstack/stack (UNPACK, PACK)."""
    keras = _keras()
    layers, ops = keras.layers, keras.ops
    inp = keras.Input((10, 12, 3), batch_size=1, name="x")
    x = layers.Conv2D(6, 3, padding="same", activation="relu")(inp)
    g = layers.GlobalMaxPooling2D()(x)
    crop = layers.Cropping2D(((1, 2), (3, 1)))(x)
    sliced = layers.Lambda(lambda t: t[:, ::2, 1:, :4])(crop)
    t = layers.Flatten()(layers.Permute((3, 1, 2))(sliced))
    resized = layers.Resizing(7, 5, interpolation="nearest")(x)
    r = layers.Flatten()(layers.Conv2D(2, 3, strides=2)(resized))
    p = layers.Lambda(lambda v: _split_max_add(ops, v))(x)
    q = layers.Lambda(lambda v: ops.concatenate(ops.split(v, [1, 4], axis=-1)[::-1], axis=-1))(x)
    rows = layers.Lambda(lambda v: ops.stack(ops.unstack(v, axis=1)[::-1], axis=2))(
        layers.Concatenate()([p, q]))
    pq = layers.Flatten()(layers.AveragePooling2D(2)(rows))
    y = layers.Concatenate()([g, layers.Dense(8)(t), layers.Dense(8)(pq), layers.Dense(4)(r)])
    out = layers.Dense(5)(y)
    model = keras.Model(inp, out)
    _randomize(model, seed)
    return model


def _split_max_add(ops, value):
    first, second, third = ops.split(value, 3, axis=-1)
    return ops.maximum(first, second) + third


def gelu_mlp(*, seed: int = 17):
    """An MLP with a GELU activation, whose converted graph uses ops the compiler may lack."""
    keras = _keras()
    inp = keras.Input((8,), batch_size=1, name="x")
    x = keras.layers.Dense(8, activation="gelu")(inp)
    x = keras.layers.Dense(8, activation="elu")(x)
    out = keras.layers.Dense(3)(x)
    model = keras.Model(inp, out)
    _randomize(model, seed)
    return model


FOREIGN = {
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v1": mobilenet_v1,
    "resnet_blocks": resnet_blocks,
    "ds_cnn": ds_cnn,
    "conv1d_net": conv1d_net,
    "activations_mlp": activations_mlp,
    "elementwise_net": elementwise_net,
    "tensor_ops_net": tensor_ops_net,
    "gelu_mlp": gelu_mlp,
    "mobilenet_v1_top": lambda: mobilenet_v1(include_top=True),
}
_CACHE: dict[tuple[str, bool], bytes] = {}


def foreign_tflite(name: str, *, float_io: bool = False) -> bytes:
    """The full-integer .tflite of one of :data:`FOREIGN` (int8 or float32 I/O), cached."""
    key = (name, float_io)
    if key not in _CACHE:
        _CACHE[key] = to_int8_tflite(FOREIGN[name](), float_io=float_io, samples=8, seed=5)
    return _CACHE[key]
