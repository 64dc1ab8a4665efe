/* tinyfuse runtime: the int8 multiply-accumulate inner loops, in one place.
 *
 * Built with -DTINYFUSE_USE_DSP=1 for a core with the Arm DSP extension (__ARM_FEATURE_DSP),
 * the dot product uses the SIMD intrinsics of <arm_acle.h>; otherwise the portable C99 loop.
 * Both are exact integer sums, so both give identical results. */
#ifndef TINYFUSE_TF_MAC_H
#define TINYFUSE_TF_MAC_H

#include <stdint.h>
#include <string.h>

#if defined(TINYFUSE_USE_DSP) && TINYFUSE_USE_DSP && defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#define TINYFUSE_MAC_DSP 1
static inline int8x4_t tf_ror8(int8x4_t v) {
  const uint32_t u = (uint32_t)v;
  return (int8x4_t)((u >> 8) | (u << 24));
}
#else
#define TINYFUSE_MAC_DSP 0
#endif

#if TINYFUSE_MAC_DSP
/* Bytes 1 and 3 of a word, sign-extended into two halfwords: SXTB16 with ROR #8 in one
 * instruction (GCC 12's <arm_acle.h> has __sxtb16 but no rotating form). */
static inline int16x2_t tf_sxtb16_ror8(int8x4_t v) {
  int16x2_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
  return r;
}

/* a + bytes 1 and 3 of v, sign-extended, per halfword: SXTAB16 with ROR #8. */
static inline int16x2_t tf_sxtab16_ror8(int16x2_t a, int8x4_t v) {
  int16x2_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
  return r;
}

/* Four int8 values as one word; the Cortex-M4 allows unaligned single-word loads. */
static inline int8x4_t tf_load_s8x4(const int8_t *p) {
  int8x4_t v;
  memcpy(&v, p, 4);
  return v;
}

/* acc + sum over 4 bytes of w[k] * (x[k] + offset): SXTAB16 widens x and adds the offset,
 * two SMLADs take the even and the odd bytes; 8 instructions per 4 MACs with the loads. The
 * halfword additions, products and pairwise sums are exact (|x + offset| <= 383, |w| <= 128),
 * and the accumulation wraps like the portable loop's int32 sum. */
static inline int32_t tf_mac_s8x4(int8x4_t xv, int8x4_t wv, int16x2_t offset2, int32_t acc) {
  acc = __smlad(__sxtab16(offset2, xv), __sxtb16(wv), acc);
  return __smlad(tf_sxtab16_ror8(offset2, xv), tf_sxtb16_ror8(wv), acc);
}
#endif

#if TINYFUSE_MAC_DSP
/* tf_dot_s8_offset with SIMD, 4 terms per step and a scalar tail. Out of line: inlined, its
 * register needs made the convolution loops around short dot products (1-8 input channels,
 * which never come here) spill, and those models ran 13-27% more instructions than portable;
 * out of line the cost there is 6-10%, while fully connected layers gain. */
static __attribute__((noinline)) int32_t tf_dot_s8_offset_simd(const int8_t *x, const int8_t *w,
                                                              int32_t n, int32_t x_offset) {
  const int16x2_t offset2 = (int16x2_t)(((uint32_t)(uint16_t)x_offset << 16) |
                                        (uint16_t)x_offset);
  int32_t acc = 0;
  int32_t i = 0;
  for (; i + 8 <= n; i += 8) {
    acc = tf_mac_s8x4(tf_load_s8x4(x + i), tf_load_s8x4(w + i), offset2, acc);
    acc = tf_mac_s8x4(tf_load_s8x4(x + i + 4), tf_load_s8x4(w + i + 4), offset2, acc);
  }
  if (i + 4 <= n) {
    acc = tf_mac_s8x4(tf_load_s8x4(x + i), tf_load_s8x4(w + i), offset2, acc);
    i += 4;
  }
  for (; i < n; ++i) {
    acc += (int32_t)w[i] * ((int32_t)x[i] + x_offset);
  }
  return acc;
}
#endif

/* sum_i w[i] * (x[i] + x_offset) over n contiguous int8 values. The DSP path needs
 * x_offset in [-255, 255] (a negated int8 zero point is in [-127, 128]) so that x[i] + x_offset
 * fits an int16 lane; it takes over from TF_MAC_DSP_MIN_N terms, below that the plain loop
 * (the portable path, unchanged) is cheaper than the call. */
#define TF_MAC_DSP_MIN_N 8
static inline int32_t tf_dot_s8_offset(const int8_t *x, const int8_t *w, int32_t n,
                                       int32_t x_offset) {
  int32_t acc = 0;
  int32_t i = 0;
#if TINYFUSE_MAC_DSP
  if (n >= TF_MAC_DSP_MIN_N) {
    return tf_dot_s8_offset_simd(x, w, n, x_offset);
  }
#endif
  for (; i < n; ++i) {
    acc += (int32_t)w[i] * ((int32_t)x[i] + x_offset);
  }
  return acc;
}

#endif
