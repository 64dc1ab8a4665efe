"""Scores -> decisions: pure thresholding with hysteresis, k-of-n voting and a cooldown.

Nothing here does I/O or reads a clock: the caller passes the stream time ``now_s``.

One alert class ``c`` keeps a window of its last ``n`` scores. While it is *idle* it turns
*active* when at least ``k`` of those scores reach its on-level; while active it turns idle again
when fewer than ``k`` reach its (lower) off-level. An idle -> active edge is an event; the event
becomes a :class:`Decision` unless the class raised one less than ``cooldown_s`` ago. A decision
whose score lies in the uncertain band ``[on_level, confident_level)``, or that was made with a
modality missing, needs a person (``needs_confirmation``).

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

from sensors.errors import DataError, SpecError

log = logging.getLogger(__name__)


def app_policy_for(classes: Sequence[str], wanted: Sequence[str], *, threshold: float, k: int,
                   n: int, cooldown_s: float) -> Policy:
    """An app's policy on a model's ``classes``: the ``wanted`` alert classes the model has
    (every class, with a warning, when it has none of them: a model trained on a real set's own
    labels), on-level ``threshold``, off-level 0.1 lower, confident at ``max(threshold, 0.8)``.
    """
    alert = tuple(name for name in wanted if name in classes)
    if not alert:
        log.warning("none of the alert classes %s is a class of this model %s: every class "
                    "alerts", list(wanted), list(classes))
        alert = tuple(classes)
    count = len(alert)
    return Policy(classes=tuple(classes), alert_classes=alert, on_levels=(threshold,) * count,
                  off_levels=(threshold - 0.1,) * count,
                  confident_levels=(max(threshold, 0.8),) * count, k=k, n=n,
                  cooldown_s=cooldown_s)


def _check(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise SpecError(f"policy.{field}: {message}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """How scores become decisions.

    Attributes
    ----------
    classes : tuple of str
        Every model output, in output order.
    alert_classes : tuple of str
        The classes that can raise an alert (a subset of ``classes``).
    on_levels : tuple of float
        Per alert class: a score at or above it is a hit while the class is idle.
    off_levels : tuple of float
        Per alert class (each <= its on-level): an active class stays active while at least
        ``k`` of its last ``n`` scores reach it. Empty means equal to ``on_levels``.
    confident_levels : tuple of float
        Per alert class (each >= its on-level): a decision scoring below it needs a person.
        Empty means equal to ``on_levels`` (nobody is asked, unless a modality is missing).
    k, n : int
        k-of-n vote: ``1 <= k <= n``.
    cooldown_s : float
        Minimum time between two decisions of the same class.
    confirm_when_missing : bool
        A decision made with a modality missing needs a person.
    """

    classes: tuple[str, ...]
    alert_classes: tuple[str, ...]
    on_levels: tuple[float, ...]
    off_levels: tuple[float, ...] = ()
    confident_levels: tuple[float, ...] = ()
    k: int = 1
    n: int = 1
    cooldown_s: float = 0.0
    confirm_when_missing: bool = True

    def __post_init__(self) -> None:
        _check(len(self.classes) >= 1 and len(set(self.classes)) == len(self.classes),
               "classes", "must be distinct names, at least one")
        _check(bool(self.alert_classes), "alert_classes", "at least one class must alert")
        unknown = sorted(set(self.alert_classes) - set(self.classes))
        _check(not unknown, "alert_classes", f"{unknown} are not among {list(self.classes)}")
        _check(len(set(self.alert_classes)) == len(self.alert_classes), "alert_classes",
               "duplicate names")
        count = len(self.alert_classes)
        _check(len(self.on_levels) == count, "on_levels", f"needs {count} values (one per alert "
               f"class), got {len(self.on_levels)}")
        _check(all(math.isfinite(v) for v in self.on_levels), "on_levels", "must be finite")
        _check(len(self.off_levels) in (0, count), "off_levels", f"needs 0 or {count} values")
        _check(all(off <= on for off, on in zip(self.off_levels, self.on_levels, strict=False)),
               "off_levels", "each must be <= its on-level (hysteresis)")
        _check(len(self.confident_levels) in (0, count), "confident_levels",
               f"needs 0 or {count} values")
        _check(all(c >= on for c, on in zip(self.confident_levels, self.on_levels, strict=False)),
               "confident_levels", "each must be >= its on-level")
        _check(1 <= self.k <= self.n <= 1000, "k", f"need 1 <= k <= n <= 1000, got k={self.k} "
               f"n={self.n}")
        _check(math.isfinite(self.cooldown_s) and self.cooldown_s >= 0, "cooldown_s",
               "must be a finite number >= 0")

    @property
    def off(self) -> tuple[float, ...]:
        return self.off_levels or self.on_levels

    @property
    def confident(self) -> tuple[float, ...]:
        return self.confident_levels or self.on_levels

    def to_dict(self) -> dict[str, Any]:
        return {"classes": list(self.classes), "alert_classes": list(self.alert_classes),
                "on_levels": list(self.on_levels), "off_levels": list(self.off_levels),
                "confident_levels": list(self.confident_levels), "k": self.k, "n": self.n,
                "cooldown_s": self.cooldown_s, "confirm_when_missing": self.confirm_when_missing}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"policy: unknown fields {unknown}")
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                  for k, v in data.items()}
        try:
            return cls(**values)
        except TypeError as exc:
            raise SpecError(f"policy: {exc}") from None


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
