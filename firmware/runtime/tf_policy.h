/* tinyfuse decision policy on int8 scores: the C twin of tinyfuse.apps.policy.step.
 *
 * Alert class i keeps its last n int8 scores. Idle, it turns active when at least k of them
 * reach its on-level; active, it turns idle when fewer than k reach its off-level. An
 * idle -> active edge becomes a decision unless the class decided less than cooldown_s ago;
 * when several classes rise at once the one furthest above its on-level decides (ties: the
 * later alert class, as Python's max over (margin, index, hits) tuples).
 *
 * The levels are floats on the dequantised score; the generator (tinyfuse.firmware.app_c)
 * turns each into the smallest int8 value whose dequantised score reaches it (dequantisation
 * is monotonic), so hits are integer compares and match the host exactly. Only the margin
 * (score - on_level, in double) and the cooldown (now_s - last_s >= cooldown_s, in double) are
 * floating point, computed as the host computes them. Values range: levels int16 in
 * [-128, 128] (128: never reached). */
#ifndef TF_POLICY_H
#define TF_POLICY_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TF_POLICY_MAX_ALERTS 16
#define TF_POLICY_MAX_N 64

typedef enum {
  TF_POLICY_OK = 0,
  TF_POLICY_BAD_ARGUMENT = -1,
} tf_policy_status;

typedef enum {
  TF_POLICY_CONFIDENT = 0,
  TF_POLICY_UNCERTAIN = 1,
  TF_POLICY_MISSING = 2,
} tf_policy_reason;

/* The bundle's policy, on int8 scores of output 0. */
typedef struct {
  int32_t n_classes;            /* model outputs */
  int32_t n_alerts;             /* alert classes, <= TF_POLICY_MAX_ALERTS */
  const int32_t *class_index;   /* alert class -> output index */
  const int16_t *on_q;          /* smallest q with dequant(q) >= on-level */
  const int16_t *off_q;         /* ... >= off-level */
  const int16_t *confident_q;   /* ... >= confident level */
  const double *on_level;       /* the on-levels themselves (for the margin) */
  double output_scale;          /* real = output_scale * (q - output_zero_point) */
  int32_t output_zero_point;
  int32_t k, n;                 /* k-of-n, 1 <= k <= n <= TF_POLICY_MAX_N */
  double cooldown_s;
  int32_t confirm_when_missing;
} tf_policy_config;

typedef struct {
  int8_t window[TF_POLICY_MAX_ALERTS][TF_POLICY_MAX_N]; /* ring buffers of the last n q */
  int32_t count;                /* scores seen, saturating at n */
  int32_t head;                 /* next slot of the ring buffers */
  uint8_t active[TF_POLICY_MAX_ALERTS];
  uint8_t has_last[TF_POLICY_MAX_ALERTS];
  double last_s[TF_POLICY_MAX_ALERTS];
} tf_policy_state;

typedef struct {
  int32_t fired;                /* 1: a decision at this step */
  int32_t alert;                /* alert class index */
  int32_t label;                /* output (class) index */
  int32_t q;                    /* its int8 score */
  float score;                  /* float(double(scale) * (q - zero_point)), as the host */
  int32_t hits;                 /* on-level hits in the window */
  int32_t needs_confirmation;
  tf_policy_reason reason;
} tf_policy_decision;

/* The dequantised score, as tinyfuse.core.quant.dequantize. */
float tf_policy_score(const tf_policy_config *config, int32_t q);
void tf_policy_reset(tf_policy_state *state);
/* One step on the (n_classes,) int8 scores at stream time now_s; any_missing: a modality was
 * absent. Writes *decision (fired 0 or 1). */
int tf_policy_step(const tf_policy_config *config, tf_policy_state *state,
                   const int8_t *scores, double now_s, int any_missing,
                   tf_policy_decision *decision);

#ifdef __cplusplus
}
#endif

#endif
