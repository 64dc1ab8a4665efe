"""The multiply-accumulate loops of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED: int8
inputs and weights, int32 sums. Written for ``@micropython.viper`` (machine-word integers, raw
buffer access); requantization stays in Python integers (``kernels``), which need 64 bits.

``arena`` holds the activations, ``blob`` the constants (int8 values, read as bytes and
sign-extended with ``((v + 128) & 0xFF) - 128``, which is right for signed and unsigned reads
alike), ``sums`` an ``array('i')`` receiving one sum per output element in NHWC order,
``words`` an ``array('i')`` of non-negative shape parameters (see ``model.CONV_GEOMETRY``);
signed values come as plain arguments.

Where the decorators cannot run: on CPython ``shim`` makes them no-ops and ``ptr8``/``ptr32``
identities; for a MicroPython port built without the native emitter the host generator writes
``mac_plain.py`` (this file without the decorators), which ``kernels`` falls back to.
"""

import sys

from .fixed import mbqm

if sys.implementation.name == "micropython":
    import micropython
else:  # CPython (which may have an unrelated module of that name)
    from .shim import micropython, ptr8, ptr32  # type: ignore[no-redef]  # noqa: F401


@micropython.viper
def conv_acc(arena, blob, sums, words, input_offset: int, depthwise: int):
    x = ptr8(arena)
    w = ptr8(blob)
    acc = ptr32(sums)
    p = ptr32(words)
    batches = p[0]
    in_h = p[1]
    in_w = p[2]
    in_c = p[3]
    out_h = p[4]
    out_w = p[5]
    out_c = p[6]
    k_h = p[7]
    k_w = p[8]
    fic = p[9]
    mult = p[10]
    stride_h = p[11]
    stride_w = p[12]
    dil_h = p[13]
    dil_w = p[14]
    pad_h = p[15]
    pad_w = p[16]
    in_off = p[17]
    w_off = p[18]
    per_group = out_c
    if not depthwise:
        per_group = out_c // (in_c // fic)
    o = 0
    for b in range(batches):
        for oy in range(out_h):
            y0 = oy * stride_h - pad_h
            for ox in range(out_w):
                x0 = ox * stride_w - pad_w
                for oc in range(out_c):
                    s = 0
                    for fy in range(k_h):
                        iy = y0 + fy * dil_h
                        if iy < 0 or iy >= in_h:
                            continue
                        row = in_off + (b * in_h + iy) * in_w * in_c
                        for fx in range(k_w):
                            ix = x0 + fx * dil_w
                            if ix < 0 or ix >= in_w:
                                continue
                            if depthwise:
                                xi = row + ix * in_c + oc // mult
                                wi = w_off + (fy * k_w + fx) * out_c + oc
                                xv = ((int(x[xi]) + 128) & 0xFF) - 128
                                wv = ((int(w[wi]) + 128) & 0xFF) - 128
                                s += wv * (xv + input_offset)
                            else:
                                xi = row + ix * in_c + (oc // per_group) * fic
                                wi = w_off + ((oc * k_h + fy) * k_w + fx) * fic
                                for ic in range(fic):
                                    xv = ((int(x[xi + ic]) + 128) & 0xFF) - 128
                                    wv = ((int(w[wi + ic]) + 128) & 0xFF) - 128
                                    s += wv * (xv + input_offset)
                    acc[o] = s
                    o += 1


@micropython.viper
def fc_acc(arena, blob, sums, words, input_offset: int, filter_offset: int):
    x = ptr8(arena)
    w = ptr8(blob)
    acc = ptr32(sums)
    p = ptr32(words)
    batches = p[0]
    depth = p[1]
    out_depth = p[2]
    in_off = p[3]
    w_off = p[4]
    o = 0
    for b in range(batches):
        xb = in_off + b * depth
        for oc in range(out_depth):
            wb = w_off + oc * depth
            s = 0
            for i in range(depth):
                xv = ((int(x[xb + i]) + 128) & 0xFF) - 128
                wv = ((int(w[wb + i]) + 128) & 0xFF) - 128
                s += (wv + filter_offset) * (xv + input_offset)
            acc[o] = s
            o += 1


@micropython.native
def requantize_sums(acc, count, arena, out_off, channels, tables, out_zp, lo, hi):
    """arena[out_off + i] = clamp(mbqm(acc[i] + bias[c], mult[c], shift[c]) + out_zp) for
    the first ``count`` sums."""
    bias, mult, shift = tables
    c = 0
    for i in range(count):
        total = acc[i] + bias[c] if bias else acc[i]
        v = mbqm(total, mult[c], shift[c]) + out_zp
        arena[out_off + i] = lo if v < lo else (hi if v > hi else v)
        c += 1
        if c == channels:
            c = 0
