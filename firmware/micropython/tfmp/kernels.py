"""int8 kernels on the arena (an ``array('b')``), as TFLite Micro's reference kernels compute
them; each takes the step's parameter words ``p`` (layouts in ``model``). The heavy sums run in
``mac`` (viper, or its plain twin ``mac_plain`` where a port has no native emitter);
requantization uses ``fixed`` on Python integers."""

from .fixed import clamp, clz32, div_trunc, exp_on_negative_values, logistic_fixed, mbqm
from .fixed import one_over_one_plus_x, rdbpot, srdhm, wrap32

try:
    from . import mac
except (ImportError, SyntaxError, ValueError):  # a port without the native emitter
    from . import mac_plain as mac  # type: ignore  # written by the host generator


def conv(arena, blob, sums, geometry, p, tables, depthwise):
    """CONV_2D / DEPTHWISE_CONV_2D. ``sums`` is the model's int32 scratch (``array('i')``,
    at least one word per output); p: input_offset, output_offset, act_min, act_max,
    out_off; geometry: ``model.CONV_GEOMETRY`` words."""
    mac.conv_acc(arena, blob, sums, geometry, p[0], depthwise)
    count = geometry[0] * geometry[4] * geometry[5] * geometry[6]
    mac.requantize_sums(sums, count, arena, p[4], geometry[6], tables, p[1], p[2], p[3])


def fully_connected(arena, blob, sums, geometry, p, tables):
    """geometry: batches, depth, out_depth, in_off, filter_off; p: input_offset,
    filter_offset, output_offset, act_min, act_max, out_off."""
    mac.fc_acc(arena, blob, sums, geometry, p[0], p[1])
    mac.requantize_sums(sums, geometry[0] * geometry[2], arena, p[5], geometry[2], tables, p[2],
                    p[3], p[4])


def pool(arena, p, is_max):
    batches, in_h, in_w, ch, out_h, out_w, k_h, k_w, s_h, s_w, pad_h, pad_w, lo, hi, src, dst = p
    for b in range(batches):
        for oy in range(out_h):
            in_y = oy * s_h - pad_h
            y0, y1 = max(0, -in_y), min(k_h, in_h - in_y)
            for ox in range(out_w):
                in_x = ox * s_w - pad_w
                x0, x1 = max(0, -in_x), min(k_w, in_w - in_x)
                out = dst + ((b * out_h + oy) * out_w + ox) * ch
                for c in range(ch):
                    acc = -128 if is_max else 0
                    count = 0
                    for fy in range(y0, y1):
                        base = src + ((b * in_h + in_y + fy) * in_w + in_x) * ch + c
                        for fx in range(x0, x1):
                            v = arena[base + fx * ch]
                            if is_max:
                                acc = v if v > acc else acc
                            else:
                                acc += v
                            count += 1
                    if not is_max:
                        if count == 0:
                            continue  # TFLM leaves such an output unwritten
                        half = count // 2
                        acc = div_trunc(acc + half, count) if acc > 0 else \
                            div_trunc(acc - half, count)
                    arena[out + c] = clamp(acc, lo, hi)


MEAN_SAME_QUANT = 1
MEAN_REQUANT = 2


def mean(arena, p):
    outer, reduced, inner, mode, in_zp, out_zp, multiplier, shift, src, dst = p
    for o in range(outer):
        for i in range(inner):
            total = 0
            for r in range(reduced):
                total += arena[src + (o * reduced + r) * inner + i]
            if mode == MEAN_SAME_QUANT:
                v = div_trunc(total, reduced)
            else:
                v = mbqm(wrap32(total - in_zp * reduced), multiplier, shift) + out_zp
            arena[dst + o * inner + i] = clamp(v, -128, 127)


def concatenation(arena, p):
    outer, dst, count = p[0], p[1], p[2]
    for o in range(outer):
        for k in range(count):
            src, inner = p[3 + 2 * k], p[4 + 2 * k]
            start = src + o * inner
            arena[dst:dst + inner] = arena[start:start + inner]
            dst += inner


def _softmax_exp(diff, multiplier, left_shift):
    return exp_on_negative_values(srdhm(wrap32(diff << left_shift), multiplier), 5)


def softmax(arena, p):
    outer, depth, multiplier, left_shift, diff_min, src, dst = p
    for row in range(outer):
        x, y = src + row * depth, dst + row * depth
        top = -128
        for c in range(depth):
            top = max(top, arena[x + c])
        total = 0
        for c in range(depth):
            diff = arena[x + c] - top
            if diff >= diff_min:
                total = wrap32(total + rdbpot(_softmax_exp(diff, multiplier, left_shift), 12))
        headroom = clz32(total)
        bits_over_unit = 12 - headroom
        scale = one_over_one_plus_x(wrap32(((total & 0xFFFFFFFF) << headroom) - (1 << 31)))
        for c in range(depth):
            diff = arena[x + c] - top
            if diff >= diff_min:
                e = _softmax_exp(diff, multiplier, left_shift)
                v = rdbpot(srdhm(scale, e), bits_over_unit + 23) - 128
                arena[y + c] = clamp(v, -128, 127)
            else:
                arena[y + c] = -128


def add(arena, p):
    dims, s1, s2 = p[0:4], p[4:8], p[8:12]
    a, b, dst, off1, off2, out_zp, left_shift, m1, sh1, m2, sh2, mo, sho, lo, hi = p[12:27]
    for i0 in range(dims[0]):
        for i1 in range(dims[1]):
            for i2 in range(dims[2]):
                for i3 in range(dims[3]):
                    x1 = arena[a + i0 * s1[0] + i1 * s1[1] + i2 * s1[2] + i3 * s1[3]]
                    x2 = arena[b + i0 * s2[0] + i1 * s2[1] + i2 * s2[2] + i3 * s2[3]]
                    v1 = mbqm(wrap32((off1 + x1) << left_shift), m1, sh1)
                    v2 = mbqm(wrap32((off2 + x2) << left_shift), m2, sh2)
                    v = mbqm(wrap32(v1 + v2), mo, sho) + out_zp
                    arena[dst] = clamp(v, lo, hi)
                    dst += 1


def logistic(arena, p):
    size, in_zp, radius, multiplier, left_shift, src, dst = p
    for i in range(size):
        x = arena[src + i] - in_zp
        if x <= -radius:
            arena[dst + i] = -128
        elif x >= radius:
            arena[dst + i] = 127
        else:
            q0 = logistic_fixed(mbqm(x, multiplier, left_shift), 4)
            arena[dst + i] = clamp(rdbpot(q0, 23) - 128, -128, 127)


def requantize(arena, p):
    size, in_zp, out_zp, multiplier, shift, src, dst = p
    for i in range(size):
        v = mbqm(arena[src + i] - in_zp, multiplier, shift) + out_zp
        arena[dst + i] = clamp(v, -128, 127)


def relu(arena, p):
    size, in_zp, out_zp, multiplier, shift, lo, hi, src, dst = p
    for i in range(size):
        v = out_zp + mbqm(arena[src + i] - in_zp, multiplier, shift)
        arena[dst + i] = clamp(v, lo, hi)


def clamp_only(arena, p):
    size, lo, hi, src, dst = p
    for i in range(size):
        arena[dst + i] = clamp(arena[src + i], lo, hi)


def reduce_max(arena, p):
    outer, reduced, inner, src, dst = p
    for o in range(outer):
        for i in range(inner):
            top = -128
            for r in range(reduced):
                v = arena[src + (o * reduced + r) * inner + i]
                top = v if v > top else top
            arena[dst + o * inner + i] = top
