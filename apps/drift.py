"""Model health: a running drift score per modality and the alerts it raises and clears.

Each window's standardised features get the bundle's drift score
(:meth:`tinyfuse.core.drift.ModalityDrift.window_score`, about 1 on training windows). A
modality's *running* score is their exponentially weighted mean, ``s <- (1 - alpha) s + alpha
x`` (``alpha`` 0.2 by default: about the last ten windows), started at the validation windows'
mean score; a window counts at most :data:`WINDOW_CAP` times the level, so no single odd
window (a hot cup before a thermal camera) can raise an alert. When the running score passes
the modality's calibrated ``level`` (the 99.5 % quantile of single validation windows, which a
mean of ten rarely reaches by chance) after at least ``min_windows`` windows, one ``raised``
event comes; the next comes when it falls below
``clear_level`` (``cleared``): hysteresis, so one excursion is one alert. A window without the
modality (missing, or a sensor fault) leaves its score as it was.

:func:`health_alert` turns an event into an :class:`~tinyfuse.apps.confirm.Alert` of kind
``"health"``, published through the same sinks (and outbox) as every other alert.

Examples
--------
>>> monitor = DriftMonitor(bundle.drift)                           # doctest: +SKIP
>>> events = monitor.update({"thermal": standardized}, now_s=12.0)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tinyfuse.apps.confirm import Alert, clear, incident_id, raise_alert
from tinyfuse.apps.policy import Decision
from tinyfuse.core.drift import DriftReference, ModalityDrift
from tinyfuse.core.errors import DataError

DEFAULT_ALPHA = 0.2
MIN_WINDOWS = 5
WINDOW_CAP = 2.0
HEALTH_LABEL = "model_health"
ADVICE = ("the inputs no longer look like the training data: check the sensor (moved, "
          "covered, failing, re-configured); if it is fine, collect feedback and rebuild "
          "(see the model card)")


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthEvent:
    """A modality's running drift score crossed a level: ``state`` is ``"raised"`` (above
    ``level``) or ``"cleared"`` (back below ``clear_level``); ``scores`` holds every
    modality's running score at ``time_s``."""

    modality: str
    state: str
    time_s: float
    score: float
    level: float
    clear_level: float
    windows: int
    scores: Mapping[str, float]


@dataclass
class _Track:
    reference: ModalityDrift
    score: float
    windows: int = 0
    active: bool = False
    peak: float = 0.0
    last_window: float = math.nan
    excursions: int = 0


@dataclass
class DriftMonitor:
    """Running drift scores of the modalities ``reference`` describes (see the module doc)."""

    reference: DriftReference
    alpha: float = DEFAULT_ALPHA
    min_windows: int = MIN_WINDOWS
    tracks: dict[str, _Track] = field(init=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha <= 1.0 or self.min_windows < 1:
            raise DataError(f"drift monitor: alpha must be in (0, 1] and min_windows >= 1, "
                            f"got {self.alpha} and {self.min_windows}")
        self.tracks = {m.name: _Track(reference=m, score=float(m.validation.get("mean", 1.0)))
                       for m in self.reference.modalities}

    def scores(self) -> dict[str, float]:
        """The running score of each modality."""
        return {name: track.score for name, track in self.tracks.items()}

    def update(self, standardized: Mapping[str, np.ndarray | None], *,
               now_s: float) -> list[HealthEvent]:
        """Add one window (standardised features by modality name; ``None`` or absent: the
        modality is missing) and return the level crossings it caused."""
        crossed = []
        for name, track in self.tracks.items():
            value = standardized.get(name)
            if value is None:
                continue
            window = track.reference.window_score(value)
            track.last_window, track.windows = window, track.windows + 1
            capped = min(window, WINDOW_CAP * track.reference.level)
            track.score += self.alpha * (capped - track.score)
            track.peak = max(track.peak, track.score)
            level, low = track.reference.level, track.reference.clear_level
            if not track.active and track.windows >= self.min_windows and track.score > level:
                track.active, track.excursions = True, track.excursions + 1
                crossed.append((name, "raised"))
            elif track.active and track.score < low:
                track.active = False
                crossed.append((name, "cleared"))
        scores = self.scores()
        return [HealthEvent(modality=name, state=state, time_s=float(now_s),
                            score=self.tracks[name].score,
                            level=self.tracks[name].reference.level,
                            clear_level=self.tracks[name].reference.clear_level,
                            windows=self.tracks[name].windows, scores=scores)
                for name, state in crossed]

    def summary(self) -> dict[str, Any]:
        """JSON-ready: per modality the running score, its peak, the levels, the windows
        seen, the excursions and whether it is drifting now."""
        return {name: {"score": t.score, "peak": t.peak, "last_window_score": t.last_window
                       if math.isfinite(t.last_window) else None,
                       "level": t.reference.level, "clear_level": t.reference.clear_level,
                       "windows": t.windows, "excursions": t.excursions,
                       "drifting": t.active}
                for name, t in self.tracks.items()}


def _health(event: HealthEvent) -> dict[str, Any]:
    return {"modality": event.modality, "state": event.state, "drift_score": event.score,
            "level": event.level, "clear_level": event.clear_level, "windows": event.windows,
            "scores": dict(event.scores), "advice": ADVICE}


def health_alert(event: HealthEvent, *, app: str, device: str, bundle_hash: str) -> Alert:
    """A new ``raised`` health alert for a ``raised`` event (its id is stable per incident,
    like every alert's: :func:`~tinyfuse.apps.confirm.incident_id`)."""
    names = tuple(event.scores)
    decision = Decision(label=HEALTH_LABEL, score=event.score, time_s=event.time_s,
                        classes=names, scores=tuple(event.scores[n] for n in names),
                        hits=event.windows, needs_confirmation=False,
                        reason=f"{event.modality} drift score {event.score:.2f} above its level "
                               f"{event.level:.2f}: {ADVICE}")
    alert = raise_alert(decision, app=app, device=device, bundle_hash=bundle_hash,
                        alert_id=incident_id(app, device, f"{HEALTH_LABEL}:{event.modality}",
                                             event.time_s))
    return replace(alert, kind="health", health=_health(event))


def cleared_alert(alert: Alert, event: HealthEvent) -> Alert:
    """The ``cleared`` update of ``alert`` for a ``cleared`` event."""
    return clear(alert, now_s=event.time_s, health=_health(event))
