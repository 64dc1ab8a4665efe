"""The factory app at run time: every bearing fault alerts; "normal" never does.

A fault must show in 2 of the last 3 windows; each fault class alerts at most once a minute;
scores below 0.8 ask a person.
"""

from __future__ import annotations

from collections.abc import Sequence

from apps.policy import Policy

# the simulator's faults, and the CWRU set's ball fault (tinyfuse demo factory --data)
ALERT_CLASSES = ("imbalance", "outer_race", "inner_race", "ball")


def policy(classes: Sequence[str], *, threshold: float = 0.5) -> Policy:
    alert = tuple(name for name in ALERT_CLASSES if name in classes)
    count = len(alert)
    return Policy(classes=tuple(classes), alert_classes=alert, on_levels=(threshold,) * count,
                  off_levels=(threshold - 0.1,) * count,
                  confident_levels=(max(threshold, 0.8),) * count, k=2, n=3, cooldown_s=60.0)
