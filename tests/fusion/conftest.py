"""A small, separable two-modality task and one trained model shared by the fusion tests."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import pytest

from tinyfuse.fusion.model import build_model
from tinyfuse.fusion.spec import BranchSpec, FusionSpec
from tinyfuse.fusion.train import train_classifier
from tinyfuse.sensors.spec import ImageSpec, ModalitySpec, VectorSpec

CLASSES = ("idle", "warm", "hot")


@dataclass
class Task:
    spec: FusionSpec
    train: dict[str, np.ndarray]
    test: dict[str, np.ndarray]
    y_train: np.ndarray
    y_test: np.ndarray

    def inputs(self, part: str) -> list[np.ndarray]:
        data = self.train if part == "train" else self.test
        return [data[name] for name in self.spec.modality_names]


def make_features(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Class k: a warm 3x3 blob at a class-dependent place in an 8x8 map (+ noise) and an
    8-vector whose first k+1 entries are shifted; both modalities carry some evidence."""
    gen = np.random.default_rng(seed)
    labels = gen.integers(0, 3, n)
    thermal = gen.normal(0.0, 0.6, (n, 8, 8)).astype(np.float32)
    vector = gen.normal(0.0, 1.0, (n, 8)).astype(np.float32)
    for i, k in enumerate(labels):
        row = 1 + 2 * k
        thermal[i, row:row + 3, row:row + 3] += 1.5
        vector[i, : k + 1] += 1.2
    return {"thermal": thermal, "vec": vector}, labels.astype(np.int64)


def make_spec(*, fusion: str = "concat", width: int = 4,
              activation: str = "relu") -> FusionSpec:
    return FusionSpec(
        modalities=(ModalitySpec(name="thermal", frontend=ImageSpec()),
                    ModalitySpec(name="vec", frontend=VectorSpec(size=8))),
        classes=CLASSES,
        branches=(BranchSpec(modality="thermal", block="dsconv", width=width, depth=2,
                             activation=activation),
                  BranchSpec(modality="vec", block="dense", width=width, depth=1,
                             activation=activation)),
        fusion=fusion, head_units=8, dropout=0.0, modality_dropout=0.1,
    )


@pytest.fixture(scope="session")
def task() -> Task:
    train, y_train = make_features(480, seed=1)
    test, y_test = make_features(240, seed=2)
    return Task(spec=make_spec(), train=train, test=test, y_train=y_train, y_test=y_test)


@pytest.fixture(scope="session")
def trained(task: Task) -> keras.Model:
    """A small float model trained on ``task`` (about 15 s on two cores)."""
    keras.utils.set_random_seed(7)
    spec = task.spec.scaled(width_multiplier=2.0)
    model = build_model(spec, seed=7)
    train_classifier(model, task.inputs("train"), task.y_train, epochs=15, batch_size=32)
    return model
