/* tinyfuse runtime: the blocked convolution loops, tf_conv_dsp.c on the Arm DSP path (with
 * tf_conv_mve.c on the Helium path) and tf_conv_c.c (plain C99) otherwise. Internal. */
#ifndef TINYFUSE_TF_CONV_DSP_H
#define TINYFUSE_TF_CONV_DSP_H

#include <stdint.h>

#include "tf_kernels.h"
#include "tf_window.h"

/* The filter and per-channel tables of a convolution. */
typedef struct {
  const int8_t *filter;
  const int32_t *bias, *multiplier, *shift;
} tf_conv_tables;

/* CONV_2D two output pixels by two output channels at a time (ungrouped, receptive fields of
 * up to 1024 terms, at least 4 on the DSP path); returns 1 when it ran, 0 when the caller's
 * loop must. col: as tf_conv_s8's (the receptive field of one
 * pixel); output may be input for a pointwise convolution planned in place, since both pixels
 * of a pair are widened before either is written. */
int tf_conv_pairs_s8(const tf_conv_params *p, const int8_t *input, const tf_conv_tables *t,
                     int8_t *col, int8_t *output);

/* CONV_2D four output pixels at a time with Helium (tf_conv_mve.c; ungrouped, receptive fields
 * of up to 1024 terms); returns 1 when it ran, 0 when the caller's loop must. Only on the
 * Helium path (TINYFUSE_MAC_MVE), where tf_conv_pairs_s8 calls it first. */
int tf_conv_mve_s8(const tf_conv_params *p, const int8_t *input, const tf_conv_tables *t,
                   int8_t *col, int8_t *output);

/* Every channel of one DEPTHWISE_CONV_2D output pixel (depth multiplier 1) over its valid
 * taps, into out, with Helium (tf_conv_mve.c; only on the Helium path). */
void tf_depthwise_pixel_mve(const tf_conv_params *p, const tf_taps *taps,
                            const tf_conv_tables *t, int8_t *out);

/* Output row oy of batch b of a DEPTHWISE_CONV_2D (depth multiplier 1, channels a multiple of
 * 4, no column dilation) on the DSP path, four channels per pass with rows of 2 or 3 taps
 * unrolled; returns 1 when it ran, 0 when the caller's loop must (always 0 in plain C). */
int tf_depthwise_row_s8(const tf_conv_params *p, const int8_t *input, const tf_conv_tables *t,
                        int32_t b, int32_t oy, int8_t *out_row);

#endif
