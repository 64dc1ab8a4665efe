"""Decision thresholds for a build: calibrate each alert class on the build's validation split.

The build's ``calibrate`` pass (``tinyfuse.apps.build``) runs after ``quantize``: the policy's
shape (which classes alert, hysteresis, k-of-n, cooldown, confident level) comes from the
``[policy]`` table of the app.toml (``PolicySettings``,
:func:`tinyfuse.apps.policy.template_policy`);
calibration replaces its on-levels, each moved to the centre of the gap in which it lies
(:func:`centre_of_gap`: same validation result, furthest from the scores on either side), for
the table's target (``target_recall = 0.9`` unless it names another). The calibrated policy
goes into the bundle before it is written; :meth:`CalibratedPolicy.to_dict` becomes
``policy.json`` and :func:`model_card_section` the card's "Decision thresholds" section.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tinyfuse.apps.policy import Calibration, Policy, calibrate
from tinyfuse.core.errors import SpecError
from tinyfuse.fusion.config import TARGET_KEYS, PolicySettings

SMALL_CLASS_COUNT = 30  # fewer validation examples of an alert class: the card warns
NEAR_TOP = 0.99  # a calibrated threshold this high: the validation scores were saturated
CARD_HEADING = "## Decision thresholds"


@dataclass(frozen=True, slots=True, kw_only=True)
class CalibrationTarget:
    """What the on-levels are calibrated for: exactly one of the three targets.

    ``period_s`` (seconds between two windows of the stream) turns the validation split into
    a stream length for ``max_false_alarms_per_hour``. ``alert_classes`` (optional) replaces
    the app's alert classes.
    """

    target_recall: float | None = None
    target_precision: float | None = None
    max_false_alarms_per_hour: float | None = None
    period_s: float = 1.0
    alert_classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        given = [key for key in TARGET_KEYS if getattr(self, key) is not None]
        if len(given) != 1:
            raise SpecError(f"policy: give exactly one of {', '.join(TARGET_KEYS)} "
                            f"(got {given or 'none'})")
        if not (math.isfinite(self.period_s) and self.period_s > 0):
            raise SpecError(f"policy.period_s: must be a number > 0, got {self.period_s}")

    @property
    def name(self) -> str:
        return next(key for key in TARGET_KEYS if getattr(self, key) is not None)

    @property
    def goal(self) -> float:
        return float(getattr(self, self.name))

    @classmethod
    def of(cls, settings: PolicySettings) -> CalibrationTarget:
        """The target of an app's ``[policy]`` settings."""
        name, goal = settings.target
        goals: dict[str, float | None] = {key: None for key in TARGET_KEYS}
        goals[name] = goal
        return cls(target_recall=goals["target_recall"],
                   target_precision=goals["target_precision"],
                   max_false_alarms_per_hour=goals["max_false_alarms_per_hour"],
                   period_s=settings.period_s)

    def describe(self) -> str:
        text = {"target_recall": "recall >= {:g}", "target_precision": "precision >= {:g}",
                "max_false_alarms_per_hour": "at most {:g} false alarms per hour"}[self.name]
        return text.format(self.goal)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassThreshold:
    """One alert class: its stored on-level and what it reaches on the validation split.

    ``source`` is ``"calibrated"`` or, when the app's default on-level was kept,
    ``"default (target not met)"``, ``"default (no validation example)"`` or ``"default
    (calibrated level raised every window)"``; ``precision`` is NaN when the threshold raises
    nothing.
    """

    label: str
    threshold: float
    source: str
    positives: int
    precision: float
    recall: float
    recall_interval: tuple[float, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class CalibratedPolicy:
    """The policy stored in the bundle and how it came about."""

    policy: Policy
    target: CalibrationTarget
    n_validation: int
    classes: tuple[ClassThreshold, ...]

    @property
    def small_sample(self) -> bool:
        return any(c.positives < SMALL_CLASS_COUNT for c in self.classes)

    def to_dict(self) -> dict[str, Any]:
        def plain(value: float) -> float | None:
            return None if math.isnan(value) else value

        return {"policy": self.policy.to_dict(), "target": self.target.describe(),
                "n_validation": self.n_validation,
                "classes": [{"label": c.label, "threshold": c.threshold, "source": c.source,
                             "positives": c.positives, "precision": plain(c.precision),
                             "recall": plain(c.recall),
                             "recall_interval_95": list(c.recall_interval)}
                            for c in self.classes]}


def wilson_interval(successes: int, total: int, *, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (95 % for ``z=1.96``); ``(0, 1)`` when
    ``total`` is 0."""
    if total <= 0:
        return 0.0, 1.0
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def _measure(label: str, level: float, source: str, values: np.ndarray,
             positive: np.ndarray) -> ClassThreshold:
    """Precision and recall of ``values >= level`` (precision NaN when nothing is raised,
    recall NaN without positives) and the recall's 95 % interval."""
    raised = values >= level
    hits, count = int((raised & positive).sum()), int(positive.sum())
    return ClassThreshold(
        label=label, threshold=float(level), source=source, positives=count,
        precision=hits / int(raised.sum()) if raised.any() else float("nan"),
        recall=hits / count if count else float("nan"),
        recall_interval=wilson_interval(hits, count))


def centre_of_gap(values: np.ndarray, threshold: float) -> float:
    """The middle between ``threshold`` (an observed score) and the next lower observed score.

    Every level in that gap raises exactly the same validation windows as ``threshold``, so
    the validation precision and recall do not change; the middle is the level furthest from
    the scores on both sides (``tinyfuse.apps.policy.calibrate`` returns the gap's upper
    edge, which on a well-separated validation split sits right on the lowest positive
    score). A threshold
    with no lower score, or above every score, is returned unchanged.
    """
    below = values[values < threshold]
    if not len(below) or threshold > values.max():
        return float(threshold)
    return float((below.max() + threshold) / 2)


def _calibrated_levels(template: Policy, scores: np.ndarray, labels: np.ndarray,
                       target: CalibrationTarget) -> dict[str, tuple[float, str]]:
    """Per alert class: the on-level to store and where it came from."""
    present = [c for c in template.alert_classes
               if (labels == template.classes.index(c)).any()]
    levels = {c: (on, "default (no validation example)")
              for c, on in zip(template.alert_classes, template.on_levels, strict=True)}
    if not present:
        return levels
    duration_s = len(labels) * target.period_s
    found: Calibration = calibrate(scores, labels, classes=template.classes,
                                   alert_classes=present, duration_s=duration_s,
                                   **{target.name: target.goal})
    for label, level, met in zip(found.classes, found.thresholds, found.met, strict=True):
        column = scores[:, template.classes.index(label)]
        if not met:
            levels[label] = (levels[label][0], "default (target not met)")
        elif level <= column.min():  # an alarm on every window tells nobody anything
            levels[label] = (levels[label][0], "default (calibrated level raised every window)")
        else:
            levels[label] = (centre_of_gap(column, level), "calibrated")
    return levels


def calibrated_policy(template: Policy, on_levels: tuple[float, ...]) -> Policy:
    """``template`` with new on-levels: the same hysteresis gap below each (off-levels floored
    at 0) and confident levels never below the on-level."""
    gaps = [on - off for on, off in zip(template.on_levels, template.off, strict=True)]
    off = tuple(min(level, max(0.0, level - gap))
                for level, gap in zip(on_levels, gaps, strict=True))
    confident = tuple(max(level, c) for level, c in zip(on_levels, template.confident,
                                                        strict=True))
    return replace(template, on_levels=on_levels, off_levels=off, confident_levels=confident)


def calibrate_policy(template: Policy, scores: np.ndarray, labels: np.ndarray, *,
                     target: CalibrationTarget) -> CalibratedPolicy:
    """Calibrate ``template``'s on-levels on held-out ``scores`` ``(n, n_classes)`` and int
    ``labels`` ``(n,)``. A class whose target cannot be met, or that has no held-out example,
    keeps the template's on-level (and says so)."""
    values, truth = np.asarray(scores, np.float64), np.asarray(labels).reshape(-1)
    if target.alert_classes:
        on = (template.on_levels[0],) * len(target.alert_classes)
        template = replace(template, alert_classes=target.alert_classes, on_levels=on,
                           off_levels=(), confident_levels=())
    levels = _calibrated_levels(template, values, truth, target)
    rows = []
    for label in template.alert_classes:
        column = template.classes.index(label)
        rows.append(_measure(label, *levels[label], values[:, column], truth == column))
    policy = calibrated_policy(template, tuple(r.threshold for r in rows))
    return CalibratedPolicy(policy=policy, target=target, n_validation=len(truth),
                            classes=tuple(rows))


def _number(value: float, digits: int = 3) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def model_card_section(result: CalibratedPolicy) -> str:
    """Markdown "Decision thresholds" section for ``model_card.md``."""
    rule = result.policy
    lines = [
        CARD_HEADING, "",
        f"Calibrated on the validation split ({result.n_validation} samples; never the test "
        f"split), one class against the rest, for **{result.target.describe()}**; each "
        f"threshold sits in the middle of the score gap that gives that result. A class "
        f"alerts when {rule.k} of its last {rule.n} scores reach its threshold; it stays "
        f"active down to the off-level; a score below the confident level asks a person; "
        f"cooldown {rule.cooldown_s:g} s. Stored in the bundle (`bundle.json`, `policy`) "
        f"and `policy.json`.",
        "", "| class | threshold | off | confident | source | validation examples | "
        "precision | recall (95% CI) |", "|---|---|---|---|---|---|---|---|"]
    for row, off, confident in zip(result.classes, rule.off, rule.confident, strict=True):
        low, high = row.recall_interval
        lines.append(f"| {row.label} | {row.threshold:.3f} | {off:.3f} | {confident:.3f} | "
                     f"{row.source} | {row.positives} | {_number(row.precision)} | "
                     f"{_number(row.recall)} ({low:.2f}-{high:.2f}) |")
    if result.small_sample:
        fewest = min(result.classes, key=lambda c: c.positives)
        lines += ["", f"**Caveat:** few validation examples (fewest: {fewest.positives} of "
                  f"{fewest.label}). Precision and recall measured on so few are rough (see the "
                  f"recall interval); recalibrate on recordings from the site before relying "
                  f"on these thresholds."]
    if any(row.threshold >= NEAR_TOP and row.source == "calibrated" for row in result.classes):
        lines += ["", f"**Caveat:** thresholds at or above {NEAR_TOP} mean the validation "
                  "examples of that class all scored at the top of the int8 output range; a "
                  "window the model is less sure about will not alert. Lower the target or "
                  "calibrate on harder, site-specific data."]
    return "\n".join(lines) + "\n"
