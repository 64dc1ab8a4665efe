/* tinyfuse runtime: the thermal/depth image front-end and the vector front-end, the twins of
 * tinyfuse.sensors.frontends.image and .vector.
 *
 * In the host's order, at the sensor resolution first:
 *  1. fill_holes: every pixel equal to hole_value takes the value of the nearest valid pixel
 *     (Euclidean; among equally near ones the first met on rings of growing radius, which may
 *     differ from scipy's tie order), searched ring by ring until no nearer one can exist;
 *  2. subtract_background: frame - background (or - the frame's median when there is none);
 *  3. the separable resize: rows first, then columns, each a sparse weight table generated
 *     from OpenCV's INTER_AREA (shrinking) or INTER_LINEAR (growing) on unit impulses;
 *  4. fixed (min_value..max_value) or per-frame min-max normalisation, clipped to [0, 1]. */
#include <string.h>

#include "tf_frontend.h"

static int32_t square(int32_t v) { return v * v; }

/* Nearest valid pixel to (r, c) in frame, or -1 when none is valid. */
static int32_t nearest_valid(const tf_image_config *cfg, const float *frame, int32_t r,
                             int32_t c) {
  const int32_t rows = cfg->in_rows, cols = cfg->in_cols;
  const int32_t max_radius = rows > cols ? rows : cols;
  int32_t best = -1, best_d2 = 0, radius, dr, dc;
  for (radius = 1; radius <= max_radius; ++radius) {
    if (best >= 0 && square(radius) > best_d2) break;
    for (dr = -radius; dr <= radius; ++dr) {
      const int32_t rr = r + dr;
      const int32_t edge = dr == -radius || dr == radius;
      if (rr < 0 || rr >= rows) continue;
      for (dc = -radius; dc <= radius; dc += edge ? 1 : 2 * radius) {
        const int32_t cc = c + dc;
        const int32_t d2 = square(dr) + square(dc);
        if (cc < 0 || cc >= cols || frame[rr * cols + cc] == cfg->hole_value) continue;
        if (best < 0 || d2 < best_d2) {
          best = rr * cols + cc;
          best_d2 = d2;
        }
      }
    }
  }
  return best;
}

static void fill_holes(const tf_image_config *cfg, const float *frame, float *work) {
  const int32_t rows = cfg->in_rows, cols = cfg->in_cols;
  int32_t r, c;
  for (r = 0; r < rows; ++r) {
    for (c = 0; c < cols; ++c) {
      const int32_t i = r * cols + c;
      work[i] = frame[i];
      if (frame[i] == cfg->hole_value) {
        const int32_t source = nearest_valid(cfg, frame, r, c);
        if (source >= 0) work[i] = frame[source];
      }
    }
  }
}

static void sift_down(float *a, int32_t root, int32_t n) {
  for (;;) {
    int32_t child = 2 * root + 1;
    float t;
    if (child >= n) return;
    if (child + 1 < n && a[child + 1] > a[child]) child += 1;
    if (a[root] >= a[child]) return;
    t = a[root];
    a[root] = a[child];
    a[child] = t;
    root = child;
  }
}

/* Median of n values (mean of the two middle ones for even n), heapsorting a copy. */
static float median(const float *x, float *sorted, int32_t n) {
  int32_t i;
  memcpy(sorted, x, sizeof(float) * (size_t)n);
  for (i = n / 2 - 1; i >= 0; --i) sift_down(sorted, i, n);
  for (i = n - 1; i > 0; --i) {
    const float t = sorted[0];
    sorted[0] = sorted[i];
    sorted[i] = t;
    sift_down(sorted, 0, i);
  }
  return n % 2 ? sorted[n / 2] : 0.5f * (sorted[n / 2 - 1] + sorted[n / 2]);
}

/* out[i * out_stride] = sum_k w[k] in[(start + k) * in_stride] along one axis, for every line. */
static void resize_axis(const tf_resize_axis *axis, const float *in, float *out, int32_t lines,
                        int32_t in_step, int32_t in_stride, int32_t out_step,
                        int32_t out_stride) {
  int32_t line, i, k;
  for (line = 0; line < lines; ++line) {
    const float *src = in + line * in_step;
    float *dst = out + line * out_step;
    for (i = 0; i < axis->n_out; ++i) {
      const float *w = axis->weights + axis->offset[i];
      const float *v = src + axis->start[i] * in_stride;
      float sum = 0.0f;
      for (k = 0; k < axis->count[i]; ++k) sum += w[k] * v[k * in_stride];
      dst[i * out_stride] = sum;
    }
  }
}

static float clip01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }

static void normalise(const tf_image_config *cfg, float *out) {
  const int32_t n = cfg->out_rows * cfg->out_cols;
  float low = cfg->min_value, high = cfg->max_value;
  int32_t i;
  if (cfg->minmax) {
    low = high = out[0];
    for (i = 1; i < n; ++i) {
      low = out[i] < low ? out[i] : low;
      high = out[i] > high ? out[i] : high;
    }
    if (high <= low) {
      memset(out, 0, sizeof(float) * (size_t)n);
      return;
    }
  }
  for (i = 0; i < n; ++i) out[i] = clip01((out[i] - low) / (high - low));
}

int tf_image_run(const tf_image_config *cfg, tf_image_state *st, const float *frame,
                 const float *background, float *out) {
  int32_t n, i;
  if (cfg == 0 || st == 0 || frame == 0 || out == 0 || st->work == 0 || st->half == 0 ||
      (cfg->subtract_background && background == 0 && st->sorted == 0) ||
      cfg->rows.n_in != cfg->in_rows || cfg->cols.n_in != cfg->in_cols ||
      cfg->rows.n_out != cfg->out_rows || cfg->cols.n_out != cfg->out_cols) {
    return TF_FE_ERR_ARG;
  }
  n = cfg->in_rows * cfg->in_cols;
  if (cfg->fill_holes) {
    fill_holes(cfg, frame, st->work);
  } else {
    memcpy(st->work, frame, sizeof(float) * (size_t)n);
  }
  if (cfg->subtract_background) {
    if (background != 0) {
      for (i = 0; i < n; ++i) st->work[i] -= background[i];
    } else {
      const float reference = median(st->work, st->sorted, n);
      for (i = 0; i < n; ++i) st->work[i] -= reference;
    }
  }
  /* rows: each column of work (in_rows values, stride in_cols) -> out_rows values of half */
  resize_axis(&cfg->rows, st->work, st->half, cfg->in_cols, 1, cfg->in_cols, 1, cfg->in_cols);
  /* columns: each row of half (in_cols values) -> out_cols values of out */
  resize_axis(&cfg->cols, st->half, out, cfg->out_rows, cfg->in_cols, 1, cfg->out_cols, 1);
  normalise(cfg, out);
  return TF_FE_OK;
}

int tf_vector_run(const tf_vector_config *cfg, const float *x, float *out) {
  int32_t i;
  if (cfg == 0 || x == 0 || out == 0) return TF_FE_ERR_ARG;
  for (i = 0; i < cfg->size; ++i) {
    const float mean = cfg->mean != 0 ? cfg->mean[i] : 0.0f;
    const float scale = cfg->scale != 0 ? cfg->scale[i] : 1.0f;
    out[i] = (x[i] - mean) / scale;
  }
  return TF_FE_OK;
}
