"""Lowering of standalone activations (RELU, RELU6, LEAKY_RELU, TANH, HARD_SWISH) and of the
binary element-wise ops SUB, MUL, MAXIMUM and MINIMUM (4-D broadcasting, constant operands)."""

from __future__ import annotations

import numpy as np

from tinyfuse.firmware.compiler.ops import OpCode, OpContext, _qp, c_array, c_struct
from tinyfuse.firmware.compiler.ops_misc import _broadcast
from tinyfuse.firmware.compiler.quant import (
    activation_range,
    input_radius,
    quantize_float32,
    quantize_multiplier,
)
from tinyfuse.firmware.compiler.reader import Tensor


def operand(ctx: OpContext, tensor: Tensor, slot: int) -> tuple[list[str], str]:
    """C expression of an int8 input: its arena address, or a flash array for a constant."""
    _qp(ctx, tensor)
    if not tensor.is_const:
        return [], ctx.pointer(tensor.index)
    name = f"{ctx.name}_in{slot}_const"
    return [c_array("int8_t", name, tensor.data)], name


def _unary(ctx: OpContext) -> tuple[Tensor, Tensor, str, str]:
    inp, out = ctx.tensor(0), ctx.output
    if inp.elements != out.elements:
        raise ctx.fail(f"input {list(inp.shape)} and output {list(out.shape)} differ in size")
    return inp, out, ctx.pointer(inp.index), ctx.pointer(out.index)


def relu(ctx: OpContext) -> OpCode:
    inp, out, src, dst = _unary(ctx)
    in_scale, in_zp = _qp(ctx, inp)
    out_scale, out_zp = _qp(ctx, out)
    multiplier, shift = quantize_multiplier(float(in_scale) / float(out_scale))
    act_min = max(-128, out_zp)
    return OpCode(decls=(), call=f"tf_relu_s8({inp.elements}, {in_zp}, {out_zp}, {multiplier}, "
                                 f"{shift}, {act_min}, 127, {src}, {dst});")


def relu6(ctx: OpContext) -> OpCode:
    """TFLM clamps the raw values to [input zero point, quantized 6] (no requantization)."""
    inp, _, src, dst = _unary(ctx)
    _qp(ctx, ctx.output)
    scale, zp = _qp(ctx, inp)
    six = min(127, max(-128, quantize_float32(6.0, scale, zp)))
    return OpCode(decls=(), call=f"tf_clamp_only_s8({inp.elements}, {zp}, {six}, {src}, {dst});")


def leaky_relu(ctx: OpContext) -> OpCode:
    inp, out, src, dst = _unary(ctx)
    in_scale, in_zp = _qp(ctx, inp)
    out_scale, out_zp = _qp(ctx, out)
    alpha = np.float32(ctx.op.options["alpha"])
    alpha_real = float(np.float32(np.float32(in_scale) * alpha) / np.float32(out_scale))
    identity_real = float(np.float32(in_scale) / np.float32(out_scale))
    if alpha_real < 0:
        raise ctx.fail(f"negative alpha {float(alpha)} is not supported")
    m_id, s_id = quantize_multiplier(identity_real)
    m_alpha, s_alpha = quantize_multiplier(alpha_real)
    return OpCode(decls=(), call=f"tf_leaky_relu_s8({inp.elements}, {in_zp}, {out_zp}, {m_id}, "
                                 f"{s_id}, {m_alpha}, {s_alpha}, {src}, {dst});")


def tanh(ctx: OpContext) -> OpCode:
    inp, out, src, dst = _unary(ctx)
    in_scale, in_zp = _qp(ctx, inp)
    out_scale, out_zp = _qp(ctx, out)
    if out_zp != 0 or abs(out_scale - 1.0 / 128) > 1e-9:
        raise ctx.fail(f"int8 output must have scale 1/128 and zero point 0, got {out_scale}, "
                       f"{out_zp}")
    fraction, left_shift = np.frexp(in_scale * float(1 << 27))
    multiplier = int(np.floor(abs(float(fraction)) * (1 << 31) + 0.5))
    if multiplier >= 1 << 31 or left_shift < 0 or left_shift > 30:
        raise ctx.fail(f"input scale {in_scale} is out of the int8 tanh range")
    radius = input_radius(4, int(left_shift))
    return OpCode(decls=(), call=f"tf_tanh_s8({inp.elements}, {in_zp}, {radius}, {multiplier}, "
                                 f"{int(left_shift)}, {src}, {dst});")


def _int16_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier, then DownScaleInt32ToInt16Multiplier."""
    multiplier, exponent = quantize_multiplier(real)
    if multiplier >= (1 << 31) - 1 - (1 << 15):
        return 32767, exponent
    return (multiplier + (1 << 15)) >> 16, exponent


def hard_swish(ctx: OpContext) -> OpCode:
    inp, out, src, dst = _unary(ctx)
    in_scale, in_zp = _qp(ctx, inp)
    out_scale, out_zp = _qp(ctx, out)
    hires = np.float32(1.0 / 128.0) * np.float32(in_scale)
    out_m, out_e = _int16_multiplier(float(hires / np.float32(out_scale)))
    if out_e > 0:
        raise ctx.fail(f"output scale {out_scale} is too small for int8 hard-swish")
    relu_m, relu_e = _int16_multiplier(float(hires / np.float32(3.0 / 32768.0)))
    params = dict(input_zp=in_zp, output_zp=out_zp, output_multiplier16=out_m,
                  output_exponent=out_e, reluish_multiplier16=relu_m, reluish_exponent=relu_e)
    decls = (c_struct("tf_hard_swish_params", f"{ctx.name}_params", params),)
    call = f"tf_hard_swish_s8(&{ctx.name}_params, {inp.elements}, {src}, {dst});"
    return OpCode(decls=decls, call=call)


def _binary_inputs(ctx: OpContext):
    a, b, out = ctx.tensor(0), ctx.tensor(1), ctx.output
    if a.is_const and b.is_const:
        raise ctx.fail("both inputs are constants")
    decls_a, ptr_a = operand(ctx, a, 0)
    decls_b, ptr_b = operand(ctx, b, 1)
    dims, strides1, strides2 = _broadcast(ctx, a.shape, b.shape, out.shape)
    return a, b, out, [*decls_a, *decls_b], ptr_a, ptr_b, (dims, strides1, strides2)


def sub(ctx: OpContext) -> OpCode:
    a, b, out, decls, ptr_a, ptr_b, (dims, st1, st2) = _binary_inputs(ctx)
    (s1, z1), (s2, z2), (so, zo) = _qp(ctx, a), _qp(ctx, b), _qp(ctx, out)
    left_shift = 20
    twice_max = 2 * float(max(np.float32(s1), np.float32(s2)))
    m1, sh1 = quantize_multiplier(s1 / twice_max)
    m2, sh2 = quantize_multiplier(s2 / twice_max)
    mo, sho = quantize_multiplier(twice_max / (float(1 << left_shift) * so))
    act_min, act_max = activation_range(ctx.op.options["activation"], so, zo, ctx.op.label())
    params = dict(out_dims=dims, in1_strides=st1, in2_strides=st2, input1_offset=-z1,
                  input2_offset=-z2, output_offset=zo, left_shift=left_shift,
                  input1_multiplier=m1, input1_shift=sh1, input2_multiplier=m2,
                  input2_shift=sh2, output_multiplier=mo, output_shift=sho, act_min=act_min,
                  act_max=act_max)
    decls.append(c_struct("tf_add_params", f"{ctx.name}_params", params))
    call = f"tf_sub_s8(&{ctx.name}_params, {ptr_a}, {ptr_b}, {ctx.pointer(out.index)});"
    return OpCode(decls=tuple(decls), call=call)


def mul(ctx: OpContext) -> OpCode:
    a, b, out, decls, ptr_a, ptr_b, (dims, st1, st2) = _binary_inputs(ctx)
    (s1, z1), (s2, z2), (so, zo) = _qp(ctx, a), _qp(ctx, b), _qp(ctx, out)
    multiplier, shift = quantize_multiplier(float(s1) * float(s2) / float(so))
    act_min, act_max = activation_range(ctx.op.options["activation"], so, zo, ctx.op.label())
    params = dict(out_dims=dims, in1_strides=st1, in2_strides=st2, input1_offset=-z1,
                  input2_offset=-z2, output_offset=zo, output_multiplier=multiplier,
                  output_shift=shift, act_min=act_min, act_max=act_max)
    decls.append(c_struct("tf_mul_params", f"{ctx.name}_params", params))
    call = f"tf_mul_s8(&{ctx.name}_params, {ptr_a}, {ptr_b}, {ctx.pointer(out.index)});"
    return OpCode(decls=tuple(decls), call=call)


def _minmax(ctx: OpContext, is_max: int) -> OpCode:
    a, b, out, decls, ptr_a, ptr_b, (dims, st1, st2) = _binary_inputs(ctx)
    _qp(ctx, out)  # TFLM compares the raw int8 values; the converter gives all one scale
    decls += [c_array("int32_t", f"{ctx.name}_dims", dims),
              c_array("int32_t", f"{ctx.name}_s1", st1), c_array("int32_t", f"{ctx.name}_s2", st2)]
    call = (f"tf_minmax_s8({ctx.name}_dims, {ctx.name}_s1, {ctx.name}_s2, {is_max}, {ptr_a}, "
            f"{ptr_b}, {ctx.pointer(out.index)});")
    return OpCode(decls=tuple(decls), call=call)


def maximum(ctx: OpContext) -> OpCode:
    return _minmax(ctx, 1)


def minimum(ctx: OpContext) -> OpCode:
    return _minmax(ctx, 0)
