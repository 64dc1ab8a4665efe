"""The Helium requantization of firmware/runtime/tf_mve.h (tf_mbqm4, tf_requant4) on the emulated
Cortex-M55 against TFLite's MultiplyByQuantizedMultiplier written out in Python integers (and the
scalar tf_mbqm / tf_requant_fast beside it): edge values (INT32_MIN, INT32_MAX, exact halves of
every right shift, the one saturating product), every shift from -31 to 8, random multipliers."""

from __future__ import annotations

import numpy as np
import pytest

from tinyfuse.firmware.deploy import run_on_qemu

pytestmark = pytest.mark.slow

N = 256  # (x, m, s) triples per vector
MODEL_H = """\
#ifndef TINYFUSE_MODEL_H
#define TINYFUSE_MODEL_H
#include <stdint.h>
#define TINYFUSE_MODEL_NUM_INPUTS 3
#define TINYFUSE_MODEL_NUM_OUTPUTS 1
#define TINYFUSE_MODEL_ARENA_BYTES 0
extern const int32_t tinyfuse_model_input_bytes[];
extern const int32_t tinyfuse_model_output_bytes[];
int tinyfuse_model_invoke(const int8_t *in[], int8_t *out[]);
#endif
"""
# out: per triple four int32: tf_mbqm, tf_mbqm4's lane, tf_requant_fast (offset 3, full int8
# range; only for m >= 0, else 0), tf_requant4's lane (the same).
MODEL_C = """\
#include <string.h>
#include "model.h"
#include "tf_common.h"
#include "tf_mve.h"
#define N @N@
const int32_t tinyfuse_model_input_bytes[] = {4 * N, 4 * N, 4 * N};
const int32_t tinyfuse_model_output_bytes[] = {16 * N};
int tinyfuse_model_invoke(const int8_t *in[], int8_t *out[])
{
    int32_t x[N], m[N], s[N], got[4 * N];
    memcpy(x, in[0], sizeof x);
    memcpy(m, in[1], sizeof m);
    memcpy(s, in[2], sizeof s);
    for (int i = 0; i < N; i += 4) {
        const int32x4_t xv = vld1q_s32(x + i), mv = vld1q_s32(m + i), sv = vld1q_s32(s + i);
        int32_t lanes[4], clamped[4];
        vst1q_s32(lanes, tf_mbqm4(xv, mv, sv));
        vst1q_s32(clamped, tf_requant4(xv, mv, sv, 3, -128, 127));
        for (int k = 0; k < 4; k++) {
            int32_t *row = got + 4 * (i + k);
            row[0] = tf_mbqm(x[i + k], m[i + k], s[i + k]);
            row[1] = lanes[k];
            row[2] = m[i + k] < 0 ? 0
                     : tf_requant_fast(x[i + k], m[i + k], s[i + k], 3, -128, 127);
            row[3] = m[i + k] >= 0 ? clamped[k] : 0;
        }
    }
    memcpy(out[0], got, sizeof got);
    return 0;
}
"""

INT32_MIN, INT32_MAX = -2**31, 2**31 - 1


def _wrap(value: int) -> int:
    return (value + 2**31) % 2**32 - 2**31


def srdhm(a: int, b: int) -> int:
    """gemmlowp's SaturatingRoundingDoublingHighMul."""
    if a == b == INT32_MIN:
        return INT32_MAX
    product = a * b
    nudged = product + (1 << 30 if product >= 0 else 1 - (1 << 30))
    return nudged // 2**31 if nudged >= 0 else -((-nudged) // 2**31)  # C truncation


def rdbpot(x: int, exponent: int) -> int:
    """gemmlowp's RoundingDivideByPOT (round half away from zero)."""
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


def mbqm(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier (the double-rounding reference)."""
    left, right = max(shift, 0), max(-shift, 0)
    return rdbpot(srdhm(_wrap(x << left), multiplier), right)


def _triples(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = rng.integers(INT32_MIN, INT32_MAX, N, dtype=np.int64, endpoint=True)
    m = rng.integers(1 << 30, INT32_MAX, N, dtype=np.int64, endpoint=True)
    s = rng.integers(-31, 9, N, dtype=np.int64)
    small = rng.random(N) < 0.3  # accumulator-sized values, where the int8 clamp is not hit
    x[small] = rng.integers(-(1 << 20), 1 << 20, int(small.sum()))
    # exact halves of a right shift after the product (x * m / 2^31 = k + 1/2 at m = 2^30)
    for i in range(0, 40):
        e = 1 + i % 20
        x[i], m[i], s[i] = (2 * (i - 20) + 1) << (e - 1), 1 << 30, -e
    edges = [(INT32_MIN, INT32_MIN, 0), (INT32_MIN, INT32_MIN, -5), (INT32_MIN, INT32_MAX, -31),
             (INT32_MAX, INT32_MAX, -31), (INT32_MIN, 1 << 30, 0), (-1, INT32_MAX, -1),
             (1, INT32_MAX, 8), (INT32_MAX, 1 << 30, 8), (0, 0, 0), (-3, 1 << 30, -1)]
    for i, (a, b, c) in enumerate(edges, start=40):
        x[i], m[i], s[i] = a, b, c
    return x.astype(np.int32), m.astype(np.int32), s.astype(np.int32)


def test_helium_requantization_is_tflites(tmp_path, rng):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.h").write_text(MODEL_H)
    (folder / "model.c").write_text(MODEL_C.replace("@N@", str(N)))
    vectors = [list(_triples(rng)) for _ in range(4)]
    run = run_on_qemu(folder, [[v.view(np.int8) for v in vec] for vec in vectors],
                      kernels="mve", board="mps3-an547", work_dir=tmp_path / "run")
    for (x, m, s), outputs in zip(vectors, run.outputs, strict=True):
        got = outputs[0].view("<i4").reshape(N, 4)
        want = np.array([mbqm(int(a), int(b), int(c)) for a, b, c in zip(x, m, s, strict=True)])
        np.testing.assert_array_equal(got[:, 0], want)  # the scalar reference kernel
        np.testing.assert_array_equal(got[:, 1], want)  # the vector one, every lane
        clamped = np.where(m >= 0, np.clip(want + 3, -128, 127), 0)
        np.testing.assert_array_equal(got[:, 2], clamped)
        np.testing.assert_array_equal(got[:, 3], clamped)
