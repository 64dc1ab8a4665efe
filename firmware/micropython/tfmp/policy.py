"""The bundle's decision policy on the board: thresholds with hysteresis, a k-of-n vote, a
cooldown, a confident level and the missing-sensor rule, step for step as
``tinyfuse.apps.policy.step`` on the host (the parity test compares their decisions).

One alert class keeps its last ``n`` scores. Idle, it turns active when at least ``k`` of them
reach its on-level; active, it turns idle when fewer than ``k`` reach its off-level. An idle ->
active edge becomes a decision unless the class decided less than ``cooldown_s`` ago; when
several classes rise at once the one furthest above its on-level decides. A decision below
its confident level, or made with a modality missing, needs a person.
"""


class PolicyError(ValueError):
    """A policy field or a score vector is invalid; the message names it."""


def _need(condition, message):
    if not condition:
        raise PolicyError(message)


class Policy:
    """The ``policy`` object of ``config.json`` (the bundle's fields, validated)."""

    def __init__(self, data):
        self.classes = list(data["classes"])
        self.alert_classes = list(data["alert_classes"])
        self.on = [float(v) for v in data["on_levels"]]
        self.off = [float(v) for v in data.get("off_levels") or self.on]
        self.confident = [float(v) for v in data.get("confident_levels") or self.on]
        self.k = int(data.get("k", 1))
        self.n = int(data.get("n", 1))
        self.cooldown_s = float(data.get("cooldown_s", 0.0))
        self.confirm_when_missing = bool(data.get("confirm_when_missing", True))
        count = len(self.alert_classes)
        _need(count >= 1 and all(c in self.classes for c in self.alert_classes),
              "policy.alert_classes: must be classes of the model")
        _need(len(self.on) == count and len(self.off) == count and len(self.confident) == count,
              "policy: one on/off/confident level per alert class")
        _need(1 <= self.k <= self.n <= 1000, "policy.k: need 1 <= k <= n <= 1000")
        _need(self.cooldown_s >= 0, "policy.cooldown_s: must be >= 0")
        self.columns = [self.classes.index(c) for c in self.alert_classes]


class State:
    """Per alert class: the last ``n`` scores, active or not, time of the last decision."""

    def __init__(self, policy):
        count = len(policy.alert_classes)
        self.windows = [[] for _ in range(count)]
        self.active = [False] * count
        self.last_decision_s = [None] * count


def _finite(value):
    return value == value and value not in (float("inf"), float("-inf"))


def step(policy, state, scores, now_s, missing=()):
    """Advance ``state`` (in place) by one score vector; returns a decision (a dict) or None.

    ``scores`` are the class probabilities in ``policy.classes`` order, ``now_s`` the stream
    time in seconds, ``missing`` the modalities fed as zeros.
    """
    _need(len(scores) == len(policy.classes) and all(_finite(v) for v in scores),
          "policy.step: expected %d finite scores" % len(policy.classes))
    risen = []
    for i in range(len(policy.alert_classes)):
        score = float(scores[policy.columns[i]])
        window = state.windows[i]
        window.append(score)
        if len(window) > policy.n:
            window.pop(0)
        on_hits = sum(1 for v in window if v >= policy.on[i])
        off_hits = sum(1 for v in window if v >= policy.off[i])
        was_active = state.active[i]
        now_active = off_hits >= policy.k if was_active else on_hits >= policy.k
        if now_active and not was_active:
            risen.append((score - policy.on[i], i, on_hits))
        state.active[i] = now_active
    ready = [r for r in risen if _cooled(state.last_decision_s[r[1]], now_s, policy.cooldown_s)]
    if not ready:
        return None
    _, index, hits = max(ready)
    state.last_decision_s[index] = now_s
    return _decision(policy, index, scores, hits, now_s, tuple(missing))


def _cooled(last_s, now_s, cooldown_s):
    return last_s is None or now_s - last_s >= cooldown_s


def _decision(policy, index, scores, hits, now_s, missing):
    label = policy.alert_classes[index]
    score = float(scores[policy.columns[index]])
    if missing and policy.confirm_when_missing:
        needs, reason = True, "modalities missing: " + ", ".join(missing)
    elif score < policy.confident[index]:
        needs, reason = True, "uncertain: score %.3f below confident level %.3f" % (
            score, policy.confident[index])
    else:
        needs, reason = False, "confident"
    return {"label": label, "score": score, "time_s": float(now_s),
            "classes": list(policy.classes), "scores": [float(v) for v in scores],
            "hits": hits, "needs_confirmation": needs, "reason": reason,
            "missing": list(missing)}
