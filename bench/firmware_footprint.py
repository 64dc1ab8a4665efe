"""Firmware footprint of compiled tinyfuse models on the emulated Cortex-M4 (QEMU mps2-an386).

For every benchmark model and both kernel paths (portable C99, Arm DSP SIMD) it compiles the
int8 ``.tflite`` to C, links it with the board harness, runs seeded random vectors in QEMU and
records: parity with the TFLite Micro reference, flash (.text + .rodata + .data), RAM peak
(.bss + .data + stack high-water mark) against the TFLite Micro arena (target: <= 0.75 x),
instructions per inference and per MAC. Writes ``bench/results/firmware_footprint.json``.

Models: every ``bench/models/*.tflite`` if that folder has any, else three representative
tinyfuse models built here from specs with seeded random weights (weights do not change the
footprint or the instruction count of int8 kernels, only the numbers they produce):
a 2-D conv MFCC branch, an 8x8 thermal + 4x4 depth fusion, a two-accelerometer spectral fusion.

Usage: ``python bench/firmware_footprint.py [--vectors N] [--out PATH]``
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO / "bench" / "models"
CACHE_DIR = REPO / "build" / "bench_models"
RESULTS = REPO / "bench" / "results" / "firmware_footprint.json"
RAM_TARGET_RATIO = 0.75


def _specs():
    from fusion.spec import BranchSpec, FusionSpec
    from sensors.spec import AudioSpec, ImageSpec, ModalitySpec, VibrationSpec

    audio = ModalitySpec(name="audio", frontend=AudioSpec(duration_s=1.0, n_mfcc=13))
    thermal = ModalitySpec(name="thermal", frontend=ImageSpec(sensor="thermal"))
    depth = ModalitySpec(name="depth", frontend=ImageSpec(sensor="depth", height=4, width=4,
                                                          min_value=0.3, max_value=4.0))
    accel = VibrationSpec(n_axes=3, n_bands=32, n_envelope_bands=16)
    motor = ModalitySpec(name="accel_motor", frontend=accel)
    pump = ModalitySpec(name="accel_pump", frontend=accel)
    common = {"dropout": 0.0, "modality_dropout": 0.0}
    return {
        "mfcc_conv": FusionSpec(
            modalities=(audio,), classes=("cough", "other"),
            branches=(BranchSpec(modality="audio", block="conv", width=8, depth=2),), **common),
        "thermal_depth_fusion": FusionSpec(
            modalities=(thermal, depth), classes=("empty", "sitting", "standing", "fallen"),
            **common),
        "two_accel_spectral": FusionSpec(
            modalities=(motor, pump), classes=("normal", "imbalance", "bearing"),
            branches=(BranchSpec(modality="accel_motor", block="dense", width=16),
                      BranchSpec(modality="accel_pump", block="dense", width=16)), **common),
    }


def _build_tflite(spec, *, seed: int) -> bytes:
    from fusion.export import convert_int8
    from fusion.model import build_model

    model = build_model(spec, seed=seed)
    rng = np.random.default_rng(seed)
    representative = [rng.uniform(0.0, 1.0, (32, *m.output_shape)).astype(np.float32)
                      for m in spec.modalities]
    return convert_int8(model, representative, n_samples=32)


def benchmark_models() -> dict[str, bytes]:
    """Name -> .tflite bytes: bench/models/*.tflite, else the built (and cached) defaults."""
    found = sorted(MODELS_DIR.glob("*.tflite"))
    if found:
        return {path.stem: path.read_bytes() for path in found}
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    models = {}
    for index, (name, spec) in enumerate(_specs().items()):
        path = CACHE_DIR / f"{name}-{spec.spec_hash()}.tflite"
        if not path.is_file():
            path.write_bytes(_build_tflite(spec, seed=index))
        models[name] = path.read_bytes()
    return models


def measure(name: str, tflite: bytes, *, kernels: str, vectors: int, work_dir: Path) -> dict:
    """One model on one kernel path: parity, sizes, RAM, instructions."""
    from firmware.compiler import compile_model, estimate
    from firmware.deploy import (
        build_for_qemu,
        count_mismatches,
        random_vectors,
        run_on_qemu,
        size_report,
    )
    from fusion.export import reference_invoke, tflm_arena_bytes

    compiled = compile_model(tflite)
    compiled.write(work_dir / "model")
    elf = build_for_qemu(work_dir / "model", kernels=kernels, out_dir=work_dir)
    shapes = [tuple(int(d) for d in t.shape) for t in compiled.inputs]
    inputs = random_vectors(shapes, count=vectors, seed=0)
    run = run_on_qemu(elf, inputs, work_dir=work_dir)
    expected = [reference_invoke(tflite, vector) for vector in inputs]
    sizes = size_report(elf)
    macs = estimate(tflite).macs
    tflm = tflm_arena_bytes(tflite)
    ram_peak = sizes.bss_bytes + sizes.data_bytes + run.stack_bytes
    return {
        "model": name, "kernels": kernels, "vectors": vectors,
        "parity": count_mismatches(run.outputs, expected) == 0,
        "mismatches": count_mismatches(run.outputs, expected),
        "ops": sorted(compiled.ops_used), "macs": macs,
        "instructions_per_inference": run.instructions_per_inference,
        "instructions_per_mac": round(run.instructions_per_inference / macs, 3) if macs else None,
        "text_bytes": sizes.text_bytes, "rodata_bytes": sizes.rodata_bytes,
        "data_bytes": sizes.data_bytes, "bss_bytes": sizes.bss_bytes,
        "flash_bytes": sizes.flash_bytes, "arena_bytes": run.arena_bytes,
        "stack_bytes": run.stack_bytes, "ram_peak_bytes": ram_peak, "tflm_arena_bytes": tflm,
        "ram_peak_over_tflm_arena": round(ram_peak / tflm, 3),
        "meets_ram_target": ram_peak <= RAM_TARGET_RATIO * tflm,
    }


def _toolchain() -> dict[str, str]:
    def first_line(*command: str) -> str:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        return result.stdout.splitlines()[0] if result.stdout else "unknown"

    return {
        "gcc": first_line("arm-none-eabi-gcc", "--version"),
        "qemu": first_line("qemu-system-arm", "--version"),
        "host": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=16, help="random vectors per model")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results path")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="tinyfuse-footprint-") as scratch:
        for name, tflite in benchmark_models().items():
            for kernels in ("portable", "dsp"):
                row = measure(name, tflite, kernels=kernels, vectors=args.vectors,
                              work_dir=Path(scratch) / f"{name}-{kernels}")
                rows.append(row)
                print(f"{name:<22} {kernels:<8} parity={row['parity']!s:<5} "
                      f"instr={row['instructions_per_inference']:>10,} "
                      f"instr/MAC={row['instructions_per_mac']} "
                      f"flash={row['flash_bytes']:>7,} B ram={row['ram_peak_bytes']:>7,} B "
                      f"tflm_arena={row['tflm_arena_bytes']:>7,} B "
                      f"ratio={row['ram_peak_over_tflm_arena']}")
    result = {
        "board": "qemu-mps2-an386 (Cortex-M4F, -icount shift=0)",
        "instruction_resolution": "40 instructions per timer tick; mean over vectors",
        "ram_target": f"ram_peak_bytes <= {RAM_TARGET_RATIO} x tflm_arena_bytes",
        "toolchain": _toolchain(),
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(row["parity"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
