"""Footprint of an int8 .tflite as the tinyfuse compiler would build it: flash for constants,
the static arena's peak, and MACs, per layer and in total (no code generation, fast)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyfuse.firmware.compiler.lower import PARAM_INPUTS, Program, lower
from tinyfuse.firmware.compiler.plan import plan_memory
from tinyfuse.firmware.compiler.reader import Operator, read_model

# Ops whose per-output-channel requantization adds an int32 multiplier and an int32 shift.
_PER_CHANNEL_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"})


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerFootprint:
    """One compiled op: ``name`` is its output tensor's name, ``op`` the TFLite op type."""

    index: int
    name: str
    op: str
    output_shape: tuple[int, ...]
    params: int                 # constant elements (weights + biases)
    weights_bytes: int          # constant bytes incl. requantization tables
    macs: int
    activation_bytes: int       # bytes of the op's output tensor
    live_bytes: int             # arena bytes alive while this op runs


@dataclass(frozen=True, slots=True, kw_only=True)
class Footprint:
    """Totals for a model: ``weights_bytes`` (flash), ``arena_bytes`` (static RAM plan peak),
    ``macs`` (multiply-accumulates per inference) and the per-op ``layers``."""

    weights_bytes: int
    arena_bytes: int
    macs: int
    layers: tuple[LayerFootprint, ...]

    def summary(self) -> str:
        """A fixed-width table of the layers and the totals."""
        rows = [f"{'#':>3} {'op':<18} {'output':<16} {'params':>8} {'macs':>10} {'act B':>8}"]
        for layer in self.layers:
            rows.append(
                f"{layer.index:>3} {layer.op:<18} {str(list(layer.output_shape)):<16} "
                f"{layer.params:>8} {layer.macs:>10} {layer.activation_bytes:>8}"
            )
        rows.append(f"weights {self.weights_bytes} B, arena {self.arena_bytes} B, "
                    f"{self.macs} MACs")
        return "\n".join(rows)


def estimate(tflite_bytes: bytes) -> Footprint:
    """Estimate flash, RAM and compute of a full-integer int8 .tflite.

    Parameters
    ----------
    tflite_bytes : bytes
        A .tflite flatbuffer (int8 or float I/O around an int8 graph).

    Returns
    -------
    Footprint
        ``arena_bytes`` is exactly the arena of the generated C (same planner).

    Raises
    ------
    ExportError
        The model is malformed or uses an op the compiler does not support.
    """
    program = lower(read_model(tflite_bytes))
    plan = plan_memory(program)
    layers = tuple(_layer(program, op, step, plan.live_bytes(step))
                   for step, op in enumerate(program.steps))
    return Footprint(
        weights_bytes=sum(layer.weights_bytes for layer in layers),
        arena_bytes=plan.arena_bytes,
        macs=sum(layer.macs for layer in layers),
        layers=layers,
    )


def _layer(program: Program, op: Operator, step: int, live_bytes: int) -> LayerFootprint:
    tensors = program.graph.tensors
    output = tensors[op.outputs[0]]
    consts = [tensors[t] for i, t in enumerate(op.inputs)
              if t >= 0 and tensors[t].is_const and i not in PARAM_INPUTS.get(op.op, ())]
    params = sum(t.elements for t in consts)
    weights = sum(t.nbytes for t in consts)
    if op.op in _PER_CHANNEL_OPS:
        weights += 8 * output.shape[-1]
    return LayerFootprint(
        index=step, name=output.name, op=op.op, output_shape=output.shape, params=params,
        weights_bytes=weights, macs=op_macs(program, op), activation_bytes=output.nbytes,
        live_bytes=live_bytes,
    )


def op_macs(program: Program, op: Operator) -> int:
    """Multiply-accumulates of one op (convolutions and dense layers; 0 for the others)."""
    tensors = program.graph.tensors
    output = tensors[op.outputs[0]]
    if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        filt = tensors[op.inputs[1]].shape
        per_output = filt[1] * filt[2] * (filt[3] if op.op == "CONV_2D" else 1)
        return int(np.prod(output.shape, dtype=np.int64)) * per_output
    if op.op == "FULLY_CONNECTED":
        filt = tensors[op.inputs[1]].shape
        return int(np.prod(output.shape, dtype=np.int64)) * int(filt[-1])
    return 0
