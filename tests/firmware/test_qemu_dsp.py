"""The Arm DSP (SIMD) multiply-accumulate of firmware/runtime/tf_mac.h on the emulated
Cortex-M4: bit-exact with the portable loop and with numpy for every length 0..40 (all
SIMD/tail splits), every alignment of x and w, and extreme offsets and values."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from firmware.compiler import runtime_dir
from firmware.deploy import build_for_qemu, run_on_qemu

pytestmark = pytest.mark.slow

MAX_N = 40
OFFSETS = (-255, -128, -1, 0, 1, 127, 128, 255)

MODEL_H = """\
#ifndef TINYFUSE_MODEL_H
#define TINYFUSE_MODEL_H
#include <stdint.h>
#define TINYFUSE_MODEL_NUM_INPUTS 2
#define TINYFUSE_MODEL_NUM_OUTPUTS 1
#define TINYFUSE_MODEL_ARENA_BYTES 0
extern const int32_t tinyfuse_model_input_bytes[];
extern const int32_t tinyfuse_model_output_bytes[];
int tinyfuse_model_invoke(const int8_t *in[], int8_t *out[]);
#endif
"""

# in[0] = x (MAX_N + 3 bytes), in[1] = w (MAX_N + 3 bytes); out = int32 dot products for every
# n in 0..MAX_N, every offset, and x/w start shifts (0,0), (1,2), (3,1) (misaligned loads).
MODEL_C = """\
#include <string.h>
#include "model.h"
#include "tf_mac.h"
#define MAX_N @MAX_N@
static const int32_t offsets[] = {@OFFSETS@};
#define N_OFFSETS ((int32_t)(sizeof offsets / sizeof offsets[0]))
static const int32_t shifts[3][2] = {{0, 0}, {1, 2}, {3, 1}};
const int32_t tinyfuse_model_input_bytes[] = {MAX_N + 3, MAX_N + 3};
const int32_t tinyfuse_model_output_bytes[] = {4 * 3 * N_OFFSETS * (MAX_N + 1)};
int tinyfuse_model_invoke(const int8_t *in[], int8_t *out[])
{
    int8_t *cursor = out[0];
    for (int s = 0; s < 3; s++) {
        for (int32_t o = 0; o < N_OFFSETS; o++) {
            for (int32_t n = 0; n <= MAX_N; n++) {
                int32_t dot = tf_dot_s8_offset(in[0] + shifts[s][0], in[1] + shifts[s][1], n,
                                               offsets[o]);
                memcpy(cursor, &dot, 4);
                cursor += 4;
            }
        }
    }
    return 0;
}
"""


def expected_dots(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    rows = []
    for shift_x, shift_w in ((0, 0), (1, 2), (3, 1)):
        for offset in OFFSETS:
            for n in range(MAX_N + 1):
                xs = x[shift_x:shift_x + n].astype(np.int64) + offset
                rows.append(int(np.dot(xs, w[shift_w:shift_w + n].astype(np.int64))))
    return np.array(rows, dtype=np.int32)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dsp-dot")
    (folder / "model.h").write_text(MODEL_H)
    source = MODEL_C.replace("@MAX_N@", str(MAX_N))
    (folder / "model.c").write_text(source.replace("@OFFSETS@", ", ".join(map(str, OFFSETS))))
    return folder


def test_dsp_path_is_compiled_in(model_dir, tmp_path):
    """The DSP build really contains SMLAD (guards against silently building portable)."""
    elf = build_for_qemu(model_dir, kernels="dsp", out_dir=tmp_path)
    listing = subprocess.run(["arm-none-eabi-objdump", "-d", str(elf)], capture_output=True,
                             text=True, check=True).stdout
    assert "smlad" in listing
    assert (runtime_dir() / "tf_mac.h").is_file()


@pytest.mark.parametrize("kernels", ["portable", "dsp"])
def test_dot_product_is_exact(model_dir, kernels, rng):
    extremes = np.array([-128, 127] * ((MAX_N + 3) // 2 + 1), dtype=np.int8)[:MAX_N + 3]
    vectors = [[extremes, extremes[::-1].copy()], [extremes, extremes]]
    vectors += [[rng.integers(-128, 128, MAX_N + 3, dtype=np.int8) for _ in range(2)]
                for _ in range(6)]
    run = run_on_qemu(model_dir, vectors, kernels=kernels)
    for (x, w), outputs in zip(vectors, run.outputs, strict=True):
        np.testing.assert_array_equal(outputs[0].view("<i4"), expected_dots(x, w))
