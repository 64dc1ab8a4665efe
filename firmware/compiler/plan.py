"""Liveness-based static memory plan: one arena, tensors that are never alive together share
bytes.

Every non-constant tensor (after views are folded onto the tensor that owns their bytes) gets a
lifetime ``[first step that writes it, last step that reads it]`` (model inputs are alive from
before the first step, model outputs until after the last). Buffers are placed greedily, largest
first, at the lowest aligned offset that does not collide with an already placed buffer whose
lifetime overlaps.

Convolutions that can run in place (see :mod:`firmware.compiler.in_place`) write their output
over an input that dies at that step: the output becomes an alias of the input's buffer. Other
convolutions and dense ADDs may overlap the input that dies at their step, the output starting
a fixed number of bytes before it (see :mod:`firmware.compiler.overlap`); such links join
tensors into chains that are placed as one unit. Which links to keep is searched: the plan
from all of them and from none, each one toggled in turn while the arena shrinks (only
the two starts past ``SEARCH_LINKS`` links).

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
from tinyfuse.firmware.compiler.overlap import displacement

ALIGN_BYTES = 16
SEARCH_LINKS = 64  # past this many overlap links only "all" and "none" are tried
Link = tuple[int, int, int]  # (input tensor, output tensor, output offset - input offset)
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
    links: tuple[Link, ...] = ()   # kept overlaps: (input, output, output - input offset)

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
    steps = set()
    for step, op in enumerate(program.steps):
        if not can_run_in_place(program.graph, op):
            continue
        source, output = _root(alias, op.inputs[0]), op.outputs[0]
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


def plan_memory(program: Program, *, align_bytes: int = ALIGN_BYTES,
                overlaps: bool = True) -> MemoryPlan:
    """Assign every live buffer an arena offset (greedy by size over lifetime intervals, with
    the overlap links that give the smallest arena found; none with ``overlaps=False``)."""
    spans = lifetimes(program)
    alias, in_place = plan_in_place(program, spans)
    for step, size in scratch_bytes(program, in_place).items():
        spans[scratch_key(step)] = (size, step, step)
    links = overlap_links(program, spans, alias, in_place, align_bytes) if overlaps else []
    none = [False] * len(links)
    tries = [(none, _place(spans, links, none, align_bytes))]
    if links:  # min keeps the first of equal arenas: no overlaps, then the climb from all
        tries += [_climb(spans, links, [True] * len(links), align_bytes),
                  _climb(spans, links, none, align_bytes)]
    best_keep, best = min(tries, key=lambda tried: _arena(tried[1]))
    arena = _round_up(_arena(best), align_bytes)
    if arena > MAX_ARENA_BYTES:
        raise ExportError(f"the memory plan needs a {arena:,}-byte arena, more than "
                          f"{MAX_ARENA_BYTES:,} (no microcontroller has that RAM): a corrupt "
                          f"shape, stride or dilation")
    return MemoryPlan(buffers={b.tensor: b for b in best}, arena_bytes=arena, alias=alias,
                      in_place=in_place,
                      links=tuple(link for link, on in zip(links, best_keep, strict=True) if on))


def overlap_links(program: Program, spans: dict[int, tuple[int, int, int]],
                  alias: dict[int, int], in_place: frozenset[int], align: int) -> list[Link]:
    """Every (input, output, offset) an op allows: the input dies at the op's step and the
    output is born there. Each tensor has at most one link in and one out (it dies at one
    step, the op has one output), so links form chains, whose members live one after the
    other (only neighbours overlap, at the step that joins them)."""
    graph = program.graph
    links = []
    for step, op in enumerate(program.steps):
        out = op.outputs[0] if len(op.outputs) == 1 else -1
        if step in in_place or out not in spans or spans[out][1] != step:
            continue
        sources = [_root(alias, t) if t >= 0 else -1 for t in op.inputs[:2]]
        for position, source in enumerate(sources):
            if source not in spans or spans[source][2] != step or sources.count(source) > 1:
                continue
            shift = displacement(graph, op, position, align)
            if shift is not None:
                links.append((source, out, -shift))
                break
    return links


def _climb(spans: dict[int, tuple[int, int, int]], links: list[Link], keep: list[bool],
           align: int) -> tuple[list[bool], list[Buffer]]:
    """From the links ``keep`` says, toggle each in turn and keep the toggle when the arena
    shrinks (the start alone past ``SEARCH_LINKS`` links)."""
    placed = _place(spans, links, keep, align)
    for k in range(len(links) if len(links) <= SEARCH_LINKS else 0):
        trial = keep.copy()
        trial[k] = not trial[k]
        candidate = _place(spans, links, trial, align)
        if _arena(candidate) < _arena(placed):
            keep, placed = trial, candidate
    return keep, placed


def _root(alias: dict[int, int], tensor_id: int) -> int:
    """The tensor that owns ``tensor_id``'s bytes under ``alias``."""
    while tensor_id in alias:
        tensor_id = alias[tensor_id]
    return tensor_id


def _place(spans: dict[int, tuple[int, int, int]], links: list[Link], keep: list[bool],
           align: int) -> list[Buffer]:
    """Greedy placement of the units (a tensor alone, or a chain of kept links, members at
    fixed offsets from each other), largest member first, each at the lowest aligned offset
    where no member collides with a placed buffer alive at the same time."""
    position = {t: 0 for t in spans}
    head = {t: t for t in spans}
    for (source, out, rel), on in zip(links, keep, strict=True):
        if on:  # links come in step order: the source is placed in its chain already
            head[out], position[out] = head[source], position[source] + rel
    units: dict[int, list[int]] = {}
    for t in spans:
        units.setdefault(head[t], []).append(t)
    order = sorted(units.values(), key=lambda ts: (-max(spans[t][0] for t in ts),
                                                   min(spans[t][1] for t in ts), ts[0]))
    placed: list[Buffer] = []
    for members in order:
        low = -min(position[t] for t in members)
        base = _lowest_base(placed, members, spans, position, low, align)
        for t in members:
            size, first, last = spans[t]
            placed.append(Buffer(tensor=t, size_bytes=size, first_step=first, last_step=last,
                                 offset_bytes=base + position[t]))
    return placed


def _lowest_base(placed: list[Buffer], members: list[int], spans, position, low: int,
                 align: int) -> int:
    """Lowest aligned base >= low at which every member (at base + its position) is clear."""
    base = low
    while True:
        moved = False
        for t in members:
            size, first, last = spans[t]
            start = base + position[t]
            for other in placed:
                if (other.first_step <= last and first <= other.last_step
                        and start < other.offset_bytes + other.size_bytes
                        and other.offset_bytes < start + size):
                    base = _round_up(other.offset_bytes + other.size_bytes - position[t], align)
                    moved = True
                    break
            if moved:
                break
        if not moved:
            return base


def _arena(placed: list[Buffer]) -> int:
    return max((b.offset_bytes + b.size_bytes for b in placed), default=0)


def _round_up(value: int, align: int) -> int:
    return (value + align - 1) // align * align
