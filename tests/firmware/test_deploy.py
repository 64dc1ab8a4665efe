"""Compiled models on the emulated Cortex-M4: bit-exact with the TFLite Micro reference on both
kernel paths, `deploy` of a bundle writing device.json, refusing a model compiled for another
bundle, the CLI, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import models
from tinyfuse.apps.cli import main as cli_main
from tinyfuse.core.bundle import Bundle, BundleInput, BundleOutput
from tinyfuse.core.errors import DataError, DeployError
from tinyfuse.core.tflm import inspect_tflite, reference_invoke
from tinyfuse.firmware.compiler import compile_bundle, compile_model
from tinyfuse.firmware.deploy import build_for_qemu, deploy, run_on_qemu, size_report
from tinyfuse.firmware.parity import random_inputs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def conv_tflite() -> bytes:
    return models.to_int8_tflite(models.conv_model(), seed=11)


@pytest.fixture(scope="module")
def fusion_tflite() -> bytes:
    return models.to_int8_tflite(models.fusion_model(), seed=12)


def bundle_of(tflite: bytes, *, app: str = "test") -> Bundle:
    """A bundle around a test model: vector front-ends, unit standardisation."""
    info = inspect_tflite(tflite)
    inputs = tuple(BundleInput(name=f"m{t.index}", frontend={"kind": "vector", "size": 1},
                               index=i, shape=t.shape, mean=(0.0,), std_scale=(1.0,),
                               scale=t.scale, zero_point=t.zero_point)
                   for i, t in enumerate(info.inputs))
    out = info.outputs[0]
    count = int(np.prod(out.shape))
    return Bundle(app=app, classes=tuple(f"c{i}" for i in range(count)), inputs=inputs,
                  output=BundleOutput(scale=out.scale, zero_point=out.zero_point,
                                      shape=out.shape), tflite=tflite)


@pytest.mark.parametrize("kernels", ["portable", "dsp"])
@pytest.mark.parametrize("which", ["conv_tflite", "fusion_tflite"])
def test_compiled_model_is_bit_exact_on_qemu(which, kernels, request, tmp_path):
    tflite = request.getfixturevalue(which)
    compiled = compile_model(tflite)
    vectors = random_inputs(compiled.inputs, count=24, seed=5)
    run = run_on_qemu(compiled, vectors, kernels=kernels, work_dir=tmp_path)
    expected = [reference_invoke(tflite, vector) for vector in vectors]
    for got_row, want_row in zip(run.outputs, expected, strict=True):
        for got, want in zip(got_row, want_row, strict=True):
            assert got.shape == want.shape
            np.testing.assert_array_equal(got, want)
    assert run.bundle_hash == ""  # a bare .tflite belongs to no bundle
    assert run.stack_bytes >= 64
    assert run.stack_bytes < 16 * 1024
    assert run.arena_bytes == compiled.arena_bytes
    assert size_report(run.elf).bss_bytes >= compiled.arena_bytes


def test_dsp_kernels_take_fewer_instructions_on_dense_layers(tmp_path):
    """Fully connected layers run their dot products on the SIMD path. (Convolutions with few
    input channels do not gain: their per-tap dot products are shorter than the SIMD step.)"""
    compiled = compile_model(models.to_int8_tflite(models.dense_model(), seed=13))
    vectors = random_inputs(compiled.inputs, count=2, seed=1)
    portable = run_on_qemu(compiled, vectors, kernels="portable", work_dir=tmp_path / "p")
    dsp = run_on_qemu(compiled, vectors, kernels="dsp", work_dir=tmp_path / "d")
    assert 0 < dsp.instructions_per_inference < portable.instructions_per_inference


def test_deploy_writes_device_json(fusion_tflite, tmp_path):
    bundle = bundle_of(fusion_tflite).write(tmp_path)
    report = deploy(tmp_path, vectors=6, kernels="dsp")
    written = json.loads((tmp_path / "device.json").read_text())
    assert written == report.to_dict()
    assert written["board"] == "qemu-m4"
    assert written["bundle_hash"] == Bundle.read(bundle).bundle_hash
    assert written["parity"] is True and written["mismatches"] == 0
    assert written["vectors"] == 6
    assert written["ram_peak_bytes"] == (
        written["bss_bytes"] + written["data_bytes"] + written["stack_bytes"]
    )
    assert written["bss_bytes"] >= written["arena_bytes"] > 0
    assert written["tflm_arena_bytes"] > 0
    assert written["instructions_per_inference"] > 0
    assert (tmp_path / "qemu-m4" / "model" / "model.c").is_file()


def test_deploy_refuses_a_model_compiled_for_another_bundle(fusion_tflite, tmp_path):
    bundle = bundle_of(fusion_tflite)
    bundle.write(tmp_path)
    other = bundle_of(fusion_tflite, app="other")  # same weights, another bundle
    compile_bundle(other).write(tmp_path)
    with pytest.raises(DeployError, match=r"model.h: compiled for bundle .* not this bundle"):
        deploy(tmp_path, vectors=2)
    assert cli_main(["compile", str(tmp_path), "--out", str(tmp_path)]) == 0  # this bundle's
    assert f'"{bundle.bundle_hash}"' in (tmp_path / "model.h").read_text()
    assert deploy(tmp_path, vectors=2).parity


def test_cli_deploy(fusion_tflite, tmp_path, capsys):
    bundle_of(fusion_tflite).write(tmp_path)
    assert cli_main(["deploy", str(tmp_path), "--vectors", "3"]) == 0
    printed = capsys.readouterr().out
    assert "bit-exact" in printed and "device.json" in printed
    assert json.loads((tmp_path / "device.json").read_text())["kernels"] == "portable"


def test_deploy_errors(tmp_path, capsys, monkeypatch):
    with pytest.raises(DataError, match="no bundle.json"):
        deploy(tmp_path)
    with pytest.raises(DeployError, match="not supported"):
        deploy(tmp_path, board="stm32")
    assert cli_main(["deploy", str(tmp_path)]) == 2
    assert "no bundle.json" in capsys.readouterr().err
    monkeypatch.setenv("PATH", str(tmp_path))
    folder = Path(tmp_path / "c")
    folder.mkdir()
    (folder / "model.c").write_text("")
    (folder / "model.h").write_text("")
    with pytest.raises(DeployError, match="arm-none-eabi-gcc not found"):
        build_for_qemu(folder, out_dir=tmp_path / "build")
