/* tinyfuse runtime: mixed-radix complex FFT, the real FFT built on it, and the sparse band
 * weights (tf_bands_apply) the audio and vibration front-ends share (float32).
 *
 * Decimation in time, out of place: a transform of n = p * m points is p transforms of m points
 * over the inputs taken every p-th, then m butterflies of radix p. Radices 2 and 4 have their
 * own butterflies, any other factor (up to TF_FFT_MAX_RADIX, checked by the generator) the
 * direct p-point DFT. Recursion depth is the plan's factor count. Twiddles come from one table
 * exp(-2 pi i k / n_table); a sub-transform of n points steps through it n_table / n at a time. */
#include "tf_frontend.h"

#define TF_FFT_MAX_RADIX 32

typedef struct {
  float re, im;
} tf_cpx;

static tf_cpx tw_at(const float *table, int32_t index, int sign) {
  tf_cpx w;
  w.re = table[2 * index];
  w.im = sign < 0 ? table[2 * index + 1] : -table[2 * index + 1];
  return w;
}

static tf_cpx cmul(tf_cpx a, tf_cpx b) {
  tf_cpx c;
  c.re = a.re * b.re - a.im * b.im;
  c.im = a.re * b.im + a.im * b.re;
  return c;
}

static tf_cpx load(const float *data, int32_t index) {
  tf_cpx c;
  c.re = data[2 * index];
  c.im = data[2 * index + 1];
  return c;
}

static void store(float *data, int32_t index, tf_cpx c) {
  data[2 * index] = c.re;
  data[2 * index + 1] = c.im;
}

static void butterfly2(float *out, int32_t m, const float *table, int32_t step, int sign) {
  int32_t k;
  for (k = 0; k < m; ++k) {
    tf_cpx a = load(out, k);
    tf_cpx b = cmul(load(out, k + m), tw_at(table, k * step, sign));
    tf_cpx s, d;
    s.re = a.re + b.re;
    s.im = a.im + b.im;
    d.re = a.re - b.re;
    d.im = a.im - b.im;
    store(out, k, s);
    store(out, k + m, d);
  }
}

static void butterfly4(float *out, int32_t m, const float *table, int32_t step, int sign) {
  int32_t k;
  for (k = 0; k < m; ++k) {
    tf_cpx t0 = load(out, k);
    tf_cpx t1 = cmul(load(out, k + m), tw_at(table, k * step, sign));
    tf_cpx t2 = cmul(load(out, k + 2 * m), tw_at(table, 2 * k * step, sign));
    tf_cpx t3 = cmul(load(out, k + 3 * m), tw_at(table, 3 * k * step, sign));
    tf_cpx s02, d02, s13, d13, y;
    s02.re = t0.re + t2.re;
    s02.im = t0.im + t2.im;
    d02.re = t0.re - t2.re;
    d02.im = t0.im - t2.im;
    s13.re = t1.re + t3.re;
    s13.im = t1.im + t3.im;
    /* d13 = -i (t1 - t3) forward, +i (t1 - t3) inverse */
    d13.re = (float)-sign * (t1.im - t3.im);
    d13.im = (float)sign * (t1.re - t3.re);
    y.re = s02.re + s13.re;
    y.im = s02.im + s13.im;
    store(out, k, y);
    y.re = d02.re + d13.re;
    y.im = d02.im + d13.im;
    store(out, k + m, y);
    y.re = s02.re - s13.re;
    y.im = s02.im - s13.im;
    store(out, k + 2 * m, y);
    y.re = d02.re - d13.re;
    y.im = d02.im - d13.im;
    store(out, k + 3 * m, y);
  }
}

static void butterfly_any(float *out, int32_t m, int32_t radix, const float *table,
                          int32_t step, int sign) {
  tf_cpx t[TF_FFT_MAX_RADIX];
  const int32_t root_step = m * step; /* w_radix = w_n^m */
  int32_t k, q, s;
  for (k = 0; k < m; ++k) {
    for (q = 0; q < radix; ++q) {
      t[q] = cmul(load(out, k + q * m), tw_at(table, q * k * step, sign));
    }
    for (s = 0; s < radix; ++s) {
      tf_cpx y = t[0];
      for (q = 1; q < radix; ++q) {
        tf_cpx v = cmul(t[q], tw_at(table, ((q * s) % radix) * root_step, sign));
        y.re += v.re;
        y.im += v.im;
      }
      store(out, k + s * m, y);
    }
  }
}

/* n points read every in_stride complex values from in, written contiguously to out; step is
 * n_table / n; depth indexes the plan's factors. */
static void fft_rec(const tf_fft_plan *plan, const float *in, int32_t in_stride, float *out,
                    int32_t n, int32_t depth, int32_t step, int sign) {
  const int32_t radix = plan->factors[depth];
  const int32_t m = n / radix;
  int32_t q;
  if (m == 1) {
    for (q = 0; q < radix; ++q) {
      out[2 * q] = in[2 * q * in_stride];
      out[2 * q + 1] = in[2 * q * in_stride + 1];
    }
  } else {
    for (q = 0; q < radix; ++q) {
      fft_rec(plan, in + 2 * q * in_stride, in_stride * radix, out + 2 * q * m, m, depth + 1,
              step * radix, sign);
    }
  }
  if (radix == 2) {
    butterfly2(out, m, plan->twiddle, step, sign);
  } else if (radix == 4) {
    butterfly4(out, m, plan->twiddle, step, sign);
  } else {
    butterfly_any(out, m, radix, plan->twiddle, step, sign);
  }
}

int tf_fft_complex(const tf_fft_plan *plan, const float *in, float *out, int sign) {
  int32_t product = 1, i;
  if (plan == 0 || in == 0 || out == 0 || in == out || plan->n < 1 || plan->n_factors < 1) {
    return TF_FE_ERR_ARG;
  }
  for (i = 0; i < plan->n_factors; ++i) {
    if (plan->factors[i] < 2 || plan->factors[i] > TF_FFT_MAX_RADIX) return TF_FE_ERR_ARG;
    product *= plan->factors[i];
  }
  if (product != plan->n) return TF_FE_ERR_ARG;
  fft_rec(plan, in, 1, out, plan->n, 0, plan->stride, sign < 0 ? -1 : 1);
  return TF_FE_OK;
}

int tf_rfft(const tf_rfft_plan *plan, const float *x, float *spec) {
  const int32_t m = plan->half.n;
  const int32_t step = plan->half.stride / 2; /* w_{2m}^k in the table */
  int32_t k;
  int status = tf_fft_complex(&plan->half, x, spec, -1);
  if (status != TF_FE_OK) return status;
  {
    const float z0_re = spec[0], z0_im = spec[1];
    spec[0] = z0_re + z0_im;
    spec[1] = 0.0f;
    spec[2 * m] = z0_re - z0_im;
    spec[2 * m + 1] = 0.0f;
  }
  for (k = 1; 2 * k <= m; ++k) {
    const int32_t j = m - k;
    const tf_cpx a = load(spec, k), b = load(spec, j);
    /* X[k] = (A + conj B) / 2 - i w^k (A - conj B) / 2 with A = Z[k], B = Z[m - k]; X[m - k]
     * likewise with A and B swapped */
    const tf_cpx wk = tw_at(plan->half.twiddle, k * step, -1);
    const tf_cpx wj = tw_at(plan->half.twiddle, j * step, -1);
    tf_cpx e, o, xk, xj;
    e.re = 0.5f * (a.re + b.re);
    e.im = 0.5f * (a.im - b.im);
    o.re = 0.5f * (a.im + b.im);  /* -i (A - conj B) / 2 */
    o.im = -0.5f * (a.re - b.re);
    o = cmul(o, wk);
    xk.re = e.re + o.re;
    xk.im = e.im + o.im;
    e.re = 0.5f * (b.re + a.re);
    e.im = 0.5f * (b.im - a.im);
    o.re = 0.5f * (b.im + a.im);
    o.im = -0.5f * (b.re - a.re);
    o = cmul(o, wj);
    xj.re = e.re + o.re;
    xj.im = e.im + o.im;
    store(spec, k, xk);
    store(spec, j, xj);
  }
  return TF_FE_OK;
}

int tf_irfft(const tf_rfft_plan *plan, float *spec, float *x) {
  const int32_t m = plan->half.n;
  const int32_t step = plan->half.stride / 2;
  const float scale = 1.0f / (float)m;
  int32_t k;
  int status;
  {
    const float x0 = spec[0], xm = spec[2 * m];
    spec[0] = 0.5f * (x0 + xm);
    spec[1] = 0.5f * (x0 - xm);
  }
  for (k = 1; 2 * k <= m; ++k) {
    const int32_t j = m - k;
    const tf_cpx a = load(spec, k), b = load(spec, j);
    /* Z[k] = E + i O, E = (X[k] + conj X[m-k]) / 2, O = (X[k] - conj X[m-k]) conj(w^k) / 2 */
    const tf_cpx wk = tw_at(plan->half.twiddle, k * step, 1);
    const tf_cpx wj = tw_at(plan->half.twiddle, j * step, 1);
    tf_cpx e, o, zk, zj;
    e.re = 0.5f * (a.re + b.re);
    e.im = 0.5f * (a.im - b.im);
    o.re = 0.5f * (a.re - b.re);
    o.im = 0.5f * (a.im + b.im);
    o = cmul(o, wk);
    zk.re = e.re - o.im;
    zk.im = e.im + o.re;
    e.re = 0.5f * (b.re + a.re);
    e.im = 0.5f * (b.im - a.im);
    o.re = 0.5f * (b.re - a.re);
    o.im = 0.5f * (b.im + a.im);
    o = cmul(o, wj);
    zj.re = e.re - o.im;
    zj.im = e.im + o.re;
    store(spec, k, zk);
    store(spec, j, zj);
  }
  status = tf_fft_complex(&plan->half, spec, x, 1);
  if (status != TF_FE_OK) return status;
  for (k = 0; k < 2 * m; ++k) x[k] *= scale;
  return TF_FE_OK;
}

int tf_bands_apply(const tf_bands *bands, const float *x, float *out) {
  int32_t b, i;
  for (b = 0; b < bands->n_bands; ++b) {
    const float *w = bands->weights + bands->offset[b];
    const float *v = x + bands->start[b];
    float sum = 0.0f;
    for (i = 0; i < bands->count[b]; ++i) sum += w[i] * v[i];
    out[b] = sum;
  }
  return TF_FE_OK;
}
