/* tinyfuse runtime: RELU, RELU6, LEAKY_RELU, TANH and HARD_SWISH (int8), as TFLite Micro. */
#include "tf_common.h"
#include "tf_fixedpoint.h"
#include "tf_kernels.h"

/* ReluQuantized: requantize to the output scale, then clamp to [act_min, act_max]. */
void tf_relu_s8(int32_t size, int32_t input_zp, int32_t output_zp, int32_t multiplier,
                int32_t shift, int32_t act_min, int32_t act_max, const int8_t *input,
                int8_t *output) {
  int32_t i;
  for (i = 0; i < size; ++i) {
    const int32_t v = output_zp + tf_mbqm((int32_t)input[i] - input_zp, multiplier, shift);
    output[i] = tf_clamp_s8(v, act_min, act_max);
  }
}

/* Relu6Quantized: a clamp of the raw values (no requantization). */
void tf_clamp_only_s8(int32_t size, int32_t lo, int32_t hi, const int8_t *input, int8_t *output) {
  int32_t i;
  for (i = 0; i < size; ++i) output[i] = tf_clamp_s8(input[i], lo, hi);
}

void tf_leaky_relu_s8(int32_t size, int32_t input_zp, int32_t output_zp, int32_t mult_identity,
                      int32_t shift_identity, int32_t mult_alpha, int32_t shift_alpha,
                      const int8_t *input, int8_t *output) {
  int32_t i;
  for (i = 0; i < size; ++i) {
    const int32_t x = (int32_t)input[i] - input_zp;
    const int32_t v = x >= 0 ? tf_mbqm(x, mult_identity, shift_identity)
                             : tf_mbqm(x, mult_alpha, shift_alpha);
    output[i] = tf_clamp_s8(output_zp + v, -128, 127);
  }
}

/* reference_integer_ops::Tanh: 4 integer bits in, output scale 1/128, zero point 0. */
void tf_tanh_s8(int32_t size, int32_t input_zp, int32_t range_radius, int32_t multiplier,
                int32_t left_shift, const int8_t *input, int8_t *output) {
  int32_t i;
  for (i = 0; i < size; ++i) {
    const int32_t x = (int32_t)input[i] - input_zp;
    if (x <= -range_radius) {
      output[i] = -128;
    } else if (x >= range_radius) {
      output[i] = 127;
    } else {
      const int32_t q0 = tf_tanh_fixed(tf_mbqm(x, multiplier, left_shift), 4);
      output[i] = tf_clamp_s8(tf_rdbpot(q0, 24), -128, 127);
    }
  }
}

static int16_t tf_sat16(int32_t v) {
  return (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
}

/* gemmlowp SaturatingRoundingDoublingHighMul on int16. */
static int16_t tf_srdhm16(int16_t a, int16_t b) {
  const int32_t ab = (int32_t)a * (int32_t)b;
  const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
  if (a == b && a == -32768) return 32767;
  return (int16_t)((ab + nudge) / (1 << 15));
}

/* SQDMULH-like: doubling high half, rounded toward zero. */
static int16_t tf_sdhm16(int16_t a, int16_t b) {
  if (a == b && a == -32768) return 32767;
  return (int16_t)(((int32_t)a * (int32_t)b) / (1 << 15));
}

static int16_t tf_sat_shl16(int16_t v, int amount) {
  return tf_sat16((int32_t)v * (1 << amount));
}

static int16_t tf_hard_swish_one(const tf_hard_swish_params *p, int8_t in) {
  const int16_t x = (int16_t)((int32_t)in - p->input_zp);
  const int16_t hires = (int16_t)(x * (1 << 7));
  const int16_t preshift = tf_srdhm16(hires, (int16_t)p->output_multiplier16);
  int16_t reluish = hires, out;
  if (p->reluish_exponent > 0) reluish = tf_sat_shl16(reluish, p->reluish_exponent - 1);
  reluish = tf_srdhm16(reluish, (int16_t)p->reluish_multiplier16);
  if (p->reluish_exponent > 0) reluish = tf_sat_shl16(reluish, 1);
  if (p->reluish_exponent < 0) reluish = (int16_t)tf_rdbpot(reluish, -p->reluish_exponent);
  reluish = (int16_t)(((int32_t)reluish + (1 << 15)) >> 1);
  out = (int16_t)tf_rdbpot(tf_sdhm16(reluish, preshift), -p->output_exponent);
  return (int16_t)(uint16_t)((uint32_t)(int32_t)out + (uint32_t)p->output_zp);
}

void tf_hard_swish_s8(const tf_hard_swish_params *p, int32_t size, const int8_t *input,
                      int8_t *output) {
  int32_t i;
  for (i = 0; i < size; ++i) output[i] = tf_clamp_s8(tf_hard_swish_one(p, input[i]), -128, 127);
}
