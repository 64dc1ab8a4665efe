/* tinyfuse runtime: TFLite Micro's int8 fixed-point arithmetic, reproduced bit for bit.
 * Portable C99, no float, no malloc. Integer wrap-around is done in unsigned arithmetic. */
#ifndef TINYFUSE_TF_COMMON_H
#define TINYFUSE_TF_COMMON_H

#include <stdint.h>

#if defined(TINYFUSE_USE_DSP) && TINYFUSE_USE_DSP && defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#define TINYFUSE_COMMON_QADD 1
#else
#define TINYFUSE_COMMON_QADD 0
#endif

static inline int32_t tf_wrap_add(int32_t a, int32_t b) {
  return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t tf_wrap_sub(int32_t a, int32_t b) {
  return (int32_t)((uint32_t)a - (uint32_t)b);
}

static inline int32_t tf_min(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t tf_max(int32_t a, int32_t b) { return a > b ? a : b; }

static inline int8_t tf_clamp_s8(int32_t v, int32_t lo, int32_t hi) {
  return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* gemmlowp SaturatingRoundingDoublingHighMul. gemmlowp adds 2^30 (1 - 2^30 when a * b < 0)
 * and divides by 2^31 rounding toward zero; for a * b < 0 that is -floor((|ab| + 2^30 - 1) /
 * 2^31) = floor((ab + 2^30) / 2^31), so one nudge and a flooring (arithmetic) shift give the
 * same value for either sign, in fewer instructions (as CMSIS-NN does it). */
static inline int32_t tf_srdhm(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* gemmlowp RoundingDivideByPOT: round half away from zero. */
static inline int32_t tf_rdbpot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * 2^left_shift as int32 with C++'s two's complement wrap (as `x * (1 << s)`). */
static inline int32_t tf_shl_wrap(int32_t x, int left_shift) {
  return (int32_t)(uint32_t)((uint64_t)(int64_t)x << left_shift);
}

/* TFLite MultiplyByQuantizedMultiplier (double rounding, the TFLM default). */
static inline int32_t tf_mbqm(int32_t x, int32_t multiplier, int32_t shift) {
  const int left_shift = shift > 0 ? shift : 0;
  const int right_shift = shift > 0 ? 0 : -shift;
  return tf_rdbpot(tf_srdhm(tf_shl_wrap(x, left_shift), multiplier), right_shift);
}

/* tf_mbqm for a multiplier in [0, 2^31) (quantize_multiplier's range, so tf_srdhm's INT32_MIN *
 * INT32_MIN case cannot occur): one 64-bit multiply-add and a shift. Same value as tf_mbqm. */
static inline int32_t tf_mbqm_pos(int32_t x, int32_t multiplier, int32_t shift) {
  int32_t y;
  if (shift > 0) x = (int32_t)((uint32_t)x << shift);
  y = (int32_t)(((int64_t)x * multiplier + ((int64_t)1 << 30)) >> 31);
  return shift < 0 ? tf_rdbpot(y, -shift) : y;
}

/* tf_mbqm for a multiplier in [0, 2^31), the range the compiler's quantize_multiplier gives,
 * then + out_offset and clamped to [lo, hi] (within [-128, 127]): tf_srdhm's INT32_MIN *
 * INT32_MIN case cannot occur, so the product is one 64-bit multiply-add and a shift. On the
 * DSP path a right shift e <= 23 rounds as (y + 2^(e-1) - (y < 0)) >> e with a saturating add
 * (QADD); where the add saturates (y > INT32_MAX - 2^(e-1)) it gives 2^(31-e) - 1 instead of
 * 2^(31-e), both >= 255, so the clamped int8 result is the same. Same value as tf_mbqm. */
static inline int8_t tf_requant_fast(int32_t x, int32_t multiplier, int32_t shift,
                                     int32_t out_offset, int32_t lo, int32_t hi) {
  int32_t y;
  if (shift > 0) x = (int32_t)((uint32_t)x << shift);
#if TINYFUSE_COMMON_QADD
  {
    /* one SMLAL onto 2^30; GCC otherwise may widen the multiplier and multiply 64 x 64 */
    uint32_t low = (uint32_t)1 << 30;
    int32_t high = 0;
    __asm__("smlal %0, %1, %2, %3" : "+r"(low), "+r"(high) : "r"(x), "r"(multiplier));
    y = (int32_t)((low >> 31) | ((uint32_t)high << 1));
  }
  if (shift < 0 && shift >= -23) {
    y = (__qadd(y, (int32_t)1 << (-shift - 1)) + (y >> 31)) >> -shift;
  } else if (shift < 0) {
    y = tf_rdbpot(y, -shift);
  }
#else
  y = tf_mbqm_pos(x, multiplier, shift > 0 ? 0 : shift);
#endif
  y += out_offset;
  return (int8_t)(y < lo ? lo : (y > hi ? hi : y));
}

#if TINYFUSE_COMMON_QADD
/* tf_requant_fast's value before the output offset and the clamp, for shift = -e with
 * 1 <= e <= 23 (its DSP branch, without the tests). */
static inline int32_t tf_requant_right(int32_t x, int32_t multiplier, int32_t e) {
  uint32_t low = (uint32_t)1 << 30;
  int32_t high = 0, y;
  __asm__("smlal %0, %1, %2, %3" : "+r"(low), "+r"(high) : "r"(x), "r"(multiplier));
  y = (int32_t)((low >> 31) | ((uint32_t)high << 1));
  return (__qadd(y, (int32_t)1 << (e - 1)) + (y >> 31)) >> e;
}
#endif

/* 1 when every shift[k], k < n, is a right shift of 1 to 23 bits (tf_requant_right's range). */
static inline int tf_right_shifts_only(const int32_t *shift, int32_t n) {
  int32_t k;
  for (k = 0; k < n; ++k) {
    if (shift[k] > -1 || shift[k] < -23) return 0;
  }
  return 1;
}

/* gemmlowp SaturatingRoundingMultiplyByPOT with a positive exponent (saturating shift left). */
static inline int32_t tf_sat_shl(int32_t x, int exponent) {
  const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
  if (exponent == 0) return x;
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return tf_shl_wrap(x, exponent);
}

static inline int tf_clz32(uint32_t x) {
  int n = 0;
  if (x == 0) return 32;
  while (!(x & 0x80000000u)) {
    x <<= 1;
    n++;
  }
  return n;
}

#endif
