/* tinyfuse runtime: the vibration front-end, the twin of tinyfuse.sensors.frontends.vibration.
 *
 * Per axis of an (n_samples x n_axes) window:
 *  1. linear detrend (least-squares line removed, on the fly from the caller's window);
 *  2. zero-phase Butterworth: the cascade of second-order sections run forward then backward
 *     over the window mirrored at both ends (n - 1 samples each side, scipy's sosfiltfilt with
 *     padtype "even", padlen n - 1), each pass started from the step steady state times its
 *     first sample. Only the forward output from the window's first sample on is kept;
 *  3. Welch band powers (periodic Hann segments, half overlap, |rfft|^2 averaged; the density
 *     scale and the one-sided doubling are folded into the band weights), log10;
 *  4. log10 RMS, log10 peak, crest factor, Pearson kurtosis;
 *  5. envelope |x + i H(x)| (H: the Hilbert transform through the real FFT of the window),
 *     mean removed, Welch band powers of it, log10. */
#include <math.h>
#include <string.h>

#include "tf_frontend.h"

/* The least-squares line of one axis (stride: values between its samples): x[i] is
 * mean + slope * (i - (n - 1) / 2) + residue; the residue is the detrended signal. */
typedef struct {
  const float *x;
  int32_t stride;
  float mean, slope, centre;
} tf_axis;

static tf_axis fit_line(const float *x, int32_t stride, int32_t n) {
  tf_axis axis;
  float tt = 0.0f, slope = 0.0f, mean = 0.0f;
  int32_t i;
  axis.x = x;
  axis.stride = stride;
  axis.centre = 0.5f * (float)(n - 1);
  for (i = 0; i < n; ++i) mean += x[i * stride];
  mean /= (float)n;
  for (i = 0; i < n; ++i) {
    const float t = (float)i - axis.centre;
    slope += t * (x[i * stride] - mean);
    tt += t * t;
  }
  axis.mean = mean;
  axis.slope = tt > 0.0f ? slope / tt : 0.0f;
  return axis;
}

static float detrended(const tf_axis *axis, int32_t i) {
  return axis->x[i * axis->stride] - (axis->mean + axis->slope * ((float)i - axis->centre));
}

/* Index into x of sample j of the even extension (n - 1 mirrored samples each side). */
static int32_t mirrored(int32_t j, int32_t n) {
  if (j < n - 1) return n - 1 - j;
  if (j < 2 * n - 1) return j - (n - 1);
  return 3 * n - 3 - j;
}

/* Direct form II transposed through every section, state z (n_sections x 2). */
static float sos_step(const tf_vibration_config *cfg, float *z, float v) {
  int32_t s;
  for (s = 0; s < cfg->n_sections; ++s) {
    const float *c = cfg->sos + 6 * s;
    float *zs = z + 2 * s;
    const float y = c[0] * v + zs[0];
    zs[0] = c[1] * v - c[4] * y + zs[1];
    zs[1] = c[2] * v - c[5] * y;
    v = y;
  }
  return v;
}

static void sos_start(const tf_vibration_config *cfg, float *z, float first) {
  int32_t s;
  for (s = 0; s < 2 * cfg->n_sections; ++s) z[s] = cfg->zi[s] * first;
}

#define TF_VIBRATION_MAX_SECTIONS 16

/* The detrended axis -> buf[0..n) filtered; the forward pass fills buf[0..2n-1). */
static void filtfilt(const tf_vibration_config *cfg, const tf_axis *axis, float *buf) {
  const int32_t n = cfg->n_samples, total = 3 * n - 2;
  float z[2 * TF_VIBRATION_MAX_SECTIONS];
  int32_t j;
  sos_start(cfg, z, detrended(axis, mirrored(0, n)));
  for (j = 0; j < total; ++j) {
    const float y = sos_step(cfg, z, detrended(axis, mirrored(j, n)));
    if (j >= n - 1) buf[j - (n - 1)] = y;
  }
  sos_start(cfg, z, buf[total - 1 - (n - 1)]);
  for (j = total - 1; j >= n - 1; --j) buf[j - (n - 1)] = sos_step(cfg, z, buf[j - (n - 1)]);
}

/* log10 band powers of the Welch PSD of x (n samples) into out. */
static void welch_bands(const tf_vibration_config *cfg, tf_vibration_state *st, const float *x,
                        const tf_bands *bands, float *out) {
  const int32_t n_bins = cfg->n_fft / 2 + 1;
  int32_t s, i;
  memset(st->psd, 0, sizeof(float) * (size_t)n_bins);
  memset(st->segment, 0, sizeof(float) * (size_t)cfg->n_fft);
  for (s = 0; s < cfg->n_segments; ++s) {
    const float *v = x + s * cfg->seg_step;
    for (i = 0; i < cfg->seg_length; ++i) st->segment[i] = v[i] * cfg->seg_window[i];
    tf_rfft(&cfg->welch_fft, st->segment, st->spectrum);
    for (i = 0; i < n_bins; ++i) {
      const float re = st->spectrum[2 * i], im = st->spectrum[2 * i + 1];
      st->psd[i] += re * re + im * im;
    }
  }
  tf_bands_apply(bands, st->psd, out);
  for (i = 0; i < bands->n_bands; ++i) {
    out[i] = log10f(out[i] > cfg->power_floor ? out[i] : cfg->power_floor);
  }
}

static void statistics(const tf_vibration_config *cfg, const float *x, float *out) {
  const int32_t n = cfg->n_samples;
  float sum = 0.0f, square = 0.0f, top = 0.0f, mean, m2 = 0.0f, m4 = 0.0f, level;
  int32_t i;
  for (i = 0; i < n; ++i) {
    const float a = fabsf(x[i]);
    sum += x[i];
    square += x[i] * x[i];
    if (a > top) top = a;
  }
  mean = sum / (float)n;
  for (i = 0; i < n; ++i) {
    const float d = (x[i] - mean) * (x[i] - mean);
    m2 += d;
    m4 += d * d;
  }
  m2 /= (float)n;
  m4 /= (float)n;
  level = sqrtf(square / (float)n);
  out[0] = log10f(level > cfg->amplitude_floor ? level : cfg->amplitude_floor);
  out[1] = log10f(top > cfg->amplitude_floor ? top : cfg->amplitude_floor);
  out[2] = level > cfg->amplitude_floor ? top / level : 0.0f;
  out[3] = level > cfg->amplitude_floor && m2 > 0.0f ? m4 / (m2 * m2) : 0.0f;
}

/* buf[0..n) signal -> buf[n..2n) envelope, mean removed. */
static void envelope(const tf_vibration_config *cfg, tf_vibration_state *st, float *buf) {
  const int32_t n = cfg->n_samples, half = n / 2;
  float *spec = st->spectrum, *hilbert = buf + n, mean = 0.0f;
  int32_t k, i;
  tf_rfft(&cfg->signal_fft, buf, spec);
  /* H(x) = irfft(-i X) on bins 1 .. n/2 - 1, 0 at DC and Nyquist */
  spec[0] = spec[1] = 0.0f;
  for (k = 1; k < half; ++k) {
    const float re = spec[2 * k], im = spec[2 * k + 1];
    spec[2 * k] = im;
    spec[2 * k + 1] = -re;
  }
  spec[2 * half] = spec[2 * half + 1] = 0.0f;
  tf_irfft(&cfg->signal_fft, spec, hilbert);
  for (i = 0; i < n; ++i) {
    hilbert[i] = sqrtf(buf[i] * buf[i] + hilbert[i] * hilbert[i]);
    mean += hilbert[i];
  }
  mean /= (float)n;
  for (i = 0; i < n; ++i) hilbert[i] -= mean;
}

int tf_vibration_run(const tf_vibration_config *cfg, tf_vibration_state *st, const float *x,
                     float *out) {
  const int32_t n = cfg == 0 ? 0 : cfg->n_samples;
  int32_t axis, i;
  if (cfg == 0 || st == 0 || x == 0 || out == 0 || st->signal == 0 || st->segment == 0 ||
      st->spectrum == 0 || st->psd == 0 || n < 2 || n % 2 != 0 ||
      cfg->n_sections > TF_VIBRATION_MAX_SECTIONS) {
    return TF_FE_ERR_ARG;
  }
  for (axis = 0; axis < cfg->n_axes; ++axis) {
    float *row = out + axis * cfg->n_out;
    float *signal = st->signal;
    const tf_axis line = fit_line(x + axis, cfg->n_axes, n);
    if (cfg->n_sections > 0) {
      filtfilt(cfg, &line, signal);
    } else {
      for (i = 0; i < n; ++i) signal[i] = detrended(&line, i);
    }
    welch_bands(cfg, st, signal, &cfg->bands, row);
    statistics(cfg, signal, row + cfg->n_bands);
    if (cfg->n_envelope_bands > 0) {
      envelope(cfg, st, signal);
      welch_bands(cfg, st, signal + n, &cfg->envelope_bands, row + cfg->n_bands + 4);
    }
  }
  return TF_FE_OK;
}
