"""Lowering of data-movement ops (PAD, PADV2, TRANSPOSE, STRIDED_SLICE, SLICE, SPLIT, SPLIT_V,
PACK, UNPACK, TILE, RESIZE_NEAREST_NEIGHBOR) and REDUCE_MAX. None of them requantizes (TFLM
copies raw int8 values), so each becomes one or more strided copies."""

from __future__ import annotations

import math

import numpy as np

from tinyfuse.firmware.compiler.ops import OpCode, OpContext, _need_const, _qp, c_array, c_struct
from tinyfuse.firmware.compiler.reader import Tensor
from tinyfuse.firmware.compiler.slicing import slice_plan

MAX_RANK = 6


def contiguous_strides(shape) -> list[int]:
    strides, step = [], 1
    for dim in reversed(tuple(shape)):
        strides.append(step)
        step *= int(dim)
    return strides[::-1]


def _ints(ctx: OpContext, position: int, what: str) -> list[int]:
    tensor = ctx.tensor(position)
    if tensor.data is None or tensor.dtype not in ("int32", "int64"):
        raise ctx.fail(f"{what} {tensor.label()} must be a constant int32/int64 tensor")
    return [int(v) for v in tensor.data.reshape(-1)]


def _rank_ok(ctx: OpContext, tensor: Tensor) -> None:
    if tensor.dtype != "int8":
        raise ctx.fail(f"{tensor.label()} is {tensor.dtype}; only int8 is supported")
    if len(tensor.shape) > MAX_RANK:
        raise ctx.fail(f"{tensor.label()} has rank {len(tensor.shape)} (at most {MAX_RANK})")


def copy_call(ctx: OpContext, tag: str, dims, in_strides, out_strides, in_start: int,
              out_start: int, src: str, dst: str) -> tuple[str, str]:
    """One tf_copy_s8 call (declaration, statement) over ``dims`` padded to 6-D."""
    pad = MAX_RANK - len(dims)
    params = dict(dims=[1] * pad + list(dims), in_strides=[0] * pad + list(in_strides),
                  out_strides=[0] * pad + list(out_strides), in_start=in_start,
                  out_start=out_start)
    name = f"{ctx.name}_{tag}"
    return c_struct("tf_copy_params", name, params), f"tf_copy_s8(&{name}, {src}, {dst});"


def _axis(ctx: OpContext, axis: int, rank: int) -> int:
    value = axis + rank if axis < 0 else axis
    if not 0 <= value < rank:
        raise ctx.fail(f"axis {axis} is invalid for rank {rank}")
    return value


def pad(ctx: OpContext) -> OpCode:
    inp, out = ctx.tensor(0), ctx.output
    for tensor in (inp, out):
        _rank_ok(ctx, tensor)
    rank = len(inp.shape)
    pairs = np.array(_ints(ctx, 1, "paddings")).reshape(-1, 2) if rank else np.zeros((0, 2))
    if pairs.shape[0] != rank or np.any(pairs < 0):
        raise ctx.fail(f"paddings {pairs.tolist()} do not fit rank {rank} (or are negative)")
    want = tuple(int(d + a + b) for d, (a, b) in zip(inp.shape, pairs, strict=True))
    if want != tuple(out.shape):
        raise ctx.fail(f"padded shape {list(want)} differs from output {list(out.shape)}")
    value = _qp(ctx, out)[1]
    value_tensor = ctx.optional_tensor(2) if ctx.op.op == "PADV2" else None
    if value_tensor is not None:
        value = int(_need_const(ctx, value_tensor, "pad value", "int8").reshape(-1)[0])
    out_strides = contiguous_strides(out.shape)
    start = sum(int(a) * s for (a, _), s in zip(pairs, out_strides, strict=True))
    decl, call = copy_call(ctx, "copy", inp.shape, contiguous_strides(inp.shape), out_strides,
                           0, start, ctx.pointer(inp.index), ctx.pointer(out.index))
    fill = f"tf_fill_s8({out.elements}, {value}, {ctx.pointer(out.index)});"
    return OpCode(decls=(decl,), call=f"{fill}\n  {call}")


def transpose(ctx: OpContext) -> OpCode:
    inp, out = ctx.tensor(0), ctx.output
    for tensor in (inp, out):
        _rank_ok(ctx, tensor)
    perm = _ints(ctx, 1, "permutation")
    rank = len(inp.shape)
    if sorted(perm) != list(range(rank)):
        raise ctx.fail(f"permutation {perm} is invalid for rank {rank}")
    if tuple(inp.shape[p] for p in perm) != tuple(out.shape):
        raise ctx.fail(f"output {list(out.shape)} is not the permuted input {list(inp.shape)}")
    in_strides = contiguous_strides(inp.shape)
    decl, call = copy_call(ctx, "copy", out.shape, [in_strides[p] for p in perm],
                           contiguous_strides(out.shape), 0, 0, ctx.pointer(inp.index),
                           ctx.pointer(out.index))
    return OpCode(decls=(decl,), call=call)


def _slice_code(ctx: OpContext, inp: Tensor, out: Tensor, starts, counts, steps,
                tag: str = "copy", out_start: int = 0) -> tuple[str, str]:
    if math.prod(counts) != out.elements:
        raise ctx.fail(f"slice of {counts} elements does not fill output {list(out.shape)}")
    in_strides = contiguous_strides(inp.shape)
    begin = sum(s * st for s, st in zip(starts, in_strides, strict=True))
    return copy_call(ctx, tag, counts, [st * k for st, k in zip(in_strides, steps, strict=True)],
                     contiguous_strides(counts), begin, out_start, ctx.pointer(inp.index),
                     ctx.pointer(out.index))


def strided_slice(ctx: OpContext) -> OpCode:
    inp, out = ctx.tensor(0), ctx.output
    for tensor in (inp, out):
        _rank_ok(ctx, tensor)
    starts, counts, steps = slice_plan(ctx.op.options, inp.shape, _ints(ctx, 1, "begin"),
                                       _ints(ctx, 2, "end"), _ints(ctx, 3, "strides"),
                                       ctx.op.label())
    decl, call = _slice_code(ctx, inp, out, starts, counts, steps)
    return OpCode(decls=(decl,), call=call)


def slice_op(ctx: OpContext) -> OpCode:
    inp, out = ctx.tensor(0), ctx.output
    for tensor in (inp, out):
        _rank_ok(ctx, tensor)
    begin, size = _ints(ctx, 1, "begin"), _ints(ctx, 2, "size")
    if len(begin) != len(inp.shape) or len(size) != len(inp.shape):
        raise ctx.fail(f"begin {begin} / size {size} do not fit shape {list(inp.shape)}")
    counts = [d - b if s == -1 else s for d, b, s in zip(inp.shape, begin, size, strict=True)]
    if any(b < 0 or c < 0 or b + c > d for b, c, d in zip(begin, counts, inp.shape, strict=True)):
        raise ctx.fail(f"begin {begin} / size {size} fall outside shape {list(inp.shape)}")
    decl, call = _slice_code(ctx, inp, out, begin, counts, [1] * len(begin))
    return OpCode(decls=(decl,), call=call)


def _split_along(ctx: OpContext, inp: Tensor, axis: int, sizes: list[int]) -> OpCode:
    outputs = [ctx.tensors[t] for t in ctx.op.outputs]
    if len(outputs) != len(sizes) or sum(sizes) != inp.shape[axis]:
        raise ctx.fail(f"split sizes {sizes} do not fit axis {axis} of {list(inp.shape)}")
    decls, calls, offset = [], [], 0
    for k, (out, size) in enumerate(zip(outputs, sizes, strict=True)):
        _rank_ok(ctx, out)
        starts = [offset if d == axis else 0 for d in range(len(inp.shape))]
        counts = [size if d == axis else n for d, n in enumerate(inp.shape)]
        decl, call = _slice_code(ctx, inp, out, starts, counts, [1] * len(counts), f"part{k}")
        decls.append(decl)
        calls.append(call)
        offset += size
    return OpCode(decls=tuple(decls), call="\n  ".join(calls))


def split(ctx: OpContext) -> OpCode:
    inp = ctx.tensor(1)
    _rank_ok(ctx, inp)
    axis = _axis(ctx, _ints(ctx, 0, "axis")[0], len(inp.shape))
    count = len(ctx.op.outputs)
    if inp.shape[axis] % count:
        raise ctx.fail(f"axis {axis} of {list(inp.shape)} does not split into {count}")
    return _split_along(ctx, inp, axis, [inp.shape[axis] // count] * count)


def split_v(ctx: OpContext) -> OpCode:
    inp = ctx.tensor(0)
    _rank_ok(ctx, inp)
    axis = _axis(ctx, _ints(ctx, 2, "axis")[0], len(inp.shape))
    sizes = _ints(ctx, 1, "size_splits")
    if sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = inp.shape[axis] - (sum(sizes) + 1)
    return _split_along(ctx, inp, axis, sizes)


def unpack(ctx: OpContext) -> OpCode:
    inp = ctx.tensor(0)
    _rank_ok(ctx, inp)
    axis = _axis(ctx, ctx.op.options["axis"], len(inp.shape))
    return _split_along(ctx, inp, axis, [1] * inp.shape[axis])


def pack(ctx: OpContext) -> OpCode:
    out = ctx.output
    _rank_ok(ctx, out)
    axis = _axis(ctx, ctx.op.options["axis"], len(out.shape))
    inputs = [ctx.tensor(i) for i in range(len(ctx.op.inputs))]
    if out.shape[axis] != len(inputs):
        raise ctx.fail(f"{len(inputs)} inputs do not fill axis {axis} of {list(out.shape)}")
    out_strides = contiguous_strides(out.shape)
    piece = [1 if d == axis else n for d, n in enumerate(out.shape)]
    decls, calls = [], []
    for k, tensor in enumerate(inputs):
        _rank_ok(ctx, tensor)
        if tensor.is_const or tensor.elements != math.prod(piece):
            raise ctx.fail(f"input {tensor.label()} must be a non-constant of shape {piece}")
        decl, call = copy_call(ctx, f"part{k}", piece, contiguous_strides(piece), out_strides,
                               0, k * out_strides[axis], ctx.pointer(tensor.index),
                               ctx.pointer(out.index))
        decls.append(decl)
        calls.append(call)
    return OpCode(decls=tuple(decls), call="\n  ".join(calls))


def tile(ctx: OpContext) -> OpCode:
    inp, out = ctx.tensor(0), ctx.output
    for tensor in (inp, out):
        _rank_ok(ctx, tensor)
    multiples = _ints(ctx, 1, "multiples")
    want = [d * m for d, m in zip(inp.shape, multiples, strict=True)]
    if len(multiples) != len(inp.shape) or tuple(want) != tuple(out.shape):
        raise ctx.fail(f"multiples {multiples} of {list(inp.shape)} do not give "
                       f"{list(out.shape)}")
    decls = (c_array("int32_t", f"{ctx.name}_in_dims", inp.shape),
             c_array("int32_t", f"{ctx.name}_out_dims", out.shape))
    call = (f"tf_tile_s8({len(inp.shape)}, {ctx.name}_in_dims, {ctx.name}_out_dims, "
            f"{ctx.pointer(inp.index)}, {ctx.pointer(out.index)});")
    return OpCode(decls=decls, call=call)


def _nearest(in_size: int, out_size: int, align: bool, half: bool) -> list[int]:
    """GetNearestNeighbor of TFLM's resize kernel, with its float32 arithmetic."""
    f32 = np.float32
    scale = (f32(in_size - 1) / f32(out_size - 1) if align and out_size > 1
             else f32(in_size) / f32(out_size))
    offset = f32(0.5 if half else 0.0)
    table = []
    for x in range(out_size):
        value = (f32(x) + offset) * scale
        index = (int(math.copysign(math.floor(abs(float(value)) + 0.5), float(value))) if align
                 else math.floor(float(value)))
        index = min(index, in_size - 1)
        table.append(max(0, index) if half else index)
    return table


def resize_nearest_neighbor(ctx: OpContext) -> OpCode:
    inp, out = ctx.tensor(0), ctx.output
    for tensor in (inp, out):
        _rank_ok(ctx, tensor)
    if len(inp.shape) != 4 or len(out.shape) != 4:
        raise ctx.fail("input and output must be 4-D NHWC")
    n, in_h, in_w, ch = inp.shape
    _, out_h, out_w, _ = out.shape
    align, half = ctx.op.options["align_corners"], ctx.op.options["half_pixel_centers"]
    decls = (c_array("int32_t", f"{ctx.name}_y", _nearest(in_h, out_h, align, half)),
             c_array("int32_t", f"{ctx.name}_x", _nearest(in_w, out_w, align, half)))
    call = (f"tf_resize_nearest_s8({n}, {in_h}, {in_w}, {ch}, {out_h}, {out_w}, {ctx.name}_y, "
            f"{ctx.name}_x, {ctx.pointer(inp.index)}, {ctx.pointer(out.index)});")
    return OpCode(decls=decls, call=call)


def reduce_max(ctx: OpContext) -> OpCode:
    inp, out = ctx.tensor(0), ctx.output
    rank = len(inp.shape)
    axes = sorted({_axis(ctx, a, rank) for a in _ints(ctx, 1, "axis")})
    if not axes:
        raise ctx.fail("no reduction axes")
    if any(inp.shape[d] != 1 for d in range(axes[0], axes[-1] + 1) if d not in axes):
        raise ctx.fail(f"reducing non-adjacent axes {axes} is not supported")
    if _qp(ctx, inp) != _qp(ctx, out):
        raise ctx.fail("input and output quantization must match (as TFLM requires)")
    outer = math.prod(inp.shape[: axes[0]])
    reduced = math.prod(inp.shape[a] for a in axes)
    inner = math.prod(inp.shape[axes[-1] + 1 :])
    if out.elements != outer * inner:
        raise ctx.fail(f"output {list(out.shape)} does not match the reduction")
    call = (f"tf_reduce_max_s8({outer}, {reduced}, {inner}, {ctx.pointer(inp.index)}, "
            f"{ctx.pointer(out.index)});")
    return OpCode(decls=(), call=call)
