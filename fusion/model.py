"""One branch per modality -> late fusion (concat or gated) -> small dense head.

Every layer has a fixed name derived from the spec (``{modality}_conv0``, ``{modality}_dw1``,
``{modality}_pw1``, ``{modality}_dense0``, ``{modality}_gate``, ``head``, ``logits``,
``probs``) so that pruning and reports can find them. Only int8-friendly layers are used:
Conv2D, DepthwiseConv2D, Dense, ReLU or ReLU6 (fused), AveragePooling2D, Reshape/Flatten,
Concatenate, sigmoid gates with Multiply, Softmax. Keras input names are the modality names.
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np
from keras import layers, ops

from tinyfuse.core.errors import DataError
from tinyfuse.fusion.spec import BranchSpec, FusionSpec
from tinyfuse.sensors.spec import ModalitySpec


@keras.saving.register_keras_serializable(package="tinyfuse")
class ModalityDropout(layers.Layer):
    """Zero whole modality inputs at random while training (never all of them at once).

    Each sample drops each modality independently with probability ``rate``; a sample that
    would lose every modality keeps them all. At inference this layer is the identity.
    """

    def __init__(self, rate: float, *, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.rate <= 0.0 or len(inputs) < 2:
            return list(inputs)
        batch = ops.shape(inputs[0])[0]
        draws = keras.random.uniform((batch, len(inputs)), seed=self.seed_generator)
        keep = ops.cast(draws >= self.rate, inputs[0].dtype)
        none_kept = ops.cast(ops.sum(keep, axis=1, keepdims=True) == 0, keep.dtype)
        keep = ops.maximum(keep, none_kept)
        outputs = []
        for index, tensor in enumerate(inputs):
            shape = [-1] + [1] * (len(tensor.shape) - 1)
            outputs.append(tensor * ops.reshape(keep[:, index], shape))
        return outputs

    def compute_output_shape(self, input_shape):
        return list(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def branch_layer_names(branch: BranchSpec) -> list[str]:
    """Names of the weighted layers of one branch, input to output."""
    name = branch.modality
    if branch.block == "linear":
        return []
    if branch.block == "dense":
        return [f"{name}_dense{i}" for i in range(branch.depth)]
    names = [f"{name}_conv0"]
    for i in range(1, branch.depth):
        names += [f"{name}_conv{i}"] if branch.block == "conv" else [f"{name}_dw{i}",
                                                                     f"{name}_pw{i}"]
    return names


def _conv_branch(x, branch: BranchSpec, shape: tuple[int, ...]):
    name = branch.modality
    height, width = shape
    x = layers.Reshape((height, width, 1), name=f"{name}_reshape")(x)
    stride = 2 if min(height, width) >= 8 else 1
    act = branch.activation
    x = layers.Conv2D(branch.width, 3, strides=stride, padding="same", activation=act,
                      name=f"{name}_conv0")(x)
    for i in range(1, branch.depth):
        if branch.block == "conv":
            x = layers.Conv2D(branch.width, 3, padding="same", activation=act,
                              name=f"{name}_conv{i}")(x)
        else:
            x = layers.DepthwiseConv2D(3, padding="same", activation=act,
                                       name=f"{name}_dw{i}")(x)
            x = layers.Conv2D(branch.width, 1, activation=act, name=f"{name}_pw{i}")(x)
    pool = (int(x.shape[1]), int(x.shape[2]))
    x = layers.AveragePooling2D(pool_size=pool, name=f"{name}_pool")(x)
    return layers.Flatten(name=f"{name}_features")(x)


def _dense_branch(x, branch: BranchSpec, shape: tuple[int, ...]):
    name = branch.modality
    if len(shape) > 1:
        x = layers.Flatten(name=f"{name}_flatten")(x)
    for i in range(branch.depth):
        x = layers.Dense(branch.width, activation=branch.activation,
                         name=f"{name}_dense{i}")(x)
    return x


def _linear_branch(x, branch: BranchSpec, shape: tuple[int, ...]):
    return layers.Flatten(name=f"{branch.modality}_flatten")(x) if len(shape) > 1 else x


BRANCH_BUILDERS = {"dense": _dense_branch, "linear": _linear_branch}


def build_model(spec: FusionSpec, *, seed: int | None = None) -> keras.Model:
    """Build the float late-fusion model of ``spec``.

    Parameters
    ----------
    spec : FusionSpec
        Architecture; one input per modality named after it, of shape ``output_shape``.
    seed : int, optional
        Seed of the modality-dropout draws.

    Returns
    -------
    keras.Model
        Inputs: one float32 tensor ``(batch, *modality.output_shape)`` per modality, in
        ``spec.modalities`` order. Output: class probabilities ``(batch, n_classes)``.
    """
    inputs = [keras.Input(shape=m.output_shape, name=m.name) for m in spec.modalities]
    dropped = inputs
    if spec.modality_dropout > 0 and len(inputs) > 1:
        dropped = ModalityDropout(spec.modality_dropout, seed=seed,
                                  name="modality_dropout")(inputs)
    features = []
    for tensor, modality, branch in zip(dropped, spec.modalities, spec.branches, strict=True):
        builder = BRANCH_BUILDERS.get(branch.block, _conv_branch)
        feature = builder(tensor, branch, modality.output_shape)
        if spec.fusion == "gated":
            gate = layers.Dense(branch.width, activation="sigmoid",
                                name=f"{modality.name}_gate")(feature)
            feature = layers.Multiply(name=f"{modality.name}_gated")([feature, gate])
        features.append(feature)
    x = features[0] if len(features) == 1 else layers.Concatenate(name="fusion")(features)
    if spec.dropout > 0:
        x = layers.Dropout(spec.dropout, name="fusion_dropout")(x)
    if spec.head_units > 0:
        x = layers.Dense(spec.head_units, activation="relu", name="head")(x)
        if spec.dropout > 0:
            x = layers.Dropout(spec.dropout, name="head_dropout")(x)
    logits = layers.Dense(len(spec.classes), name="logits")(x)
    probs = layers.Softmax(name="probs")(logits)
    return keras.Model(inputs, probs, name="tinyfuse")


def logits_model(model: keras.Model) -> keras.Model:
    """A view of ``model`` that outputs the pre-softmax ``logits`` layer (shares weights)."""
    return keras.Model(model.inputs, model.get_layer("logits").output)


def as_inputs(spec: FusionSpec, features: Mapping[str, np.ndarray], *,
              missing: tuple[str, ...] = ()) -> list[np.ndarray]:
    """Order a ``{modality: array}`` batch as the model's inputs; zero the ``missing`` ones.

    Parameters
    ----------
    features : mapping of str to ndarray
        ``(n, *output_shape)`` float32 (standardised) features per modality; a modality that
        is absent from the mapping, or named in ``missing``, is fed as zeros.

    Returns
    -------
    list of ndarray
        One float32 array per modality in ``spec.modalities`` order.
    """
    present = [features[m.name] for m in spec.modalities if m.name in features]
    if not present:
        raise DataError("features: no modality of the spec is present")
    count = len(present[0])
    out = []
    for modality in spec.modalities:
        out.append(_one_input(modality, features.get(modality.name), count,
                              zero=modality.name in missing))
    return out


def _one_input(modality: ModalitySpec, array, count: int, *, zero: bool) -> np.ndarray:
    shape = (count, *modality.output_shape)
    if array is None or zero:
        return np.zeros(shape, np.float32)
    array = np.asarray(array, np.float32)
    if array.shape != shape:
        raise DataError(f"features[{modality.name!r}]: expected shape {shape}, "
                        f"got {array.shape}")
    return array
