/* tinyfuse runtime: CONV_2D two output pixels by two output channels at a time in plain C99,
 * the portable twin of tf_conv_dsp.c (built when the Arm DSP path is not): each pair of
 * output pixels has its receptive fields widened once to int16 with the input offset added,
 * so that every loaded input and filter value serves two MACs. The sums are the exact integer
 * dot products of tf_conv.c's one-pixel loop (int32, wrapping alike). */
#include "tf_conv_dsp.h"

#include "tf_common.h"
#include "tf_mac.h"
#include "tf_window.h"

#if !TINYFUSE_MAC_DSP

/* Receptive fields longer than this take the one-pixel loop (the column lives on the stack:
 * 4 * n bytes for n terms). */
#define TF_PAIR_MAX_TERMS 1024

/* Output pixel q's receptive field (n terms), offset added, into col[0..n). */
static void tf_widen_pixel_c(const tf_conv_params *p, const int8_t *input, int8_t *col,
                             int32_t q, int16_t *dst) {
  const int32_t n = p->k_h * p->k_w * p->filter_in_c;
  const int8_t *x = tf_pixel_field(p, input, col, q);
  int32_t i;
  for (i = 0; i < n; ++i) dst[i] = (int16_t)(x[i] + p->input_offset);
}

/* acc = {w0.a, w1.a, w0.b, w1.b} over n terms, starting from the bias. */
static void tf_mac2x2_c(const int16_t *xa, const int16_t *xb, const int8_t *w0,
                        const int8_t *w1, int32_t n, int32_t acc[4]) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], i;
  for (i = 0; i < n; ++i) {
    const int32_t x_a = xa[i], x_b = xb[i], v0 = w0[i], v1 = w1[i];
    a0 += v0 * x_a;
    a1 += v1 * x_a;
    a2 += v0 * x_b;
    a3 += v1 * x_b;
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}

/* Output channels of pixels a and b (b may be a), two at a time. */
static void tf_pair_channels_c(const tf_conv_params *p, const int16_t *xa, const int16_t *xb,
                               const tf_conv_tables *t, int8_t *out_a, int8_t *out_b) {
  const int32_t n = p->k_h * p->k_w * p->filter_in_c, out_c = p->out_c;
  const int32_t out_offset = p->output_offset, lo = p->act_min, hi = p->act_max;
  int32_t oc;
  for (oc = 0; oc < out_c; oc += 2) {
    const int32_t last = oc + 1 == out_c, oc1 = last ? oc : oc + 1;
    int32_t acc[4] = {0, 0, 0, 0};
    if (t->bias) {
      acc[0] = acc[2] = t->bias[oc];
      acc[1] = acc[3] = t->bias[oc1];
    }
    tf_mac2x2_c(xa, xb, t->filter + oc * n, t->filter + oc1 * n, n, acc);
    out_a[oc] = tf_requant_fast(acc[0], t->multiplier[oc], t->shift[oc], out_offset, lo, hi);
    out_b[oc] = tf_requant_fast(acc[2], t->multiplier[oc], t->shift[oc], out_offset, lo, hi);
    if (!last) {
      out_a[oc1] = tf_requant_fast(acc[1], t->multiplier[oc1], t->shift[oc1], out_offset, lo,
                                   hi);
      out_b[oc1] = tf_requant_fast(acc[3], t->multiplier[oc1], t->shift[oc1], out_offset, lo,
                                   hi);
    }
  }
}

int tf_conv_pairs_s8(const tf_conv_params *p, const int8_t *input, const tf_conv_tables *t,
                     int8_t *col, int8_t *output) {
  const int32_t n = p->k_h * p->k_w * p->filter_in_c;
  const int32_t pixels = p->batches * p->out_h * p->out_w;
  int32_t q;
  if (p->filter_in_c != p->in_c || n > TF_PAIR_MAX_TERMS || n < 1) return 0;
  {
    int16_t col16[2 * n]; /* C99 variable length: the stack holds what n needs */
    for (q = 0; q < pixels; q += 2) {
      const int32_t q_b = q + 1 < pixels ? q + 1 : q;
      tf_widen_pixel_c(p, input, col, q, col16);
      tf_widen_pixel_c(p, input, col, q_b, col16 + n);
      tf_pair_channels_c(p, col16, col16 + n, t, output + q * p->out_c,
                         output + q_b * p->out_c);
    }
  }
  return 1;
}

/* Four channels of one depthwise output pixel over rows x cols taps (see tf_conv_dsp.c's
 * tf_depthwise4), one int32 sum each, starting from acc. */
static void tf_depthwise4_c(const int8_t *x, const int8_t *w, int32_t rows, int32_t cols,
                            int32_t x_row, int32_t w_row, int32_t step, int32_t x_offset,
                            int32_t acc[4]) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], r, c;
  for (r = 0; r < rows; ++r, x += x_row, w += w_row) {
    const int8_t *xc = x, *wc = w;
    for (c = 0; c < cols; ++c, xc += step, wc += step) {
      a0 += (int32_t)wc[0] * ((int32_t)xc[0] + x_offset);
      a1 += (int32_t)wc[1] * ((int32_t)xc[1] + x_offset);
      a2 += (int32_t)wc[2] * ((int32_t)xc[2] + x_offset);
      a3 += (int32_t)wc[3] * ((int32_t)xc[3] + x_offset);
    }
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}

int tf_depthwise_row_s8(const tf_conv_params *p, const int8_t *input, const tf_conv_tables *t,
                        int32_t b, int32_t oy, int8_t *out_row) {
  const int32_t channels = p->out_c, step = p->in_c;
  const int32_t x_row = p->dil_h * p->in_w * p->in_c, w_row = p->k_w * channels;
  const int32_t out_offset = p->output_offset, lo = p->act_min, hi = p->act_max;
  tf_window row_win;
  const int8_t *w_first;
  int32_t x_first; /* input index of column -pad_w: may be in the padding */
  int32_t rows, ox, ch, k;
  if (p->depth_multiplier != 1 || channels % 4 || p->dil_w != 1) return 0;
  /* the rows of the window are those of the whole output row (tf_window_at's, once) */
  row_win = tf_window_at(p, b, oy * p->stride_h - p->pad_h, -p->pad_w);
  rows = row_win.fy_hi - row_win.fy_lo;
  x_first = row_win.base + row_win.fy_lo * x_row;
  w_first = t->filter + row_win.fy_lo * w_row;
  for (ox = 0; ox < p->out_w; ++ox, out_row += channels) {
    const int32_t in_x0 = ox * p->stride_w - p->pad_w;
    const int32_t fx_lo = in_x0 < 0 ? tf_min(-in_x0, p->k_w) : 0;
    const int32_t fx_hi = tf_max(fx_lo, tf_min(p->in_w - in_x0, p->k_w));
    const int8_t *x = input + (x_first + (in_x0 + p->pad_w + fx_lo) * step);
    const int8_t *w = w_first + fx_lo * channels;
    for (ch = 0; ch < channels; ch += 4) {
      int32_t acc[4] = {0, 0, 0, 0};
      if (t->bias) {
        for (k = 0; k < 4; ++k) acc[k] = t->bias[ch + k];
      }
      tf_depthwise4_c(x + ch, w + ch, rows, fx_hi - fx_lo, x_row, w_row, step, p->input_offset,
                      acc);
      for (k = 0; k < 4; ++k) {
        out_row[ch + k] = tf_requant_fast(acc[k], t->multiplier[ch + k], t->shift[ch + k],
                                          out_offset, lo, hi);
      }
    }
  }
  return 1;
}
#endif
