"""TFLite Micro's int8 fixed-point arithmetic on Python integers, bit for bit.

Python integers never overflow, so every place where the C code wraps an ``int32_t`` wraps
here with :func:`wrap32`. These are the formulas of tinyfuse's C runtime
(``firmware/runtime/tf_common.h``, ``tf_fixedpoint.h``), which match TFLite Micro's
reference kernels (gemmlowp's fixed-point helpers).
"""

INT32_MIN = -2147483648
INT32_MAX = 2147483647


def wrap32(x):
    """``x`` as a C ``int32_t`` after two's complement wrap-around."""
    x &= 0xFFFFFFFF
    return x - 0x100000000 if x & 0x80000000 else x


def div_trunc(n, d):
    """C integer division (rounds toward zero); ``d > 0``."""
    return n // d if n >= 0 else -((-n) // d)


def clamp(v, lo, hi):
    return lo if v < lo else (hi if v > hi else v)


def srdhm(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul of two int32."""
    if a == b and a == INT32_MIN:
        return INT32_MAX
    return (a * b + 0x40000000) >> 31


def rdbpot(x, exponent):
    """gemmlowp RoundingDivideByPOT: ``x / 2**exponent`` rounded half away from zero."""
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


def mbqm(x, multiplier, shift):
    """TFLite MultiplyByQuantizedMultiplier (int32 ``x``, multiplier in [2**30, 2**31))."""
    if shift > 0:
        return srdhm(wrap32(x << shift), multiplier)
    return rdbpot(srdhm(x, multiplier), -shift)


def sat_shl(x, exponent):
    """gemmlowp SaturatingRoundingMultiplyByPOT with a positive exponent."""
    if exponent == 0:
        return x
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return wrap32(x << exponent)


def clz32(x):
    """Leading zero bits of ``x`` as a uint32."""
    x &= 0xFFFFFFFF
    n = 32
    while x:
        x >>= 1
        n -= 1
    return n


def exp_on_interval_m1_4_0(a):
    """exp(a) for a in [-1/4, 0), Q0.31 in and out."""
    constant_term = 1895147668  # exp(-1/8)
    x = wrap32(a + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    poly = rdbpot(wrap32(srdhm(wrap32(rdbpot(x4, 2) + x3), 715827883) + x2), 1)
    return wrap32(constant_term + srdhm(constant_term, wrap32(x + poly)))


_EXP_MULTIPLIERS = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)


def exp_on_negative_values(a, int_bits):
    """exp(a) for a <= 0 with ``int_bits`` integer bits; result Q0.31."""
    frac_bits = 31 - int_bits
    one_quarter = 1 << (frac_bits - 2)
    a_mod = wrap32((a & (one_quarter - 1)) - one_quarter)
    remainder = wrap32(a_mod - a)
    result = exp_on_interval_m1_4_0(sat_shl(a_mod, int_bits))
    for exponent in range(-2, 5):
        if int_bits > exponent and remainder & (1 << (frac_bits + exponent)):
            result = srdhm(result, _EXP_MULTIPLIERS[exponent + 2])
    if int_bits > 5 and a < -(1 << (36 - int_bits)):
        result = 0
    if a == 0:
        result = INT32_MAX
    return result


def one_over_one_plus_x(a):
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out (Newton-Raphson, as gemmlowp)."""
    total = a + INT32_MAX
    half = div_trunc(total + (1 if total >= 0 else -1), 2)
    x = wrap32(1515870810 + srdhm(half, -1010580540))
    for _ in range(3):
        one_minus = wrap32((1 << 29) - srdhm(half, x))
        x = wrap32(x + sat_shl(srdhm(x, one_minus), 2))
    return sat_shl(x, 1)


def logistic_fixed(a, int_bits):
    """logistic(a) with ``int_bits`` integer bits in, Q0.31 out."""
    if a == 0:
        return 1 << 30
    positive = one_over_one_plus_x(exp_on_negative_values(-a if a > 0 else a, int_bits))
    return positive if a > 0 else wrap32(INT32_MAX - positive)
