"""The cough app at run time: which class alerts, and how cautiously.

A cough is short, so one window may decide (k=1 of n=1); a 10 s cooldown keeps a coughing fit
to one alert, and scores below 0.8 ask a person.
"""

from __future__ import annotations

from collections.abc import Sequence

from apps.policy import Policy, app_policy_for

# the simulator's class, and covid19_cough's positive screening (tinyfuse demo cough --data)
ALERT_CLASSES = ("cough", "positive")


def policy(classes: Sequence[str], *, threshold: float = 0.5) -> Policy:
    return app_policy_for(classes, ALERT_CLASSES, threshold=threshold, k=1, n=1,
                          cooldown_s=10.0)
