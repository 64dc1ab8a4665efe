/* tinyfuse runtime: CONV_2D on the Arm DSP path, two output pixels by two output channels at a
 * time (CMSIS-NN's blocking), bit-exact with TFLite Micro's reference_integer_ops.
 *
 * Each pair of output pixels has its receptive fields widened once to int16 (input offset
 * added, SXTAB16) into a column on the stack, interleaved so that one group of four input
 * bytes of both pixels is four consecutive words; each output channel pair then costs two
 * doubleword loads, two filter words, four SXTB16 and eight SMLAD per 16 MACs. The sums are
 * the exact integer dot products the portable loop computes. Built only with
 * -DTINYFUSE_USE_DSP=1 on a core with the DSP extension; elsewhere the file is empty. */
#include "tf_conv_dsp.h"

#include "tf_common.h"
#include "tf_mac.h"
#include "tf_window.h"

#if TINYFUSE_MAC_DSP

/* Receptive fields longer than this take the one-pixel path (the column lives on the stack:
 * 4 * n + 32 bytes for n terms). */
#define TF_PAIR_MAX_TERMS 1024

/* The bodies specialised for a constant flag must be inlined into each specialisation. */
#define TF_ALWAYS_INLINE __attribute__((always_inline))

/* Pixel slot (0 or 1) of the interleaved column: group g of four terms is words 4g..4g+3
 * (slot 0 even, slot 0 odd, slot 1 even, slot 1 odd); the n % 4 tail terms follow the groups,
 * four words per slot, as plain int32 values. */
static void tf_widen_pixel(const int8_t *x, int32_t n, int32_t x_offset, int32_t slot,
                           int32_t *col) {
  const int16x2_t offset2 = tf_offset2(x_offset);
  const int32_t groups = n >> 2;
  int32_t *dst = col + 2 * slot, *tail = col + 4 * groups + 4 * slot;
  int32_t g, i;
  for (g = 0; g < groups; ++g, x += 4, dst += 4) {
    const int8x4_t v = tf_load_s8x4(x);
    dst[0] = (int32_t)__sxtab16(offset2, v);
    dst[1] = (int32_t)tf_sxtab16_ror8(offset2, v);
  }
  for (i = 0; i < (n & 3); ++i) tail[i] = (int32_t)x[i] + x_offset;
}

/* Four int32 sums, passed by value so that they stay in registers. */
typedef struct {
  int32_t c0, c1, c2, c3;
} tf_acc4;

/* acc + {w0.a, w1.a, w0.b, w1.b} over groups >= 1 groups of four terms of the column of pixels
 * a and b. The loop is written out so that all 14 free registers are in use and nothing is
 * spilled: LDM of the four column words, one word of each filter, 4 SXTB16, 8 SMLAD and the
 * loop test, 17 instructions per 16 MACs. */
static __attribute__((noinline)) void tf_mac2x2_groups(const int32_t *col, const int8_t *w0,
                                                       const int8_t *w1, int32_t groups,
                                                       int32_t acc[4]) {
  register const int32_t *r_col __asm__("r0") = col;
  register const int8_t *r_w0 __asm__("r1") = w0;
  register const int8_t *r_w1 __asm__("r2") = w1;
  register const int32_t *r_end __asm__("r3") = col + 4 * groups;
  register int32_t a0 __asm__("r8") = acc[0];
  register int32_t a1 __asm__("r9") = acc[1];
  register int32_t a2 __asm__("r10") = acc[2];
  register int32_t a3 __asm__("r11") = acc[3];
  register int32_t x0 __asm__("r4");
  register int32_t x1 __asm__("r5");
  register int32_t x2 __asm__("r6");
  register int32_t x3 __asm__("r7");
  register int32_t v __asm__("r12");
  register int32_t w_even __asm__("lr");
  __asm__ volatile(
      "1:\n\t"
      "ldmia %[col]!, {%[x0], %[x1], %[x2], %[x3]}\n\t"
      "ldr %[v], [%[w0]], #4\n\t"
      "sxtb16 %[we], %[v]\n\t"
      "sxtb16 %[v], %[v], ror #8\n\t"
      "smlad %[a0], %[x0], %[we], %[a0]\n\t"
      "smlad %[a0], %[x1], %[v], %[a0]\n\t"
      "smlad %[a2], %[x2], %[we], %[a2]\n\t"
      "smlad %[a2], %[x3], %[v], %[a2]\n\t"
      "ldr %[v], [%[w1]], #4\n\t"
      "sxtb16 %[we], %[v]\n\t"
      "sxtb16 %[v], %[v], ror #8\n\t"
      "smlad %[a1], %[x0], %[we], %[a1]\n\t"
      "smlad %[a1], %[x1], %[v], %[a1]\n\t"
      "smlad %[a3], %[x2], %[we], %[a3]\n\t"
      "smlad %[a3], %[x3], %[v], %[a3]\n\t"
      "cmp %[col], %[end]\n\t"
      "bne 1b"
      : [col] "+r"(r_col), [w0] "+r"(r_w0), [w1] "+r"(r_w1), [a0] "+r"(a0), [a1] "+r"(a1),
        [a2] "+r"(a2), [a3] "+r"(a3), [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2),
        [x3] "=&r"(x3), [v] "=&r"(v), [we] "=&r"(w_even)
      : [end] "r"(r_end)
      : "cc", "memory");
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}

/* acc + {w0.a, w1.a, w0.b, w1.b} over the n terms of the column of pixels a and b. */
static inline tf_acc4 tf_mac2x2(const int32_t *col, const int8_t *w0, const int8_t *w1,
                                int32_t n, tf_acc4 acc) {
  const int32_t groups = n >> 2;
  const int32_t *const tail = col + 4 * groups;
  int32_t i;
  if (groups > 0) {
    int32_t sums[4];
    sums[0] = acc.c0;
    sums[1] = acc.c1;
    sums[2] = acc.c2;
    sums[3] = acc.c3;
    tf_mac2x2_groups(col, w0, w1, groups, sums);
    acc.c0 = sums[0];
    acc.c1 = sums[1];
    acc.c2 = sums[2];
    acc.c3 = sums[3];
    w0 += 4 * groups;
    w1 += 4 * groups;
  }
  for (i = 0; i < (n & 3); ++i) {
    acc.c0 += (int32_t)w0[i] * tail[i];
    acc.c1 += (int32_t)w1[i] * tail[i];
    acc.c2 += (int32_t)w0[i] * tail[4 + i];
    acc.c3 += (int32_t)w1[i] * tail[4 + i];
  }
  return acc;
}

/* Widens output pixel q's receptive field into slot `slot` of col16. */
static void tf_gather_pixel(const tf_conv_params *p, const int8_t *input, int8_t *col,
                            int32_t q, int32_t slot, int32_t *col16) {
  tf_widen_pixel(tf_pixel_field(p, input, col, q), p->k_h * p->k_w * p->filter_in_c,
                 p->input_offset, slot, col16);
}

/* Output channel k of one pixel from its sum; `simple` (a constant where this is inlined):
 * every shift is a right shift of 1 to 23 bits and the output range is all of int8, so the
 * requantization needs no tests (tf_requant_right, then SSAT). */
static inline int8_t tf_pair_output(int32_t acc, int32_t m, int32_t s, int32_t out_offset,
                                    int32_t lo, int32_t hi, int simple) {
  if (simple) return (int8_t)__ssat(tf_requant_right(acc, m, -s) + out_offset, 8);
  return tf_requant_fast(acc, m, s, out_offset, lo, hi);
}

/* Output channels of pixels a and b (b may be a) from their widened column, two at a time
 * (the last one alone when out_c is odd). */
static inline TF_ALWAYS_INLINE void tf_pair_channels(const tf_conv_params *p,
                                                     const int32_t *col16,
                                                     const tf_conv_tables *t, int8_t *out_a,
                                                     int8_t *out_b, int simple) {
  const int32_t n = p->k_h * p->k_w * p->filter_in_c, out_c = p->out_c;
  const int32_t out_offset = p->output_offset, lo = p->act_min, hi = p->act_max;
  int32_t oc;
  for (oc = 0; oc < out_c; oc += 2) {
    const int32_t last = oc + 1 == out_c, oc1 = last ? oc : oc + 1;
    const int8_t *w0 = t->filter + oc * n;
    const int32_t m0 = t->multiplier[oc], s0 = t->shift[oc];
    const int32_t m1 = t->multiplier[oc1], s1 = t->shift[oc1];
    tf_acc4 acc = {0, 0, 0, 0};
    if (t->bias) {
      acc.c0 = acc.c2 = t->bias[oc];
      acc.c1 = acc.c3 = t->bias[oc1];
    }
    acc = tf_mac2x2(col16, w0, t->filter + oc1 * n, n, acc);
    out_a[oc] = tf_pair_output(acc.c0, m0, s0, out_offset, lo, hi, simple);
    out_b[oc] = tf_pair_output(acc.c2, m0, s0, out_offset, lo, hi, simple);
    if (!last) {
      out_a[oc1] = tf_pair_output(acc.c1, m1, s1, out_offset, lo, hi, simple);
      out_b[oc1] = tf_pair_output(acc.c3, m1, s1, out_offset, lo, hi, simple);
    }
  }
}

/* tf_pair_channels specialised both ways; out of line, so that the loops have the registers
 * to themselves. */
static __attribute__((noinline)) void tf_pair_channels_simple(const tf_conv_params *p,
                                                              const int32_t *col16,
                                                              const tf_conv_tables *t,
                                                              int8_t *out_a, int8_t *out_b) {
  tf_pair_channels(p, col16, t, out_a, out_b, 1);
}

static __attribute__((noinline)) void tf_pair_channels_any(const tf_conv_params *p,
                                                           const int32_t *col16,
                                                           const tf_conv_tables *t,
                                                           int8_t *out_a, int8_t *out_b) {
  tf_pair_channels(p, col16, t, out_a, out_b, 0);
}

int tf_conv_pairs_s8(const tf_conv_params *p, const int8_t *input, const tf_conv_tables *t,
                     int8_t *col, int8_t *output) {
  const int32_t n = p->k_h * p->k_w * p->filter_in_c;
  const int32_t pixels = p->batches * p->out_h * p->out_w;
  int32_t q, simple;
#if TINYFUSE_MAC_MVE
  if (tf_conv_mve_s8(p, input, t, col, output)) return 1;
#endif
  if (p->filter_in_c != p->in_c || n > TF_PAIR_MAX_TERMS || n < 4) return 0;
  simple = p->act_min == -128 && p->act_max == 127 && tf_right_shifts_only(t->shift, p->out_c);
  {
    int32_t col16[4 * (n >> 2) + 8]; /* C99 variable length: the stack holds what n needs */
    for (q = 0; q < pixels; q += 2) {
      const int32_t q_b = q + 1 < pixels ? q + 1 : q;
      tf_gather_pixel(p, input, col, q, 0, col16);
      tf_gather_pixel(p, input, col, q_b, 1, col16);
      int8_t *out_a = output + q * p->out_c, *out_b = output + q_b * p->out_c;
      if (simple) {
        tf_pair_channels_simple(p, col16, t, out_a, out_b);
      } else {
        tf_pair_channels_any(p, col16, t, out_a, out_b);
      }
    }
  }
  return 1;
}
/* acc.ck += w[k] * (x[k] + offset) for the four channels of one depthwise tap. */
static inline tf_acc4 tf_tap4(const int8_t *x, const int8_t *w, int16x2_t offset2,
                              tf_acc4 acc) {
  const int8x4_t xv = tf_load_s8x4(x), wv = tf_load_s8x4(w);
  const int16x2_t x_even = __sxtab16(offset2, xv), x_odd = tf_sxtab16_ror8(offset2, xv);
  const int16x2_t w_even = __sxtb16(wv), w_odd = tf_sxtb16_ror8(wv);
  acc.c0 = __smlabb(x_even, w_even, acc.c0);
  acc.c2 = __smlatt(x_even, w_even, acc.c2);
  acc.c1 = __smlabb(x_odd, w_odd, acc.c1);
  acc.c3 = __smlatt(x_odd, w_odd, acc.c3);
  return acc;
}

/* One tap of tf_depthwise3x3's loop: words at [x + dx] and [w + dw], 10 instructions. */
#define TF_DW_TAP(dx, dw)                          \
  "ldr %[xv], [%[x]" dx "]\n\t"                    \
  "ldr %[wv], [%[w]" dw "]\n\t"                    \
  "sxtab16 %[xe], %[off], %[xv]\n\t"               \
  "sxtab16 %[xv], %[off], %[xv], ror #8\n\t"       \
  "sxtb16 %[we], %[wv]\n\t"                        \
  "sxtb16 %[wv], %[wv], ror #8\n\t"                \
  "smlabb %[a0], %[xe], %[we], %[a0]\n\t"          \
  "smlatt %[a2], %[xe], %[we], %[a2]\n\t"          \
  "smlabb %[a1], %[xv], %[wv], %[a1]\n\t"          \
  "smlatt %[a3], %[xv], %[wv], %[a3]\n\t"

/* One row of three taps, then x and w on to the next row (x_next: x_row - 2 * step). */
#define TF_DW_ROW                                  \
  TF_DW_TAP("", "")                                \
  TF_DW_TAP(", %[step]", ", %[step]")              \
  "add %[x], %[x], %[step], lsl #1\n\t"            \
  "add %[w], %[w], %[step], lsl #1\n\t"            \
  TF_DW_TAP("", "")                                \
  "add %[x], %[x], %[x_next]\n\t"                  \
  "add %[w], %[w], %[step]\n\t"

/* tf_depthwise4 for a full 3 x 3 window whose filter rows are 3 * step bytes apart, written
 * out over 13 registers: 10 instructions per tap of four channels, 2 per column step. */
static inline tf_acc4 tf_depthwise3x3(const int8_t *x, const int8_t *w, int32_t x_row,
                                      int32_t step, int16x2_t offset2, tf_acc4 acc) {
  const int32_t x_next = x_row - 2 * step;
  int32_t a0 = acc.c0, a1 = acc.c1, a2 = acc.c2, a3 = acc.c3, xv, xe, wv, we;
  __asm__(TF_DW_ROW TF_DW_ROW TF_DW_ROW
          : [x] "+r"(x), [w] "+r"(w), [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2),
            [a3] "+r"(a3), [xv] "=&r"(xv), [xe] "=&r"(xe), [wv] "=&r"(wv), [we] "=&r"(we)
          : [step] "r"(step), [x_next] "r"(x_next), [off] "r"(offset2)
          : "memory");
  acc.c0 = a0;
  acc.c1 = a1;
  acc.c2 = a2;
  acc.c3 = a3;
  return acc;
}

/* Four channels of one depthwise output pixel over rows x cols taps (x, w at the first valid
 * tap of the first channel; x_row/w_row bytes between tap rows, step bytes between columns of
 * both), starting from acc. Rows of 2 or 3 taps (a 3 x 3 window, clipped or not) are
 * unrolled. */
static inline tf_acc4 tf_depthwise4(const int8_t *x, const int8_t *w, int32_t rows,
                                    int32_t cols, int32_t x_row, int32_t w_row, int32_t step,
                                    int16x2_t offset2, tf_acc4 acc) {
  int32_t r, c;
  if (rows == 3 && cols == 3 && w_row == 3 * step) return tf_depthwise3x3(x, w, x_row, step,
                                                                          offset2, acc);
  for (r = 0; r < rows; ++r, x += x_row, w += w_row) {
    if (cols == 3) {
      acc = tf_tap4(x, w, offset2, acc);
      acc = tf_tap4(x + step, w + step, offset2, acc);
      acc = tf_tap4(x + 2 * step, w + 2 * step, offset2, acc);
    } else if (cols == 2) {
      acc = tf_tap4(x, w, offset2, acc);
      acc = tf_tap4(x + step, w + step, offset2, acc);
    } else {
      for (c = 0; c < cols; ++c) acc = tf_tap4(x + c * step, w + c * step, offset2, acc);
    }
  }
  return acc;
}

/* One depthwise output row (see tf_depthwise_row_s8); `simple` as for tf_pair_output. */
static inline TF_ALWAYS_INLINE void tf_depthwise_row(const tf_conv_params *p,
                                                     const int8_t *input,
                                                     const tf_conv_tables *t, int32_t b,
                                                     int32_t oy, int8_t *out_row, int simple) {
  const int32_t channels = p->out_c, step = p->dil_w * p->in_c;
  const int32_t x_row = p->dil_h * p->in_w * p->in_c, w_row = p->k_w * channels;
  const int16x2_t offset2 = tf_offset2(p->input_offset);
  const int32_t out_offset = p->output_offset, lo = p->act_min, hi = p->act_max;
  /* the rows of the window are those of the whole output row (tf_window_at's, once) */
  const tf_window row_win = tf_window_at(p, b, oy * p->stride_h - p->pad_h, -p->pad_w);
  const int32_t rows = row_win.fy_hi - row_win.fy_lo;
  const int32_t x_first = row_win.base + row_win.fy_lo * x_row; /* may be in the padding */
  const int8_t *const w_first = t->filter + row_win.fy_lo * w_row;
  int32_t ox, ch;
  for (ox = 0; ox < p->out_w; ++ox, out_row += channels) {
    const int32_t in_x0 = ox * p->stride_w - p->pad_w;
    const int32_t fx_lo = in_x0 < 0 ? tf_min(-in_x0, p->k_w) : 0;
    const int32_t fx_hi = tf_max(fx_lo, tf_min(p->in_w - in_x0, p->k_w));
    const int8_t *x = input + (x_first + (in_x0 + p->pad_w + fx_lo) * step);
    const int8_t *w = w_first + fx_lo * channels;
    const int32_t cols = fx_hi - fx_lo;
    for (ch = 0; ch < channels; ch += 4) {
      const int32_t *m = t->multiplier + ch, *s = t->shift + ch;
      int8_t *out = out_row + ch;
      tf_acc4 acc = {0, 0, 0, 0};
      if (t->bias) {
        acc.c0 = t->bias[ch];
        acc.c1 = t->bias[ch + 1];
        acc.c2 = t->bias[ch + 2];
        acc.c3 = t->bias[ch + 3];
      }
      acc = tf_depthwise4(x + ch, w + ch, rows, cols, x_row, w_row, step, offset2, acc);
      out[0] = tf_pair_output(acc.c0, m[0], s[0], out_offset, lo, hi, simple);
      out[1] = tf_pair_output(acc.c1, m[1], s[1], out_offset, lo, hi, simple);
      out[2] = tf_pair_output(acc.c2, m[2], s[2], out_offset, lo, hi, simple);
      out[3] = tf_pair_output(acc.c3, m[3], s[3], out_offset, lo, hi, simple);
    }
  }
}

static __attribute__((noinline)) void tf_depthwise_row_simple(const tf_conv_params *p,
                                                              const int8_t *input,
                                                              const tf_conv_tables *t,
                                                              int32_t b, int32_t oy,
                                                              int8_t *out_row) {
  tf_depthwise_row(p, input, t, b, oy, out_row, 1);
}

static __attribute__((noinline)) void tf_depthwise_row_any(const tf_conv_params *p,
                                                           const int8_t *input,
                                                           const tf_conv_tables *t, int32_t b,
                                                           int32_t oy, int8_t *out_row) {
  tf_depthwise_row(p, input, t, b, oy, out_row, 0);
}

int tf_depthwise_row_s8(const tf_conv_params *p, const int8_t *input, const tf_conv_tables *t,
                        int32_t b, int32_t oy, int8_t *out_row) {
  if (p->depth_multiplier != 1 || p->out_c % 4 || p->dil_w != 1) return 0;
  if (p->act_min == -128 && p->act_max == 127 && tf_right_shifts_only(t->shift, p->out_c)) {
    tf_depthwise_row_simple(p, input, t, b, oy, out_row);
  } else {
    tf_depthwise_row_any(p, input, t, b, oy, out_row);
  }
  return 1;
}
#endif
