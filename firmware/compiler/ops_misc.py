"""Lowering of MEAN, CONCATENATION, SOFTMAX, LOGISTIC, ADD and int8->int8 QUANTIZE."""

from __future__ import annotations

import numpy as np

from tinyfuse.firmware.compiler.ops import OpCode, OpContext, _need_const, _qp, c_array, c_struct
from tinyfuse.firmware.compiler.quant import activation_range, input_radius, quantize_multiplier


def mean(ctx: OpContext) -> OpCode:
    inp, out = ctx.tensor(0), ctx.output
    raw_axes = [int(a) for a in _need_const(ctx, ctx.tensor(1), "axis", "int32").reshape(-1)]
    rank = len(inp.shape)
    axes = sorted({a + rank if a < 0 else a for a in raw_axes})
    if not axes or axes[0] < 0 or axes[-1] >= rank:
        raise ctx.fail(f"axes {raw_axes} are invalid for a rank-{rank} input")
    between = [d for d in range(axes[0], axes[-1] + 1) if d not in axes]
    if any(inp.shape[d] != 1 for d in between):
        raise ctx.fail(f"reducing non-adjacent axes {raw_axes} is not supported")
    outer = int(np.prod(inp.shape[: axes[0]], dtype=np.int64))
    reduced = int(np.prod([inp.shape[a] for a in axes], dtype=np.int64))
    inner = int(np.prod(inp.shape[axes[-1] + 1 :], dtype=np.int64))
    if out.elements != outer * inner:
        raise ctx.fail(f"output {list(out.shape)} does not match the reduction")
    in_scale, in_zp = _qp(ctx, inp)
    out_scale, out_zp = _qp(ctx, out)
    multiplier, shift = quantize_multiplier(in_scale / out_scale)
    special = (ctx.op.options["keep_dims"] and rank == 4 and len(raw_axes) == 2
               and sorted(raw_axes) == [1, 2])
    if special:  # current reference_integer_ops::Mean folds 1/count like QuantizedMeanOrSum
        mode = "TF_MEAN_REQUANT"
        multiplier, shift = _fold_count(multiplier, shift, reduced)
    elif in_zp == out_zp and np.float32(in_scale) == np.float32(out_scale):
        mode = "TF_MEAN_SAME_QUANT"
    else:
        mode = "TF_MEAN_REQUANT"
        multiplier, shift = _fold_count(multiplier, shift, reduced)
    params = dict(outer=outer, reduced=reduced, inner=inner, mode=mode, input_zp=in_zp,
                  output_zp=out_zp, multiplier=multiplier, shift=shift)
    decls = (c_struct("tf_mean_params", f"{ctx.name}_params", params),)
    call = f"tf_mean_s8(&{ctx.name}_params, {ctx.pointer(inp.index)}, {ctx.pointer(out.index)});"
    return OpCode(decls=decls, call=call)


def _fold_count(multiplier: int, shift: int, count: int) -> tuple[int, int]:
    """QuantizedMeanOrSum: fold 1/count into the output multiplier."""
    extra = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << extra) // count, shift - extra


def concatenation(ctx: OpContext) -> OpCode:
    out = ctx.output
    rank = len(out.shape)
    axis = ctx.op.options["axis"]
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < max(rank, 1):
        raise ctx.fail(f"axis {ctx.op.options['axis']} is invalid for rank {rank}")
    inputs = [ctx.tensor(i) for i in range(len(ctx.op.inputs))]
    outer = int(np.prod(out.shape[:axis], dtype=np.int64))
    inner = []
    out_qp = _qp(ctx, out)
    for tensor in inputs:
        if _qp(ctx, tensor) != out_qp:  # TFLite Micro's int8 concatenation does not rescale
            raise ctx.fail(f"input {tensor.label()} has scale/zero point {_qp(ctx, tensor)}, "
                           f"the output has {out_qp}: they must be equal")
        if tensor.is_const:
            raise ctx.fail(f"constant input {tensor.label()} is not supported")
        if len(tensor.shape) != rank or tensor.shape[:axis] != out.shape[:axis]:
            raise ctx.fail(f"input {list(tensor.shape)} does not fit output {list(out.shape)}")
        inner.append(int(np.prod(tensor.shape[axis:], dtype=np.int64)))
    if sum(inner) * outer != out.elements:
        raise ctx.fail("input sizes do not add up to the output size")
    pointers = ", ".join(ctx.pointer(t.index) for t in inputs)
    decls = (c_array("int32_t", f"{ctx.name}_inner", inner),)
    call = (f"{{ const int8_t *ins[{len(inputs)}] = {{{pointers}}}; tf_concat_s8({len(inputs)}, "
            f"ins, {ctx.name}_inner, {outer}, {ctx.pointer(out.index)}); }}")
    return OpCode(decls=decls, call=call)


def _need_prob_output(ctx: OpContext) -> None:
    scale, zp = _qp(ctx, ctx.output)
    if zp != -128 or abs(scale - 1.0 / 256) > 1e-9:
        raise ctx.fail(f"int8 output must have scale 1/256 and zero point -128, got {scale}, {zp}")


def _same_shape(ctx: OpContext, inp, out) -> None:
    """An element-wise op's output must have its input's shape: TFLite Micro sizes the loop by
    the input, so a larger output is left partly unwritten and a smaller one overrun."""
    if out.shape != inp.shape:
        raise ctx.fail(f"output {out.label()} has shape {list(out.shape)}, but the input "
                       f"{inp.label()} has {list(inp.shape)}")


def softmax(ctx: OpContext) -> OpCode:
    inp, out = ctx.tensor(0), ctx.output
    _same_shape(ctx, inp, out)
    in_scale, _ = _qp(ctx, inp)
    _need_prob_output(ctx)
    depth = inp.shape[-1] if inp.shape else 1
    beta = float(np.float32(ctx.op.options["beta"]))
    real = min(beta * in_scale * float(1 << 26), float((1 << 31) - 1))
    multiplier, left_shift = quantize_multiplier(real)
    if left_shift < 0:
        raise ctx.fail(f"beta * input scale {real / (1 << 26)} is too small for int8 softmax")
    diff_min = -input_radius(5, left_shift)
    call = (f"tf_softmax_s8({inp.elements // depth}, {depth}, {multiplier}, {left_shift}, "
            f"{diff_min}, {ctx.pointer(inp.index)}, {ctx.pointer(out.index)});")
    return OpCode(decls=(), call=call)


def logistic(ctx: OpContext) -> OpCode:
    inp, out = ctx.tensor(0), ctx.output
    _same_shape(ctx, inp, out)
    in_scale, in_zp = _qp(ctx, inp)
    _need_prob_output(ctx)
    fraction, left_shift = np.frexp(in_scale * float(1 << 27))
    multiplier = int(np.floor(abs(float(fraction)) * (1 << 31) + 0.5))
    if multiplier >= 1 << 31 or left_shift < 0 or left_shift > 30:
        raise ctx.fail(f"input scale {in_scale} is out of the int8 logistic range")
    radius = input_radius(4, int(left_shift))
    call = (f"tf_logistic_s8({inp.elements}, {in_zp}, {radius}, {multiplier}, {int(left_shift)}, "
            f"{ctx.pointer(inp.index)}, {ctx.pointer(out.index)});")
    return OpCode(decls=(), call=call)


def quantize(ctx: OpContext) -> OpCode:
    inp, out = ctx.tensor(0), ctx.output
    _same_shape(ctx, inp, out)
    in_scale, in_zp = _qp(ctx, inp)
    out_scale, out_zp = _qp(ctx, out)
    multiplier, shift = quantize_multiplier(in_scale / out_scale)
    call = (f"tf_requantize_s8({inp.elements}, {in_zp}, {out_zp}, {multiplier}, {shift}, "
            f"{ctx.pointer(inp.index)}, {ctx.pointer(out.index)});")
    return OpCode(decls=(), call=call)


def add(ctx: OpContext) -> OpCode:
    a, b, out = ctx.tensor(0), ctx.tensor(1), ctx.output
    for tensor in (a, b):
        if tensor.is_const:
            raise ctx.fail(f"constant input {tensor.label()} is not supported")
    (s1, z1), (s2, z2), (so, zo) = _qp(ctx, a), _qp(ctx, b), _qp(ctx, out)
    left_shift = 20
    twice_max = 2 * float(max(np.float32(s1), np.float32(s2)))
    m1, sh1 = quantize_multiplier(s1 / twice_max)
    m2, sh2 = quantize_multiplier(s2 / twice_max)
    mo, sho = quantize_multiplier(twice_max / (float(1 << left_shift) * so))
    act_min, act_max = activation_range(ctx.op.options["activation"], so, zo, ctx.op.label())
    dims, strides1, strides2 = _broadcast(ctx, a.shape, b.shape, out.shape)
    params = dict(out_dims=dims, in1_strides=strides1, in2_strides=strides2, input1_offset=-z1,
                  input2_offset=-z2, output_offset=zo, left_shift=left_shift,
                  input1_multiplier=m1, input1_shift=sh1, input2_multiplier=m2,
                  input2_shift=sh2, output_multiplier=mo, output_shift=sho, act_min=act_min,
                  act_max=act_max)
    decls = (c_struct("tf_add_params", f"{ctx.name}_params", params),)
    call = (f"tf_add_s8(&{ctx.name}_params, {ctx.pointer(a.index)}, {ctx.pointer(b.index)}, "
            f"{ctx.pointer(out.index)});")
    return OpCode(decls=decls, call=call)


def _broadcast(ctx: OpContext, shape1, shape2, out_shape):
    rank = max(len(shape1), len(shape2), len(out_shape))
    if rank > 4:
        raise ctx.fail(f"broadcasting above 4-D is not supported (rank {rank})")
    ext = [(1,) * (4 - len(s)) + tuple(s) for s in (shape1, shape2, out_shape)]
    dims = list(ext[2])
    strides = []
    for shape in ext[:2]:
        contiguous = [int(np.prod(shape[d + 1 :], dtype=np.int64)) for d in range(4)]
        row = []
        for d in range(4):
            if shape[d] == dims[d]:
                row.append(contiguous[d])
            elif shape[d] == 1:
                row.append(0)
            else:
                raise ctx.fail(f"shapes {list(shape1)} and {list(shape2)} do not broadcast to "
                               f"{list(out_shape)}")
        strides.append(row)
    return dims, strides[0], strides[1]
