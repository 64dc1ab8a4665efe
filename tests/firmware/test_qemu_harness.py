"""The mps2-an386 board harness on QEMU, with a hand-written model that follows the C contract.

The model's answers are known (out0 = sat(in0 + in1[i % 3]), out1 = sat(sum(in0))), it spins a
counted assembly loop (2 instructions per turn) and touches a known amount of stack, so the
instruction counter, the stack high-water mark and the I/O path are checked against numbers
known in advance. These tests need arm-none-eabi-gcc and qemu-system-arm (always in CI).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyfuse.core.errors import DeployError
from tinyfuse.firmware.deploy import (
    INSTRUCTIONS_PER_TICK,
    build_for_qemu,
    run_on_qemu,
    size_report,
)

pytestmark = pytest.mark.slow

MODEL_H = """\
#ifndef TINYFUSE_MODEL_H
#define TINYFUSE_MODEL_H
#include <stdint.h>
#define TINYFUSE_MODEL_NUM_INPUTS 2
#define TINYFUSE_MODEL_NUM_OUTPUTS 2
#define TINYFUSE_MODEL_ARENA_BYTES 32
extern const int32_t tinyfuse_model_input_bytes[];
extern const int32_t tinyfuse_model_output_bytes[];
extern const float tinyfuse_model_input_scale[];
extern const int32_t tinyfuse_model_input_zero_point[];
extern const float tinyfuse_model_output_scale[];
extern const int32_t tinyfuse_model_output_zero_point[];
int tinyfuse_model_invoke(const int8_t *in[], int8_t *out[]);
#endif
"""

MODEL_C = """\
#include "model.h"
const int32_t tinyfuse_model_input_bytes[] = {7, 3};
const int32_t tinyfuse_model_output_bytes[] = {7, 1};
const float tinyfuse_model_input_scale[] = {1.0f, 1.0f};
const int32_t tinyfuse_model_input_zero_point[] = {0, 0};
const float tinyfuse_model_output_scale[] = {1.0f, 1.0f};
const int32_t tinyfuse_model_output_zero_point[] = {0, 0};
static volatile int8_t arena[TINYFUSE_MODEL_ARENA_BYTES] __attribute__((aligned(16)));
static int8_t saturate(int32_t v) { return (int8_t)(v > 127 ? 127 : (v < -128 ? -128 : v)); }
int tinyfuse_model_invoke(const int8_t *in[], int8_t *out[])
{
    volatile int8_t scratch[@STACK@];
    scratch[0] = 0;
    uint32_t turns = @SPIN@;
    __asm__ volatile("1: subs %0, %0, #1\\n\\tbne 1b" : "+r"(turns) : : "cc");
    int32_t sum = scratch[0];
    for (int i = 0; i < 7; i++) {
        arena[i] = saturate(in[0][i] + in[1][i % 3]);
        out[0][i] = arena[i];
        sum += in[0][i];
    }
    out[1][0] = saturate(sum);
    @EXTRA@
    return 0;
}
"""


def write_model(folder: Path, *, spin: int = 1000, stack: int = 512, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.h").write_text(MODEL_H)
    source = MODEL_C.replace("@SPIN@", str(spin)).replace("@STACK@", str(stack))
    (folder / "model.c").write_text(source.replace("@EXTRA@", extra))
    return folder


def vectors(rng: np.random.Generator, count: int) -> list[list[np.ndarray]]:
    return [
        [rng.integers(-128, 128, 7, dtype=np.int8), rng.integers(-128, 128, 3, dtype=np.int8)]
        for _ in range(count)
    ]


def expected(vector: list[np.ndarray]) -> list[np.ndarray]:
    first, second = (v.astype(np.int32) for v in vector)
    out0 = np.clip(first + second[np.arange(7) % 3], -128, 127).astype(np.int8)
    out1 = np.clip(first.sum(), -128, 127).astype(np.int8).reshape(1)
    return [out0, out1]


@pytest.fixture(scope="module")
def base_elf(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("harness")
    return build_for_qemu(write_model(root / "model"), out_dir=root / "build")


def test_outputs_known_answer_for_many_vectors(base_elf, rng):
    inputs = vectors(rng, 150)
    run = run_on_qemu(base_elf, inputs)
    assert len(run.outputs) == 150
    for got, vector in zip(run.outputs, inputs, strict=True):
        want = expected(vector)
        assert [g.dtype for g in got] == [np.int8, np.int8]
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_instruction_count_is_repeatable(base_elf, rng):
    inputs = vectors(rng, 20)
    first = run_on_qemu(base_elf, inputs)
    second = run_on_qemu(base_elf, inputs)
    assert first.instructions_per_vector == second.instructions_per_vector
    assert first.instructions_per_inference == second.instructions_per_inference
    assert all(count % INSTRUCTIONS_PER_TICK == 0 for count in first.instructions_per_vector)


def test_instruction_count_matches_a_counted_loop(tmp_path, rng):
    """20,000 more turns of a 2-instruction loop cost 40,000 more instructions (+/- 1 tick)."""
    inputs = vectors(rng, 30)
    short = run_on_qemu(write_model(tmp_path / "short", spin=1000), inputs)
    long = run_on_qemu(write_model(tmp_path / "long", spin=21000), inputs)
    extra = long.instructions_per_inference - short.instructions_per_inference
    assert abs(extra - 40_000) <= INSTRUCTIONS_PER_TICK
    assert 2_000 <= short.instructions_per_inference <= 2_000 + 400


def test_stack_high_water_mark_tracks_a_known_local(tmp_path, rng):
    inputs = vectors(rng, 3)
    small = run_on_qemu(write_model(tmp_path / "small", stack=512), inputs)
    large = run_on_qemu(write_model(tmp_path / "large", stack=4096), inputs)
    assert 512 <= small.stack_bytes <= 512 + 128
    assert 4096 <= large.stack_bytes <= 4096 + 128
    assert small.arena_bytes == 32


def test_size_report_counts_the_model_not_the_harness(base_elf):
    sizes = size_report(base_elf)
    assert sizes.bss_bytes >= 32  # the arena, not the harness's 64 KiB I/O pool
    assert sizes.bss_bytes < 1024
    assert 0 < sizes.text_bytes < 1024
    assert sizes.rodata_bytes >= 4 * 4  # the input/output byte counts the harness reads
    assert sizes.flash_bytes == sizes.text_bytes + sizes.rodata_bytes + sizes.data_bytes


def test_broken_build_raises_with_the_compiler_message(tmp_path):
    folder = write_model(tmp_path / "broken", extra="undeclared_thing = 3;")
    with pytest.raises(DeployError, match="undeclared_thing"):
        build_for_qemu(folder, out_dir=tmp_path / "build")


def test_missing_sources_raise(tmp_path):
    with pytest.raises(DeployError, match="model.c"):
        build_for_qemu(tmp_path, out_dir=tmp_path / "build")


def test_failing_invoke_and_hang_are_reported(tmp_path, rng):
    failing = write_model(tmp_path / "failing", extra="if (in[0][0] != 99) { return 3; }")
    with pytest.raises(DeployError, match="returned non-zero"):
        run_on_qemu(failing, vectors(rng, 2))
    hanging = write_model(tmp_path / "hang", extra="for (;;) { __asm__ volatile(\"nop\"); }")
    with pytest.raises(DeployError, match="timed out"):
        run_on_qemu(hanging, vectors(rng, 1), timeout_s=2)


def test_wrong_input_sizes_are_refused(base_elf, rng):
    with pytest.raises(DeployError, match="vectors\\[1\\]"):
        run_on_qemu(base_elf, [vectors(rng, 1)[0], [np.zeros(7, np.int8)]])
    with pytest.raises(DeployError, match="inputs"):
        run_on_qemu(base_elf, [[np.zeros(7, np.int8), np.zeros(4, np.int8)]])
