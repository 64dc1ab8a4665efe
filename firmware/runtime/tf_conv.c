/* tinyfuse runtime: CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (int8, per-channel
 * requantization), bit-exact with TFLite Micro's reference_integer_ops.
 *
 * Most convolutions run the blocked loops of tf_conv_dsp.c (Arm DSP) or tf_conv_c.c (plain
 * C): two output pixels by two output channels, and four depthwise channels per pass on the
 * DSP path. The loops here take the other shapes (grouped, receptive fields over 1024 terms,
 * depth multipliers above 1): CONV_2D gathers each output pixel's receptive field into one
 * contiguous column (tf_window.h; padding taps hold the input zero point, so they add 0 as the
 * reference's skipped taps do) and takes up to four output channels per pass over it
 * (tf_dot_rows); FULLY_CONNECTED does the same with its input row. DEPTHWISE_CONV_2D clips
 * each pixel's window to the input once. Pointwise and stride-1 depthwise convolutions may run
 * in place (output == input, see firmware/compiler/in_place.py). */
#include <string.h>

#include "tf_common.h"
#include "tf_kernels.h"
#include "tf_mac.h"
#include "tf_window.h"
#include "tf_conv_dsp.h"

static int32_t tf_requant(int32_t acc, const tf_conv_params *p, int32_t m, int32_t s) {
  return tf_requant_fast(acc, m, s, p->output_offset, p->act_min, p->act_max);
}

/* output[oc + k] = requantized acc[k] + bias[oc + k] for k < count. */
static inline void tf_requant_run(const tf_conv_params *p, const int32_t *acc,
                                  int32_t count, const int32_t *bias,
                                  const int32_t *multiplier, const int32_t *shift, int32_t oc,
                                  int8_t *output) {
  int32_t k;
  for (k = 0; k < count; ++k, ++oc) {
    const int32_t sum = bias ? acc[k] + bias[oc] : acc[k];
    output[oc] = (int8_t)tf_requant(sum, p, multiplier[oc], shift[oc]);
  }
}

/* Output channels first..first+count-1 of one pixel from its column. */
static void tf_conv_channels(const tf_conv_params *p, const int8_t *col, const int8_t *filter,
                             const int32_t *bias, const int32_t *multiplier,
                             const int32_t *shift, int32_t first, int32_t count,
                             int8_t *output) {
  int32_t oc, k;
  for (oc = first; oc < first + count; oc += k) {
    int32_t acc[4];
    const int32_t n = p->k_h * p->k_w * p->filter_in_c;
    k = tf_dot_rows(col, filter + oc * n, n, p->input_offset, first + count - oc, acc);
    tf_requant_run(p, acc, k, bias, multiplier, shift, oc, output);
  }
}

/* With output == input (a pointwise convolution planned in place) each pixel's channels go to
 * col first and then over the pixel, which nothing else reads. */
void tf_conv_s8(const tf_conv_params *p, const int8_t *input, const int8_t *filter,
                const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                int8_t *col, int8_t *output) {
  const int32_t groups = p->in_c / p->filter_in_c;
  const int32_t per_group = p->out_c / groups;
  const int in_place = (const int8_t *)output == input;
  const tf_conv_tables tables = {filter, bias, multiplier, shift};
  int32_t b, oy, ox, g;
  if (tf_conv_pairs_s8(p, input, &tables, col, output)) return;
  for (b = 0; b < p->batches; ++b) {
    for (oy = 0; oy < p->out_h; ++oy) {
      for (ox = 0; ox < p->out_w; ++ox, output += p->out_c) {
        const int32_t in_y0 = oy * p->stride_h - p->pad_h;
        const int32_t in_x0 = ox * p->stride_w - p->pad_w;
        for (g = 0; g < groups; ++g) {
          const int8_t *x = tf_im2col(p, input, col, b, in_y0, in_x0, g);
          tf_conv_channels(p, x, filter, bias, multiplier, shift, g * per_group, per_group,
                           in_place ? col : output);
        }
        if (in_place) memcpy(output, col, (size_t)p->out_c);
      }
    }
  }
}

/* Depthwise sum over the taps of input channel ic with filter channel oc. */
static int32_t tf_depthwise_channel(const tf_taps *t, int32_t ic, int32_t oc,
                                    int32_t input_offset) {
  const int8_t *x_row = t->x + ic, *w_row = t->w + oc;
  int32_t acc = 0, r, c;
  for (r = 0; r < t->rows; ++r, x_row += t->x_row, w_row += t->w_row) {
    const int8_t *x = x_row, *w = w_row;
    for (c = 0; c < t->cols; ++c, x += t->x_col, w += t->w_col) {
      acc += (int32_t)*w * ((int32_t)*x + input_offset);
    }
  }
  return acc;
}

#if TINYFUSE_MAC_DSP
/* Channels ch..ch+3 at once (depth multiplier 1): one word of input and one of filter per
 * tap, four separate 16 x 16 + 32 multiply-accumulates. Out of line, with its own registers. */
static __attribute__((noinline)) void tf_depthwise_quad(const tf_taps *t, int32_t ch,
                                                       int32_t input_offset, int32_t acc[4]) {
  const int16x2_t offset2 = tf_offset2(input_offset);
  const int32_t rows = t->rows, cols = t->cols, x_col = t->x_col, w_col = t->w_col;
  const int8_t *x_row = t->x + ch, *w_row = t->w + ch;
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, r, c;
  for (r = 0; r < rows; ++r, x_row += t->x_row, w_row += t->w_row) {
    const int8_t *x = x_row, *w = w_row;
    for (c = 0; c < cols; ++c, x += x_col, w += w_col) {
      const int8x4_t xv = tf_load_s8x4(x), wv = tf_load_s8x4(w);
      const int16x2_t x_even = __sxtab16(offset2, xv), x_odd = tf_sxtab16_ror8(offset2, xv);
      const int16x2_t w_even = __sxtb16(wv), w_odd = tf_sxtb16_ror8(wv);
      a0 = __smlabb(x_even, w_even, a0);
      a2 = __smlatt(x_even, w_even, a2);
      a1 = __smlabb(x_odd, w_odd, a1);
      a3 = __smlatt(x_odd, w_odd, a3);
    }
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}
#endif

/* How many channels from oc on one call sums (4 on the DSP path when the depth multiplier is
 * 1), writing them to acc. */
static int32_t tf_depthwise_sums(const tf_conv_params *p, const tf_taps *t, int32_t oc,
                                 int32_t acc[4]) {
#if TINYFUSE_MAC_DSP
  if (p->depth_multiplier == 1 && oc + 4 <= p->out_c) {
    tf_depthwise_quad(t, oc, p->input_offset, acc);
    return 4;
  }
#endif
  acc[0] = tf_depthwise_channel(t, oc / p->depth_multiplier, oc, p->input_offset);
  return 1;
}

/* Output row oy of batch b (every column and channel) into out_row. */
static void tf_depthwise_row(const tf_conv_params *p, const int8_t *input,
                             const tf_conv_tables *t, int32_t b, int32_t oy, int8_t *out_row) {
  int32_t ox, oc, k;
#if TINYFUSE_MAC_MVE
  const int mve = p->depth_multiplier == 1; /* Helium: every pixel in tf_conv_mve.c */
#else
  const int mve = 0;
#endif
  if (!mve && tf_depthwise_row_s8(p, input, t, b, oy, out_row)) return;
  for (ox = 0; ox < p->out_w; ++ox, out_row += p->out_c) {
    const tf_window win =
        tf_window_at(p, b, oy * p->stride_h - p->pad_h, ox * p->stride_w - p->pad_w);
    const tf_taps taps = tf_taps_at(p, input, t->filter, &win);
#if TINYFUSE_MAC_MVE
    if (mve) {
      tf_depthwise_pixel_mve(p, &taps, t, out_row);
      continue;
    }
#endif
    for (oc = 0; oc < p->out_c; oc += k) {
      int32_t acc[4];
      k = tf_depthwise_sums(p, &taps, oc, acc);
      tf_requant_run(p, acc, k, t->bias, t->multiplier, t->shift, oc, out_row);
    }
  }
}

/* In place (stride 1, output shape = input shape, batch 1): input row j is last read by output
 * row j + pad_h, so output rows wait in a ring of pad_h + 1 rows and row oy - pad_h goes over
 * its input row once row oy is done. */
static void tf_depthwise_in_place(const tf_conv_params *p, int8_t *data,
                                  const tf_conv_tables *t, int8_t *ring) {
  const int32_t row_bytes = p->out_w * p->out_c, slots = p->pad_h + 1;
  int32_t oy;
  for (oy = 0; oy < p->out_h + p->pad_h; ++oy) {
    const int32_t done = oy - p->pad_h;
    if (oy < p->out_h) tf_depthwise_row(p, data, t, 0, oy, ring + (oy % slots) * row_bytes);
    if (done >= 0) {
      memcpy(data + done * row_bytes, ring + (done % slots) * row_bytes, (size_t)row_bytes);
    }
  }
}

void tf_depthwise_conv_s8(const tf_conv_params *p, const int8_t *input, const int8_t *filter,
                          const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                          int8_t *ring, int8_t *output) {
  const tf_conv_tables tables = {filter, bias, multiplier, shift};
  int32_t b, oy;
  if ((const int8_t *)output == input) {
    tf_depthwise_in_place(p, output, &tables, ring);
    return;
  }
  for (b = 0; b < p->batches; ++b) {
    for (oy = 0; oy < p->out_h; ++oy) {
      tf_depthwise_row(p, input, &tables, b, oy,
                       output + (b * p->out_h + oy) * p->out_w * p->out_c);
    }
  }
}

/* output[oc] from the dot product acc of filter row oc: filter zero point, bias, requant. */
static int8_t tf_fc_output(const tf_fc_params *p, const int8_t *x, int32_t acc,
                           const int32_t *bias, int32_t multiplier, int32_t shift) {
  if (p->filter_offset) {
    int32_t i;
    for (i = 0; i < p->accum_depth; ++i) acc += p->filter_offset * (x[i] + p->input_offset);
  }
  if (bias) acc += *bias;
  return tf_requant_fast(acc, multiplier, shift, p->output_offset, p->act_min, p->act_max);
}

void tf_fully_connected_s8(const tf_fc_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                           int8_t *output) {
  const int32_t n = p->accum_depth;
  int32_t b, oc, k, j;
#if TINYFUSE_MAC_DSP
  /* no filter zero point, right shifts only, all of int8: tf_requant_right and SSAT */
  const int simple = p->filter_offset == 0 && p->act_min == -128 && p->act_max == 127 &&
                     tf_right_shifts_only(shift, p->out_depth);
  const int32_t out_offset = p->output_offset;
#endif
  for (b = 0; b < p->batches; ++b, output += p->out_depth) {
    const int8_t *x = input + b * n;
    for (oc = 0; oc < p->out_depth; oc += k) {
      int32_t acc[4];
      k = tf_dot_rows(x, filter + oc * n, n, p->input_offset, p->out_depth - oc, acc);
#if TINYFUSE_MAC_DSP
      if (simple) {
        for (j = 0; j < k; ++j) {
          const int32_t sum = bias ? acc[j] + bias[oc + j] : acc[j];
          const int32_t y = tf_requant_right(sum, multiplier[oc + j], -shift[oc + j]);
          output[oc + j] = (int8_t)__ssat(y + out_offset, 8);
        }
        continue;
      }
#endif
      for (j = 0; j < k; ++j) {
        output[oc + j] = tf_fc_output(p, x, acc[j], bias ? bias + oc + j : 0,
                                      multiplier[oc + j], shift[oc + j]);
      }
    }
  }
}
