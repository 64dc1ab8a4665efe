"""Scores -> decisions: pure thresholding with hysteresis, k-of-n voting and a cooldown.

Nothing here does I/O or reads a clock: the caller passes the stream time ``now_s``.

One alert class ``c`` keeps a window of its last ``n`` scores. While it is *idle* it turns
*active* when at least ``k`` of those scores reach its on-level; while active it turns idle again
when fewer than ``k`` reach its (lower) off-level. An idle -> active edge is an event; the event
becomes a :class:`Decision` unless the class raised one less than ``cooldown_s`` ago. A decision
whose score lies in the uncertain band ``[on_level, confident_level)``, or that was made with a
modality missing, needs a person (``needs_confirmation``).

The :class:`~tinyfuse.core.policy.Policy` itself (the bundle's part) lives in ``tinyfuse.core``.
Threshold calibration (:func:`calibrate`) picks on-levels from held-out scores, one class
against the rest; see its docstring for the method.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tinyfuse.core.errors import DataError, SpecError
from tinyfuse.core.policy import Policy
from tinyfuse.fusion.config import PolicySettings

log = logging.getLogger(__name__)


def template_policy(settings: PolicySettings, classes: Sequence[str]) -> Policy:
    """The ``[policy]`` settings of an app.toml on a model's ``classes``, before calibration.

    Alert classes the model lacks are dropped; when none is left (a model trained on a real
    set's own labels) every class alerts, with a warning. Every alert class gets
    ``on_level``, an off-level ``hysteresis`` lower (floored at 0) and a confident level of
    ``max(on_level, confident_level)``.
    """
    wanted = settings.alert_classes or tuple(classes)
    alert = tuple(name for name in wanted if name in classes)
    if not alert:
        log.warning("none of the alert classes %s is a class of this model %s: every class "
                    "alerts", list(wanted), list(classes))
        alert = tuple(classes)
    count, on = len(alert), settings.on_level
    return Policy(classes=tuple(classes), alert_classes=alert, on_levels=(on,) * count,
                  off_levels=(max(0.0, on - settings.hysteresis),) * count,
                  confident_levels=(max(on, settings.confident_level),) * count,
                  k=settings.k, n=settings.n, cooldown_s=settings.cooldown_s,
                  confirm_when_missing=settings.confirm_when_missing)


def default_policy(classes: Sequence[str]) -> Policy:
    """What a bundle without a stored policy uses: the ``[policy]`` defaults (every class
    alerts at 0.5)."""
    return template_policy(PolicySettings(), classes)


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyState:
    """Per alert class: the last ``n`` scores, whether it is active, when it last decided."""

    windows: tuple[tuple[float, ...], ...]
    active: tuple[bool, ...]
    last_decision_s: tuple[float | None, ...]


def initial_state(policy: Policy) -> PolicyState:
    count = len(policy.alert_classes)
    return PolicyState(windows=((),) * count, active=(False,) * count,
                       last_decision_s=(None,) * count)


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """An alert-worthy event: the class that rose, its score and why a person is (not) asked.

    ``scores`` holds every class's score at ``time_s`` (``classes`` order); ``hits`` is how many
    of the last ``n`` scores reached the on-level; ``missing`` names modalities fed as zeros.
    """

    label: str
    score: float
    time_s: float
    classes: tuple[str, ...]
    scores: tuple[float, ...]
    hits: int
    needs_confirmation: bool
    reason: str
    missing: tuple[str, ...] = ()


def step(policy: Policy, state: PolicyState, scores: Sequence[float] | np.ndarray, *,
         now_s: float, missing: Sequence[str] = ()) -> tuple[PolicyState, Decision | None]:
    """Advance the policy by one score vector.

    Parameters
    ----------
    scores : sequence of float or ndarray
        ``(n_classes,)`` class scores (probabilities), in ``policy.classes`` order.
    now_s : float
        Stream time of these scores, seconds (non-decreasing from call to call).
    missing : sequence of str
        Modalities that were absent and fed as zeros.

    Returns
    -------
    (PolicyState, Decision or None)
        The new state and the decision, if a class rose out of its cooldown. When several
        classes rise at once, the one furthest above its on-level decides; the others are active
        (part of the same event) without a decision of their own.
    """
    values = np.asarray(scores, np.float64).reshape(-1)
    if values.shape != (len(policy.classes),) or not np.isfinite(values).all():
        raise DataError(f"policy.step: expected {len(policy.classes)} finite scores "
                        f"{list(policy.classes)}, got {values.tolist()}")
    windows, active, risen = [], [], []
    for i, name in enumerate(policy.alert_classes):
        score = float(values[policy.classes.index(name)])
        window = (*state.windows[i], score)[-policy.n:]
        on_hits = sum(v >= policy.on_levels[i] for v in window)
        off_hits = sum(v >= policy.off[i] for v in window)
        now_active = off_hits >= policy.k if state.active[i] else on_hits >= policy.k
        if now_active and not state.active[i]:
            risen.append((score - policy.on_levels[i], i, on_hits))
        windows.append(window)
        active.append(now_active)
    last = list(state.last_decision_s)
    decision = None
    ready = [r for r in risen if _cooled(last[r[1]], now_s, policy.cooldown_s)]
    if ready:
        _, index, hits = max(ready)
        last[index] = now_s
        decision = _decision(policy, index, values, hits, now_s=now_s, missing=tuple(missing))
    new_state = replace(state, windows=tuple(windows), active=tuple(active),
                        last_decision_s=tuple(last))
    return new_state, decision


def _cooled(last_s: float | None, now_s: float, cooldown_s: float) -> bool:
    return last_s is None or now_s - last_s >= cooldown_s


def _decision(policy: Policy, index: int, values: np.ndarray, hits: int, *, now_s: float,
              missing: tuple[str, ...]) -> Decision:
    label = policy.alert_classes[index]
    score = float(values[policy.classes.index(label)])
    if missing and policy.confirm_when_missing:
        needs, reason = True, f"modalities missing: {', '.join(missing)}"
    elif score < policy.confident[index]:
        needs, reason = True, (f"uncertain: score {score:.3f} below confident level "
                               f"{policy.confident[index]:.3f}")
    else:
        needs, reason = False, "confident"
    return Decision(label=label, score=score, time_s=float(now_s), classes=policy.classes,
                    scores=tuple(float(v) for v in values), hits=int(hits),
                    needs_confirmation=needs, reason=reason, missing=missing)


def run_policy(policy: Policy, scores: np.ndarray, *, times_s: Sequence[float],
               missing: Sequence[Sequence[str]] | None = None) -> list[Decision]:
    """Apply :func:`step` over ``(n_steps, n_classes)`` scores; returns every decision."""
    state, decisions = initial_state(policy), []
    for row, (values, now_s) in enumerate(zip(scores, times_s, strict=True)):
        gone = missing[row] if missing is not None else ()
        state, decision = step(policy, state, values, now_s=float(now_s), missing=gone)
        if decision is not None:
            decisions.append(decision)
    return decisions


# --- threshold calibration on held-out scores ---------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Calibration:
    """Chosen on-levels per alert class and what they achieve on the held-out scores.

    ``precision`` is NaN for a class whose threshold raises nothing; ``false_alarms_per_hour``
    is NaN unless ``duration_s`` was given; ``met`` says whether the target was reached.
    """

    classes: tuple[str, ...]
    thresholds: tuple[float, ...]
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    false_alarms_per_hour: tuple[float, ...]
    met: tuple[bool, ...]
    target: str

    def to_dict(self) -> dict[str, Any]:
        def plain(values: tuple[float, ...]) -> list[float | None]:
            return [None if math.isnan(v) else v for v in values]

        return {"classes": list(self.classes), "thresholds": list(self.thresholds),
                "precision": plain(self.precision), "recall": plain(self.recall),
                "false_alarms_per_hour": plain(self.false_alarms_per_hour),
                "met": list(self.met), "target": self.target}


def _operating_points(values: np.ndarray, positive: np.ndarray):
    """Distinct thresholds, highest first, with true/false positives of ``score >= t``."""
    order = np.argsort(-values, kind="stable")
    ranked, hits = values[order], positive[order]
    true_pos, false_pos = np.cumsum(hits), np.cumsum(~hits)
    last = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    return ranked[last], true_pos[last], false_pos[last]


def _choose(values: np.ndarray, positive: np.ndarray, target: str, goal: float,
            allowed_false: int) -> tuple[float, bool]:
    thresholds, true_pos, false_pos = _operating_points(values, positive)
    above_all = float(np.nextafter(thresholds[0], np.inf))
    if target == "recall":
        need = math.ceil(goal * int(positive.sum()) - 1e-9)
        return float(thresholds[np.flatnonzero(true_pos >= need)[0]]), True
    if target == "precision":
        with np.errstate(invalid="ignore", divide="ignore"):
            ok = (true_pos > 0) & (true_pos / (true_pos + false_pos) >= goal - 1e-12)
    else:
        ok = false_pos <= allowed_false
    chosen = np.flatnonzero(ok)
    if not len(chosen):
        return above_all, False
    return float(thresholds[chosen[-1]]), True


def calibrate(scores: np.ndarray, labels: np.ndarray, *, classes: Sequence[str],
              alert_classes: Sequence[str] | None = None,
              target_precision: float | None = None, target_recall: float | None = None,
              max_false_alarms_per_hour: float | None = None,
              duration_s: float | None = None) -> Calibration:
    """Choose each alert class's on-level from held-out scores (one class against the rest).

    Exactly one target is given. With ``target_recall`` the threshold is the *highest* score
    that still catches that fraction of the class's examples (the fewest false alarms at that
    recall). With ``target_precision`` it is the *lowest* observed score at which the precision
    of ``score >= t`` still reaches the target (the most recall at that precision). With
    ``max_false_alarms_per_hour`` (needs ``duration_s``, the length of the held-out stream) it
    is the lowest threshold at which at most ``floor(rate * duration_s / 3600)`` other-class
    windows score at or above it. Every window counts as one alarm, so the rate is an upper
    bound: k-of-n voting and the cooldown only remove alarms. Thresholds are observed scores
    (``score >= t`` is positive); an unreachable target gives a threshold just above every
    score (the class never alerts) and ``met=False``.

    Parameters
    ----------
    scores : ndarray
        ``(n_samples, n_classes)`` float scores, ``classes`` order.
    labels : ndarray
        ``(n_samples,)`` int class indices.
    """
    values = np.asarray(scores, np.float64)
    truth = np.asarray(labels).reshape(-1)
    names = tuple(classes)
    chosen_classes = tuple(alert_classes) if alert_classes is not None else names
    targets = {"precision": target_precision, "recall": target_recall,
               "false_alarms": max_false_alarms_per_hour}
    given = [k for k, v in targets.items() if v is not None]
    if len(given) != 1:
        raise SpecError("calibrate: give exactly one of target_precision, target_recall, "
                        f"max_false_alarms_per_hour (got {given or 'none'})")
    target, goal = given[0], float(targets[given[0]])  # type: ignore[arg-type]
    _check_calibration_input(values, truth, names, chosen_classes, target, goal, duration_s)
    hours = duration_s / 3600.0 if duration_s else float("nan")
    allowed = int(math.floor(goal * hours + 1e-9)) if target == "false_alarms" else 0
    results = []
    for name in chosen_classes:
        column = names.index(name)
        positive = truth == column
        threshold, met = _choose(values[:, column], positive, target, goal, allowed)
        raised = values[:, column] >= threshold
        true_pos = int((raised & positive).sum())
        precision = true_pos / int(raised.sum()) if raised.any() else float("nan")
        rate = int((raised & ~positive).sum()) / hours if duration_s else float("nan")
        results.append((threshold, precision, true_pos / int(positive.sum()), rate, met))
    columns = list(zip(*results, strict=True))
    return Calibration(classes=chosen_classes, thresholds=columns[0], precision=columns[1],
                       recall=columns[2], false_alarms_per_hour=columns[3], met=columns[4],
                       target=f"{target}={goal}")


def _check_calibration_input(values, truth, names, chosen, target, goal, duration_s) -> None:
    if values.ndim != 2 or values.shape[1] != len(names) or not len(values):
        raise DataError(f"calibrate: scores must be (n_samples, {len(names)}), got "
                        f"{values.shape}")
    if truth.shape != (len(values),):
        raise DataError(f"calibrate: {truth.shape[0]} labels for {len(values)} score rows")
    if not np.isfinite(values).all():
        raise DataError("calibrate: scores contain NaN or infinite values")
    if truth.min() < 0 or truth.max() >= len(names):
        raise DataError(f"calibrate: labels must be class indices in [0, {len(names)})")
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        raise SpecError(f"calibrate: alert classes {unknown} are not among {list(names)}")
    absent = [name for name in chosen if not (truth == names.index(name)).any()]
    if absent:
        raise DataError(f"calibrate: no held-out example of {absent}; cannot calibrate them")
    if target in ("precision", "recall") and not 0.0 < goal <= 1.0:
        raise SpecError(f"calibrate: target_{target} must be in (0, 1], got {goal}")
    if target == "false_alarms" and (goal < 0 or not duration_s or duration_s <= 0):
        raise SpecError("calibrate: max_false_alarms_per_hour needs a rate >= 0 and "
                        "duration_s > 0 (length of the held-out stream)")


def policy_from_calibration(calibration: Calibration, *, classes: Sequence[str],
                            hysteresis: float = 0.1, confident_margin: float = 0.15,
                            k: int = 1, n: int = 1, cooldown_s: float = 0.0) -> Policy:
    """A :class:`Policy` whose on-levels are the calibrated thresholds, off-levels
    ``hysteresis`` below them and confident levels ``confident_margin`` above them."""
    on = tuple(calibration.thresholds)
    return Policy(classes=tuple(classes), alert_classes=calibration.classes, on_levels=on,
                  off_levels=tuple(t - hysteresis for t in on),
                  confident_levels=tuple(t + confident_margin for t in on),
                  k=k, n=n, cooldown_s=cooldown_s)
