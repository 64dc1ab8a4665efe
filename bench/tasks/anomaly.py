"""Anomaly benchmark: a small dense autoencoder trained on normal windows only, quantized to
int8 with ``fusion.export.convert_int8`` and scored by its reconstruction error.

The score of a window is the mean squared difference between its standardised features and
the autoencoder's reconstruction (for the int8 model: the dequantized int8 output); ROC AUC
compares normal held-out windows (label 0) with anomalous ones (label 1). There is no
teacher: the autoencoder is trained directly (distillation is a classification tool here).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from bench import baselines
from bench.tasks.common import TaskData
from bench.tasks.evaluate import footprint_block, save_model
from tinyfuse.core.tflm import predict_int8
from tinyfuse.fusion.export import convert_int8
from tinyfuse.fusion.train import fit_standardizer, standardize


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoencoderRecipe:
    """Encoder widths (the decoder mirrors them) and training budget."""

    hidden_units: tuple[int, ...] = (24, 8)
    epochs: int = 60
    batch_size: int = 32
    learning_rate: float = 2e-3
    representative_samples: int = 500


def build_autoencoder(name: str, shape: tuple[int, ...], recipe: AutoencoderRecipe
                      ) -> keras.Model:
    """Flatten -> Dense(hidden...) -> Dense(mirrored) -> Dense(size); input named ``name``.

    Returns
    -------
    keras.Model
        Input ``(batch, *shape)`` float32; output ``(batch, prod(shape))`` float32.
    """
    size = int(np.prod(shape))
    inputs = keras.Input(shape=shape, name=name)
    x = keras.layers.Flatten(name="flatten")(inputs)
    widths = list(recipe.hidden_units) + list(recipe.hidden_units[-2::-1])
    for index, units in enumerate(widths):
        x = keras.layers.Dense(units, activation="relu", name=f"ae_dense{index}")(x)
    outputs = keras.layers.Dense(size, name="reconstruction")(x)
    # a list of inputs: fusion.export.convert_int8 clones the model with a list of inputs
    return keras.Model([inputs], outputs, name="autoencoder")


def _errors(features: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    flat = features.reshape(len(features), -1)
    return np.mean((flat - reconstruction.reshape(len(flat), -1)) ** 2, axis=1)


def _auc_table(task: TaskData, scores: np.ndarray) -> dict[str, Any]:
    """AUC of imbalance vs normal (overall and per speed) and of moved vs normal."""
    kind = task.test_tags["kind"]
    speed = task.test_tags["speed"]
    normal = kind == "normal"
    out: dict[str, Any] = {}
    for anomaly in sorted(set(kind.tolist()) - {"normal"}):
        rows = normal | (kind == anomaly)
        out[f"{anomaly}_vs_normal"] = baselines.auc(kind[rows] == anomaly, scores[rows])
        for value in sorted(set(speed[kind == anomaly].tolist())):
            sub = rows & (speed == value)
            out[f"{anomaly}_vs_normal@{value}"] = baselines.auc(kind[sub] == anomaly,
                                                                scores[sub])
    return out


def run_anomaly(task: TaskData, recipe: AutoencoderRecipe, *, seed: int = 0,
                model_path: Path | None = None) -> dict[str, Any]:
    """Train the float autoencoder, convert to int8, score both; JSON-ready dict.

    ``model_path``: where to write the int8 ``.tflite`` (not written if None).
    """
    (name,) = task.modality_names
    stats = fit_standardizer(task.x_train, per_channel={name: True})
    x_train = standardize(task.x_train, stats)[name]
    x_test = standardize(task.x_test, stats)[name]
    keras.utils.set_random_seed(seed)
    model = build_autoencoder(name, x_train.shape[1:], recipe)
    model.compile(optimizer=keras.optimizers.Adam(recipe.learning_rate), loss="mse")
    target = x_train.reshape(len(x_train), -1)
    model.fit(x_train, target, epochs=recipe.epochs, batch_size=recipe.batch_size, verbose=0,
              shuffle=True)
    float_scores = _errors(x_test, model.predict(x_test, verbose=0, batch_size=256))
    tflite = convert_int8(model, [x_train], n_samples=recipe.representative_samples)
    save_model(tflite, model_path)
    int8_scores = _errors(x_test, predict_int8(tflite, {name: x_test}))
    pca = baselines.pca_scores(task.x_train, task.x_test, names=(name,),
                               n_components=recipe.hidden_units[-1])
    float_auc, int8_auc = _auc_table(task, float_scores), _auc_table(task, int8_scores)
    main = "imbalance_vs_normal"
    kinds = task.test_tags["kind"]
    return {
        "n_train": int(len(x_train)), "n_test": int(len(x_test)),
        "test_counts": {k: int(np.sum(kinds == k)) for k in sorted(set(kinds.tolist()))},
        "model": {"type": "dense autoencoder, reconstruction-error score",
                  "teacher": "none: the autoencoder is trained directly, no distillation",
                  "hidden_units": list(recipe.hidden_units), "params": int(model.count_params()),
                  "epochs": recipe.epochs},
        "roc_auc": {"float": float_auc, "int8": int8_auc,
                    "int8_minus_float_points": 100 * (int8_auc[main] - float_auc[main])},
        "footprint": footprint_block(tflite),
        "baselines": {"pca_reconstruction": {
            "n_components": recipe.hidden_units[-1], "roc_auc": _auc_table(task, pca)}},
    }
