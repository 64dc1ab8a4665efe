/* tinyfuse runtime: TFLite's requantization on four int32 lanes with Helium (MVE), for the
 * vector kernels of the Helium path (tf_conv_mve.c, tf_elementwise.c). Internal; empty
 * unless TINYFUSE_MAC_MVE (tf_mac.h). */
#ifndef TINYFUSE_TF_MVE_H
#define TINYFUSE_TF_MVE_H

#include "tf_mac.h"

#if TINYFUSE_MAC_MVE
/* tf_mbqm (MultiplyByQuantizedMultiplier) on four lanes, multiplier m and shift s per lane:
 * VQRDMULH is SaturatingRoundingDoublingHighMul exactly; VRSHL by -e rounds half up, so a
 * negative lane first loses 1 (saturating) to round half away from zero as
 * RoundingDivideByPOT does; lanes with s > 0 are shifted left first (wrapping) and not
 * right. */
static inline int32x4_t tf_mbqm4(int32x4_t x, int32x4_t m, int32x4_t s) {
  const int32x4_t zero = vdupq_n_s32(0);
  const int32x4_t minus_e = vminq_s32(s, zero); /* -e, 0 where nothing shifts right */
  int32x4_t y = vqrdmulhq_s32(vshlq_s32(x, vmaxq_s32(s, zero)), m);
  y = vqaddq_s32(y, vshrq_n_s32(vandq_s32(y, minus_e), 31));
  return vrshlq_s32(y, minus_e);
}

/* tf_requant_fast on four lanes: tf_mbqm4, the output offset, the clamp to [lo, hi]. */
static inline int32x4_t tf_requant4(int32x4_t x, int32x4_t m, int32x4_t s, int32_t out_offset,
                                    int32_t lo, int32_t hi) {
  const int32x4_t y = vaddq_n_s32(tf_mbqm4(x, m, s), out_offset);
  return vminq_s32(vmaxq_s32(y, vdupq_n_s32(lo)), vdupq_n_s32(hi));
}
#endif

#endif
