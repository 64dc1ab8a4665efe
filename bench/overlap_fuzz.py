"""Differential fuzzing of the memory plan's overlaps (``firmware/compiler/overlap.py``).

Random Keras graphs deeper than ``bench/models.py``'s fuzz graphs (3 to 6 blocks of
convolutions, pointwise expansions and projections, strided and dilated depthwise layers and
residual ADDs, the shapes the overlaps apply to), converted to int8, compiled, and run on the
host and on the emulated Cortex-M4 with the Arm DSP kernels against TFLite Micro. Records,
per graph, the overlap links the plan kept, the arena with and without them, and the
mismatches (every one must be 0).

Writes ``bench/results/overlap_fuzz.json``. Usage: ``python bench/overlap_fuzz.py [--graphs N]
[--vectors N] [--no-board]``; exit status 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "overlap_fuzz.json"
FIRST_SEED = 500


def deep_graph(seed: int):
    """A random graph of 3-6 blocks whose tensors die one after the other (with skips)."""
    sys.path.insert(0, str(REPO))
    from bench.models import _keras, _randomize

    keras = _keras()
    rng = np.random.default_rng(seed)
    inp = keras.Input((int(rng.integers(6, 17)), int(rng.integers(4, 13)),
                       int(rng.integers(1, 5))), batch_size=1)
    x = inp
    for _ in range(int(rng.integers(3, 7))):
        kind = int(rng.integers(0, 4))
        activation = str(rng.choice(["linear", "relu"]))
        if kind == 0:  # pointwise expansion or projection
            x = keras.layers.Conv2D(int(rng.integers(1, 17)), 1, activation=activation)(x)
        elif kind == 1:  # k x k convolution, maybe strided
            stride = int(rng.integers(1, 3)) if min(x.shape[1], x.shape[2]) > 3 else 1
            x = keras.layers.Conv2D(int(rng.integers(2, 13)), int(rng.integers(2, 4)),
                                    strides=stride, padding="same", activation=activation)(x)
        elif kind == 2:  # depthwise, strided or dilated
            stride = int(rng.integers(1, 3)) if min(x.shape[1], x.shape[2]) > 3 else 1
            dilation = int(rng.integers(1, 3)) if stride == 1 else 1
            x = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same",
                                             dilation_rate=dilation, activation=activation)(x)
        else:  # residual: two same-shape convolutions added to their input
            y = keras.layers.Conv2D(int(x.shape[3]), 3, padding="same", activation="relu")(x)
            y = keras.layers.Conv2D(int(x.shape[3]), 3, padding="same")(y)
            x = keras.layers.Add()([x, y])
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(int(rng.integers(2, 6)), activation="softmax")(x)
    model = keras.Model(inp, x)
    _randomize(model, seed)
    return model


def run_graph(seed: int, *, vectors: int, board: bool) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from bench.models import to_int8_tflite
    from tinyfuse.firmware.compiler.lower import lower
    from tinyfuse.firmware.compiler.plan import plan_memory
    from tinyfuse.firmware.compiler.reader import read_model
    from tinyfuse.firmware.parity import check_parity

    tflite = to_int8_tflite(deep_graph(seed), seed=seed)
    program = lower(read_model(tflite))
    plan = plan_memory(program)
    row: dict[str, Any] = {
        "seed": seed, "steps": len(program.steps), "links": len(plan.links),
        "linked_ops": sorted({program.steps[plan.buffers[out].first_step].op
                              for _, out, _ in plan.links}),
        "arena_bytes": plan.arena_bytes, "arena_bytes_without_overlaps": _plain_arena(program),
    }
    results = {"host": check_parity(tflite, vectors=vectors, seed=seed)}
    if board:
        results["qemu_dsp"] = check_parity(tflite, target="qemu-m4", vectors=vectors, seed=seed,
                                           kernels="dsp")
    for name, result in results.items():
        row[f"{name}_vectors"] = result.vectors
        row[f"{name}_mismatches"] = result.mismatches
    return row


def _plain_arena(program) -> int:
    """The arena the plan would have without any overlap link (the plan before stop 24)."""
    from tinyfuse.firmware.compiler.plan import plan_memory

    return plan_memory(program, overlaps=False).arena_bytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=40)
    parser.add_argument("--vectors", type=int, default=8)
    parser.add_argument("--no-board", action="store_true", help="host parity only")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    board = not args.no_board and shutil.which("qemu-system-arm") is not None
    rows = []
    for seed in range(FIRST_SEED, FIRST_SEED + args.graphs):
        row = run_graph(seed, vectors=args.vectors, board=board)
        print(json.dumps(row), flush=True)
        rows.append(row)
    mismatches = sum(v for row in rows for k, v in row.items() if k.endswith("_mismatches"))
    result = {
        "graphs": len(rows), "vectors_per_graph": args.vectors, "board": board,
        "graphs_with_links": sum(1 for row in rows if row["links"]),
        "links": sum(row["links"] for row in rows),
        "arena_bytes": sum(row["arena_bytes"] for row in rows),
        "arena_bytes_without_overlaps": sum(row["arena_bytes_without_overlaps"] for row in rows),
        "mismatches": mismatches, "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['graphs']} graphs, {result['graphs_with_links']} with overlaps "
          f"({result['links']} links), arena {result['arena_bytes']:,} B against "
          f"{result['arena_bytes_without_overlaps']:,} B without, {mismatches} mismatches; "
          f"wrote {args.out}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
