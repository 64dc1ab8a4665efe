"""The posture app at run time: a person lying down (a possible fall) alerts.

Lying must be seen in 2 of the last 3 frames (one odd frame is not a fall); a 30 s cooldown;
scores below 0.8 ask a person.
"""

from __future__ import annotations

from collections.abc import Sequence

from apps.policy import Policy

ALERT_CLASSES = ("lying",)


def policy(classes: Sequence[str], *, threshold: float = 0.5) -> Policy:
    return Policy(classes=tuple(classes), alert_classes=ALERT_CLASSES, on_levels=(threshold,),
                  off_levels=(threshold - 0.1,), confident_levels=(max(threshold, 0.8),),
                  k=2, n=3, cooldown_s=30.0)
