"""Small Keras models and seeded random graphs converted to full-int8 TFLite: the compiler
tests and the firmware footprint bench use them.

Each builder returns a Keras model; :func:`to_int8_tflite` converts it with a seeded random
representative dataset. Tests may import TensorFlow directly (the compiler may not).
"""

from __future__ import annotations

import numpy as np


def _keras():
    import keras

    return keras


def to_int8_tflite(model, *, seed: int = 0, float_io: bool = False, samples: int = 16,
                   input_range: float = 1.0) -> bytes:
    """Convert a Keras model with full-integer quantization (int8 I/O unless ``float_io``)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    shapes = [tuple(int(d) for d in t.shape[1:]) for t in model.inputs]

    def representative():
        for _ in range(samples):
            yield [
                rng.uniform(-input_range, input_range, (1, *s)).astype(np.float32)
                for s in shapes
            ]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return bytes(converter.convert())


def _randomize(model, seed: int) -> None:
    """Give every weight (incl. biases) random non-trivial values so the arithmetic is exercised."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in weights])


def conv_model(*, seed: int = 1):
    """conv (SAME, stride 2) -> conv (VALID, dilation 2) -> depthwise (x2) -> maxpool -> avgpool
    -> mean -> dense -> softmax."""
    keras = _keras()
    inp = keras.Input((24, 20, 3), batch_size=1, name="image")
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    x = keras.layers.Conv2D(6, 3, dilation_rate=2, padding="valid", activation="relu6")(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x)
    x = keras.layers.MaxPooling2D(2, padding="same")(x)
    x = keras.layers.AveragePooling2D(2, strides=1, padding="valid")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(5)(x)
    out = keras.layers.Softmax()(x)
    model = keras.Model(inp, out)
    _randomize(model, seed)
    return model


def fusion_model(*, seed: int = 2):
    """Two-input late fusion: an image branch and a vector branch, concatenated, dense, add of
    two heads, logistic."""
    keras = _keras()
    image = keras.Input((8, 8, 1), batch_size=1, name="thermal")
    vec = keras.Input((20,), batch_size=1, name="audio")
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(image)
    a = keras.layers.AveragePooling2D(2, padding="same")(a)
    a = keras.layers.Flatten()(a)
    a = keras.layers.Dense(8, activation="relu")(a)
    b = keras.layers.Dense(8, activation="relu")(vec)
    x = keras.layers.Concatenate()([a, b])
    h1 = keras.layers.Dense(3)(x)
    h2 = keras.layers.Dense(3)(x)
    out = keras.layers.Activation("sigmoid")(keras.layers.Add()([h1, h2]))
    model = keras.Model([image, vec], out)
    _randomize(model, seed)
    return model


def dense_model(*, seed: int = 3):
    """A plain MLP (dense -> relu -> dense)."""
    keras = _keras()
    inp = keras.Input((10,), batch_size=1, name="x")
    x = keras.layers.Dense(16, activation="relu")(inp)
    out = keras.layers.Dense(4)(x)
    model = keras.Model(inp, out)
    _randomize(model, seed)
    return model


def mean_keepdims_model(*, seed: int = 4):
    """Conv -> MEAN over H,W with keep_dims (TFLM's special 4-D path) -> dense."""
    keras = _keras()
    inp = keras.Input((6, 5, 2), batch_size=1, name="x")
    x = keras.layers.Conv2D(4, 2, strides=2, padding="same", activation="relu")(inp)
    x = keras.layers.Lambda(lambda t: keras.ops.mean(t, axis=(1, 2), keepdims=True))(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(3)(x)
    model = keras.Model(inp, out)
    _randomize(model, seed)
    return model


def residual_model(*, seed: int = 5):
    """Conv -> pointwise expansion (8 to 16 channels) -> depthwise stride 2 -> two 3x3 convs
    and a residual ADD -> pooled dense head: every overlap the memory plan can use."""
    keras = _keras()
    inp = keras.Input((16, 12, 3), batch_size=1, name="x")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = keras.layers.Conv2D(16, 1, activation="relu")(x)
    skip = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(x)
    y = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(skip)
    y = keras.layers.Conv2D(16, 3, padding="same")(y)
    x = keras.layers.Add()([skip, y])
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(4, activation="softmax")(x)
    model = keras.Model(inp, out)
    _randomize(model, seed)
    return model


BUILDERS = {
    "conv": (conv_model, {}),
    "fusion": (fusion_model, {}),
    "dense_float": (dense_model, {"float_io": True}),
    "mean_keepdims": (mean_keepdims_model, {}),
    "residual": (residual_model, {}),
}
_CACHE: dict[str, bytes] = {}


def cached_tflite(name: str) -> bytes:
    """The converted .tflite of one of :data:`BUILDERS`, converted once per test session."""
    if name not in _CACHE:
        builder, kwargs = BUILDERS[name]
        _CACHE[name] = to_int8_tflite(builder(), **kwargs)
    return _CACHE[name]


def random_graph(seed: int):
    """A random small Keras graph: conv/depthwise/pool stack with random shapes, strides,
    padding, dilation, channels and activation, then a dense head (for differential fuzzing)."""
    keras = _keras()
    rng = np.random.default_rng(seed)
    size = int(rng.integers(5, 13))
    inp = keras.Input((size, int(rng.integers(5, 13)), int(rng.integers(1, 5))), batch_size=1)
    x = inp
    for _ in range(int(rng.integers(1, 3))):
        x = _random_block(keras, rng, x)
    head = rng.integers(0, 2)
    x = keras.layers.GlobalAveragePooling2D()(x) if head else keras.layers.Flatten()(x)
    x = keras.layers.Dense(int(rng.integers(2, 7)),
                           activation=str(rng.choice(["linear", "relu"])))(x)
    last = rng.integers(0, 3)
    if last == 1:
        x = keras.layers.Softmax()(x)
    elif last == 2:
        x = keras.layers.Activation("sigmoid")(x)
    model = keras.Model(inp, x)
    _randomize(model, seed)
    return model, float(rng.choice([0.5, 1.0, 4.0]))


def _random_block(keras, rng, x):
    kind = rng.integers(0, 3)
    padding = str(rng.choice(["same", "valid"]))
    activation = str(rng.choice(["linear", "relu", "relu6"]))
    k = int(rng.integers(1, 4))
    h, w = int(x.shape[1]), int(x.shape[2])
    if min(h, w) < 3:
        padding = "same"
    dilation = int(rng.integers(1, 3)) if rng.random() < 0.3 else 1
    stride = 1 if dilation > 1 else int(rng.integers(1, 3))
    if padding == "valid" and (k - 1) * dilation + 1 > min(h, w):
        padding = "same"
    if kind == 0:
        return keras.layers.Conv2D(int(rng.integers(1, 7)), k, strides=stride, padding=padding,
                                   dilation_rate=dilation, activation=activation)(x)
    if kind == 1:
        return keras.layers.DepthwiseConv2D(k, strides=stride, padding=padding,
                                            depth_multiplier=int(rng.integers(1, 3)),
                                            dilation_rate=dilation, activation=activation)(x)
    pool = keras.layers.MaxPooling2D if rng.random() < 0.5 else keras.layers.AveragePooling2D
    return pool(2, strides=int(rng.integers(1, 3)), padding="same")(x)
