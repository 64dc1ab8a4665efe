/* tinyfuse runtime: the streaming audio front-end (log-mel / MFCC), the twin of
 * tinyfuse.sensors.frontends.audio (centred frames, periodic Hann, |rfft|^2, Slaney mel filter
 * bank, power_to_db with the clip-wide top_db floor, orthonormal DCT-II).
 *
 * The frame buffer starts with n_fft / 2 zeros (the centred padding); every n_fft samples in it
 * make one frame, after which it slides by hop_length. Each frame's log-mel row is kept until
 * tf_audio_finish, because the dB floor (max over the whole clip - top_db) is only known at the
 * end of the clip. */
#include <math.h>
#include <string.h>

#include "tf_frontend.h"

static void analyse_frame(const tf_audio_config *cfg, tf_audio_state *st) {
  const int32_t n_fft = cfg->n_fft, n_bins = n_fft / 2 + 1;
  float *spec = st->scratch;
  float *row = st->log_mel + st->frames_done * cfg->n_mels;
  float *windowed = st->scratch + n_fft + 2;
  int32_t i;
  for (i = 0; i < n_fft; ++i) windowed[i] = st->frame[i] * cfg->window[i];
  tf_rfft(&cfg->fft, windowed, spec);
  for (i = 0; i < n_bins; ++i) {
    const float re = spec[2 * i], im = spec[2 * i + 1];
    spec[i] = re * re + im * im;
  }
  tf_bands_apply(&cfg->mel, spec, row);
  for (i = 0; i < cfg->n_mels; ++i) {
    const float power = row[i] > cfg->amin ? row[i] : cfg->amin;
    const float db = 10.0f * log10f(power) - cfg->ref_db;
    row[i] = db;
    if (db > st->max_db) st->max_db = db;
  }
  st->frames_done += 1;
}

int tf_audio_reset(const tf_audio_config *cfg, tf_audio_state *st) {
  if (cfg == 0 || st == 0 || st->frame == 0 || st->scratch == 0 || st->log_mel == 0) {
    return TF_FE_ERR_ARG;
  }
  memset(st->frame, 0, sizeof(float) * (size_t)cfg->n_fft);
  st->filled = cfg->n_fft / 2;
  st->samples_in = 0;
  st->frames_done = 0;
  st->finished = 0;
  st->max_db = -3.0e38f;
  return TF_FE_OK;
}

/* One sample of the centred, padded stream. */
static void feed(const tf_audio_config *cfg, tf_audio_state *st, float sample) {
  st->frame[st->filled++] = sample;
  if (st->filled == cfg->n_fft) {
    if (st->frames_done < cfg->n_frames) analyse_frame(cfg, st);
    memmove(st->frame, st->frame + cfg->hop_length,
            sizeof(float) * (size_t)(cfg->n_fft - cfg->hop_length));
    st->filled = cfg->n_fft - cfg->hop_length;
  }
}

int tf_audio_push(const tf_audio_config *cfg, tf_audio_state *st, const float *samples,
                  int32_t count) {
  int32_t i;
  if (cfg == 0 || st == 0 || (samples == 0 && count > 0) || count < 0) return TF_FE_ERR_ARG;
  if (st->finished) return TF_FE_ERR_STATE;
  for (i = 0; i < count && st->samples_in < cfg->n_samples; ++i) {
    feed(cfg, st, samples[i]);
    st->samples_in += 1;
  }
  return TF_FE_OK;
}

int tf_audio_finish(const tf_audio_config *cfg, tf_audio_state *st, float *out) {
  const int32_t n_cells = cfg->n_frames * cfg->n_mels;
  float floor_db;
  int32_t i, t, k;
  if (cfg == 0 || st == 0 || out == 0) return TF_FE_ERR_ARG;
  if (st->finished) return TF_FE_ERR_STATE;
  while (st->frames_done < cfg->n_frames) feed(cfg, st, 0.0f);
  st->finished = 1;
  floor_db = st->max_db - cfg->top_db;
  for (i = 0; i < n_cells; ++i) {
    if (st->log_mel[i] < floor_db) st->log_mel[i] = floor_db;
  }
  if (!cfg->mfcc) {
    memcpy(out, st->log_mel, sizeof(float) * (size_t)n_cells);
    return TF_FE_OK;
  }
  for (t = 0; t < cfg->n_frames; ++t) {
    const float *row = st->log_mel + t * cfg->n_mels;
    for (k = 0; k < cfg->n_out; ++k) {
      const float *d = cfg->dct + k * cfg->n_mels;
      float sum = 0.0f;
      for (i = 0; i < cfg->n_mels; ++i) sum += d[i] * row[i];
      out[t * cfg->n_out + k] = sum;
    }
  }
  return TF_FE_OK;
}
