"""The compiled size of a model on a Cortex-M4: what the memory-aware search and the build
report use to decide whether a model fits a board.

:func:`compiled_size` compiles the int8 ``.tflite`` with the tinyfuse compiler, links the C
with its kernels for the emulated Cortex-M4 board (``arm-none-eabi-gcc``, the ``dsp`` kernels,
``-O2``, unused code removed by ``--gc-sections``) and reads the section sizes: the same
numbers ``tinyfuse deploy`` reports, without running QEMU.

* flash = ``.text`` + ``.rodata`` + ``.data`` of the model and its kernels;
* RAM = ``.data`` + ``.bss`` (the static arena and the I/O buffers) + ``STACK_BYTES``, an
  allowance for the invoke's stack (the largest high-water mark QEMU measured over the
  benchmark models is 360 bytes: ``bench/results/firmware_footprint.json``).

Without ``arm-none-eabi-gcc`` the sizes are the compiler's plan (weights and requantization
tables, arena) plus ``CODE_ALLOWANCE_BYTES``, the largest kernel code measured over the
benchmark models (6,368 bytes of ``.text``, rounded up), and ``source`` says so.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

STACK_BYTES = 512
CODE_ALLOWANCE_BYTES = 8 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledSize:
    """Flash and RAM of a compiled model, with the compiler's plan and where they came from."""

    flash_bytes: int
    ram_bytes: int
    weights_bytes: int
    arena_bytes: int
    macs: int
    source: str


def toolchain_present() -> bool:
    return shutil.which("arm-none-eabi-gcc") is not None and \
        shutil.which("arm-none-eabi-size") is not None


def compiled_size(tflite_bytes: bytes) -> CompiledSize:
    """Flash and RAM of ``tflite_bytes`` compiled for the Cortex-M4 (see the module doc).

    Raises
    ------
    ExportError
        The compiler cannot read the model.
    DeployError
        The cross-compiler failed on the generated C.
    """
    from tinyfuse.firmware.compiler import compile_model, estimate
    from tinyfuse.firmware.deploy import build_for_qemu, size_report

    plan = estimate(tflite_bytes)
    if not toolchain_present():
        return CompiledSize(flash_bytes=plan.weights_bytes + CODE_ALLOWANCE_BYTES,
                            ram_bytes=plan.arena_bytes + STACK_BYTES,
                            weights_bytes=plan.weights_bytes, arena_bytes=plan.arena_bytes,
                            macs=plan.macs, source="compiler plan + code allowance "
                            "(arm-none-eabi-gcc not found)")
    with tempfile.TemporaryDirectory(prefix="tinyfuse-size-") as tmp:
        folder = Path(tmp)
        compile_model(tflite_bytes).write(folder / "model")
        sizes = size_report(build_for_qemu(folder / "model", kernels="dsp",
                                           out_dir=folder / "elf"))
    return CompiledSize(flash_bytes=sizes.flash_bytes,
                        ram_bytes=sizes.data_bytes + sizes.bss_bytes + STACK_BYTES,
                        weights_bytes=plan.weights_bytes, arena_bytes=plan.arena_bytes,
                        macs=plan.macs, source="arm-none-eabi-gcc, Cortex-M4 (dsp kernels)")
