"""Differential fuzzing: random small Keras graphs -> full-int8 TFLite -> compiled C, compared
with the TFLite Micro reference on the host and on the emulated Cortex-M4 with both kernel
paths (bench/firmware_footprint.py runs more seeds)."""

from __future__ import annotations

import functools

import pytest

from bench.models import random_graph, to_int8_tflite
from tinyfuse.firmware.parity import check_parity

SEEDS = range(100, 120)
VECTORS = 12


@functools.cache
def fuzz_tflite(seed: int) -> bytes:
    model, input_range = random_graph(seed)
    return to_int8_tflite(model, seed=seed, input_range=input_range)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_random_graph_is_bit_exact(seed):
    result = check_parity(fuzz_tflite(seed), vectors=VECTORS, seed=seed)
    assert result.ok, f"seed {seed}:\n{result}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_random_graph_is_bit_exact_on_qemu(seed):
    for board, kernels in (("qemu-m4", "portable"), ("qemu-m4", "dsp"), ("mps3-an547", "mve")):
        result = check_parity(fuzz_tflite(seed), target=board, vectors=VECTORS, seed=seed,
                              kernels=kernels)
        assert result.vectors == VECTORS
        assert result.ok, f"seed {seed} ({board}, {kernels}):\n{result}"
