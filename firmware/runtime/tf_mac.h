/* tinyfuse runtime: the int8 multiply-accumulate inner loops, in one place.
 *
 * Built with -DTINYFUSE_USE_DSP=1 for a core with the Arm DSP extension (__ARM_FEATURE_DSP),
 * the dot product uses the SIMD intrinsics of <arm_acle.h>; otherwise the portable C99 loop.
 * With -DTINYFUSE_USE_MVE=1 as well, on a core with Helium (__ARM_FEATURE_MVE, Cortex-M55),
 * the dot products take 16 int8 lanes per instruction (<arm_mve.h>, VMLADAVA and VADDVA:
 * sum w * (x + offset) = sum w * x + offset * sum w); CONV_2D and DEPTHWISE_CONV_2D run
 * tf_conv_mve.c and ADD a vector loop (requantization in tf_mve.h); the rest of the DSP path
 * stays. All are exact integer sums, so all give identical results. */
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

#if TINYFUSE_MAC_DSP && defined(TINYFUSE_USE_MVE) && TINYFUSE_USE_MVE && \
    defined(__ARM_FEATURE_MVE)
#include <arm_mve.h>
#define TINYFUSE_MAC_MVE 1
#else
#define TINYFUSE_MAC_MVE 0
#endif

#if TINYFUSE_MAC_MVE
/* Bytes i..i+15 of a row of n (input or filter), the lanes past n zero (a predicated load, so
 * nothing past the row is read and those lanes add nothing). */
static inline int8x16_t tf_load16(const int8_t *row, int32_t i, int32_t n) {
  return n - i >= 16 ? vld1q_s8(row + i) : vldrbq_z_s8(row + i, vctp8q((uint32_t)(n - i)));
}
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

/* x_offset in both halfwords, for SXTAB16. */
static inline int16x2_t tf_offset2(int32_t x_offset) {
  return (int16x2_t)(((uint32_t)(uint16_t)x_offset << 16) | (uint16_t)x_offset);
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

#if TINYFUSE_MAC_MVE
/* tf_dot_s8_offset with Helium: 16 terms per step, the tail predicated. */
static __attribute__((noinline)) int32_t tf_dot_s8_offset_simd(const int8_t *x, const int8_t *w,
                                                              int32_t n, int32_t x_offset) {
  int32_t acc = 0, w_sum = 0, i;
  for (i = 0; i < n; i += 16) {
    const int8x16_t wv = tf_load16(w, i, n);
    acc = vmladavaq_s8(acc, tf_load16(x, i, n), wv);
    w_sum = vaddvaq_s8(w_sum, wv);
  }
  return acc + x_offset * w_sum;
}
#elif TINYFUSE_MAC_DSP
/* tf_dot_s8_offset with SIMD, 4 terms per step and a scalar tail. Out of line, so that its
 * registers do not make the loops around it spill. Convolutions gather each output pixel's
 * receptive field into one contiguous column first (tf_conv.c), so the dot products here and
 * in tf_dot2_s8_offset run over k_h * k_w * input channels terms, not one tap at a time. */
static __attribute__((noinline)) int32_t tf_dot_s8_offset_simd(const int8_t *x, const int8_t *w,
                                                              int32_t n, int32_t x_offset) {
  const int16x2_t offset2 = tf_offset2(x_offset);
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

/* Two dot products sharing x: acc[0] += sum_i w0[i] * (x[i] + x_offset), acc[1] likewise
 * with w1. Convolutions and fully connected layers call it for two output channels at once, so
 * each input word is loaded and widened once for both filters (13 instructions per 8 MACs);
 * x_offset as for tf_dot_s8_offset. */
#if TINYFUSE_MAC_MVE
static __attribute__((noinline)) void tf_dot2_s8_offset(const int8_t *x, const int8_t *w0,
                                                       const int8_t *w1, int32_t n,
                                                       int32_t x_offset, int32_t acc[2]) {
  int32_t a0 = 0, a1 = 0, s0 = 0, s1 = 0, i;
  for (i = 0; i < n; i += 16) {
    const int8x16_t xv = tf_load16(x, i, n);
    const int8x16_t v0 = tf_load16(w0, i, n), v1 = tf_load16(w1, i, n);
    a0 = vmladavaq_s8(a0, xv, v0);
    s0 = vaddvaq_s8(s0, v0);
    a1 = vmladavaq_s8(a1, xv, v1);
    s1 = vaddvaq_s8(s1, v1);
  }
  acc[0] += a0 + x_offset * s0;
  acc[1] += a1 + x_offset * s1;
}
#elif TINYFUSE_MAC_DSP
static __attribute__((noinline)) void tf_dot2_s8_offset(const int8_t *x, const int8_t *w0,
                                                       const int8_t *w1, int32_t n,
                                                       int32_t x_offset, int32_t acc[2]) {
  const int16x2_t offset2 = tf_offset2(x_offset);
  int32_t a0 = acc[0], a1 = acc[1], i = 0;
  for (; i + 4 <= n; i += 4) {
    const int8x4_t xv = tf_load_s8x4(x + i);
    const int16x2_t x_even = __sxtab16(offset2, xv);
    const int16x2_t x_odd = tf_sxtab16_ror8(offset2, xv);
    const int8x4_t v0 = tf_load_s8x4(w0 + i);
    const int8x4_t v1 = tf_load_s8x4(w1 + i);
    a0 = __smlad(x_even, __sxtb16(v0), a0);
    a0 = __smlad(x_odd, tf_sxtb16_ror8(v0), a0);
    a1 = __smlad(x_even, __sxtb16(v1), a1);
    a1 = __smlad(x_odd, tf_sxtb16_ror8(v1), a1);
  }
  for (; i < n; ++i) {
    const int32_t xi = (int32_t)x[i] + x_offset;
    a0 += (int32_t)w0[i] * xi;
    a1 += (int32_t)w1[i] * xi;
  }
  acc[0] = a0;
  acc[1] = a1;
}
#else
static inline void tf_dot2_s8_offset(const int8_t *x, const int8_t *w0, const int8_t *w1,
                                     int32_t n, int32_t x_offset, int32_t acc[2]) {
  int32_t a0 = acc[0], a1 = acc[1], i;
  for (i = 0; i < n; ++i) {
    const int32_t xi = (int32_t)x[i] + x_offset;
    a0 += (int32_t)w0[i] * xi;
    a1 += (int32_t)w1[i] * xi;
  }
  acc[0] = a0;
  acc[1] = a1;
}
#endif

#if TINYFUSE_MAC_MVE
/* Four dot products sharing x (as below) with Helium: per 16 terms one input vector, then per
 * row one filter vector, a VMLADAVA and a VADDVA. */
static __attribute__((noinline)) void tf_dot4_s8_offset(const int8_t *x, const int8_t *w,
                                                       int32_t n, int32_t x_offset,
                                                       int32_t acc[4]) {
  const int8_t *w1 = w + n, *w2 = w1 + n, *w3 = w2 + n;
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, s0 = 0, s1 = 0, s2 = 0, s3 = 0, i;
  for (i = 0; i < n; i += 16) {
    const int8x16_t xv = tf_load16(x, i, n);
    const int8x16_t v0 = tf_load16(w, i, n), v1 = tf_load16(w1, i, n);
    const int8x16_t v2 = tf_load16(w2, i, n), v3 = tf_load16(w3, i, n);
    a0 = vmladavaq_s8(a0, xv, v0);
    s0 = vaddvaq_s8(s0, v0);
    a1 = vmladavaq_s8(a1, xv, v1);
    s1 = vaddvaq_s8(s1, v1);
    a2 = vmladavaq_s8(a2, xv, v2);
    s2 = vaddvaq_s8(s2, v2);
    a3 = vmladavaq_s8(a3, xv, v3);
    s3 = vaddvaq_s8(s3, v3);
  }
  acc[0] = a0 + x_offset * s0;
  acc[1] = a1 + x_offset * s1;
  acc[2] = a2 + x_offset * s2;
  acc[3] = a3 + x_offset * s3;
}
#elif TINYFUSE_MAC_DSP
/* Four dot products sharing x: acc[k] = sum_i w[k * n + i] * (x[i] + x_offset) for the four
 * consecutive filter rows of n bytes at w. The loop is written out over 14 registers (rows 1
 * and 3 addressed from rows 0 and 2 plus n): per 4 terms one input word widened with the
 * offset, then per row one word, 2 SXTB16 and 2 SMLAD; 25 instructions per 16 MACs. */
static __attribute__((noinline)) void tf_dot4_s8_offset(const int8_t *x, const int8_t *w,
                                                       int32_t n, int32_t x_offset,
                                                       int32_t acc[4]) {
  const int32_t groups = n >> 2;
  int32_t i, k;
  acc[0] = acc[1] = acc[2] = acc[3] = 0;
  if (groups > 0) {
    register const int8_t *r_x __asm__("r0") = x;
    register const int8_t *r_w0 __asm__("r1") = w;
    register const int8_t *r_w2 __asm__("r2") = w + 2 * n;
    register int32_t r_n __asm__("r3") = n;
    register const int8_t *r_end __asm__("r12") = x + 4 * groups;
    register int16x2_t r_offset __asm__("lr") = tf_offset2(x_offset);
    register int32_t a0 __asm__("r8") = 0;
    register int32_t a1 __asm__("r9") = 0;
    register int32_t a2 __asm__("r10") = 0;
    register int32_t a3 __asm__("r11") = 0;
    register int32_t x_even __asm__("r4");
    register int32_t x_odd __asm__("r5");
    register int32_t v __asm__("r6");
    register int32_t w_even __asm__("r7");
    __asm__ volatile(
        "1:\n\t"
        "ldr %[v], [%[x]], #4\n\t"
        "sxtab16 %[xe], %[off], %[v]\n\t"
        "sxtab16 %[xo], %[off], %[v], ror #8\n\t"
        "ldr %[v], [%[w0], %[n]]\n\t"
        "sxtb16 %[we], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad %[a1], %[xe], %[we], %[a1]\n\t"
        "smlad %[a1], %[xo], %[v], %[a1]\n\t"
        "ldr %[v], [%[w0]], #4\n\t"
        "sxtb16 %[we], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad %[a0], %[xe], %[we], %[a0]\n\t"
        "smlad %[a0], %[xo], %[v], %[a0]\n\t"
        "ldr %[v], [%[w2], %[n]]\n\t"
        "sxtb16 %[we], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad %[a3], %[xe], %[we], %[a3]\n\t"
        "smlad %[a3], %[xo], %[v], %[a3]\n\t"
        "ldr %[v], [%[w2]], #4\n\t"
        "sxtb16 %[we], %[v]\n\t"
        "sxtb16 %[v], %[v], ror #8\n\t"
        "smlad %[a2], %[xe], %[we], %[a2]\n\t"
        "smlad %[a2], %[xo], %[v], %[a2]\n\t"
        "cmp %[x], %[end]\n\t"
        "bne 1b"
        : [x] "+r"(r_x), [w0] "+r"(r_w0), [w2] "+r"(r_w2), [a0] "+r"(a0), [a1] "+r"(a1),
          [a2] "+r"(a2), [a3] "+r"(a3), [xe] "=&r"(x_even), [xo] "=&r"(x_odd), [v] "=&r"(v),
          [we] "=&r"(w_even)
        : [n] "r"(r_n), [end] "r"(r_end), [off] "r"(r_offset)
        : "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
  }
  for (i = 4 * groups; i < n; ++i) {
    const int32_t xi = (int32_t)x[i] + x_offset;
    for (k = 0; k < 4; ++k) acc[k] += (int32_t)w[k * n + i] * xi;
  }
}
#endif

#if !TINYFUSE_MAC_DSP
/* Four dot products sharing x, as the DSP path's tf_dot4_s8_offset, in plain C: each input
 * value is loaded and offset once for four filter rows. */
static void tf_dot4_s8_offset(const int8_t *x, const int8_t *w, int32_t n, int32_t x_offset,
                              int32_t acc[4]) {
  const int8_t *w1 = w + n, *w2 = w1 + n, *w3 = w2 + n;
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, i;
  for (i = 0; i < n; ++i) {
    const int32_t xi = (int32_t)x[i] + x_offset;
    a0 += (int32_t)w[i] * xi;
    a1 += (int32_t)w1[i] * xi;
    a2 += (int32_t)w2[i] * xi;
    a3 += (int32_t)w3[i] * xi;
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}
#endif

/* Dot products of x with up to four consecutive rows of n bytes at w (rows_left >= 1 of them
 * remain): four at once, else two, else one. Returns how many, sums in acc. */
static inline int32_t tf_dot_rows(const int8_t *x, const int8_t *w, int32_t n,
                                  int32_t x_offset, int32_t rows_left, int32_t acc[4]) {
  if (rows_left >= 4) {
    tf_dot4_s8_offset(x, w, n, x_offset, acc);
    return 4;
  }
  if (rows_left >= 2) {
    acc[0] = acc[1] = 0;
    tf_dot2_s8_offset(x, w, w + n, n, x_offset, acc);
    return 2;
  }
  acc[0] = tf_dot_s8_offset(x, w, n, x_offset);
  return 1;
}

#endif
