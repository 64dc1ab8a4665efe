"""Parity between the TFLite Micro reference interpreter and the compiled C model.

``check_parity(tflite_bytes, target="host", vectors=N or [inputs...], seed=0) -> ParityResult``;
``str(result)`` prints the per-output diff. ``board_inputs``/``host_outputs``/``compare_outputs``
are the steps, for callers that run the board themselves (and keep its instruction counts).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tinyfuse.core.errors import DeployError, ExportError


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputDiff:
    """One output over all vectors: how many vectors differ and the worst element difference."""

    index: int
    name: str
    mismatched_vectors: int
    max_abs_diff: float
    first_mismatch: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ParityResult:
    target: str
    vectors: int
    mismatches: int                 # vectors with at least one differing output value
    max_abs_diff: float
    outputs: tuple[OutputDiff, ...]

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def to_json(self) -> str:
        return json.dumps({
            "target": self.target, "vectors": self.vectors, "mismatches": self.mismatches,
            "max_abs_diff": self.max_abs_diff, "ok": self.ok,
            "outputs": [
                {"index": o.index, "name": o.name, "mismatched_vectors": o.mismatched_vectors,
                 "max_abs_diff": o.max_abs_diff, "first_mismatch": o.first_mismatch}
                for o in self.outputs
            ],
        }, indent=2)

    def __str__(self) -> str:
        verdict = "bit-exact" if self.ok else "MISMATCH"
        lines = [f"parity on {self.target}: {verdict} - {self.vectors} vectors, "
                 f"{self.mismatches} mismatching, max |diff| {self.max_abs_diff:g}"]
        for out in self.outputs:
            lines.append(f"  output {out.index} '{out.name}': {out.mismatched_vectors} "
                         f"mismatching vectors, max |diff| {out.max_abs_diff:g}")
            if out.first_mismatch:
                first = out.first_mismatch
                lines.append(f"    first at vector {first['vector']}: "
                             f"reference {first['reference']} vs compiled {first['compiled']} "
                             f"(flat indexes {first['indexes']})")
        return "\n".join(lines)


def random_inputs(infos, *, count: int, seed: int) -> list[list[np.ndarray]]:
    """``count`` input sets: all -128, all 127, then uniform random (float inputs span
    1.5x the int8 range so saturation is exercised)."""
    rng = np.random.default_rng(seed)
    sets = []
    for vector in range(count):
        arrays = []
        for info in infos:
            if vector < 2:
                q = np.full(info.shape, -128 if vector == 0 else 127, np.int8)
            else:
                q = rng.integers(-128, 128, info.shape).astype(np.int8)
            if info.float_io:
                span = 1.5 * 128 * info.scale
                real = ((q.astype(np.float32) - info.zero_point) * info.scale if vector < 2
                        else rng.uniform(-span, span, info.shape))
                arrays.append(np.asarray(real, np.float32))
            else:
                arrays.append(q)
        sets.append(arrays)
    return sets


def check_parity(tflite_bytes: bytes, *, target: str = "host",
                 vectors: int | Sequence[Sequence[np.ndarray]] = 32,
                 seed: int = 0, kernels: str = "portable") -> ParityResult:
    """Run the reference interpreter and the compiled model on the same inputs and compare.

    Parameters
    ----------
    tflite_bytes : bytes
        Any int8 .tflite the compiler supports.
    target : str
        Where the compiled C runs: ``"host"``, or an emulated board by name or alias
        (``tinyfuse.firmware.boards.BOARDS``; ``"qemu-m4"`` is mps2-an386), run through
        ``tinyfuse.firmware.deploy.run_on_qemu``.
    vectors : int or sequence of input lists
        How many random input sets (incl. all -128 / all 127), or the input sets themselves.
    seed : int
        Seed of the random inputs.
    kernels : {"portable", "dsp", "mve"}
        Kernel path of the board build (the host build is always portable; ``"dsp"`` only on
        a board with the Arm DSP extension, ``"mve"`` only on one with Helium).
    """
    from tinyfuse.firmware.compiler import compile_model

    compiled = compile_model(tflite_bytes)
    inputs = (random_inputs(compiled.inputs, count=vectors, seed=seed)
              if isinstance(vectors, int) else [list(v) for v in vectors])
    reference = reference_outputs(tflite_bytes, inputs)
    got = _run_target(compiled, inputs, target, kernels)
    name = target if target == "host" else f"{target} ({kernels})"
    return compare_outputs(name, compiled, reference, got)


def reference_outputs(tflite_bytes: bytes, inputs) -> list[list[np.ndarray]]:
    """TFLite Micro's outputs for every input set (one interpreter for all of them)."""
    from tinyfuse.core.tflm import ReferenceModel

    model = ReferenceModel(tflite_bytes)
    return [model.run(list(v)) for v in inputs]


def board_inputs(compiled, inputs) -> list[list[np.ndarray]]:
    """Input sets as the board takes them: float inputs of float-I/O models quantized."""
    from tinyfuse.firmware.host import quantize_input

    return [[quantize_input(x, info) if info.float_io else np.asarray(x, np.int8)
             for x, info in zip(v, compiled.inputs, strict=True)] for v in inputs]


def host_outputs(compiled, board_outputs) -> list[list[np.ndarray]]:
    """Board outputs (int8, flat) as the host API returns them: shaped, and dequantized for
    float-I/O models."""
    from tinyfuse.firmware.host import dequantize_output

    return [[dequantize_output(np.asarray(o).reshape(info.shape), info) if info.float_io
             else np.asarray(o).reshape(info.shape)
             for o, info in zip(outs, compiled.outputs, strict=True)]
            for outs in board_outputs]


def _run_target(compiled, inputs, target: str, kernels: str) -> list[list[np.ndarray]]:
    if target == "host":
        from tinyfuse.firmware.host import HostModel, build_library

        model = HostModel(compiled, build_library(compiled))
        return [model.run(v) for v in inputs]
    from tinyfuse.firmware.boards import find_board
    from tinyfuse.firmware.deploy import run_on_qemu

    board = find_board(target)  # one line naming the boards there are when unknown
    try:
        board.kernel_defines(kernels)
    except DeployError as error:
        raise ExportError(f"kernels: {error}") from None
    run = run_on_qemu(compiled, board_inputs(compiled, inputs), board=target,
                      kernels=kernels)  # type: ignore[arg-type]
    return host_outputs(compiled, run.outputs)


def compare_outputs(target: str, compiled, reference, got) -> ParityResult:
    """Compare outputs of the same input sets (``reference[v][k]`` vs ``got[v][k]``)."""
    diffs = []
    bad_vectors: set[int] = set()
    for index, info in enumerate(compiled.outputs):
        worst, count = 0.0, 0
        first: dict[str, object] = {}
        for vector, (ref, out) in enumerate(zip(reference, got, strict=True)):
            want = np.asarray(ref[index]).reshape(-1).astype(np.float64)
            have = np.asarray(out[index]).reshape(-1).astype(np.float64)
            where = np.flatnonzero(want != have)
            if where.size:
                count += 1
                bad_vectors.add(vector)
                worst = max(worst, float(np.max(np.abs(want - have))))
                if not first:
                    first = {"vector": vector, "indexes": where[:8].tolist(),
                             "reference": want[where[:8]].tolist(),
                             "compiled": have[where[:8]].tolist()}
        diffs.append(OutputDiff(index=index, name=info.name, mismatched_vectors=count,
                                max_abs_diff=worst, first_mismatch=first))
    return ParityResult(target=target, vectors=len(reference), mismatches=len(bad_vectors),
                        max_abs_diff=max((d.max_abs_diff for d in diffs), default=0.0),
                        outputs=tuple(diffs))
