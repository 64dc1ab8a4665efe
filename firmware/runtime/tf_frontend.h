/* tinyfuse runtime: float32 C front-ends, the board-side twins of tinyfuse.sensors.frontends.
 *
 * Each front-end is a generic C99 routine driven by a const config of tables generated from the
 * bundle's front-end spec (tinyfuse.firmware.frontend_c) and a state whose buffers the caller
 * (the generated tf_fe_<name>.c) provides as static arrays, sized by the generated tables:
 * no malloc, no recursion deeper than the FFT's factor count, no libm beyond log10f, sqrtf and
 * fabsf.
 *
 *   audio      streaming (float32, or integer-only: tf_audio_q_*): tf_audio_reset, tf_audio_push (any number of samples, frame by frame),
 *              tf_audio_finish (clip-wide dB floor, DCT); centred frames, periodic Hann, real
 *              FFT, power, sparse mel filter bank, dB, orthonormal DCT-II
 *   vibration  tf_vibration_run: per axis detrend, zero-phase Butterworth band-pass, Welch band
 *              powers, log10 RMS, log10 peak, crest factor, kurtosis, envelope band powers
 *   image      tf_image_run: hole filling, background subtraction, separable resize, range
 *              normalisation
 *   vector     tf_vector_run: (x - mean) / scale
 *
 * Every function returns a tf_fe_status (0 on success, negative on a bad argument or state). */
#ifndef TINYFUSE_TF_FRONTEND_H
#define TINYFUSE_TF_FRONTEND_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  TF_FE_OK = 0,
  TF_FE_ERR_ARG = -1,   /* a null pointer or a size the config does not allow */
  TF_FE_ERR_STATE = -2, /* a call out of order (e.g. finish twice without a reset) */
} tf_fe_status;

/* A complex FFT of n points: n = factors[0] * factors[1] * ...; twiddle[2 j], twiddle[2 j + 1]
 * = cos, sin of -2 pi j * stride / n_table for j * stride < n_table (stride = n_table / n). */
typedef struct {
  int32_t n, n_factors, stride;
  const int16_t *factors;
  const float *twiddle; /* 2 * n_table floats: exp(-2 pi i k / n_table), k < n_table */
} tf_fft_plan;

/* A real FFT of length 2 * half.n: half is the complex plan of n / 2 points over the same
 * twiddle table (n_table = 2 * half.n, half.stride = 2). */
typedef struct {
  tf_fft_plan half;
} tf_rfft_plan;

/* Sparse band weights: band b sums weights[offset[b] + i] * x[start[b] + i], i < count[b]. */
typedef struct {
  int32_t n_bands;
  const int16_t *start, *count;
  const int32_t *offset;
  const float *weights;
} tf_bands;

/* ---------------------------------------------------------------- audio */
typedef struct {
  int32_t n_samples, n_fft, hop_length, n_frames, n_mels, n_out, mfcc;
  float amin, ref_db, top_db; /* dB = 10 log10(max(S, amin)) - ref_db, floor max - top_db */
  const float *window;        /* n_fft, periodic Hann */
  tf_rfft_plan fft;           /* n_fft */
  tf_bands mel;               /* over the n_fft / 2 + 1 power bins */
  const float *dct;           /* n_out x n_mels, row major (mfcc only) */
} tf_audio_config;

typedef struct {
  float *frame;   /* n_fft: the current centred frame */
  float *scratch; /* 2 n_fft + 2: spectrum and power, then the windowed frame */
  float *log_mel; /* n_frames x n_mels */
  int32_t filled, samples_in, frames_done, finished;
  float max_db;
} tf_audio_state;

/* Buffers (floats) a state needs: frame, scratch, log_mel. */
#define TF_AUDIO_FRAME_FLOATS(n_fft) (n_fft)
#define TF_AUDIO_SCRATCH_FLOATS(n_fft) (2 * (n_fft) + 2)
#define TF_AUDIO_LOG_MEL_FLOATS(n_frames, n_mels) ((n_frames) * (n_mels))

int tf_audio_reset(const tf_audio_config *cfg, tf_audio_state *st);
/* Append samples (full scale +-1, at the spec rate); samples past n_samples are dropped, as the
 * host trims the clip. Each completed frame is analysed at once. */
int tf_audio_push(const tf_audio_config *cfg, tf_audio_state *st, const float *samples,
                  int32_t count);
/* Zero-pad the clip to n_samples, analyse the remaining frames, apply the clip-wide floor
 * (max - top_db over every frame and band) and write n_frames x n_out floats. */
int tf_audio_finish(const tf_audio_config *cfg, tf_audio_state *st, float *out);

/* The same audio front-end in integer arithmetic (tf_frontend_audio_q.c): int16 PCM in, Q16
 * dB (log-mel) or Q16 MFCC out; radix-2 FFT only (n_fft a power of two). */
typedef struct {
  int32_t n_samples, n_fft, hop_length, n_frames, n_mels, n_out, mfcc;
  int32_t amin_db_q16, top_db_q16, db_offset_q16; /* see tf_frontend_audio_q.c */
  int32_t power_bits;         /* bits of power kept for the mel sums */
  const int32_t *window;      /* n_fft, Q31 */
  const int32_t *twiddle;     /* 2 n_fft, Q30: cos, sin of -2 pi k / n_fft */
  const int16_t *mel_start, *mel_count;
  const int32_t *mel_offset;
  const uint32_t *mel_weights; /* w / max(w) * (2^32 - 1) */
  const int32_t *log2_table;  /* 257: log2(1 + i / 256) in Q16 */
  const int32_t *dct;         /* n_out x n_mels, Q30 (mfcc only) */
} tf_audio_q_config;

typedef struct {
  int16_t *frame;     /* n_fft */
  int32_t *spectrum;  /* n_fft + 2 */
  uint64_t *power;    /* n_fft / 2 + 1 */
  int32_t *log_mel;   /* n_frames x n_mels, Q16 dB */
  int32_t filled, samples_in, frames_done, finished;
  int32_t max_db_q16;
} tf_audio_q_state;

int tf_audio_q_reset(const tf_audio_q_config *cfg, tf_audio_q_state *st);
int tf_audio_q_push(const tf_audio_q_config *cfg, tf_audio_q_state *st, const int16_t *pcm,
                    int32_t count);
int tf_audio_q_finish(const tf_audio_q_config *cfg, tf_audio_q_state *st, int32_t *out);

/* ---------------------------------------------------------------- vibration */
typedef struct {
  int32_t n_samples, n_axes, n_fft, n_sections, n_bands, n_envelope_bands, n_out;
  float power_floor, amplitude_floor;
  const float *sos;           /* n_sections x 6: b0 b1 b2 a0 a1 a2 (a0 = 1) */
  const float *zi;            /* n_sections x 2: steady-state state for a unit step */
  int32_t seg_length, seg_step, n_segments; /* Welch */
  const float *seg_window;    /* seg_length, periodic Hann */
  tf_rfft_plan welch_fft;     /* n_fft */
  tf_rfft_plan signal_fft;    /* n_samples (even): the Hilbert transform */
  tf_bands bands;             /* Welch bins -> band powers, density scale folded in */
  tf_bands envelope_bands;    /* the same for the envelope spectrum */
} tf_vibration_config;

typedef struct {
  float *signal;  /* 2 * n_samples */
  float *segment; /* n_fft */
  float *spectrum;/* max(n_fft, n_samples) + 2 */
  float *psd;     /* n_fft / 2 + 1 */
} tf_vibration_state;

#define TF_VIBRATION_SIGNAL_FLOATS(n) (2 * (n))
#define TF_VIBRATION_SEGMENT_FLOATS(n_fft) (n_fft)
#define TF_VIBRATION_SPECTRUM_FLOATS(n_fft, n) (((n_fft) > (n) ? (n_fft) : (n)) + 2)
#define TF_VIBRATION_PSD_FLOATS(n_fft) ((n_fft) / 2 + 1)

/* x: n_samples x n_axes, row major (the host's (n_samples, n_axes)); out: n_axes x n_out. */
int tf_vibration_run(const tf_vibration_config *cfg, tf_vibration_state *st, const float *x,
                     float *out);

/* ---------------------------------------------------------------- image */
/* One axis of a separable resize: output i = sum_k weights[offset[i] + k] * in[start[i] + k]. */
typedef struct {
  int32_t n_in, n_out;
  const int16_t *start, *count;
  const int32_t *offset;
  const float *weights;
} tf_resize_axis;

typedef struct {
  int32_t in_rows, in_cols, out_rows, out_cols;
  int32_t fill_holes, subtract_background, minmax;
  float hole_value, min_value, max_value;
  tf_resize_axis rows, cols;
} tf_image_config;

typedef struct {
  float *work;   /* in_rows x in_cols */
  float *sorted; /* in_rows x in_cols (median of the frame; subtract_background only) */
  float *half;   /* out_rows x in_cols (after the row pass) */
} tf_image_state;

/* frame: in_rows x in_cols (degC or metres); background: the same shape, or null for the
 * frame's own median; out: out_rows x out_cols in [0, 1]. */
int tf_image_run(const tf_image_config *cfg, tf_image_state *st, const float *frame,
                 const float *background, float *out);

/* ---------------------------------------------------------------- vector */
typedef struct {
  int32_t size;
  const float *mean, *scale; /* size values each, or null for 0 and 1 */
} tf_vector_config;

int tf_vector_run(const tf_vector_config *cfg, const float *x, float *out);

/* ---------------------------------------------------------------- FFT (shared) */
/* Complex FFT of plan->n points, out of place (in != out), sign -1 forward, +1 inverse
 * (unscaled); data interleaved re, im. */
int tf_fft_complex(const tf_fft_plan *plan, const float *in, float *out, int sign);
/* Real FFT of 2 n points (x, 2 n floats) into n + 1 bins (spec, 2 n + 2 floats). */
int tf_rfft(const tf_rfft_plan *plan, const float *x, float *spec);
/* The inverse of tf_rfft (scaled): spec (2 n + 2 floats, overwritten) -> x (2 n floats). */
int tf_irfft(const tf_rfft_plan *plan, float *spec, float *x);

/* out[b] = sum of the band's weights times x over its bins, b < n_bands. */
int tf_bands_apply(const tf_bands *bands, const float *x, float *out);

#ifdef __cplusplus
}
#endif

#endif
