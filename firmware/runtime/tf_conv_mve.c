/* tinyfuse runtime: CONV_2D and DEPTHWISE_CONV_2D with Helium (MVE, Cortex-M55), bit-exact
 * with TFLite Micro's reference_integer_ops.
 *
 * CONV_2D, four output pixels at a time: their receptive fields are copied once into columns
 * on the stack, each padded with zeros to a multiple of 16 bytes; then each output channel is
 * one pass over its filter row, per 16 terms one filter vector, its lane sum (VADDVA) and one
 * VMLADAVA per pixel, since sum w * (x + offset) = sum w * x + offset * sum w. The four sums
 * of a channel are requantized as one vector and stored with one scatter. The four pixels'
 * inputs are copied before any of their outputs is written, so the output may overlap the
 * input as the memory plan allows (in place, or by the compiler's displacement: every output
 * row lies below the input rows it reads).
 *
 * DEPTHWISE_CONV_2D (depth multiplier 1), four channels per vector: per tap one widening load
 * of the input and of the filter, the offset added, a multiply and an add; the last vector of
 * a row of channels is predicated, so any channel count runs.
 *
 * Every sum is the exact integer of the portable loop (int32, wrapping alike), and
 * tf_requant4 computes tf_requant_fast's value on each lane. Built only with
 * TINYFUSE_USE_MVE on a core with Helium; elsewhere the file is empty. */
#include "tf_conv_dsp.h"

#include "tf_common.h"
#include "tf_mac.h"
#include "tf_mve.h"
#include "tf_window.h"

#if TINYFUSE_MAC_MVE

#define TF_MVE_PIXELS 4
/* Receptive fields longer than this take the DSP path (the columns live on the stack:
 * 4 * n bytes, n rounded up to 16). */
#define TF_MVE_MAX_TERMS 1024

/* n bytes of src to dst, then zeros up to the next multiple of 16. */
static void tf_column_copy(int8_t *dst, const int8_t *src, int32_t n) {
  int32_t i;
  for (i = 0; i < n; i += 16) vst1q_s8(dst + i, tf_load16(src, i, n));
}

/* Four sums, one per column, and the filter's lane sum. */
typedef struct {
  int32_t a0, a1, a2, a3, w_sum;
} tf_sums5;

/* One group of 16 terms: filter vector wv against bytes i..i+15 of the four columns. */
static inline tf_sums5 tf_mac4_step(const int8_t *c0, int32_t stride, int32_t i, int8x16_t wv,
                                    tf_sums5 s) {
  s.w_sum = vaddvaq_s8(s.w_sum, wv);
  s.a0 = vmladavaq_s8(s.a0, vld1q_s8(c0 + i), wv);
  s.a1 = vmladavaq_s8(s.a1, vld1q_s8(c0 + stride + i), wv);
  s.a2 = vmladavaq_s8(s.a2, vld1q_s8(c0 + 2 * stride + i), wv);
  s.a3 = vmladavaq_s8(s.a3, vld1q_s8(c0 + 3 * stride + i), wv);
  return s;
}

/* Every output channel of `count` (1..4) pixels from their columns (stride bytes apart) into
 * out (the first pixel's channel 0; the pixels out_c bytes apart). The last group of each
 * filter row loads only the row's remaining bytes (the columns' padding is zero too). */
static __attribute__((noinline)) void tf_conv_block(const tf_conv_params *p,
                                                   const tf_conv_tables *t,
                                                   const int8_t *cols, int32_t stride,
                                                   int32_t count, int8_t *out) {
  const int32_t n = p->k_h * p->k_w * p->filter_in_c, out_c = p->out_c;
  const uint32x4_t offsets = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)out_c);
  const mve_pred16_t pixels = vctp32q((uint32_t)count);
  int32_t oc, i;
  for (oc = 0; oc < out_c; ++oc, ++out) {
    const int8_t *w = t->filter + oc * n;
    tf_sums5 s = {0, 0, 0, 0, 0};
    int32x4_t sums;
    for (i = 0; i + 16 <= n; i += 16) s = tf_mac4_step(cols, stride, i, vld1q_s8(w + i), s);
    if (i < n) s = tf_mac4_step(cols, stride, i, tf_load16(w, i, n), s);
    sums = vsetq_lane_s32(s.a3, vsetq_lane_s32(s.a2, vsetq_lane_s32(s.a1, vdupq_n_s32(s.a0),
                                                                    1), 2), 3);
    sums = vaddq_n_s32(sums, (t->bias ? t->bias[oc] : 0) + p->input_offset * s.w_sum);
    vstrbq_scatter_offset_p_s32(out, offsets,
                                tf_requant4(sums, vdupq_n_s32(t->multiplier[oc]),
                                            vdupq_n_s32(t->shift[oc]), p->output_offset,
                                            p->act_min, p->act_max),
                                pixels);
  }
}

int tf_conv_mve_s8(const tf_conv_params *p, const int8_t *input, const tf_conv_tables *t,
                   int8_t *col, int8_t *output) {
  const int32_t n = p->k_h * p->k_w * p->filter_in_c;
  const int32_t pixels = p->batches * p->out_h * p->out_w, stride = (n + 15) & ~15;
  int32_t q, k;
  if (p->filter_in_c != p->in_c || n > TF_MVE_MAX_TERMS) return 0;
  {
    int8_t cols[TF_MVE_PIXELS * stride]; /* C99 variable length: the stack holds what n needs */
    for (q = 0; q < pixels; q += TF_MVE_PIXELS) {
      const int32_t count = pixels - q < TF_MVE_PIXELS ? pixels - q : TF_MVE_PIXELS;
      for (k = 0; k < TF_MVE_PIXELS; ++k) { /* a short last block repeats its last pixel */
        tf_column_copy(cols + k * stride,
                       tf_pixel_field(p, input, col, q + (k < count ? k : count - 1)), n);
      }
      tf_conv_block(p, t, cols, stride, count, output + q * p->out_c);
    }
  }
  return 1;
}

/* Channels ch..ch+15 of one depthwise pixel (all present): four accumulators, unpredicated
 * loads. Out of line, with the vector registers to itself. */
static __attribute__((noinline)) void tf_depthwise16(const tf_conv_params *p,
                                                    const tf_taps *taps,
                                                    const tf_conv_tables *t, int32_t ch,
                                                    int8_t *out) {
  const int32_t offset = p->input_offset;
  const int8_t *x_row = taps->x + ch, *w_row = taps->w + ch;
  int32x4_t a0, a1, a2, a3;
  int32_t r, c, k;
  if (t->bias) {
    a0 = vld1q_s32(t->bias + ch);
    a1 = vld1q_s32(t->bias + ch + 4);
    a2 = vld1q_s32(t->bias + ch + 8);
    a3 = vld1q_s32(t->bias + ch + 12);
  } else {
    a0 = a1 = a2 = a3 = vdupq_n_s32(0);
  }
  for (r = 0; r < taps->rows; ++r, x_row += taps->x_row, w_row += taps->w_row) {
    const int8_t *x = x_row, *w = w_row;
    for (c = 0; c < taps->cols; ++c, x += taps->x_col, w += taps->w_col) {
      a0 = vaddq_s32(a0, vmulq_s32(vaddq_n_s32(vldrbq_s32(x), offset), vldrbq_s32(w)));
      a1 = vaddq_s32(a1, vmulq_s32(vaddq_n_s32(vldrbq_s32(x + 4), offset), vldrbq_s32(w + 4)));
      a2 = vaddq_s32(a2, vmulq_s32(vaddq_n_s32(vldrbq_s32(x + 8), offset), vldrbq_s32(w + 8)));
      a3 = vaddq_s32(a3,
                     vmulq_s32(vaddq_n_s32(vldrbq_s32(x + 12), offset), vldrbq_s32(w + 12)));
    }
  }
  for (k = 0; k < 4; ++k) {
    const int32x4_t acc = k == 0 ? a0 : (k == 1 ? a1 : (k == 2 ? a2 : a3));
    vstrbq_s32(out + ch + 4 * k,
               tf_requant4(acc, vld1q_s32(t->multiplier + ch + 4 * k),
                           vld1q_s32(t->shift + ch + 4 * k), p->output_offset, p->act_min,
                           p->act_max));
  }
}

void tf_depthwise_pixel_mve(const tf_conv_params *p, const tf_taps *taps,
                            const tf_conv_tables *t, int8_t *out) {
  const int32_t channels = p->out_c, offset = p->input_offset;
  int32_t ch, r, c;
  for (ch = 0; ch + 16 <= channels; ch += 16) tf_depthwise16(p, taps, t, ch, out);
  for (; ch < channels; ch += 4) { /* the rest four at a time, the last vector predicated */
    const mve_pred16_t lanes = vctp32q((uint32_t)(channels - ch));
    const int8_t *x_row = taps->x + ch, *w_row = taps->w + ch;
    int32x4_t acc = t->bias ? vldrwq_z_s32(t->bias + ch, lanes) : vdupq_n_s32(0);
    for (r = 0; r < taps->rows; ++r, x_row += taps->x_row, w_row += taps->w_row) {
      const int8_t *x = x_row, *w = w_row;
      for (c = 0; c < taps->cols; ++c, x += taps->x_col, w += taps->w_col) {
        const int32x4_t xv = vaddq_n_s32(vldrbq_z_s32(x, lanes), offset);
        acc = vaddq_s32(acc, vmulq_s32(xv, vldrbq_z_s32(w, lanes)));
      }
    }
    vstrbq_p_s32(out + ch,
                 tf_requant4(acc, vldrwq_z_s32(t->multiplier + ch, lanes),
                             vldrwq_z_s32(t->shift + ch, lanes), p->output_offset, p->act_min,
                             p->act_max),
                 lanes);
  }
}

#endif
