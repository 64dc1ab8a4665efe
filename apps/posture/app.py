"""The posture app at run time: a person lying down (a possible fall) alerts.

Lying must be seen in 2 of the last 3 frames (one odd frame is not a fall); a 30 s cooldown;
scores below 0.8 ask a person.
"""

from __future__ import annotations

from collections.abc import Sequence

from apps.policy import Policy, app_policy_for

# the simulator's class, and the Omron D6T set's person-down classes (--data)
ALERT_CLASSES = ("lying", "lying_floor", "shower_lying")


def policy(classes: Sequence[str], *, threshold: float = 0.5) -> Policy:
    return app_policy_for(classes, ALERT_CLASSES, threshold=threshold, k=2, n=3,
                          cooldown_s=30.0)
