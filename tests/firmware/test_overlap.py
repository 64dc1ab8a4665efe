"""Outputs that overlap the input they consume (firmware/compiler/overlap.py): the displacement
formula against a byte-level simulation of the kernels' order, known answers, a plan whose
overlaps are exactly its links, and bit-exact parity of a model that uses every kind."""

from __future__ import annotations

import itertools
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from bench.models import cached_tflite
from tinyfuse.firmware.compiler.lower import lower
from tinyfuse.firmware.compiler.overlap import displacement, pad_before
from tinyfuse.firmware.compiler.plan import plan_memory
from tinyfuse.firmware.compiler.reader import read_model
from tinyfuse.firmware.parity import check_parity

ALIGN = 16


def _op(kind, in_shape, out_shape, k=3, stride=1, dilation=1, second=None):
    tensors = [SimpleNamespace(shape=in_shape),
               SimpleNamespace(shape=second or (out_shape[-1], k, k, in_shape[-1])),
               SimpleNamespace(shape=out_shape)]
    op = SimpleNamespace(op=kind, inputs=(0, 1), outputs=(2,),
                         options={"stride_h": stride, "dilation_h": dilation})
    return SimpleNamespace(tensors=tensors), op


def _clobbers(in_shape, out_shape, k, stride, dilation, d, pairs):
    """First input byte a convolution reads after the output overwrote it, the output written
    in row-major pixel order (two pixels gathered before either is written when ``pairs``, as
    the 2 x 2 kernels do), its input ``d`` bytes after the output's start; None if none."""
    _, in_h, in_w, in_c = in_shape
    _, out_h, out_w, out_c = out_shape
    pad_h = pad_before(in_h, k, stride, dilation, out_h)
    pad_w = pad_before(in_w, k, stride, dilation, out_w)
    written = np.zeros(d + in_h * in_w * in_c + out_h * out_w * out_c, bool)

    def reads(q):
        oy, ox = divmod(q, out_w)
        for fy, fx in itertools.product(range(k), repeat=2):
            y, x = oy * stride - pad_h + fy * dilation, ox * stride - pad_w + fx * dilation
            if 0 <= y < in_h and 0 <= x < in_w:
                yield from range(d + (y * in_w + x) * in_c, d + (y * in_w + x + 1) * in_c)

    group = 2 if pairs else 1
    for q in range(0, out_h * out_w, group):
        batch = range(q, min(q + group, out_h * out_w))
        for p in batch:
            bad = [i for i in reads(p) if written[i]]
            if bad:
                return bad[0]
        for p in batch:
            written[p * out_c:(p + 1) * out_c] = True
    return None


@pytest.mark.parametrize("seed", range(40))
def test_the_displacement_never_lets_a_kernel_overwrite_input_it_still_reads(seed):
    rng = np.random.default_rng(seed)
    k, stride = int(rng.integers(1, 4)), int(rng.integers(1, 3))
    dilation = int(rng.integers(1, 3)) if stride == 1 else 1
    in_h, in_w, in_c = (int(v) for v in rng.integers(2, 9, size=3))
    out_c = int(rng.integers(1, 9))
    out_h, out_w = -(-in_h // stride), -(-in_w // stride)  # SAME padding
    graph, op = _op("CONV_2D", (1, in_h, in_w, in_c), (1, out_h, out_w, out_c), k, stride,
                    dilation)
    d = displacement(graph, op, 0, ALIGN)
    assert d is not None and d % ALIGN == 0 and d >= ALIGN
    for pairs in (False, True):
        assert _clobbers((1, in_h, in_w, in_c), (1, out_h, out_w, out_c), k, stride, dilation,
                         d, pairs) is None


def test_known_displacements():
    # pointwise 8 -> 16 channels on 48 x 48 (MobileNet's first expansion): the last output row
    # ends one output row past the input's end, so the input sits in the output's upper half
    graph, op = _op("CONV_2D", (1, 48, 48, 8), (1, 48, 48, 16), k=1)
    assert displacement(graph, op, 0, ALIGN) == 48 * 16 + 47 * 48 * 8
    # a stride-2 3x3 convolution writes one output row (384 bytes) per two input rows (576):
    # only its first row must lie below the input
    graph, op = _op("CONV_2D", (1, 96, 96, 3), (1, 48, 48, 8), stride=2)
    assert displacement(graph, op, 0, ALIGN) == 48 * 8
    # a same-shape 3x3 convolution: two rows ahead (row r reads from row r - 1 on)
    graph, op = _op("CONV_2D", (1, 32, 32, 16), (1, 32, 32, 16))
    assert displacement(graph, op, 0, ALIGN) == 2 * 32 * 16
    graph, op = _op("ADD", (1, 4, 4, 8), (1, 4, 4, 8), second=(1, 4, 4, 8))
    assert displacement(graph, op, 1, ALIGN) == 0
    graph, op = _op("ADD", (1, 4, 4, 8), (1, 4, 4, 8), second=(1, 1, 1, 8))  # broadcast
    assert displacement(graph, op, 0, ALIGN) is None
    graph, op = _op("CONV_2D", (2, 4, 4, 8), (2, 4, 4, 8))  # batch 2
    assert displacement(graph, op, 0, ALIGN) is None
    graph, op = _op("MAX_POOL_2D", (1, 4, 4, 8), (1, 2, 2, 8))
    assert displacement(graph, op, 0, ALIGN) is None


def _overlapping_pairs(plan):
    pairs = set()
    for a, b in itertools.combinations(plan.buffers.values(), 2):
        alive_together = a.first_step <= b.last_step and b.first_step <= a.last_step
        disjoint = (a.offset_bytes + a.size_bytes <= b.offset_bytes
                    or b.offset_bytes + b.size_bytes <= a.offset_bytes)
        if alive_together and not disjoint:
            pairs.add((a.tensor, b.tensor))
            pairs.add((b.tensor, a.tensor))
    return pairs


def test_only_linked_tensors_overlap_and_the_arena_shrinks():
    program = lower(read_model(cached_tflite("residual")))
    plan = plan_memory(program)
    assert len(plan.links) >= 3  # the expansion, the stride-2 depthwise, the ADD at least
    kinds = {program.steps[plan.buffers[out].first_step].op for _, out, _ in plan.links}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD"} <= kinds
    linked = {(a, b) for a, b, _ in plan.links} | {(b, a) for a, b, _ in plan.links}
    assert _overlapping_pairs(plan) <= linked
    for source, out, rel in plan.links:
        assert plan.offset(out) - plan.offset(source) == rel
    # the largest tensors alone: 16 x 12 x 16 bytes for the expansion, then a little more
    assert plan.arena_bytes < 16 * 12 * (8 + 16)
    plain = plan_memory(program, overlaps=False)
    assert not plain.links and plain.arena_bytes >= 16 * 12 * (8 + 16) > plan.arena_bytes


def test_a_model_that_uses_every_overlap_is_bit_exact_on_the_host():
    result = check_parity(cached_tflite("residual"), vectors=8, seed=3)
    assert result.ok, str(result)


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None
                    or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize(("board", "kernels"), [("qemu-m4", "portable"), ("qemu-m4", "dsp"),
                                               ("mps3-an547", "mve")])
def test_a_model_that_uses_every_overlap_is_bit_exact_on_the_board(board, kernels):
    """The Helium convolution computes four pixels before it writes them: still safe."""
    result = check_parity(cached_tflite("residual"), target=board, vectors=4, seed=3,
                          kernels=kernels)
    assert result.ok, str(result)
