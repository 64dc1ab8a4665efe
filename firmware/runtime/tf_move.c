/* tinyfuse runtime: data movement (PAD, TRANSPOSE, STRIDED_SLICE, SLICE, SPLIT, PACK, UNPACK,
 * TILE, RESIZE_NEAREST_NEIGHBOR) and REDUCE_MAX, on int8 values that keep their quantization. */
#include <string.h>

#include "tf_common.h"
#include "tf_kernels.h"

void tf_copy_s8(const tf_copy_params *p, const int8_t *input, int8_t *output) {
  int32_t i0, i1, i2, i3, i4, i5;
  const int32_t *d = p->dims, *si = p->in_strides, *so = p->out_strides;
  for (i0 = 0; i0 < d[0]; ++i0)
    for (i1 = 0; i1 < d[1]; ++i1)
      for (i2 = 0; i2 < d[2]; ++i2)
        for (i3 = 0; i3 < d[3]; ++i3)
          for (i4 = 0; i4 < d[4]; ++i4) {
            const int32_t in_base = p->in_start + i0 * si[0] + i1 * si[1] + i2 * si[2] +
                                    i3 * si[3] + i4 * si[4];
            const int32_t out_base = p->out_start + i0 * so[0] + i1 * so[1] + i2 * so[2] +
                                     i3 * so[3] + i4 * so[4];
            if (si[5] == 1 && so[5] == 1) {
              memcpy(output + out_base, input + in_base, (size_t)d[5]);
            } else {
              for (i5 = 0; i5 < d[5]; ++i5) {
                output[out_base + i5 * so[5]] = input[in_base + i5 * si[5]];
              }
            }
          }
}

void tf_fill_s8(int32_t size, int32_t value, int8_t *output) {
  memset(output, (int8_t)value, (size_t)size);
}

void tf_tile_s8(int32_t rank, const int32_t *in_dims, const int32_t *out_dims,
                const int8_t *input, int8_t *output) {
  int32_t index[6] = {0, 0, 0, 0, 0, 0}, total = 1, n, d;
  for (d = 0; d < rank; ++d) total *= out_dims[d];
  for (n = 0; n < total; ++n) {
    int32_t src = 0;
    for (d = 0; d < rank; ++d) src = src * in_dims[d] + index[d] % in_dims[d];
    output[n] = input[src];
    for (d = rank - 1; d >= 0; --d) {
      if (++index[d] < out_dims[d]) break;
      index[d] = 0;
    }
  }
}

void tf_resize_nearest_s8(int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                          int32_t out_h, int32_t out_w, const int32_t *y_index,
                          const int32_t *x_index, const int8_t *input, int8_t *output) {
  int32_t b, y, x;
  for (b = 0; b < batches; ++b)
    for (y = 0; y < out_h; ++y)
      for (x = 0; x < out_w; ++x) {
        const int8_t *src = input + ((b * in_h + y_index[y]) * in_w + x_index[x]) * channels;
        memcpy(output, src, (size_t)channels);
        output += channels;
      }
}

void tf_reduce_max_s8(int32_t outer, int32_t reduced, int32_t inner, const int8_t *input,
                      int8_t *output) {
  int32_t o, r, i;
  for (o = 0; o < outer; ++o)
    for (i = 0; i < inner; ++i) {
      int8_t best = -128;
      for (r = 0; r < reduced; ++r) {
        const int8_t v = input[(o * reduced + r) * inner + i];
        if (v > best) best = v;
      }
      output[o * inner + i] = best;
    }
}
