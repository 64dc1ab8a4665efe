/* tinyfuse runtime: TFLite Micro's int8 fixed-point arithmetic, reproduced bit for bit.
 * Portable C99, no float, no malloc. Integer wrap-around is done in unsigned arithmetic. */
#ifndef TINYFUSE_TF_COMMON_H
#define TINYFUSE_TF_COMMON_H

#include <stdint.h>

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
