/* tinyfuse runtime: MAX_POOL_2D, AVERAGE_POOL_2D and MEAN (int8), as TFLite Micro. */
#include "tf_common.h"
#include "tf_kernels.h"

static void tf_pool_window(const tf_pool_params *p, int32_t oy, int32_t ox, int32_t *y0,
                           int32_t *y1, int32_t *x0, int32_t *x1, int32_t *in_y, int32_t *in_x) {
  *in_y = oy * p->stride_h - p->pad_h;
  *in_x = ox * p->stride_w - p->pad_w;
  *y0 = tf_max(0, -*in_y);
  *y1 = tf_min(p->k_h, p->in_h - *in_y);
  *x0 = tf_max(0, -*in_x);
  *x1 = tf_min(p->k_w, p->in_w - *in_x);
}

static void tf_pool(const tf_pool_params *p, const int8_t *input, int8_t *output, int is_max) {
  int32_t b, oy, ox, c, fy, fx;
  for (b = 0; b < p->batches; ++b) {
    for (oy = 0; oy < p->out_h; ++oy) {
      for (ox = 0; ox < p->out_w; ++ox) {
        int32_t y0, y1, x0, x1, in_y, in_x;
        tf_pool_window(p, oy, ox, &y0, &y1, &x0, &x1, &in_y, &in_x);
        for (c = 0; c < p->channels; ++c) {
          int32_t acc = is_max ? -128 : 0, count = 0;
          for (fy = y0; fy < y1; ++fy) {
            for (fx = x0; fx < x1; ++fx) {
              const int32_t v =
                  input[((b * p->in_h + in_y + fy) * p->in_w + in_x + fx) * p->channels + c];
              acc = is_max ? tf_max(acc, v) : acc + v;
              count++;
            }
          }
          if (!is_max) {
            if (count == 0) continue;  /* TFLM leaves such an output unwritten */
            acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
          }
          output[((b * p->out_h + oy) * p->out_w + ox) * p->channels + c] =
              tf_clamp_s8(acc, p->act_min, p->act_max);
        }
      }
    }
  }
}

void tf_max_pool_s8(const tf_pool_params *p, const int8_t *input, int8_t *output) {
  tf_pool(p, input, output, 1);
}

void tf_avg_pool_s8(const tf_pool_params *p, const int8_t *input, int8_t *output) {
  tf_pool(p, input, output, 0);
}

static int32_t tf_mean_value(const tf_mean_params *p, int32_t sum) {
  const int32_t n = p->reduced;
  int32_t acc;
  if (p->mode == TF_MEAN_SAME_QUANT) return sum / n;
  if (p->mode == TF_MEAN_4D_HW) {
    acc = tf_mbqm(tf_wrap_sub(sum, p->input_zp * n), p->multiplier, p->shift);
    acc = acc > 0 ? (acc + n / 2) / n : (acc - n / 2) / n;
    return acc + p->output_zp;
  }
  /* multiplier/shift already fold in 1/n (computed at compile time) */
  return tf_mbqm(tf_wrap_sub(sum, p->input_zp * n), p->multiplier, p->shift) + p->output_zp;
}

void tf_mean_s8(const tf_mean_params *p, const int8_t *input, int8_t *output) {
  int32_t o, i, r;
  for (o = 0; o < p->outer; ++o) {
    for (i = 0; i < p->inner; ++i) {
      int32_t sum = 0;
      for (r = 0; r < p->reduced; ++r) sum += input[(o * p->reduced + r) * p->inner + i];
      output[o * p->inner + i] = tf_clamp_s8(tf_mean_value(p, sum), -128, 127);
    }
  }
}
