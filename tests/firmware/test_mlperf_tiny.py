"""Two MLPerf Tiny reference models (``../shared/models/mlperf_tiny``, read in place): the
compiled C is bit-exact with TFLite Micro on the host and on the emulated Cortex-M4 with the
Arm DSP kernels. Skips cleanly when the shared folder, the toolchain or QEMU is absent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tinyfuse.firmware.parity import check_parity

MODELS_DIR = Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf_tiny"
MODELS = {"kws": "kws_ref_model.tflite", "ad01": "ad01_int8.tflite"}


def _model(name: str) -> bytes:
    path = MODELS_DIR / MODELS[name]
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path.read_bytes()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_mlperf_model_is_bit_exact_on_the_host(name):
    result = check_parity(_model(name), vectors=4, seed=15)
    assert result.vectors == 4
    assert result.ok, f"{name}:\n{result}"


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None
                    or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize(("board", "kernels", "seed"), [("qemu-m4", "dsp", 15),
                                                       ("mps3-an547", "mve", 16)])
def test_kws_is_bit_exact_on_the_board_with_simd_kernels(board, kernels, seed):
    """The Arm DSP kernels on the Cortex-M4, the Helium ones on the Cortex-M55."""
    result = check_parity(_model("kws"), target=board, vectors=3, seed=seed, kernels=kernels)
    assert result.ok, str(result)
