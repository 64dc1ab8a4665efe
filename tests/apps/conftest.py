"""Shared by the apps tests: a real tiny int8 posture bundle, trained once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sensors.simulate import simulate_posture

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory) -> Path:
    """A posture bundle (thermal 8x8 + depth 16x16, four classes) written by fusion's own
    export code: a narrow model trained for a few epochs on simulated frames. Tests that change
    the folder copy it first."""
    import keras

    from fusion import pipeline
    from fusion.config import load_config
    from fusion.export import convert_int8
    from fusion.features import FeatureStore, fit_stats, labels_of
    from fusion.features import model_inputs as fusion_inputs
    from fusion.model import build_model
    from fusion.train import train_classifier

    config = load_config(REPO / "apps" / "posture" / "app.toml")
    spec = config.fusion.scaled(width_multiplier=1.0, head_units=8)
    data = simulate_posture(n_per_class=24, n_people=6, seed=0)
    store, rows = FeatureStore.of(data), np.arange(len(data))
    stats = fit_stats(store, spec, rows)
    inputs = fusion_inputs(store, spec, rows, stats)
    keras.utils.set_random_seed(3)
    model = build_model(spec, seed=3)
    train_classifier(model, inputs, labels_of(data.samples, spec.classes), epochs=30,
                     batch_size=16, learning_rate=0.01)
    tflite = convert_int8(model, inputs, n_samples=40)
    out = tmp_path_factory.mktemp("bundle")
    pipeline.write_bundle(out, tflite, pipeline.params_json(config, spec, stats, tflite))
    return out
