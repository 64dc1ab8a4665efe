/* tinyfuse runtime: gemmlowp fixed-point transcendental functions used by TFLite Micro's int8
 * SOFTMAX and LOGISTIC (raw int32 values; `int_bits` integer bits, 31 - int_bits fraction). */
#ifndef TINYFUSE_TF_FIXEDPOINT_H
#define TINYFUSE_TF_FIXEDPOINT_H

#include "tf_common.h"

/* exp(a) for a in [-1/4, 0), Q0.31 in and out. */
static inline int32_t tf_exp_on_interval_m1_4_0(int32_t a) {
  const int32_t constant_term = 1895147668;  /* exp(-1/8) */
  const int32_t one_third = 715827883;
  const int32_t x = tf_wrap_add(a, (int32_t)1 << 28);
  const int32_t x2 = tf_srdhm(x, x);
  const int32_t x3 = tf_srdhm(x2, x);
  const int32_t x4 = tf_srdhm(x2, x2);
  const int32_t x4_over_4 = tf_rdbpot(x4, 2);
  const int32_t poly = tf_rdbpot(
      tf_wrap_add(tf_srdhm(tf_wrap_add(x4_over_4, x3), one_third), x2), 1);
  return tf_wrap_add(constant_term, tf_srdhm(constant_term, tf_wrap_add(x, poly)));
}

/* exp(a) for a <= 0 given with `int_bits` integer bits; result Q0.31. */
static inline int32_t tf_exp_on_negative_values(int32_t a, int int_bits) {
  static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308,
                                         39332535, 720401, 242};
  const int frac_bits = 31 - int_bits;
  const int32_t one_quarter = (int32_t)1 << (frac_bits - 2);
  const int32_t mask = one_quarter - 1;
  const int32_t a_mod = tf_wrap_sub(a & mask, one_quarter);
  const int32_t remainder = tf_wrap_sub(a_mod, a);
  int32_t result = tf_exp_on_interval_m1_4_0(tf_sat_shl(a_mod, int_bits));
  int exponent;
  for (exponent = -2; exponent <= 4; ++exponent) {
    if (int_bits > exponent) {
      const int shift = frac_bits + exponent;
      if (remainder & (int32_t)((uint32_t)1 << shift)) {
        result = tf_srdhm(result, multipliers[exponent + 2]);
      }
    }
  }
  if (int_bits > 5) {
    const int32_t clamp = -((int32_t)1 << (36 - int_bits));
    if (a < clamp) result = 0;
  }
  if (a == 0) result = INT32_MAX;
  return result;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out (Newton-Raphson, as gemmlowp). */
static inline int32_t tf_one_over_one_plus_x(int32_t a) {
  const int64_t sum = (int64_t)a + INT32_MAX;
  const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
  int32_t x = tf_wrap_add(1515870810, tf_srdhm(half_denominator, -1010580540));
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t one_minus = tf_wrap_sub((int32_t)1 << 29, tf_srdhm(half_denominator, x));
    x = tf_wrap_add(x, tf_sat_shl(tf_srdhm(x, one_minus), 2));
  }
  return tf_sat_shl(x, 1);
}

/* logistic(a) with `int_bits` integer bits in, Q0.31 out. */
static inline int32_t tf_logistic_fixed(int32_t a, int int_bits) {
  int32_t positive;
  if (a == 0) return (int32_t)1 << 30;
  positive = tf_one_over_one_plus_x(tf_exp_on_negative_values(a > 0 ? -a : a, int_bits));
  return a > 0 ? positive : tf_wrap_sub(INT32_MAX, positive);
}

/* (1 - a) / (1 + a) for a in [0, 1), Q0.31 in and out (Newton-Raphson, as gemmlowp). */
static inline int32_t tf_one_minus_x_over_one_plus_x(int32_t a) {
  const int64_t sum = (int64_t)a + INT32_MAX;
  const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
  int32_t x = tf_wrap_add(1515870810, tf_srdhm(half_denominator, -1010580540));
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t one_minus = tf_wrap_sub((int32_t)1 << 29, tf_srdhm(half_denominator, x));
    x = tf_wrap_add(x, tf_sat_shl(tf_srdhm(x, one_minus), 2));
  }
  return tf_sat_shl(tf_wrap_sub(x, (int32_t)1 << 29), 2);
}

/* tanh(a) with `int_bits` integer bits in, Q0.31 out: -tanh(-|a|) via exp(2 * -|a|). */
static inline int32_t tf_tanh_fixed(int32_t a, int int_bits) {
  int32_t t;
  if (a == 0) return 0;
  t = tf_one_minus_x_over_one_plus_x(tf_exp_on_negative_values(a < 0 ? a : -a, int_bits + 1));
  return a < 0 ? -t : t;
}

#endif
