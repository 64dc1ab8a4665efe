"""Deterministic simulators (documented physics) for demos and tests; each returns a
``LoadResult`` whose groups are simulated people or machines."""

from tinyfuse.sensors.simulate.audio import (
    breathing_signal,
    cough_signal,
    simulate_cough,
    speech_signal,
)
from tinyfuse.sensors.simulate.machine import (
    bearing_frequencies,
    simulate_factory,
    vibration_signal,
)
from tinyfuse.sensors.simulate.posture import simulate_posture

__all__ = [
    "bearing_frequencies",
    "breathing_signal",
    "cough_signal",
    "simulate_cough",
    "simulate_factory",
    "simulate_posture",
    "speech_signal",
    "vibration_signal",
]
