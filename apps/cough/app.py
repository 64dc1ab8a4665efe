"""The cough app at run time: which class alerts, and how cautiously.

A cough is short, so one window may decide (k=1 of n=1); a 10 s cooldown keeps a coughing fit
to one alert, and scores below 0.8 ask a person.
"""

from __future__ import annotations

from collections.abc import Sequence

from apps.policy import Policy

ALERT_CLASSES = ("cough",)


def policy(classes: Sequence[str], *, threshold: float = 0.5) -> Policy:
    return Policy(classes=tuple(classes), alert_classes=ALERT_CLASSES, on_levels=(threshold,),
                  off_levels=(threshold - 0.1,), confident_levels=(max(threshold, 0.8),),
                  k=1, n=1, cooldown_s=10.0)
