"""The factory app at run time: every bearing fault alerts; "normal" never does.

A fault must show in 2 of the last 3 windows; each fault class alerts at most once a minute;
scores below 0.8 ask a person.
"""

from __future__ import annotations

from collections.abc import Sequence

from apps.policy import Policy, app_policy_for

# the simulator's faults, and the CWRU set's ball fault (tinyfuse demo factory --data)
ALERT_CLASSES = ("imbalance", "outer_race", "inner_race", "ball")


def policy(classes: Sequence[str], *, threshold: float = 0.5) -> Policy:
    return app_policy_for(classes, ALERT_CLASSES, threshold=threshold, k=2, n=3,
                          cooldown_s=60.0)
