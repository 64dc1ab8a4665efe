"""Every emulated board of the table (firmware/boards): a compiled late-fusion model is bit-exact
with TFLite Micro on each of them (both kernel paths where the core has the DSP extension), each
board's tick counter scales to the instructions of a counted loop, the UART board's results
really travel over its USART, `tinyfuse boards` lists all seven, and a model too big for the
micro:bit is refused in one line. These tests need the Arm and RISC-V cross-compilers and
qemu-system-arm/-riscv32 (tools/system_packages.sh installs them; always in CI)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from bench import models
from tests.firmware.test_deploy import bundle_of
from tinyfuse.apps.cli import main as cli_main
from tinyfuse.core.errors import DeployError
from tinyfuse.firmware.boards import BOARDS, board_names, find_board
from tinyfuse.firmware.deploy import build_for_qemu, deploy, run_on_qemu

pytestmark = pytest.mark.slow

RUNS = [(board.name, kernels) for board in BOARDS for kernels in board.kernel_paths]

# A model that spins a counted loop of exactly two instructions per turn (per architecture),
# so two builds that differ only in the turn count differ by 2 * turns instructions.
LOOP_H = """\
#ifndef TINYFUSE_MODEL_H
#define TINYFUSE_MODEL_H
#include <stdint.h>
#define TINYFUSE_MODEL_NUM_INPUTS 1
#define TINYFUSE_MODEL_NUM_OUTPUTS 1
#define TINYFUSE_MODEL_ARENA_BYTES 0
extern const int32_t tinyfuse_model_input_bytes[];
extern const int32_t tinyfuse_model_output_bytes[];
int tinyfuse_model_invoke(const int8_t *in[], int8_t *out[]);
#endif
"""
LOOP_C = """\
#include "model.h"
const int32_t tinyfuse_model_input_bytes[] = {4};
const int32_t tinyfuse_model_output_bytes[] = {4};
int tinyfuse_model_invoke(const int8_t *in[], int8_t *out[])
{
    uint32_t turns = @TURNS@u;
#if defined(__riscv)
    __asm__ volatile("1: addi %0, %0, -1\\n\\tbnez %0, 1b" : "+r"(turns));
#elif defined(__thumb2__)
    __asm__ volatile("1: subs %0, %0, #1\\n\\tbne 1b" : "+r"(turns) : : "cc");
#else /* Thumb-1 inline assembly is in divided syntax: SUB #imm8 sets the flags */
    __asm__ volatile("1: sub %0, #1\\n\\tbne 1b" : "+l"(turns) : : "cc");
#endif
    for (int i = 0; i < 4; i++) {
        out[0][i] = (int8_t)(in[0][i] ^ 0x55);
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def fusion_bundle(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fusion")
    bundle_of(models.to_int8_tflite(models.fusion_model(), seed=12)).write(folder)
    return folder


def too_big_for_microbit_tflite() -> bytes:
    """A 40x40x4 input and an 8-channel convolution of it: its activations alone need more
    than the micro:bit's 16 KiB of RAM."""
    import keras

    image = keras.Input((40, 40, 4), batch_size=1, name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(image)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(image, keras.layers.Dense(2)(x))
    return models.to_int8_tflite(model, seed=4)


@pytest.mark.parametrize(("board", "kernels"), RUNS)
def test_fusion_model_is_bit_exact_on_every_board(board, kernels, fusion_bundle, tmp_path):
    folder = tmp_path / "bundle"
    shutil.copytree(fusion_bundle, folder)
    report = deploy(folder, board=board, vectors=12, kernels=kernels, seed=3)
    table = find_board(board)
    assert report.parity is True and report.mismatches == 0
    assert report.board == board and report.kernels == kernels and report.vectors == 12
    assert report.instructions_per_inference > 10_000
    flash = report.text_bytes + report.rodata_bytes + report.data_bytes
    assert 0 < flash < table.flash.length_bytes
    assert report.bss_bytes >= report.arena_bytes > 0
    assert 64 <= report.stack_bytes < table.stack_bytes
    assert report.ram_peak_bytes < table.ram.length_bytes


def test_dsp_kernels_save_instructions_where_the_core_has_dsp(fusion_bundle, tmp_path):
    """The table's DSP column selects the SIMD kernels: fewer instructions on the M33 too."""
    shutil.copytree(fusion_bundle, tmp_path / "b")
    portable = deploy(tmp_path / "b", board="mps2-an505", vectors=2, kernels="portable")
    dsp = deploy(tmp_path / "b", board="mps2-an505", vectors=2, kernels="dsp")
    assert dsp.parity and portable.parity
    assert dsp.instructions_per_inference < portable.instructions_per_inference


@pytest.mark.parametrize("board", board_names())
def test_tick_counter_scales_to_instructions(board, tmp_path, rng):
    """20,000 more turns of a two-instruction loop: 40,000 more instructions, within one tick
    of the board's counter."""
    vectors = [[rng.integers(-128, 128, 4, dtype=np.int8)] for _ in range(4)]
    counts = {}
    for turns in (1000, 21000):
        folder = tmp_path / f"loop{turns}"
        folder.mkdir()
        (folder / "model.h").write_text(LOOP_H)
        (folder / "model.c").write_text(LOOP_C.replace("@TURNS@", str(turns)))
        run = run_on_qemu(folder, vectors, board=board, work_dir=tmp_path / f"run{turns}")
        for got, (given,) in zip(run.outputs, vectors, strict=True):
            np.testing.assert_array_equal(got[0], given ^ np.int8(0x55))
        counts[turns] = run.instructions_per_inference
    tick = find_board(board).instructions_per_tick
    assert abs(counts[21000] - counts[1000] - 40_000) <= max(tick, 2)
    assert 2_000 <= counts[1000] <= 2_000 + 200 + 2 * tick


def test_netduinoplus2_results_travel_over_its_usart(fusion_bundle, tmp_path):
    shutil.copytree(fusion_bundle, tmp_path / "b")
    assert deploy(tmp_path / "b", board="netduinoplus2", vectors=3).parity
    lines = (tmp_path / "b" / "netduinoplus2" / "run" / "uart.txt").read_text().splitlines()
    assert "outputs.bin:" in lines and "header.bin:" in lines
    assert sum(line.startswith("ticks.bin:") for line in lines) == 1 + 3


def test_cli_lists_the_seven_boards(capsys):
    assert cli_main(["boards"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1 + 7
    for name in ("mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547", "microbit",
                 "netduinoplus2", "riscv32-virt"):
        assert sum(line.startswith(name) for line in printed) == 1, name
    assert "[qemu-m4]" in printed[1]
    assert cli_main(["boards", "--images"]) == 0
    images = capsys.readouterr().out.splitlines()
    assert len(images) == 1 + 4 and images[0].split()[:3] == ["board", "format", "chip"]
    assert any(line.startswith("microbit ") and "-M microbit" in line for line in images)


def test_a_model_too_big_for_the_microbit_is_refused_in_one_line(tmp_path, capsys):
    bundle_of(too_big_for_microbit_tflite()).write(tmp_path)
    with pytest.raises(DeployError, match=r"does not fit microbit .* RAM overflowed") as caught:
        deploy(tmp_path, board="microbit", vectors=2)
    assert "\n" not in str(caught.value)
    assert cli_main(["deploy", str(tmp_path), "--board", "microbit"]) == 2
    error = capsys.readouterr().err.strip()
    assert "does not fit microbit" in error and "\n" not in error
    assert deploy(tmp_path, board="mps2-an386", vectors=2).parity  # fits a bigger board


def test_board_errors(tmp_path):
    with pytest.raises(DeployError, match="has no Arm DSP extension"):
        build_for_qemu(tmp_path, board="microbit", kernels="dsp", out_dir=tmp_path / "b")
    with pytest.raises(DeployError, match=r"has no Helium \(MVE\); use --kernels portable or dsp"):
        build_for_qemu(tmp_path, board="mps2-an386", kernels="mve", out_dir=tmp_path / "b")
    with pytest.raises(DeployError, match="kernels must be one of"):
        build_for_qemu(tmp_path, board="mps2-an386", kernels="neon", out_dir=tmp_path / "b")
    assert find_board("mps3-an547").kernel_paths == ("portable", "dsp", "mve")
    assert [b.name for b in BOARDS if b.mve] == ["mps3-an547"]
    with pytest.raises(DeployError, match="riscv32-virt"):
        find_board("esp32")
    assert find_board("qemu-m4") is find_board("mps2-an386")
    assert find_board("rv32imc").family == "riscv"
