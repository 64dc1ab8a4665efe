"""The Arm DSP (SIMD) and Helium (MVE) multiply-accumulates of firmware/runtime/tf_mac.h (one
dot product, two and four sharing x) on the emulated Cortex-M4 and Cortex-M55: bit-exact with
the portable loop and with numpy for every length 0..40 (all SIMD/tail splits), every alignment
of x and w, and extreme offsets and values."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinyfuse.firmware.compiler import runtime_dir
from tinyfuse.firmware.deploy import build_for_qemu, run_on_qemu

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

# in[0] = x (MAX_N + 4 bytes), in[1] = w (W_BYTES); out = for every x/w start shift (0,0),
# (1,2), (3,1) (misaligned loads), every offset and every n in 0..MAX_N: seven int32, the dot
# product of x and w; the pair of x with w and with w shifted by one more byte; the four of x
# with the rows of n bytes at w, w + n, w + 2n, w + 3n (tf_dot4_s8_offset exists only on the
# DSP path; the portable build computes those with tf_dot_s8_offset).
W_BYTES = 4 * MAX_N + 4
MODEL_C = """\
#include <string.h>
#include "model.h"
#include "tf_mac.h"
#define MAX_N @MAX_N@
static const int32_t offsets[] = {@OFFSETS@};
#define N_OFFSETS ((int32_t)(sizeof offsets / sizeof offsets[0]))
static const int32_t shifts[3][2] = {{0, 0}, {1, 2}, {3, 1}};
const int32_t tinyfuse_model_input_bytes[] = {MAX_N + 4, 4 * MAX_N + 4};
const int32_t tinyfuse_model_output_bytes[] = {28 * 3 * N_OFFSETS * (MAX_N + 1)};
static void quad(const int8_t *x, const int8_t *w, int32_t n, int32_t offset, int32_t acc[4])
{
#if TINYFUSE_MAC_DSP
    tf_dot4_s8_offset(x, w, n, offset, acc);
#else
    for (int k = 0; k < 4; k++) acc[k] = tf_dot_s8_offset(x, w + k * n, n, offset);
#endif
}
int tinyfuse_model_invoke(const int8_t *in[], int8_t *out[])
{
    int8_t *cursor = out[0];
    for (int s = 0; s < 3; s++) {
        for (int32_t o = 0; o < N_OFFSETS; o++) {
            for (int32_t n = 0; n <= MAX_N; n++) {
                const int8_t *x = in[0] + shifts[s][0], *w = in[1] + shifts[s][1];
                int32_t dot = tf_dot_s8_offset(x, w, n, offsets[o]);
                int32_t pair[2] = {0, 0}, four[4];
                tf_dot2_s8_offset(x, w, w + 1, n, offsets[o], pair);
                quad(x, w, n, offsets[o], four);
                memcpy(cursor, &dot, 4);
                memcpy(cursor + 4, pair, 8);
                memcpy(cursor + 12, four, 16);
                cursor += 28;
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

                def dot(start, xs=xs, n=n):
                    return int(np.dot(xs, w[start:start + n].astype(np.int64)))

                rows += [dot(shift_w), dot(shift_w), dot(shift_w + 1)]
                rows += [dot(shift_w + k * n) for k in range(4)]
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


def test_mve_path_is_compiled_in(model_dir, tmp_path):
    """The Helium build really contains VMLADAVA (binutils 2.40 prints it as vmlava) and
    VADDVA, and the DSP build does not."""
    def listing(kernels: str) -> str:
        elf = build_for_qemu(model_dir, kernels=kernels, out_dir=tmp_path / kernels,
                             board="mps3-an547")
        return subprocess.run(["arm-none-eabi-objdump", "-d", "-marmv8.1-m.main", str(elf)],
                              capture_output=True, text=True, check=True).stdout

    mve, dsp = listing("mve"), listing("dsp")
    assert "vmlava.s8" in mve and "vaddva.s8" in mve
    assert "vmlava" not in dsp and "vaddva" not in dsp


@pytest.mark.parametrize(("board", "kernels"), [("qemu-m4", "portable"), ("qemu-m4", "dsp"),
                                               ("mps3-an547", "mve")])
def test_dot_product_is_exact(model_dir, board, kernels, rng):
    def extremes(size: int, flip: bool = False) -> np.ndarray:
        values = np.array([-128, 127] * (size // 2 + 1), dtype=np.int8)[:size]
        return values[::-1].copy() if flip else values

    vectors = [[extremes(MAX_N + 4), extremes(W_BYTES, flip=True)],
               [extremes(MAX_N + 4), extremes(W_BYTES)]]
    vectors += [[rng.integers(-128, 128, MAX_N + 4, dtype=np.int8),
                 rng.integers(-128, 128, W_BYTES, dtype=np.int8)] for _ in range(6)]
    run = run_on_qemu(model_dir, vectors, kernels=kernels, board=board)
    for (x, w), outputs in zip(vectors, run.outputs, strict=True):
        np.testing.assert_array_equal(outputs[0].view("<i4"), expected_dots(x, w))
