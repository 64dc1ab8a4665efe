/* tinyfuse runtime: the streaming audio front-end in integer arithmetic only, for cores
 * without an FPU (Cortex-M0/M0+, RV32IMC). Same pipeline and API shape as tf_frontend_audio.c;
 * 16-bit PCM in (x / 32768, the host's scaling of int16 PCM), Q16 dB (log-mel) or Q16 MFCC out.
 *
 * Per frame: v = pcm * window (int16 x Q31, in int64), block-normalised to |v 2^norm| < 2^29
 * (a 16-bit window would leak a tone into bins 60 dB below it by a few percent);
 * radix-2 real FFT with every stage halving (no overflow: |component| < 2^30.5 before each
 * halving), so X = FFT(v 2^norm) / n_fft; power re^2 + im^2 in uint64; each mel band the sum
 * of uint32 weights (w / w_max * (2^32 - 1)) times the power shifted right by `shift` to
 * power_bits bits, divided by 2^16; then
 *   dB = 10 log10(2) (log2(sum) + shift - 2 norm) + db_offset_q16
 * where db_offset_q16 (from the generator) folds in the FFT's 1 / n_fft, the PCM and window
 * scales, the weight scale and -10 log10(REF). log2 is exact in its integer part and interpolated from a 257-entry
 * table in its fraction (error < 1e-5 dB). The dB floor (amin), the clip-wide top_db floor and
 * the DCT (Q30) follow as in the float front-end. */
#include <string.h>

#include "tf_frontend.h"

#define Q16_ONE 65536
#define TEN_LOG10_2_Q16 197283 /* 10 log10(2) = 3.0103 in Q16 */

static int32_t bit_length64(uint64_t v) {
  int32_t n = 0;
  while (v >= ((uint64_t)1 << 16)) {
    v >>= 16;
    n += 16;
  }
  while (v != 0) {
    v >>= 1;
    n += 1;
  }
  return n;
}

/* log2(v) in Q16 for v >= 1. */
static int32_t log2_q16(const int32_t *table, uint64_t v) {
  const int32_t e = bit_length64(v) - 1;
  /* the 24 bits below the leading one: 8 index the table, 16 interpolate */
  const uint32_t below = e >= 24 ? (uint32_t)(v >> (e - 24)) & 0xFFFFFFu
                                 : (uint32_t)(v << (24 - e)) & 0xFFFFFFu;
  const uint32_t index = below >> 16, frac = below & 0xFFFFu;
  const int32_t low = table[index], high = table[index + 1];
  return e * Q16_ONE + low + (int32_t)(((int64_t)(high - low) * frac) >> 16);
}

static int32_t mul_q30(int32_t a, int32_t b) {
  return (int32_t)(((int64_t)a * b + ((int64_t)1 << 29)) >> 30);
}

/* In-place radix-2 decimation-in-time complex FFT of n points (bit-reversed input order is
 * produced here), each stage halving; twiddle: Q30 cos, sin of -2 pi k / (2 n) for k < 2 n. */
static void fft_q(int32_t *data, int32_t n, const int32_t *twiddle) {
  int32_t i, j = 0, span, k;
  for (i = 0; i < n - 1; ++i) {
    int32_t bit = n >> 1;
    if (i < j) {
      int32_t t = data[2 * i];
      data[2 * i] = data[2 * j];
      data[2 * j] = t;
      t = data[2 * i + 1];
      data[2 * i + 1] = data[2 * j + 1];
      data[2 * j + 1] = t;
    }
    while (j & bit) {
      j ^= bit;
      bit >>= 1;
    }
    j |= bit;
  }
  for (span = 1; span < n; span *= 2) {
    const int32_t step = n / span; /* w_{2 span}^k = w_{2 n}^{k n / span} */
    for (k = 0; k < span; ++k) {
      const int32_t wr = twiddle[2 * k * step], wi = twiddle[2 * k * step + 1];
      for (i = k; i < n; i += 2 * span) {
        int32_t *a = data + 2 * i, *b = data + 2 * (i + span);
        const int32_t br = mul_q30(b[0], wr) - mul_q30(b[1], wi);
        const int32_t bi = mul_q30(b[0], wi) + mul_q30(b[1], wr);
        const int32_t ar = a[0], ai = a[1];
        a[0] = (ar + br) >> 1;
        a[1] = (ai + bi) >> 1;
        b[0] = (ar - br) >> 1;
        b[1] = (ai - bi) >> 1;
      }
    }
  }
}

/* Real FFT of 2 m points held as m complex values in data (2 m + 2 int32), in place:
 * X = FFT(x) / (2 m), bins 0..m. */
static void rfft_q(int32_t *data, int32_t m, const int32_t *twiddle) {
  int32_t k;
  fft_q(data, m, twiddle);
  {
    const int32_t re = data[0], im = data[1];
    data[0] = (re + im) >> 1;
    data[1] = 0;
    data[2 * m] = (re - im) >> 1;
    data[2 * m + 1] = 0;
  }
  for (k = 1; 2 * k <= m; ++k) {
    const int32_t j = m - k;
    const int32_t ar = data[2 * k], ai = data[2 * k + 1], br = data[2 * j], bi = data[2 * j + 1];
    /* X[k] = (E + w^k O) / 2 with E = (A + conj B) / 2, O = -i (A - conj B) / 2; since
     * w^(m-k) = -conj(w^k), X[m - k] = conj(E - w^k O) / 2 */
    const int32_t er = (ar + br) >> 1, ei = (ai - bi) >> 1;
    const int32_t orr = (ai + bi) >> 1, oi = -((ar - br) >> 1);
    const int32_t wr = twiddle[2 * k], wi = twiddle[2 * k + 1];
    const int32_t xr = mul_q30(orr, wr) - mul_q30(oi, wi);
    const int32_t xi = mul_q30(orr, wi) + mul_q30(oi, wr);
    data[2 * k] = (er + xr) >> 1;
    data[2 * k + 1] = (ei + xi) >> 1;
    data[2 * j] = (er - xr) >> 1;
    data[2 * j + 1] = (xi - ei) >> 1;
  }
}

static void analyse_frame_q(const tf_audio_q_config *cfg, tf_audio_q_state *st) {
  const int32_t n_fft = cfg->n_fft, m = n_fft / 2, n_bins = m + 1;
  int32_t *spec = st->spectrum;
  int32_t *row = st->log_mel + st->frames_done * cfg->n_mels;
  uint64_t largest = 0, top = 0;
  int32_t i, band, norm, bits, shift;
  for (i = 0; i < n_fft; ++i) {
    const int64_t v = (int64_t)st->frame[i] * cfg->window[i];
    const uint64_t a = (uint64_t)(v < 0 ? -v : v);
    largest = a > largest ? a : largest;
  }
  st->frames_done += 1;
  if (largest == 0) {
    for (band = 0; band < cfg->n_mels; ++band) row[band] = cfg->amin_db_q16;
    if (cfg->amin_db_q16 > st->max_db_q16) st->max_db_q16 = cfg->amin_db_q16;
    return;
  }
  norm = 29 - bit_length64(largest); /* |v 2^norm| < 2^29 */
  for (i = 0; i < n_fft; ++i) {
    const int64_t v = (int64_t)st->frame[i] * cfg->window[i];
    spec[i] = (int32_t)(norm >= 0 ? v * ((int64_t)1 << norm)
                                  : (v + ((int64_t)1 << (-norm - 1))) >> -norm);
  }
  rfft_q(spec, m, cfg->twiddle);
  for (i = 0; i < n_bins; ++i) {
    const int64_t re = spec[2 * i], im = spec[2 * i + 1];
    st->power[i] = (uint64_t)(re * re) + (uint64_t)(im * im);
    top = st->power[i] > top ? st->power[i] : top;
  }
  bits = bit_length64(top);
  shift = bits > cfg->power_bits ? bits - cfg->power_bits : 0;
  for (band = 0; band < cfg->n_mels; ++band) {
    const uint32_t *w = cfg->mel_weights + cfg->mel_offset[band];
    const uint64_t *p = st->power + cfg->mel_start[band];
    uint64_t high = 0, low = 0, sum;
    int32_t db = cfg->amin_db_q16;
    /* the 32-bit weights as two 16-bit halves: each half's sum stays below
     * count x 2^16 x 2^power_bits <= 2^63; sum = (sum of w p) / 2^16 */
    for (i = 0; i < cfg->mel_count[band]; ++i) {
      const uint64_t v = p[i] >> shift;
      high += (uint64_t)(w[i] >> 16) * v;
      low += (uint64_t)(w[i] & 0xFFFFu) * v;
    }
    sum = high + (low >> 16);
    if (sum != 0) {
      const int64_t log2_total = (int64_t)log2_q16(cfg->log2_table, sum) +
                                 (int64_t)(shift - 2 * norm) * Q16_ONE;
      db = (int32_t)((log2_total * TEN_LOG10_2_Q16) >> 16) + cfg->db_offset_q16;
      db = db > cfg->amin_db_q16 ? db : cfg->amin_db_q16;
    }
    row[band] = db;
    if (db > st->max_db_q16) st->max_db_q16 = db;
  }
}

int tf_audio_q_reset(const tf_audio_q_config *cfg, tf_audio_q_state *st) {
  if (cfg == 0 || st == 0 || st->frame == 0 || st->spectrum == 0 || st->power == 0 ||
      st->log_mel == 0) {
    return TF_FE_ERR_ARG;
  }
  memset(st->frame, 0, sizeof(int16_t) * (size_t)cfg->n_fft);
  st->filled = cfg->n_fft / 2;
  st->samples_in = 0;
  st->frames_done = 0;
  st->finished = 0;
  st->max_db_q16 = INT32_MIN;
  return TF_FE_OK;
}

static void feed_q(const tf_audio_q_config *cfg, tf_audio_q_state *st, int16_t sample) {
  st->frame[st->filled++] = sample;
  if (st->filled == cfg->n_fft) {
    if (st->frames_done < cfg->n_frames) analyse_frame_q(cfg, st);
    memmove(st->frame, st->frame + cfg->hop_length,
            sizeof(int16_t) * (size_t)(cfg->n_fft - cfg->hop_length));
    st->filled = cfg->n_fft - cfg->hop_length;
  }
}

int tf_audio_q_push(const tf_audio_q_config *cfg, tf_audio_q_state *st, const int16_t *pcm,
                    int32_t count) {
  int32_t i;
  if (cfg == 0 || st == 0 || (pcm == 0 && count > 0) || count < 0) return TF_FE_ERR_ARG;
  if (st->finished) return TF_FE_ERR_STATE;
  for (i = 0; i < count && st->samples_in < cfg->n_samples; ++i) {
    feed_q(cfg, st, pcm[i]);
    st->samples_in += 1;
  }
  return TF_FE_OK;
}

int tf_audio_q_finish(const tf_audio_q_config *cfg, tf_audio_q_state *st, int32_t *out) {
  const int32_t n_cells = cfg->n_frames * cfg->n_mels;
  int32_t floor_db, i, t, k;
  if (cfg == 0 || st == 0 || out == 0) return TF_FE_ERR_ARG;
  if (st->finished) return TF_FE_ERR_STATE;
  while (st->frames_done < cfg->n_frames) feed_q(cfg, st, 0);
  st->finished = 1;
  floor_db = st->max_db_q16 - cfg->top_db_q16;
  for (i = 0; i < n_cells; ++i) {
    if (st->log_mel[i] < floor_db) st->log_mel[i] = floor_db;
  }
  if (!cfg->mfcc) {
    memcpy(out, st->log_mel, sizeof(int32_t) * (size_t)n_cells);
    return TF_FE_OK;
  }
  for (t = 0; t < cfg->n_frames; ++t) {
    const int32_t *row = st->log_mel + t * cfg->n_mels;
    for (k = 0; k < cfg->n_out; ++k) {
      const int32_t *d = cfg->dct + k * cfg->n_mels;
      int64_t sum = 0;
      for (i = 0; i < cfg->n_mels; ++i) sum += (int64_t)d[i] * row[i];
      out[t * cfg->n_out + k] = (int32_t)((sum + ((int64_t)1 << 29)) >> 30);
    }
  }
  return TF_FE_OK;
}
