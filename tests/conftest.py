"""Shared fixtures: a seeded RNG, the real datasets (skipped when absent), a real tiny int8
posture bundle (trained once per session)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tinyfuse.sensors.simulate import simulate_posture

REPO = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("TINYFUSE_DATASETS", REPO.parent / "shared" / "datasets"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261122)


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """Root of ../shared/datasets; skips the test cleanly when it is not on this machine."""
    if not DATASETS.is_dir():
        pytest.skip(f"real datasets not found at {DATASETS}")
    return DATASETS


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory) -> Path:
    """A posture bundle (thermal 8x8 + depth 16x16, four classes) made and written by the
    pipeline's own code (``make_bundle``, ``Bundle.write``): a narrow model trained for a few
    epochs on simulated frames, with the app's uncalibrated ``[policy]``. Tests that change
    the folder copy it first."""
    import keras

    from tinyfuse.apps.policy import template_policy
    from tinyfuse.fusion import pipeline
    from tinyfuse.fusion.config import load_config
    from tinyfuse.fusion.export import convert_int8
    from tinyfuse.fusion.features import FeatureStore, fit_stats, labels_of
    from tinyfuse.fusion.features import model_inputs as fusion_inputs
    from tinyfuse.fusion.model import build_model
    from tinyfuse.fusion.train import train_classifier

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
    bundle = pipeline.make_bundle(config, spec, stats, tflite)
    bundle.with_policy(template_policy(config.policy, bundle.classes)).write(out)
    return out
