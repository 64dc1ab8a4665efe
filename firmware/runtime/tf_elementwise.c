/* tinyfuse runtime: ADD (with broadcast), CONCATENATION, SOFTMAX, LOGISTIC and int8->int8
 * QUANTIZE (int8 in and out), as TFLite Micro's reference kernels. */
#include <string.h>

#include "tf_common.h"
#include "tf_fixedpoint.h"
#include "tf_kernels.h"
#include "tf_mve.h"

static int32_t tf_add_one(const tf_add_params *p, int32_t a, int32_t b) {
  const int32_t x1 = tf_shl_wrap(p->input1_offset + a, p->left_shift);
  const int32_t x2 = tf_shl_wrap(p->input2_offset + b, p->left_shift);
  const int32_t s1 = tf_mbqm(x1, p->input1_multiplier, p->input1_shift);
  const int32_t s2 = tf_mbqm(x2, p->input2_multiplier, p->input2_shift);
  const int32_t raw = tf_mbqm(tf_wrap_add(s1, s2), p->output_multiplier, p->output_shift);
  return raw + p->output_offset;
}

/* 1 when in1 and in2 are both laid out densely over out_dims (no broadcast). */
static int tf_add_is_dense(const tf_add_params *p) {
  int32_t k, stride = 1;
  for (k = 3; k >= 0; --k) {
    if (p->out_dims[k] > 1 && (p->in1_strides[k] != stride || p->in2_strides[k] != stride)) {
      return 0;
    }
    stride *= p->out_dims[k];
  }
  return 1;
}

#if !TINYFUSE_MAC_MVE
/* ADD without broadcast: one flat loop with the constants in locals and the multipliers known
 * to lie in [0, 2^31) (quantize_multiplier's range), so tf_mbqm_pos and tf_requant_fast give
 * tf_add_one's values with fewer instructions. */
static void tf_add_dense(const tf_add_params *p, const int8_t *input1, const int8_t *input2,
                         int8_t *output) {
  const int32_t n = p->out_dims[0] * p->out_dims[1] * p->out_dims[2] * p->out_dims[3];
  const int32_t off1 = p->input1_offset, off2 = p->input2_offset, left = p->left_shift;
  const int32_t m1 = p->input1_multiplier, sh1 = p->input1_shift;
  const int32_t m2 = p->input2_multiplier, sh2 = p->input2_shift;
  const int32_t mo = p->output_multiplier, sho = p->output_shift;
  const int32_t out_offset = p->output_offset, lo = p->act_min, hi = p->act_max;
  int32_t i;
  for (i = 0; i < n; ++i) {
    const int32_t x1 = tf_shl_wrap(off1 + input1[i], left);
    const int32_t x2 = tf_shl_wrap(off2 + input2[i], left);
    const int32_t sum = tf_wrap_add(tf_mbqm_pos(x1, m1, sh1), tf_mbqm_pos(x2, m2, sh2));
    output[i] = tf_requant_fast(sum, mo, sho, out_offset, lo, hi);
  }
}
#else
/* ADD without broadcast with Helium, four elements per vector (the last one predicated); an
 * element is read before it is written, so the output may be either input. */
static void tf_add_dense(const tf_add_params *p, const int8_t *input1, const int8_t *input2,
                         int8_t *output) {
  const int32_t n = p->out_dims[0] * p->out_dims[1] * p->out_dims[2] * p->out_dims[3];
  const int32_t off1 = p->input1_offset, off2 = p->input2_offset, left = p->left_shift;
  const int32x4_t m1 = vdupq_n_s32(p->input1_multiplier), s1 = vdupq_n_s32(p->input1_shift);
  const int32x4_t m2 = vdupq_n_s32(p->input2_multiplier), s2 = vdupq_n_s32(p->input2_shift);
  const int32x4_t mo = vdupq_n_s32(p->output_multiplier), so = vdupq_n_s32(p->output_shift);
  int32_t i;
  for (i = 0; i < n; i += 4) {
    const mve_pred16_t lanes = vctp32q((uint32_t)(n - i));
    const int32x4_t x1 = vshlq_r_s32(vaddq_n_s32(vldrbq_z_s32(input1 + i, lanes), off1), left);
    const int32x4_t x2 = vshlq_r_s32(vaddq_n_s32(vldrbq_z_s32(input2 + i, lanes), off2), left);
    const int32x4_t sum = vaddq_s32(tf_mbqm4(x1, m1, s1), tf_mbqm4(x2, m2, s2));
    vstrbq_p_s32(output + i, tf_requant4(sum, mo, so, p->output_offset, p->act_min, p->act_max),
                 lanes);
  }
}
#endif

void tf_add_s8(const tf_add_params *p, const int8_t *input1, const int8_t *input2,
               int8_t *output) {
  int32_t i0, i1, i2, i3;
  const int32_t *d = p->out_dims, *s1 = p->in1_strides, *s2 = p->in2_strides;
  if (tf_add_is_dense(p)) {
    tf_add_dense(p, input1, input2, output);
    return;
  }
  for (i0 = 0; i0 < d[0]; ++i0) {
    for (i1 = 0; i1 < d[1]; ++i1) {
      for (i2 = 0; i2 < d[2]; ++i2) {
        for (i3 = 0; i3 < d[3]; ++i3) {
          const int32_t a = input1[i0 * s1[0] + i1 * s1[1] + i2 * s1[2] + i3 * s1[3]];
          const int32_t b = input2[i0 * s2[0] + i1 * s2[1] + i2 * s2[2] + i3 * s2[3]];
          *output++ = tf_clamp_s8(tf_add_one(p, a, b), p->act_min, p->act_max);
        }
      }
    }
  }
}

void tf_concat_s8(int32_t count, const int8_t *const *inputs, const int32_t *inner_bytes,
                  int32_t outer, int8_t *output) {
  int32_t o, k;
  for (o = 0; o < outer; ++o) {
    for (k = 0; k < count; ++k) {
      memcpy(output, inputs[k] + o * inner_bytes[k], (size_t)inner_bytes[k]);
      output += inner_bytes[k];
    }
  }
}

static int32_t tf_softmax_diff(int32_t diff, int32_t multiplier, int32_t left_shift) {
  /* MultiplyByQuantizedMultiplierGreaterThanOne, then exp with 5 integer bits */
  return tf_exp_on_negative_values(tf_srdhm(tf_shl_wrap(diff, left_shift), multiplier), 5);
}

void tf_softmax_s8(int32_t outer, int32_t depth, int32_t input_multiplier,
                   int32_t input_left_shift, int32_t diff_min, const int8_t *input,
                   int8_t *output) {
  int32_t i, c;
  for (i = 0; i < outer; ++i) {
    const int8_t *x = input + i * depth;
    int8_t *y = output + i * depth;
    int32_t max_in_row = -128, sum_of_exps = 0, headroom, num_bits_over_unit, scale;
    for (c = 0; c < depth; ++c) max_in_row = tf_max(max_in_row, x[c]);
    for (c = 0; c < depth; ++c) {
      const int32_t diff = x[c] - max_in_row;
      if (diff >= diff_min) {
        sum_of_exps = tf_wrap_add(
            sum_of_exps,
            tf_rdbpot(tf_softmax_diff(diff, input_multiplier, input_left_shift), 12));
      }
    }
    headroom = tf_clz32((uint32_t)sum_of_exps);
    num_bits_over_unit = 12 - headroom;
    scale = tf_one_over_one_plus_x(
        (int32_t)(((uint32_t)sum_of_exps << headroom) - ((uint32_t)1 << 31)));
    for (c = 0; c < depth; ++c) {
      const int32_t diff = x[c] - max_in_row;
      if (diff >= diff_min) {
        const int32_t e = tf_softmax_diff(diff, input_multiplier, input_left_shift);
        const int32_t unsat = tf_rdbpot(tf_srdhm(scale, e), num_bits_over_unit + 31 - 8);
        y[c] = tf_clamp_s8(unsat - 128, -128, 127);
      } else {
        y[c] = -128;
      }
    }
  }
}

void tf_logistic_s8(int32_t size, int32_t input_zp, int32_t range_radius, int32_t multiplier,
                    int32_t left_shift, const int8_t *input, int8_t *output) {
  int32_t i;
  for (i = 0; i < size; ++i) {
    const int32_t x = (int32_t)input[i] - input_zp;
    if (x <= -range_radius) {
      output[i] = -128;
    } else if (x >= range_radius) {
      output[i] = 127;
    } else {
      const int32_t q4 = tf_mbqm(x, multiplier, left_shift);
      const int32_t q0 = tf_logistic_fixed(q4, 4);
      output[i] = tf_clamp_s8(tf_rdbpot(q0, 23) - 128, -128, 127);
    }
  }
}

void tf_requantize_s8(int32_t size, int32_t input_zp, int32_t output_zp, int32_t multiplier,
                      int32_t shift, const int8_t *input, int8_t *output) {
  int32_t i;
  for (i = 0; i < size; ++i) {
    const int32_t v = tf_mbqm((int32_t)input[i] - input_zp, multiplier, shift) + output_zp;
    output[i] = tf_clamp_s8(v, -128, 127);
  }
}

/* SUB: ADD's arithmetic with the scaled second input subtracted (reference_ops::Sub). */
static int32_t tf_sub_one(const tf_add_params *p, int32_t a, int32_t b) {
  const int32_t x1 = tf_shl_wrap(p->input1_offset + a, p->left_shift);
  const int32_t x2 = tf_shl_wrap(p->input2_offset + b, p->left_shift);
  const int32_t s1 = tf_mbqm(x1, p->input1_multiplier, p->input1_shift);
  const int32_t s2 = tf_mbqm(x2, p->input2_multiplier, p->input2_shift);
  const int32_t raw = tf_mbqm(tf_wrap_sub(s1, s2), p->output_multiplier, p->output_shift);
  return raw + p->output_offset;
}

void tf_sub_s8(const tf_add_params *p, const int8_t *input1, const int8_t *input2,
               int8_t *output) {
  int32_t i0, i1, i2, i3;
  const int32_t *d = p->out_dims, *s1 = p->in1_strides, *s2 = p->in2_strides;
  for (i0 = 0; i0 < d[0]; ++i0) {
    for (i1 = 0; i1 < d[1]; ++i1) {
      for (i2 = 0; i2 < d[2]; ++i2) {
        for (i3 = 0; i3 < d[3]; ++i3) {
          const int32_t a = input1[i0 * s1[0] + i1 * s1[1] + i2 * s1[2] + i3 * s1[3]];
          const int32_t b = input2[i0 * s2[0] + i1 * s2[1] + i2 * s2[2] + i3 * s2[3]];
          *output++ = tf_clamp_s8(tf_sub_one(p, a, b), p->act_min, p->act_max);
        }
      }
    }
  }
}

/* MUL: (x1 + off1) * (x2 + off2) requantized once (reference_integer_ops::Mul). */
void tf_mul_s8(const tf_mul_params *p, const int8_t *input1, const int8_t *input2,
               int8_t *output) {
  int32_t i0, i1, i2, i3;
  const int32_t *d = p->out_dims, *s1 = p->in1_strides, *s2 = p->in2_strides;
  for (i0 = 0; i0 < d[0]; ++i0) {
    for (i1 = 0; i1 < d[1]; ++i1) {
      for (i2 = 0; i2 < d[2]; ++i2) {
        for (i3 = 0; i3 < d[3]; ++i3) {
          const int32_t a = input1[i0 * s1[0] + i1 * s1[1] + i2 * s1[2] + i3 * s1[3]];
          const int32_t b = input2[i0 * s2[0] + i1 * s2[1] + i2 * s2[2] + i3 * s2[3]];
          const int32_t prod = (p->input1_offset + a) * (p->input2_offset + b);
          const int32_t v = tf_mbqm(prod, p->output_multiplier, p->output_shift) +
                            p->output_offset;
          *output++ = tf_clamp_s8(v, p->act_min, p->act_max);
        }
      }
    }
  }
}

/* MAXIMUM / MINIMUM on the raw int8 values (inputs and output share quantization). */
void tf_minmax_s8(const int32_t *out_dims, const int32_t *in1_strides, const int32_t *in2_strides,
                  int32_t is_max, const int8_t *input1, const int8_t *input2, int8_t *output) {
  int32_t i0, i1, i2, i3;
  const int32_t *d = out_dims, *s1 = in1_strides, *s2 = in2_strides;
  for (i0 = 0; i0 < d[0]; ++i0) {
    for (i1 = 0; i1 < d[1]; ++i1) {
      for (i2 = 0; i2 < d[2]; ++i2) {
        for (i3 = 0; i3 < d[3]; ++i3) {
          const int8_t a = input1[i0 * s1[0] + i1 * s1[1] + i2 * s1[2] + i3 * s1[3]];
          const int8_t b = input2[i0 * s2[0] + i1 * s2[1] + i2 * s2[2] + i3 * s2[3]];
          *output++ = is_max ? (a > b ? a : b) : (a < b ? a : b);
        }
      }
    }
  }
}
