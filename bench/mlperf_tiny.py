"""The MLPerf Tiny reference models on emulated Cortex-M boards against TFLite Micro + CMSIS-NN.

For each of the five closed-division int8 models in ``../shared/models/mlperf_tiny`` (read in
place, never copied) it compiles the model with tinyfuse's compiler, checks bit-exact parity
with the TFLite Micro reference on the host and on each emulated board (QEMU mps2-an386, the
Cortex-M4 of the reference points, by default; ``--boards`` adds others, e.g. the Cortex-M7
mps2-an500, the Cortex-M33 mps2-an505 and the Cortex-M55 mps3-an547; ``-icount shift=0``) on
every kernel path the core has (portable, dsp, and mve on the M55), and records instructions
per inference and per
MAC, flash, RAM peak and the ratio of the instruction count and the RAM peak against the
TFLM + CMSIS-NN reference points of that folder's README. The measurement itself is
``bench/firmware_footprint.py``'s ``measure_model``; this script adds the reference points and
the caller-owned I/O buffers.

RAM peak: ``ram_peak_bytes`` is .bss + .data (the static arena) + the stack high-water mark:
all the RAM of a caller that writes its inputs in place (``tinyfuse_model_input``, then
``tinyfuse_model_invoke_in_place``, outputs read in the arena); ``ram_peak_with_io_bytes`` adds
the input and output buffers a caller of the copying ``tinyfuse_model_invoke`` owns.

Writes ``bench/results/mlperf_tiny.json``; skips (exit status 0, nothing written) when the
models folder is absent. Usage: ``python bench/mlperf_tiny.py [--vectors N] [--models ...]
[--boards ...] [--out PATH]``; exit status 1 when any model fails to compile or is not bit-exact.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from tinyfuse.firmware.deploy import Kernels

REPO = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO.parent / "shared" / "models" / "mlperf_tiny"
RESULTS = REPO / "bench" / "results" / "mlperf_tiny.json"

# name -> (file, TFLM + CMSIS-NN instructions, TFLM + CMSIS-NN RAM bytes); from the README of
# MODELS_DIR (None where it gives no reference point).
MODELS: dict[str, tuple[str, int | None, int | None]] = {
    "ad01": ("ad01_int8.tflite", 583_140, 4_204),
    "kws": ("kws_ref_model.tflite", 7_697_950, 24_684),
    "resnet": ("pretrainedResnet_quant.tflite", 29_864_000, 56_860),
    "vww": ("vww_96_int8.tflite", 24_102_330, 102_572),
    "str_ww": ("str_ww_ref_model.tflite", None, None),
}
BREAKDOWN_MODELS = ("kws", "resnet")
HELIUM_BOARD = "mps3-an547"  # the per-op breakdown of the mve kernels runs here
REFERENCE = ("TFLite Micro + CMSIS-NN on qemu-system-arm -M mps2-an386 -icount shift=0, "
             "arm-none-eabi-gcc 12 -O2 (../shared/models/mlperf_tiny/README.md)")


def _ratio(value: int, reference: int | None) -> float | None:
    return round(value / reference, 3) if reference else None


def _io_bytes(compiled) -> int:
    """Bytes of the input and output buffers the caller of ``tinyfuse_model_invoke`` owns."""
    return sum(t.bytes for t in (*compiled.inputs, *compiled.outputs))


def measure(name: str, *, vectors: int, work_dir: Path, board: str = "qemu-m4"
            ) -> list[dict[str, Any]]:
    """Both kernel paths of one MLPerf Tiny model on one board, with the reference ratios
    (measured on the Cortex-M4; on another core they compare like for like only roughly)."""
    sys.path.insert(0, str(REPO))
    from bench.firmware_footprint import measure_model
    from tinyfuse.firmware.compiler import compile_model

    file, ref_instructions, ref_ram = MODELS[name]
    tflite = (MODELS_DIR / file).read_bytes()
    io_bytes = _io_bytes(compile_model(tflite))
    rows = measure_model(name, tflite, source="mlperf_tiny", vectors=vectors, work_dir=work_dir,
                         board=board)
    for row in rows:
        row["file"] = file
        row["io_bytes"] = io_bytes
        row["ram_peak_with_io_bytes"] = row["ram_peak_bytes"] + io_bytes
        row["reference_instructions"] = ref_instructions
        row["reference_ram_bytes"] = ref_ram
        row["instructions_over_reference"] = _ratio(row["instructions_per_inference"],
                                                    ref_instructions)
        row["ram_peak_over_reference"] = _ratio(row["ram_peak_bytes"], ref_ram)
        row["ram_peak_with_io_over_reference"] = _ratio(row["ram_peak_with_io_bytes"], ref_ram)
    return rows


def _truncated(source: str, keep: int) -> str:
    """``model.c`` with only the first ``keep`` op calls left in ``tinyfuse_model_invoke``."""
    lines = source.splitlines()
    op_lines = [i for i, line in enumerate(lines) if line.startswith("  /* op ")]
    if keep >= len(op_lines):
        return source
    first_out = op_lines[keep]
    end = next(i for i in range(first_out, len(lines)) if lines[i].startswith("  memcpy(out"))
    return "\n".join(lines[:first_out] + lines[end:]) + "\n"


def per_op_breakdown(tflite: bytes, *, kernels: Kernels, work_dir: Path,
                     board: str = "qemu-m4") -> list[dict[str, Any]]:
    """Instructions per op: the count with the first k op calls minus the count with k - 1
    (one all-zero vector each; the later ops' outputs are then wrong, the counts are not)."""
    import numpy as np

    from tinyfuse.firmware.compiler import compile_model
    from tinyfuse.firmware.deploy import run_on_qemu

    compiled = compile_model(tflite)
    source = compiled.sources["model.c"]
    labels = [line.strip() for line in source.splitlines() if line.startswith("  /* op ")]
    vector = [[np.zeros(t.bytes, np.int8) for t in compiled.inputs]]
    counts = []
    for keep in range(len(labels) + 1):
        model_dir = work_dir / f"keep{keep}"
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "model.c").write_text(_truncated(source, keep))
        (model_dir / "model.h").write_text(compiled.sources["model.h"])
        run = run_on_qemu(model_dir, vector, kernels=kernels, work_dir=model_dir / "run",
                          board=board)
        counts.append(run.instructions_per_inference)
    return [{"op": label.removeprefix("/* ").split(" -> ")[0],
             "instructions": counts[k + 1] - counts[k]} for k, label in enumerate(labels)]


def _print_row(row: dict[str, Any]) -> None:
    print(f"{row['model']:<8} {row['board']:<11} {row['kernels']:<8} exact={row['bit_exact']!s:<5} "
          f"instr={row['instructions_per_inference']:>11,} "
          f"instr/MAC={row['instructions_per_mac']} "
          f"vs_ref={row['instructions_over_reference']} flash={row['flash_bytes']:,} "
          f"ram={row['ram_peak_bytes']:,} ram+io={row['ram_peak_with_io_bytes']:,}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=4, help="input vectors per model")
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=list(MODELS))
    parser.add_argument("--boards", nargs="+", default=["qemu-m4"],
                        help="emulated boards (tinyfuse boards), the reference's Cortex-M4 "
                             "first")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results path")
    parser.add_argument("--breakdown", nargs="*", choices=tuple(MODELS),
                        default=list(BREAKDOWN_MODELS), help="models to time op by op (dsp)")
    args = parser.parse_args(argv)
    if not MODELS_DIR.is_dir():
        print(f"skipped: {MODELS_DIR} is absent")
        return 0
    from tinyfuse.core.errors import TinyfuseError

    rows: list[dict[str, Any]] = []
    failures = []
    with tempfile.TemporaryDirectory(prefix="tinyfuse-mlperf-") as scratch:
        for board, name in ((b, n) for b in args.boards for n in args.models):
            try:
                model_rows = measure(name, vectors=args.vectors, board=board,
                                     work_dir=Path(scratch) / board / name)
            except TinyfuseError as exc:
                print(f"{name} on {board}: FAILED: {exc}")
                failures.append({"model": name, "board": board, "error": str(exc)})
                continue
            for row in model_rows:
                _print_row(row)
            rows.extend(model_rows)
        breakdown: dict[str, Any] = {}
        helium: dict[str, Any] = {}
        for name in args.breakdown:
            tflite = (MODELS_DIR / MODELS[name][0]).read_bytes()
            breakdown[name] = per_op_breakdown(tflite, kernels="dsp",
                                               work_dir=Path(scratch) / f"{name}-ops")
            if HELIUM_BOARD in args.boards:
                helium[name] = per_op_breakdown(tflite, kernels="mve", board=HELIUM_BOARD,
                                                work_dir=Path(scratch) / f"{name}-ops-mve")
            for k, op in enumerate(breakdown[name]):
                mve = f" {helium[name][k]['instructions']:>11,}" if name in helium else ""
                print(f"{name} {op['op']:<34} {op['instructions']:>11,}{mve}")
    sys.path.insert(0, str(REPO))
    from bench.firmware_footprint import _toolchain

    result: dict[str, Any] = {
        "boards": args.boards,
        "board_note": "QEMU -icount shift=0; qemu-m4 is mps2-an386 (Cortex-M4F), the board of "
                      "the reference points",
        "reference": REFERENCE,
        "instruction_resolution": "one timer tick of the board (tinyfuse boards: 40 "
                                  "instructions on mps2-an386 and an500, 50 on an505, 31.25 "
                                  "on mps3-an547); mean over vectors",
        "ram_peak": "bss + data (static arena) + stack high-water mark measured in QEMU: all "
                    "the RAM of a caller that writes inputs in place; ram_peak_with_io adds "
                    "the input and output buffers of a caller of tinyfuse_model_invoke",
        "flash": "text + rodata of the model and its kernels (harness excluded)",
        "vectors": "all -128, all 127, then seeded uniform random int8",
        "toolchain": _toolchain(),
        "all_bit_exact": all(row["bit_exact"] for row in rows) and not failures,
        "failures": failures,
        "results": rows,
        "per_op_dsp": breakdown,
        "per_op_mve": helium,
        "per_op_note": "instructions of op k = count with ops 0..k minus count with ops "
                       "0..k-1 (one all-zero vector; per_op_dsp: dsp kernels on qemu-m4, "
                       f"per_op_mve: mve kernels on {HELIUM_BOARD})",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if result["all_bit_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
