"""Firmware footprint of compiled tinyfuse models on the emulated Cortex-M4 (QEMU mps2-an386).

For every model it compiles the int8 ``.tflite`` to C and checks bit-exact parity with the
TFLite Micro reference on the host (gcc, portable kernels) and, for both kernel paths (portable
C99, Arm DSP SIMD), on the emulated board, where it also records flash (.text + .rodata of the
model and its kernels, from arm-none-eabi-size), RAM peak (.bss + .data, which hold the static
arena, plus the stack high-water mark measured in QEMU) against the TFLite Micro arena (target:
<= 0.75 x) and instructions per inference and per MAC (``-icount shift=0``). It then runs the
differential fuzz graphs (random conv/depthwise/pool/dense Keras graphs) the same way.
Writes ``bench/results/firmware_footprint.json``.

Models (all by default):
  bench      the real-data benchmark students that ``bench/run_configs.py`` left in
             ``build/bench/<task>/`` (a built task's ``model.tflite``, an evaluated task's
             first-fold ``fold0_model.tflite``; the tasks not there are listed under
             ``missing_benchmark_models``);
  demo       the three demo bundles ``build/demo-<app>/model.tflite`` (built with
             ``tinyfuse demo <app> --out build/demo-<app>`` when absent);
  synthetic  three tinyfuse models built here from specs with seeded random weights (weights do
             not change the footprint or the instruction count, only the numbers): a 2-D conv
             MFCC branch, an 8x8 thermal + 4x4 depth fusion, a two-accelerometer fusion.

Vectors: all -128, all 127, then seeded uniform random int8
(``tinyfuse.firmware.parity.random_inputs``).

Usage: ``python bench/firmware_footprint.py [--vectors N] [--fuzz-graphs N] [--sources ...]
[--out PATH]``; exit status 1 when any model fails to compile or is not bit-exact.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tinyfuse.firmware.deploy import Kernels

REPO = Path(__file__).resolve().parent.parent
BUILDS_DIR = REPO / "build" / "bench"
CACHE_DIR = REPO / "build" / "bench_models"
RESULTS = REPO / "bench" / "results" / "firmware_footprint.json"
RAM_TARGET_RATIO = 0.75
KERNELS: tuple[Kernels, ...] = ("portable", "dsp")
BENCHMARK_TASKS = ("posture_thermal", "posture_thermal_insplit", "ceiling_fan",
                   "ceiling_fan_insplit", "cwru", "cwru_de", "covid_cough", "coswara_sound",
                   "coswara_sound_insplit", "coswara_participant")  # run_configs.py TASKS
DEMO_APPS = ("cough", "posture", "factory")
FUZZ_FIRST_SEED = 100


def _specs():
    from tinyfuse.fusion.spec import BranchSpec, FusionSpec
    from tinyfuse.sensors.spec import AudioSpec, ImageSpec, ModalitySpec, VibrationSpec

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
    from tinyfuse.fusion.export import convert_int8
    from tinyfuse.fusion.model import build_model

    model = build_model(spec, seed=seed)
    rng = np.random.default_rng(seed)
    representative = [rng.uniform(0.0, 1.0, (32, *m.output_shape)).astype(np.float32)
                      for m in spec.modalities]
    return convert_int8(model, representative, n_samples=32)


def synthetic_models() -> dict[str, bytes]:
    """The three spec-built models (cached under build/bench_models by spec hash)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    models = {}
    for index, (name, spec) in enumerate(_specs().items()):
        path = CACHE_DIR / f"{name}-{spec.spec_hash()}.tflite"
        if not path.is_file():
            path.write_bytes(_build_tflite(spec, seed=index))
        models[f"synthetic_{name}"] = path.read_bytes()
    return models


def demo_models() -> dict[str, bytes]:
    """The demo bundles' models, building a bundle with the tinyfuse CLI when it is absent."""
    models = {}
    for app in DEMO_APPS:
        out = REPO / "build" / f"demo-{app}"
        if not (out / "model.tflite").is_file():
            tinyfuse = Path(sys.executable).parent / "tinyfuse"
            print(f"building the {app} demo bundle into {out}")
            subprocess.run([str(tinyfuse), "demo", app, "--out", str(out)], check=True)
        models[f"demo_{app}"] = (out / "model.tflite").read_bytes()
    return models


def benchmark_path(task: str) -> Path | None:
    """The int8 model ``bench/run_configs.py`` left for ``task``, if any."""
    for name in ("model.tflite", "fold0_model.tflite"):
        path = BUILDS_DIR / task / name
        if path.is_file():
            return path
    return None


def benchmark_models() -> dict[str, bytes]:
    """The benchmark tasks' int8 models by task name (those that have been run)."""
    return {task: path.read_bytes() for task in BENCHMARK_TASKS
            if (path := benchmark_path(task)) is not None}


def qemu_row(compiled, inputs, reference, *, kernels: Kernels, work_dir: Path,
             board: str = "qemu-m4") -> dict:
    """One model on one kernel path of an emulated board: parity, sizes, RAM peak,
    instructions."""
    from tinyfuse.firmware.deploy import build_for_qemu, run_on_qemu, size_report
    from tinyfuse.firmware.parity import board_inputs, compare_outputs, host_outputs

    compiled.write(work_dir / "model")
    elf = build_for_qemu(work_dir / "model", kernels=kernels, out_dir=work_dir, board=board)
    run = run_on_qemu(elf, board_inputs(compiled, inputs), work_dir=work_dir, board=board)
    parity = compare_outputs(f"{board} ({kernels})", compiled, reference,
                             host_outputs(compiled, run.outputs))
    sizes = size_report(elf)
    return {
        "qemu_parity": _parity(parity), "text_bytes": sizes.text_bytes,
        "rodata_bytes": sizes.rodata_bytes, "data_bytes": sizes.data_bytes,
        "bss_bytes": sizes.bss_bytes, "flash_bytes": sizes.text_bytes + sizes.rodata_bytes,
        "arena_bytes": run.arena_bytes, "stack_bytes": run.stack_bytes,
        "ram_peak_bytes": sizes.bss_bytes + sizes.data_bytes + run.stack_bytes,
        "instructions_per_inference": run.instructions_per_inference,
    }


def _parity(result) -> dict:
    return {"vectors": result.vectors, "mismatches": result.mismatches,
            "max_abs_diff": result.max_abs_diff}


def _host_parity(compiled, inputs, reference):
    from tinyfuse.firmware.host import HostModel, build_library
    from tinyfuse.firmware.parity import compare_outputs

    model = HostModel(compiled, build_library(compiled))
    return compare_outputs("host", compiled, reference, [model.run(v) for v in inputs])


def measure_model(name: str, tflite: bytes, *, source: str, vectors: int,
                  work_dir: Path, board: str = "qemu-m4") -> list[dict]:
    """Every kernel path of one model the board's core runs (portable, dsp and, on a Helium
    core, mve): one row each, sharing the model-level facts."""
    from tinyfuse.core.tflm import reference_invoke, tflm_arena_bytes
    from tinyfuse.firmware.compiler import compile_model, estimate
    from tinyfuse.firmware.parity import random_inputs

    compiled = compile_model(tflite)
    inputs = random_inputs(compiled.inputs, count=vectors, seed=0)
    reference = [reference_invoke(tflite, v) for v in inputs]
    footprint = estimate(tflite)
    tflm = tflm_arena_bytes(tflite)
    common: dict[str, Any] = {
        "model": name, "source": source, "ops": sorted(compiled.ops_used),
        "weights_bytes": compiled.weights_bytes, "macs": footprint.macs,
        "tflm_arena_bytes": tflm,
        "host_parity": _parity(_host_parity(compiled, inputs, reference)),
    }
    from tinyfuse.firmware.boards import find_board

    rows = []
    for kernels in find_board(board).kernel_paths:
        row: dict[str, Any] = {**common, "board": board, "kernels": kernels}
        row.update(qemu_row(compiled, inputs, reference, kernels=kernels,
                            work_dir=work_dir / kernels, board=board))
        row["ram_peak_over_tflm_arena"] = round(row["ram_peak_bytes"] / tflm, 3)
        row["meets_ram_target"] = row["ram_peak_bytes"] <= RAM_TARGET_RATIO * tflm
        instructions = row["instructions_per_inference"]
        row["instructions_per_mac"] = round(instructions / footprint.macs, 3) if footprint.macs \
            else None
        row["bit_exact"] = row["host_parity"]["mismatches"] == 0 and \
            row["qemu_parity"]["mismatches"] == 0
        rows.append(row)
    return rows


def fuzz(graphs: int, *, vectors: int) -> dict:
    """Differential fuzz graphs (bench/models.py) on the host and both QEMU paths."""
    sys.path.insert(0, str(REPO))
    from bench.models import random_graph, to_int8_tflite
    from tinyfuse.firmware.parity import check_parity

    totals = {"host": [0, 0], **{f"qemu_{k}": [0, 0] for k in KERNELS}}
    failing = []
    for seed in range(FUZZ_FIRST_SEED, FUZZ_FIRST_SEED + graphs):
        model, input_range = random_graph(seed)
        data = to_int8_tflite(model, seed=seed, input_range=input_range)
        results = {"host": check_parity(data, vectors=vectors, seed=seed)}
        for kernels in KERNELS:
            results[f"qemu_{kernels}"] = check_parity(data, target="qemu-m4", vectors=vectors,
                                                      seed=seed, kernels=kernels)
        for key, result in results.items():
            totals[key][0] += result.vectors
            totals[key][1] += result.mismatches
            if not result.ok:
                failing.append({"seed": seed, "target": key, "report": str(result)})
    return {
        "graphs": graphs, "seeds": [FUZZ_FIRST_SEED, FUZZ_FIRST_SEED + graphs - 1],
        "vectors_per_graph": vectors,
        **{key: {"vectors": v, "mismatches": m} for key, (v, m) in totals.items()},
        "failing": failing,
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


def _print_row(row: dict) -> None:
    print(f"{row['model']:<26} {row['kernels']:<8} exact={row['bit_exact']!s:<5} "
          f"instr={row['instructions_per_inference']:>10,} "
          f"instr/MAC={row['instructions_per_mac']} "
          f"flash={row['flash_bytes']:>7,} B ram={row['ram_peak_bytes']:>7,} B "
          f"tflm_arena={row['tflm_arena_bytes']:>7,} B ratio={row['ram_peak_over_tflm_arena']}")


def collect_models(sources: list[str]) -> list[tuple[str, str, bytes]]:
    """(source, name, .tflite bytes) for the chosen sources."""
    loaders = {"bench": benchmark_models, "demo": demo_models, "synthetic": synthetic_models}
    return [(source, name, data) for source in sources
            for name, data in loaders[source]().items()]


def measure_all(models, *, vectors: int, scratch: Path) -> tuple[list[dict], list[dict]]:
    """Rows of every model that compiles and runs; the others as failures (name, error)."""
    from tinyfuse.core.errors import TinyfuseError

    rows, failures = [], []
    for source, name, data in models:
        try:
            model_rows = measure_model(name, data, source=source, vectors=vectors,
                                       work_dir=scratch / name)
        except TinyfuseError as exc:
            print(f"{name}: FAILED: {exc}")
            failures.append({"model": name, "source": source, "error": str(exc)})
            continue
        for row in model_rows:
            _print_row(row)
        rows.extend(model_rows)
    return rows, failures


def summary(rows: list[dict], failures: list[dict], fuzzed: dict | None) -> dict:
    fuzz_exact = fuzzed is None or not fuzzed["failing"]
    return {
        "models": sorted({row["model"] for row in rows}),
        "all_bit_exact": all(row["bit_exact"] for row in rows) and not failures and fuzz_exact,
        "all_meet_ram_target": all(row["meets_ram_target"] for row in rows),
        "max_ram_peak_over_tflm_arena": max((row["ram_peak_over_tflm_arena"] for row in rows),
                                            default=None),
        "failures": failures,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=32, help="input vectors per model")
    parser.add_argument("--fuzz-graphs", type=int, default=32, help="differential fuzz graphs")
    parser.add_argument("--fuzz-vectors", type=int, default=16, help="vectors per fuzz graph")
    parser.add_argument("--sources", nargs="+", choices=("bench", "demo", "synthetic"),
                        default=["bench", "demo", "synthetic"], help="which models")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results path")
    args = parser.parse_args(argv)
    models = collect_models(args.sources)
    with tempfile.TemporaryDirectory(prefix="tinyfuse-footprint-") as scratch:
        rows, failures = measure_all(models, vectors=args.vectors, scratch=Path(scratch))
    fuzzed = fuzz(args.fuzz_graphs, vectors=args.fuzz_vectors) if args.fuzz_graphs > 0 else None
    present = set(benchmark_models())
    result: dict[str, Any] = {
        "board": "qemu-mps2-an386 (Cortex-M4F, -icount shift=0)",
        "instruction_resolution": "40 instructions per timer tick; mean over vectors",
        "ram_peak": "bss + data (static arena) + stack high-water mark measured in QEMU",
        "flash": "text + rodata of the model and its kernels (harness excluded)",
        "ram_target": f"ram_peak_bytes <= {RAM_TARGET_RATIO} x tflm_arena_bytes",
        "vectors": "all -128, all 127, then seeded uniform random int8",
        "toolchain": _toolchain(),
        "missing_benchmark_models": [t for t in BENCHMARK_TASKS if t not in present],
        "summary": summary(rows, failures, fuzzed),
        "fuzz": fuzzed,
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({**result["summary"], "fuzz": {k: v for k, v in (fuzzed or {}).items()
                                                     if k != "failing"}}, indent=2))
    print(f"wrote {args.out}")
    return 0 if result["summary"]["all_bit_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
