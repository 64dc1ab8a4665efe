"""Liveness-based static memory plan: one arena, tensors that are never alive together share
bytes.

Every non-constant tensor (after views are folded onto the tensor that owns their bytes) gets a
lifetime ``[first step that writes it, last step that reads it]`` (model inputs are alive from
before the first step, model outputs until after the last). Buffers are placed greedily, largest
first, at the lowest aligned offset that does not collide with an already placed buffer whose
lifetime overlaps.

Convolutions that can run in place (see :mod:`firmware.compiler.in_place`) write their output
over an input that dies at that step: the output becomes an alias of the input's buffer.

A kernel that needs working memory gets a scratch buffer alive during its own step only: a
CONV_2D with a kernel larger than 1x1 gathers one output pixel's receptive field
(k_h x k_w x input channels per group bytes) into it, so each output channel is one contiguous
dot product; an in-place kernel keeps the outputs it cannot write yet. Scratch buffers are
keyed ``scratch_key(step)`` (negative) in ``buffers``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyfuse.core.errors import ExportError
from tinyfuse.firmware.compiler.in_place import can_run_in_place, in_place_scratch_bytes
from tinyfuse.firmware.compiler.lower import Program

ALIGN_BYTES = 16
MAX_ARENA_BYTES = 64 * 1024 * 1024  # 64 MiB: far beyond any microcontroller's RAM


@dataclass(frozen=True, slots=True, kw_only=True)
class Buffer:
    """One planned region: ``tensor`` owns it (a negative ``scratch_key`` for a kernel's
    scratch); lifetime ``first_step..last_step`` inclusive."""

    tensor: int
    size_bytes: int
    first_step: int
    last_step: int
    offset_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class MemoryPlan:
    buffers: dict[int, Buffer]     # owning tensor id -> buffer
    arena_bytes: int
    alias: dict[int, int]          # views and in-place outputs -> the tensor owning the bytes
    in_place: frozenset[int] = frozenset()   # steps whose output overwrites their input

    def offset(self, tensor_id: int) -> int:
        """Arena byte offset of any planned tensor (views resolve to their owner)."""
        while tensor_id in self.alias:
            tensor_id = self.alias[tensor_id]
        return self.buffers[tensor_id].offset_bytes

    def scratch_offset(self, step: int) -> int | None:
        """Arena byte offset of ``step``'s scratch buffer, None when the step needs none."""
        buffer = self.buffers.get(scratch_key(step))
        return None if buffer is None else buffer.offset_bytes

    def live_bytes(self, step: int) -> int:
        """Bytes of all buffers alive during ``step``."""
        return sum(b.size_bytes for b in self.buffers.values()
                   if b.first_step <= step <= b.last_step)


def scratch_key(step: int) -> int:
    """The ``buffers`` key of a step's scratch (tensor ids are >= 0)."""
    return -1 - step


def scratch_bytes(program: Program, in_place: frozenset[int] = frozenset()) -> dict[int, int]:
    """Step -> bytes of scratch its kernel needs (only steps that need some); ``in_place``:
    the steps planned to run in place."""
    graph = program.graph
    needs = {}
    for step, op in enumerate(program.steps):
        if step in in_place:
            needs[step] = in_place_scratch_bytes(graph, op)
        elif op.op == "CONV_2D":
            _, k_h, k_w, in_c = graph.tensors[op.inputs[1]].shape
            if k_h * k_w > 1:
                needs[step] = k_h * k_w * in_c
    return needs


def plan_in_place(program: Program, spans: dict[int, tuple[int, int, int]]
                  ) -> tuple[dict[int, int], frozenset[int]]:
    """Alias every in-place step's output to its input's buffer (updating ``spans``: the buffer
    lives on until the output's last use); returns the alias map and the in-place steps."""
    alias = dict(program.alias)

    def root(tensor_id: int) -> int:
        while tensor_id in alias:
            tensor_id = alias[tensor_id]
        return tensor_id

    steps = set()
    for step, op in enumerate(program.steps):
        if not can_run_in_place(program.graph, op):
            continue
        source, output = root(op.inputs[0]), op.outputs[0]
        size, first, last = spans[source]
        if last != step or output not in spans or spans[output][0] != size:
            continue
        alias[output] = source
        spans[source] = (size, first, spans.pop(output)[2])
        steps.add(step)
    return alias, frozenset(steps)


def lifetimes(program: Program) -> dict[int, tuple[int, int, int]]:
    """Owning tensor id -> (size_bytes, first_step, last_step); steps are indexes into
    ``program.steps``; -1 means "before the first step" and len(steps) "after the last"."""
    graph = program.graph
    end = len(program.steps)
    spans: dict[int, list[int]] = {}

    def touch(tensor_id: int, step: int) -> None:
        root = program.root(tensor_id)
        span = spans.setdefault(root, [step, step])
        span[0] = min(span[0], step)
        span[1] = max(span[1], step)

    for boundary in program.inputs:
        touch(boundary.tensor.index, -1)
    for step, op in enumerate(program.steps):
        for tensor in program.data_inputs(op):
            touch(tensor.index, step)
        for tensor_id in op.outputs:
            touch(tensor_id, step)
    for boundary in program.outputs:
        touch(boundary.tensor.index, end)
    return {
        root: (graph.tensors[root].nbytes, first, last) for root, (first, last) in spans.items()
    }


def plan_memory(program: Program, *, align_bytes: int = ALIGN_BYTES) -> MemoryPlan:
    """Assign every live buffer an arena offset (greedy by size over lifetime intervals)."""
    spans = lifetimes(program)
    alias, in_place = plan_in_place(program, spans)
    for step, size in scratch_bytes(program, in_place).items():
        spans[scratch_key(step)] = (size, step, step)
    order = sorted(spans, key=lambda t: (-spans[t][0], spans[t][1], t))
    placed: list[Buffer] = []
    for tensor_id in order:
        size, first, last = spans[tensor_id]
        offset = _lowest_offset(placed, size, first, last, align_bytes)
        placed.append(Buffer(tensor=tensor_id, size_bytes=size, first_step=first,
                             last_step=last, offset_bytes=offset))
    arena = max((b.offset_bytes + b.size_bytes for b in placed), default=0)
    arena = _round_up(arena, align_bytes)
    if arena > MAX_ARENA_BYTES:
        raise ExportError(f"the memory plan needs a {arena:,}-byte arena, more than "
                          f"{MAX_ARENA_BYTES:,} (no microcontroller has that RAM): a corrupt "
                          f"shape, stride or dilation")
    return MemoryPlan(buffers={b.tensor: b for b in placed}, arena_bytes=arena, alias=alias,
                      in_place=in_place)


def _lowest_offset(placed: list[Buffer], size: int, first: int, last: int, align: int) -> int:
    conflicts = sorted(
        (b for b in placed if b.first_step <= last and first <= b.last_step),
        key=lambda b: b.offset_bytes,
    )
    offset = 0
    for other in conflicts:
        if offset + size <= other.offset_bytes:
            break
        offset = max(offset, _round_up(other.offset_bytes + other.size_bytes, align))
    return offset


def _round_up(value: int, align: int) -> int:
    return (value + align - 1) // align * align
