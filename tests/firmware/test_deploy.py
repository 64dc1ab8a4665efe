"""Compiled models on the emulated Cortex-M4: bit-exact with the TFLite Micro reference on both
kernel paths, `deploy` writing device.json, the CLI, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from apps.cli import main as cli_main
from firmware.compiler import compile_model
from firmware.deploy import (
    build_for_qemu,
    count_mismatches,
    deploy,
    random_vectors,
    run_on_qemu,
    size_report,
)
from fusion.export import reference_invoke
from sensors.errors import DeployError
from tests.firmware import models

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def conv_tflite() -> bytes:
    return models.to_int8_tflite(models.conv_model(), seed=11)


@pytest.fixture(scope="module")
def fusion_tflite() -> bytes:
    return models.to_int8_tflite(models.fusion_model(), seed=12)


def input_shapes(compiled) -> list[tuple[int, ...]]:
    return [tuple(int(d) for d in t.shape) for t in compiled.inputs]


@pytest.mark.parametrize("kernels", ["portable", "dsp"])
@pytest.mark.parametrize("which", ["conv_tflite", "fusion_tflite"])
def test_compiled_model_is_bit_exact_on_qemu(which, kernels, request, tmp_path):
    tflite = request.getfixturevalue(which)
    compiled = compile_model(tflite)
    vectors = random_vectors(input_shapes(compiled), count=24, seed=5)
    run = run_on_qemu(compiled, vectors, kernels=kernels, work_dir=tmp_path)
    expected = [reference_invoke(tflite, vector) for vector in vectors]
    for got_row, want_row in zip(run.outputs, expected, strict=True):
        for got, want in zip(got_row, want_row, strict=True):
            assert got.shape == want.shape
            np.testing.assert_array_equal(got, want)
    assert count_mismatches(run.outputs, expected) == 0
    assert run.stack_bytes >= 64
    assert run.stack_bytes < 16 * 1024
    assert run.arena_bytes == compiled.arena_bytes
    assert size_report(run.elf).bss_bytes >= compiled.arena_bytes


def test_dsp_kernels_take_fewer_instructions_on_dense_layers(tmp_path):
    """Fully connected layers run their dot products on the SIMD path. (Convolutions with few
    input channels do not gain: their per-tap dot products are shorter than the SIMD step.)"""
    compiled = compile_model(models.to_int8_tflite(models.dense_model(), seed=13))
    vectors = random_vectors(input_shapes(compiled), count=2, seed=1)
    portable = run_on_qemu(compiled, vectors, kernels="portable", work_dir=tmp_path / "p")
    dsp = run_on_qemu(compiled, vectors, kernels="dsp", work_dir=tmp_path / "d")
    assert 0 < dsp.instructions_per_inference < portable.instructions_per_inference


def test_deploy_writes_device_json(fusion_tflite, tmp_path):
    (tmp_path / "model.tflite").write_bytes(fusion_tflite)
    report = deploy(tmp_path, vectors=6, kernels="dsp")
    written = json.loads((tmp_path / "device.json").read_text())
    assert written == report.to_dict()
    assert written["board"] == "qemu-m4"
    assert written["parity"] is True and written["mismatches"] == 0
    assert written["vectors"] == 6
    assert written["ram_peak_bytes"] == (
        written["bss_bytes"] + written["data_bytes"] + written["stack_bytes"]
    )
    assert written["bss_bytes"] >= written["arena_bytes"] > 0
    assert written["tflm_arena_bytes"] > 0
    assert written["instructions_per_inference"] > 0
    assert (tmp_path / "qemu-m4" / "model" / "model.c").is_file()


def test_cli_deploy(fusion_tflite, tmp_path, capsys):
    (tmp_path / "model.tflite").write_bytes(fusion_tflite)
    assert cli_main(["deploy", str(tmp_path), "--vectors", "3"]) == 0
    printed = capsys.readouterr().out
    assert "bit-exact" in printed and "device.json" in printed
    assert json.loads((tmp_path / "device.json").read_text())["kernels"] == "portable"


def test_deploy_errors(tmp_path, capsys, monkeypatch):
    with pytest.raises(DeployError, match="no model.tflite"):
        deploy(tmp_path)
    with pytest.raises(DeployError, match="not supported"):
        deploy(tmp_path, board="stm32")
    assert cli_main(["deploy", str(tmp_path)]) == 2
    assert "no model.tflite" in capsys.readouterr().err
    monkeypatch.setenv("PATH", str(tmp_path))
    folder = Path(tmp_path / "c")
    folder.mkdir()
    (folder / "model.c").write_text("")
    (folder / "model.h").write_text("")
    with pytest.raises(DeployError, match="arm-none-eabi-gcc not found"):
        build_for_qemu(folder, out_dir=tmp_path / "build")
