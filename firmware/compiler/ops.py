"""Per-op lowering to C: validate the op, compute its quantization constants at compile time and
return the C declarations (flash constants, parameter structs) and the kernel call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from tinyfuse.core.errors import ExportError
from tinyfuse.firmware.compiler.overlap import pad_before
from tinyfuse.firmware.compiler.quant import (
    activation_range,
    effective_scales,
)
from tinyfuse.firmware.compiler.reader import Operator, Tensor


@dataclass(frozen=True, slots=True, kw_only=True)
class OpContext:
    op: Operator
    tensors: tuple[Tensor, ...]
    name: str                              # C identifier stem, e.g. "op3"
    pointer: Callable[[int], str]          # tensor id -> C expression of its arena address
    scratch: str = "0"                     # C expression of the step's scratch (plan.py)

    def tensor(self, position: int) -> Tensor:
        found = self.optional_tensor(position)
        if found is None:
            raise ExportError(f"{self.op.label()}: input {position} is missing")
        return found

    def optional_tensor(self, position: int) -> Tensor | None:
        ids = self.op.inputs
        if position >= len(ids) or ids[position] < 0:
            return None
        return self.tensors[ids[position]]

    @property
    def output(self) -> Tensor:
        return self.tensors[self.op.outputs[0]]

    def fail(self, message: str) -> ExportError:
        return ExportError(f"{self.op.label()}: {message}")


@dataclass(frozen=True, slots=True, kw_only=True)
class OpCode:
    decls: tuple[str, ...]
    call: str


def c_array(ctype: str, name: str, values) -> str:
    flat = [int(v) for v in np.asarray(values).reshape(-1)]
    lines = []
    for start in range(0, len(flat), 16):
        lines.append("  " + ", ".join(str(v) for v in flat[start : start + 16]) + ",")
    body = "\n".join(lines) if lines else "  0"
    return f"static const {ctype} {name}[{max(len(flat), 1)}] = {{\n{body}\n}};"


def c_struct(ctype: str, name: str, fields: Mapping[str, object]) -> str:
    items = []
    for key, value in fields.items():
        if isinstance(value, list | tuple):
            value = "{" + ", ".join(str(int(v)) for v in value) + "}"
        items.append(f".{key} = {value}")
    return f"static const {ctype} {name} = {{" + ", ".join(items) + "};"


def _qp(ctx: OpContext, tensor: Tensor) -> tuple[float, int]:
    if tensor.dtype != "int8":
        raise ctx.fail(f"{tensor.label()} is {tensor.dtype}; only int8 is supported")
    if tensor.quant is None or tensor.quant.per_channel:
        raise ctx.fail(f"{tensor.label()} needs per-tensor quantization")
    return float(tensor.quant.scale[0]), int(tensor.quant.zero_point[0])


def _need_const(ctx: OpContext, tensor: Tensor, what: str, dtype: str) -> np.ndarray:
    if tensor.data is None:
        raise ctx.fail(f"{what} {tensor.label()} must be a constant")
    if tensor.dtype != dtype:
        raise ctx.fail(f"{what} {tensor.label()} is {tensor.dtype}, expected {dtype}")
    return tensor.data


def _padding(ctx: OpContext, padding: str, in_size: int, k: int, stride: int, dilation: int,
             out_size: int, axis: str) -> int:
    if stride < 1 or dilation < 1:
        raise ctx.fail(f"stride/dilation along {axis} must be >= 1 (got {stride}, {dilation})")
    effective = (k - 1) * dilation + 1
    if padding == "SAME":
        expected = (in_size + stride - 1) // stride
    else:
        expected = (in_size + stride - effective) // stride
    if expected != out_size:
        raise ctx.fail(f"output {axis} is {out_size}, but {padding} padding gives {expected}")
    return pad_before(in_size, k, stride, dilation, out_size)


def _shape4(ctx: OpContext, tensor: Tensor, what: str) -> tuple[int, int, int, int]:
    if len(tensor.shape) != 4:
        raise ctx.fail(f"{what} {tensor.label()} must be 4-D NHWC, got {list(tensor.shape)}")
    return tensor.shape  # type: ignore[return-value]


def _bias(ctx: OpContext, channels: int) -> tuple[list[str], str]:
    bias = ctx.optional_tensor(2)
    if bias is None:
        return [], "0"
    data = _need_const(ctx, bias, "bias", "int32")
    if data.size != channels:
        raise ctx.fail(f"bias has {data.size} values for {channels} output channels")
    return [c_array("int32_t", f"{ctx.name}_bias", data)], f"{ctx.name}_bias"


def _requant_tables(ctx: OpContext, filt: Tensor, channels: int) -> list[str]:
    in_scale, _ = _qp(ctx, ctx.tensor(0))
    out_scale, _ = _qp(ctx, ctx.output)
    if filt.quant is None:
        raise ctx.fail(f"filter {filt.label()} has no quantization parameters")
    if filt.quant.per_channel and filt.quant.scale.size != channels:
        raise ctx.fail(f"filter has {filt.quant.scale.size} scales for {channels} channels")
    mult, shift = effective_scales(in_scale, filt.quant.scale, out_scale, channels)
    return [c_array("int32_t", f"{ctx.name}_mult", mult),
            c_array("int32_t", f"{ctx.name}_shift", shift)]


def _conv_like(ctx: OpContext, depthwise: bool) -> OpCode:
    o = ctx.op.options
    inp, out = ctx.tensor(0), ctx.output
    filt = ctx.tensor(1)
    weights = _need_const(ctx, filt, "filter", "int8")
    n, in_h, in_w, in_c = _shape4(ctx, inp, "input")
    on, out_h, out_w, out_c = _shape4(ctx, out, "output")
    fo, k_h, k_w, f_c = _shape4(ctx, filt, "filter")
    if on != n:
        raise ctx.fail(f"batch {n} in, {on} out")
    if depthwise:
        if fo != 1 or f_c != out_c or out_c % in_c:
            raise ctx.fail(f"depthwise filter {list(filt.shape)} does not fit input channels "
                           f"{in_c} and output channels {out_c}")
        multiplier, filter_in_c = out_c // in_c, 1
        if o["depth_multiplier"] != multiplier:  # TFLite Micro loops over the option's value
            raise ctx.fail(f"depth_multiplier {o['depth_multiplier']} does not match input "
                           f"channels {in_c} and output channels {out_c} (expected "
                           f"{multiplier})")
    else:
        if fo != out_c or in_c % f_c or out_c % (in_c // f_c):
            raise ctx.fail(f"filter {list(filt.shape)} does not fit input channels {in_c} "
                           f"and output channels {out_c}")
        multiplier, filter_in_c = 1, f_c
    pad_h = _padding(ctx, o["padding"], in_h, k_h, o["stride_h"], o["dilation_h"], out_h, "height")
    pad_w = _padding(ctx, o["padding"], in_w, k_w, o["stride_w"], o["dilation_w"], out_w, "width")
    _, in_zp = _qp(ctx, inp)
    out_scale, out_zp = _qp(ctx, out)
    act_min, act_max = activation_range(o["activation"], out_scale, out_zp, ctx.op.label())
    bias_decls, bias_name = _bias(ctx, out_c)
    params = dict(batches=n, in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w,
                  out_c=out_c, k_h=k_h, k_w=k_w, filter_in_c=filter_in_c,
                  depth_multiplier=multiplier, stride_h=o["stride_h"], stride_w=o["stride_w"],
                  dil_h=o["dilation_h"], dil_w=o["dilation_w"], pad_h=pad_h, pad_w=pad_w,
                  input_offset=-in_zp, output_offset=out_zp, act_min=act_min, act_max=act_max)
    decls = [c_struct("tf_conv_params", f"{ctx.name}_params", params),
             c_array("int8_t", f"{ctx.name}_filter", weights), *bias_decls,
             *_requant_tables(ctx, filt, out_c)]
    kernel = "tf_depthwise_conv_s8" if depthwise else "tf_conv_s8"
    call = (f"{kernel}(&{ctx.name}_params, {ctx.pointer(inp.index)}, {ctx.name}_filter, "
            f"{bias_name}, {ctx.name}_mult, {ctx.name}_shift, {ctx.scratch}, "
            f"{ctx.pointer(out.index)});")
    return OpCode(decls=tuple(decls), call=call)


def conv_2d(ctx: OpContext) -> OpCode:
    return _conv_like(ctx, depthwise=False)


def depthwise_conv_2d(ctx: OpContext) -> OpCode:
    return _conv_like(ctx, depthwise=True)


def fully_connected(ctx: OpContext) -> OpCode:
    o = ctx.op.options
    if o["weights_format"] != 0:
        raise ctx.fail("only the DEFAULT weights format is supported")
    inp, out, filt = ctx.tensor(0), ctx.output, ctx.tensor(1)
    weights = _need_const(ctx, filt, "filter", "int8")
    if len(filt.shape) != 2:
        raise ctx.fail(f"filter must be 2-D, got {list(filt.shape)}")
    out_depth, accum = filt.shape
    if inp.elements % accum or out.elements != inp.elements // accum * out_depth:
        raise ctx.fail(f"input {list(inp.shape)} / output {list(out.shape)} do not fit filter "
                       f"{list(filt.shape)}")
    _, in_zp = _qp(ctx, inp)
    out_scale, out_zp = _qp(ctx, out)
    act_min, act_max = activation_range(o["activation"], out_scale, out_zp, ctx.op.label())
    filter_zp = 0 if filt.quant is None or filt.quant.per_channel else int(
        filt.quant.zero_point[0])
    bias_decls, bias_name = _bias(ctx, out_depth)
    params = dict(batches=inp.elements // accum, accum_depth=accum, out_depth=out_depth,
                  input_offset=-in_zp, filter_offset=-filter_zp, output_offset=out_zp,
                  act_min=act_min, act_max=act_max)
    decls = [c_struct("tf_fc_params", f"{ctx.name}_params", params),
             c_array("int8_t", f"{ctx.name}_filter", weights), *bias_decls,
             *_requant_tables(ctx, filt, out_depth)]
    call = (f"tf_fully_connected_s8(&{ctx.name}_params, {ctx.pointer(inp.index)}, "
            f"{ctx.name}_filter, {bias_name}, {ctx.name}_mult, {ctx.name}_shift, "
            f"{ctx.pointer(out.index)});")
    return OpCode(decls=tuple(decls), call=call)


def _pool(ctx: OpContext, kernel: str) -> OpCode:
    o = ctx.op.options
    inp, out = ctx.tensor(0), ctx.output
    n, in_h, in_w, ch = _shape4(ctx, inp, "input")
    _, out_h, out_w, out_c = _shape4(ctx, out, "output")
    if out_c != ch or _qp(ctx, inp) != _qp(ctx, out):
        raise ctx.fail("pooling must keep channels and quantization parameters")
    k_h, k_w = o["filter_height"], o["filter_width"]
    if k_h < 1 or k_w < 1:
        raise ctx.fail(f"pool size {k_h}x{k_w} is invalid")
    if k_h > in_h or k_w > in_w:  # a window past the input is padding only; refused
        raise ctx.fail(f"pool size {k_h}x{k_w} exceeds the {in_h}x{in_w} input")
    pad_h = _padding(ctx, o["padding"], in_h, k_h, o["stride_h"], 1, out_h, "height")
    pad_w = _padding(ctx, o["padding"], in_w, k_w, o["stride_w"], 1, out_w, "width")
    scale, zp = _qp(ctx, out)
    act_min, act_max = activation_range(o["activation"], scale, zp, ctx.op.label())
    params = dict(batches=n, in_h=in_h, in_w=in_w, channels=ch, out_h=out_h, out_w=out_w,
                  k_h=k_h, k_w=k_w, stride_h=o["stride_h"], stride_w=o["stride_w"],
                  pad_h=pad_h, pad_w=pad_w, act_min=act_min, act_max=act_max)
    decls = (c_struct("tf_pool_params", f"{ctx.name}_params", params),)
    call = f"{kernel}(&{ctx.name}_params, {ctx.pointer(inp.index)}, {ctx.pointer(out.index)});"
    return OpCode(decls=decls, call=call)


def max_pool_2d(ctx: OpContext) -> OpCode:
    return _pool(ctx, "tf_max_pool_s8")


def average_pool_2d(ctx: OpContext) -> OpCode:
    return _pool(ctx, "tf_avg_pool_s8")
