"""Differential fuzzing: random small Keras graphs -> full-int8 TFLite -> compiled C, compared
with the TFLite Micro reference (bench/ may run many more seeds)."""

from __future__ import annotations

import pytest

from firmware.parity import check_parity
from tests.firmware.models import random_graph, to_int8_tflite

SEEDS = range(100, 120)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_random_graph_is_bit_exact(seed):
    model, input_range = random_graph(seed)
    data = to_int8_tflite(model, seed=seed, input_range=input_range)
    result = check_parity(data, vectors=12, seed=seed)
    assert result.ok, f"seed {seed}:\n{result}"
