"""Real-data fusion benchmark tasks: ``TASKS[name](root, *, limit, seed, use_cache)``.

Each builder loads one data set with the ``sensors.sources`` loaders, extracts features with
``sensors.extract``, splits by group (never by window) and returns a :class:`TaskData`.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.tasks.common import TaskData
from bench.tasks.cough import coswara_participant, coswara_sound, covid_cough
from bench.tasks.factory import ceiling_fan, cwru, cwru_de
from bench.tasks.posture import posture_fusion, posture_thermal

TASKS: dict[str, Callable[..., TaskData]] = {
    "posture_thermal": posture_thermal,
    "posture_fusion": posture_fusion,
    "coswara_sound": coswara_sound,
    "coswara_participant": coswara_participant,
    "covid_cough": covid_cough,
    "cwru": cwru,
    "cwru_de": cwru_de,
    "ceiling_fan": ceiling_fan,
}

__all__ = ["TASKS", "TaskData"]
