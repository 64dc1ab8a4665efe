/* tinyfuse runtime: the receptive field of one convolution output pixel (valid taps, im2col),
 * shared by the portable, DSP and Helium convolution loops. Internal to the runtime. */
#ifndef TINYFUSE_TF_WINDOW_H
#define TINYFUSE_TF_WINDOW_H

#include <string.h>

#include "tf_common.h"
#include "tf_kernels.h"

/* ceil(a / d) for a >= 0, d >= 1 (no division for the usual d == 1). */
static inline int32_t tf_ceil_div(int32_t a, int32_t d) {
  return d == 1 ? a : (a + d - 1) / d;
}

/* First tap index t in [0, k) with 0 <= start + dilation * t (the taps before it are padding). */
static inline int32_t tf_first_tap(int32_t start, int32_t dilation, int32_t k) {
  return start < 0 ? tf_min(tf_ceil_div(-start, dilation), k) : 0;
}

/* One tap past the last t with start + dilation * t < size. */
static inline int32_t tf_end_tap(int32_t start, int32_t dilation, int32_t k, int32_t size) {
  return start < size ? tf_min(tf_ceil_div(size - start, dilation), k) : 0;
}

/* The taps of one output pixel that fall inside the input: rows fy_lo..fy_hi-1, columns
 * fx_lo..fx_hi-1 (the reference skips the others); base is the input index of tap (0, 0)'s
 * channel 0, which may lie in the padding. */
typedef struct {
  int32_t base, fy_lo, fy_hi, fx_lo, fx_hi;
} tf_window;

static inline tf_window tf_window_at(const tf_conv_params *p, int32_t b, int32_t in_y0,
                              int32_t in_x0) {
  tf_window win;
  win.base = ((b * p->in_h + in_y0) * p->in_w + in_x0) * p->in_c;
  win.fy_lo = tf_first_tap(in_y0, p->dil_h, p->k_h);
  win.fy_hi = tf_max(win.fy_lo, tf_end_tap(in_y0, p->dil_h, p->k_h, p->in_h));
  win.fx_lo = tf_first_tap(in_x0, p->dil_w, p->k_w);
  win.fx_hi = tf_max(win.fx_lo, tf_end_tap(in_x0, p->dil_w, p->k_w, p->in_w));
  return win;
}

/* Input index of tap (fy, win->fx_lo), channel 0. */
static inline int32_t tf_window_row(const tf_conv_params *p, const tf_window *win, int32_t fy) {
  return win->base + (fy * p->dil_h * p->in_w + win->fx_lo * p->dil_w) * p->in_c;
}

/* The valid taps of one depthwise output pixel as pointer steps: x and w address tap
 * (fy_lo, fx_lo), channel 0; rows x cols taps, x_row/w_row bytes from one row to the next,
 * x_col/w_col from one column to the next. */
typedef struct {
  const int8_t *x, *w;
  int32_t rows, cols, x_row, x_col, w_row, w_col;
} tf_taps;

static inline tf_taps tf_taps_at(const tf_conv_params *p, const int8_t *input,
                                 const int8_t *filter, const tf_window *win) {
  tf_taps t;
  t.x = input + tf_window_row(p, win, win->fy_lo);
  t.w = filter + (win->fy_lo * p->k_w + win->fx_lo) * p->out_c;
  t.rows = win->fy_hi - win->fy_lo;
  t.cols = win->fx_hi - win->fx_lo;
  t.x_row = p->dil_h * p->in_w * p->in_c;
  t.x_col = p->dil_w * p->in_c;
  t.w_row = p->k_w * p->out_c;
  t.w_col = p->out_c;
  return t;
}

/* The receptive field of one output pixel for channel group g, k_h x k_w x filter_in_c bytes
 * in the filter's order, so that each output channel is one contiguous dot product. Taps in
 * the padding get the input zero point: w * (zero_point + input_offset) = 0, so they add
 * nothing, as in the reference (which skips them). A 1x1 unpadded convolution reads the input
 * in place (col may then be null). */
static inline const int8_t *tf_im2col(const tf_conv_params *p, const int8_t *input, int8_t *col,
                               int32_t b, int32_t in_y0, int32_t in_x0, int32_t g) {
  const int32_t c = p->filter_in_c;
  const int32_t x_step = p->dil_w * p->in_c;
  const tf_window win = tf_window_at(p, b, in_y0, in_x0);
  const int32_t run = (win.fx_hi - win.fx_lo) * c;
  int32_t fy, fx;
  if (p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0) {
    return input + win.base + g * c;
  }
  if (win.fy_lo > 0 || win.fy_hi < p->k_h || win.fx_lo > 0 || win.fx_hi < p->k_w) {
    memset(col, (int8_t)-p->input_offset, (size_t)(p->k_h * p->k_w * c));
  }
  for (fy = win.fy_lo; fy < win.fy_hi; ++fy) {
    const int8_t *src = input + tf_window_row(p, &win, fy) + g * c;
    int8_t *dst = col + (fy * p->k_w + win.fx_lo) * c;
    if (x_step == c) {
      memcpy(dst, src, (size_t)run);
    } else {
      for (fx = win.fx_lo; fx < win.fx_hi; ++fx, src += x_step, dst += c) {
        memcpy(dst, src, (size_t)c);
      }
    }
  }
  return col;
}

/* The receptive field of output pixel q (counted over batch, rows and columns) of an
 * ungrouped convolution, n = k_h * k_w * in_c bytes: the input itself for a pointwise stride-1
 * convolution, else tf_im2col's column. */
static inline const int8_t *tf_pixel_field(const tf_conv_params *p, const int8_t *input,
                                           int8_t *col, int32_t q) {
  const int32_t n = p->k_h * p->k_w * p->filter_in_c;
  const int32_t per_image = p->out_h * p->out_w, r = q % per_image;
  if (n == p->in_c && p->stride_h == 1 && p->stride_w == 1 && p->pad_h == 0 &&
      p->pad_w == 0) {
    return input + q * n;
  }
  return tf_im2col(p, input, col, q / per_image, (r / p->out_w) * p->stride_h - p->pad_h,
                   (r % p->out_w) * p->stride_w - p->pad_w, 0);
}

#endif
