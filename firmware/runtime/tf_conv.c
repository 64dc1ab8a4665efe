/* tinyfuse runtime: CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (int8, per-channel
 * requantization), as TFLite Micro's reference_integer_ops. */
#include "tf_common.h"
#include "tf_kernels.h"
#include "tf_mac.h"

static int32_t tf_requant(int32_t acc, const tf_conv_params *p, int32_t m, int32_t s) {
  acc = tf_mbqm(acc, m, s) + p->output_offset;
  return acc < p->act_min ? p->act_min : (acc > p->act_max ? p->act_max : acc);
}

static int32_t tf_conv_point(const tf_conv_params *p, const int8_t *input, const int8_t *filter,
                             int32_t b, int32_t in_y0, int32_t in_x0, int32_t oc) {
  const int32_t group = oc / (p->out_c / (p->in_c / p->filter_in_c));
  int32_t acc = 0, fy, fx;
  for (fy = 0; fy < p->k_h; ++fy) {
    const int32_t in_y = in_y0 + p->dil_h * fy;
    if (in_y < 0 || in_y >= p->in_h) continue;
    for (fx = 0; fx < p->k_w; ++fx) {
      const int32_t in_x = in_x0 + p->dil_w * fx;
      const int8_t *x, *w;
      if (in_x < 0 || in_x >= p->in_w) continue;
      x = input + ((b * p->in_h + in_y) * p->in_w + in_x) * p->in_c + group * p->filter_in_c;
      w = filter + ((oc * p->k_h + fy) * p->k_w + fx) * p->filter_in_c;
      acc += tf_dot_s8_offset(x, w, p->filter_in_c, p->input_offset);
    }
  }
  return acc;
}

void tf_conv_s8(const tf_conv_params *p, const int8_t *input, const int8_t *filter,
                const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                int8_t *output) {
  int32_t b, oy, ox, oc;
  for (b = 0; b < p->batches; ++b) {
    for (oy = 0; oy < p->out_h; ++oy) {
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t in_y0 = oy * p->stride_h - p->pad_h;
        const int32_t in_x0 = ox * p->stride_w - p->pad_w;
        for (oc = 0; oc < p->out_c; ++oc) {
          int32_t acc = tf_conv_point(p, input, filter, b, in_y0, in_x0, oc);
          if (bias) acc += bias[oc];
          *output++ = (int8_t)tf_requant(acc, p, multiplier[oc], shift[oc]);
        }
      }
    }
  }
}

static int32_t tf_depthwise_point(const tf_conv_params *p, const int8_t *input,
                                  const int8_t *filter, int32_t b, int32_t in_y0,
                                  int32_t in_x0, int32_t ic, int32_t oc) {
  int32_t acc = 0, fy, fx;
  for (fy = 0; fy < p->k_h; ++fy) {
    const int32_t in_y = in_y0 + p->dil_h * fy;
    if (in_y < 0 || in_y >= p->in_h) continue;
    for (fx = 0; fx < p->k_w; ++fx) {
      const int32_t in_x = in_x0 + p->dil_w * fx;
      int32_t x, w;
      if (in_x < 0 || in_x >= p->in_w) continue;
      x = input[((b * p->in_h + in_y) * p->in_w + in_x) * p->in_c + ic];
      w = filter[(fy * p->k_w + fx) * p->out_c + oc];
      acc += w * (x + p->input_offset);
    }
  }
  return acc;
}

void tf_depthwise_conv_s8(const tf_conv_params *p, const int8_t *input, const int8_t *filter,
                          const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                          int8_t *output) {
  int32_t b, oy, ox, ic, m;
  for (b = 0; b < p->batches; ++b) {
    for (oy = 0; oy < p->out_h; ++oy) {
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t in_y0 = oy * p->stride_h - p->pad_h;
        const int32_t in_x0 = ox * p->stride_w - p->pad_w;
        for (ic = 0; ic < p->in_c; ++ic) {
          for (m = 0; m < p->depth_multiplier; ++m) {
            const int32_t oc = m + ic * p->depth_multiplier;
            int32_t acc = tf_depthwise_point(p, input, filter, b, in_y0, in_x0, ic, oc);
            if (bias) acc += bias[oc];
            output[((b * p->out_h + oy) * p->out_w + ox) * p->out_c + oc] =
                (int8_t)tf_requant(acc, p, multiplier[oc], shift[oc]);
          }
        }
      }
    }
  }
}

void tf_fully_connected_s8(const tf_fc_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                           int8_t *output) {
  int32_t b, oc;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *x = input + b * p->accum_depth;
    for (oc = 0; oc < p->out_depth; ++oc) {
      const int8_t *w = filter + oc * p->accum_depth;
      int32_t acc = tf_dot_s8_offset(x, w, p->accum_depth, p->input_offset);
      if (p->filter_offset) {
        int32_t i;
        for (i = 0; i < p->accum_depth; ++i) acc += p->filter_offset * (x[i] + p->input_offset);
      }
      if (bias) acc += bias[oc];
      acc = tf_mbqm(acc, multiplier[oc], shift[oc]) + p->output_offset;
      output[b * p->out_depth + oc] = tf_clamp_s8(acc, p->act_min, p->act_max);
    }
  }
}
