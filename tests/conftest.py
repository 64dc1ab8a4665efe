"""Shared fixtures: a seeded RNG, the real datasets (skipped when absent), a scratch dir."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

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
