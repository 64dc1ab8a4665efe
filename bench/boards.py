"""Every emulated board of the table: the same compiled models, parity with TFLite Micro,
instructions per inference, flash and RAM, written to ``bench/results/boards.json``.

    python bench/boards.py          # about 3 minutes

Models: ``bench.models.fusion_model`` (seed 12) and ``conv_model`` (seed 11), compiled once
and run with ``tinyfuse.firmware.deploy.run_on_qemu`` (32 vectors: all -128, all 127, then
seeded random) on every board and kernel path (DSP kernels where the core has the
extension); every output is compared with TFLite Micro.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import models  # noqa: E402
from tinyfuse.core.tflm import reference_invoke  # noqa: E402
from tinyfuse.firmware.boards import BOARDS  # noqa: E402
from tinyfuse.firmware.compiler import compile_model  # noqa: E402
from tinyfuse.firmware.deploy import Kernels, run_on_qemu, size_report  # noqa: E402

RESULTS = REPO / "bench" / "results" / "boards.json"
MODELS = {"fusion_model": (models.fusion_model, 12), "conv_model": (models.conv_model, 11)}
N_VECTORS = 32


def vectors_for(compiled, count: int, seed: int) -> list[list[np.ndarray]]:
    """All -128, all 127, then seeded random int8 vectors for every input."""
    rng = np.random.default_rng(seed)
    shapes = [tuple(t.shape) for t in compiled.inputs]
    fixed = [[np.full(shape, v, np.int8) for shape in shapes] for v in (-128, 127)]
    return fixed + [[rng.integers(-128, 128, shape, dtype=np.int8) for shape in shapes]
                    for _ in range(count - 2)]


def one_run(name: str, tflite: bytes, compiled, board, kernels: Kernels) -> dict:
    vectors = vectors_for(compiled, N_VECTORS, seed=3)
    with tempfile.TemporaryDirectory(prefix="tinyfuse-boards-") as scratch:
        try:
            run = run_on_qemu(compiled, vectors, board=board.name, kernels=kernels,
                              work_dir=scratch)
        except Exception as exc:  # a model that does not fit the board: the one-line reason
            return {"model": name, "board": board.name, "kernels": kernels, "ran": False,
                    "reason": str(exc).splitlines()[0]}
        size = size_report(run.elf)
    mismatches = sum(int(not np.array_equal(np.ravel(got), np.ravel(want)))
                     for vector, row in zip(vectors, run.outputs, strict=True)
                     for got, want in zip(row, reference_invoke(tflite, vector), strict=True))
    return {"model": name, "board": board.name, "core": board.description, "kernels": kernels,
            "ran": True, "bit_exact": mismatches == 0, "mismatches": mismatches,
            "instructions_per_inference": run.instructions_per_inference,
            "flash_bytes": size.text_bytes + size.rodata_bytes + size.data_bytes,
            "static_ram_bytes": size.data_bytes + size.bss_bytes,
            "stack_bytes": run.stack_bytes}


def main() -> int:
    rows = []
    started = time.monotonic()
    for name, (builder, seed) in MODELS.items():
        tflite = models.to_int8_tflite(builder(), seed=seed)
        compiled = compile_model(tflite)
        for board in BOARDS:
            paths: tuple[Kernels, ...] = ("portable", "dsp") if board.dsp else ("portable",)
            for kernels in paths:
                rows.append(one_run(name, tflite, compiled, board, kernels))
                print(rows[-1])
    RESULTS.write_text(json.dumps({
        "command": "python bench/boards.py", "vectors": N_VECTORS, "rows": rows,
        "environment": {"python": platform.python_version(), "machine": platform.machine(),
                        "wall_seconds": round(time.monotonic() - started, 1)}},
        indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
