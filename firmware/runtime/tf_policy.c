/* The decision policy on int8 scores (see tf_policy.h). */
#include "tf_policy.h"

float tf_policy_score(const tf_policy_config *config, int32_t q) {
  return (float)(config->output_scale * (double)(q - config->output_zero_point));
}

void tf_policy_reset(tf_policy_state *state) {
  state->count = 0;
  state->head = 0;
  for (int32_t i = 0; i < TF_POLICY_MAX_ALERTS; i++) {
    state->active[i] = 0u;
    state->has_last[i] = 0u;
    state->last_s[i] = 0.0;
  }
}

static int32_t hits_at(const tf_policy_state *state, int32_t alert, int32_t count,
                       int16_t level) {
  int32_t hits = 0;
  for (int32_t j = 0; j < count; j++) {
    hits += (int32_t)state->window[alert][j] >= level;
  }
  return hits;
}

static int valid(const tf_policy_config *config) {
  return config->n_alerts >= 1 && config->n_alerts <= TF_POLICY_MAX_ALERTS &&
         config->k >= 1 && config->k <= config->n && config->n <= TF_POLICY_MAX_N;
}

int tf_policy_step(const tf_policy_config *config, tf_policy_state *state,
                   const int8_t *scores, double now_s, int any_missing,
                   tf_policy_decision *decision) {
  if (config == 0 || state == 0 || scores == 0 || decision == 0 || !valid(config)) {
    return TF_POLICY_BAD_ARGUMENT;
  }
  int32_t count = state->count < config->n ? state->count + 1 : config->n;
  int32_t best = -1, best_hits = 0;
  double best_margin = 0.0;
  for (int32_t i = 0; i < config->n_alerts; i++) {
    int32_t q = scores[config->class_index[i]];
    state->window[i][state->head] = (int8_t)q;
    int32_t on_hits = hits_at(state, i, count, config->on_q[i]);
    int32_t off_hits = hits_at(state, i, count, config->off_q[i]);
    int was_active = state->active[i] != 0u;
    int now_active = was_active ? off_hits >= config->k : on_hits >= config->k;
    state->active[i] = (uint8_t)now_active;
    if (!now_active || was_active) {
      continue;
    }
    int cooled = !state->has_last[i] || now_s - state->last_s[i] >= config->cooldown_s;
    double margin = (double)tf_policy_score(config, q) - config->on_level[i];
    if (cooled && (best < 0 || margin >= best_margin)) {
      best = i;
      best_margin = margin;
      best_hits = on_hits;
    }
  }
  state->count = count;
  state->head = state->head + 1 < config->n ? state->head + 1 : 0;
  decision->fired = best >= 0;
  if (best < 0) {
    return TF_POLICY_OK;
  }
  int32_t label = config->class_index[best];
  int32_t q = scores[label];
  state->has_last[best] = 1u;
  state->last_s[best] = now_s;
  decision->alert = best;
  decision->label = label;
  decision->q = q;
  decision->score = tf_policy_score(config, q);
  decision->hits = best_hits;
  if (any_missing && config->confirm_when_missing) {
    decision->reason = TF_POLICY_MISSING;
  } else if (q < config->confident_q[best]) {
    decision->reason = TF_POLICY_UNCERTAIN;
  } else {
    decision->reason = TF_POLICY_CONFIDENT;
  }
  decision->needs_confirmation = decision->reason != TF_POLICY_CONFIDENT;
  return TF_POLICY_OK;
}
