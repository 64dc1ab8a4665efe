"""Cough, breathing and speech-like audio (16 kHz mono, float32 in [-1, 1]).

Physics, simplified:

- **Cough**: the glottis opens explosively -> a broadband turbulent burst (band-limited noise
  200-6000 Hz) with a fast linear attack (3-8 ms) and an exponential decay (time constant
  30-70 ms), followed by a voiced tail: the vocal folds vibrate at f0 150-300 Hz (a harmonic
  series shaped by two formants) decaying over ~150 ms.
- **Breathing**: turbulent airflow in the airways -> noise band-limited to 200-2000 Hz under
  a slow envelope (breath rate 0.2-0.5 Hz, inhale/exhale as a raised cosine) over a floor.
- **Speech-like**: a glottal harmonic series (f0 90-220 Hz with slow vibrato) filtered by
  three formant resonators (F1 400-800, F2 1100-2200, F3 2400-3000 Hz), amplitude-modulated
  at a syllable rate of 3-6 Hz.

Each simulated person has their own f0, formants and loudness, so group splits matter.
"""

from __future__ import annotations

import numpy as np

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.simulate.signals import band_noise, harmonic_series, resonator, seeded
from tinyfuse.sensors.sources.base import LoadResult, Sample

SAMPLE_RATE_HZ = 16000
CLASSES = ("cough", "breathing", "speech")


def _person(seed: int, person: int) -> dict[str, float]:
    rng = seeded(seed, 1000, person)
    return {"f0_hz": float(rng.uniform(100.0, 200.0)), "f1_hz": float(rng.uniform(450, 750)),
            "f2_hz": float(rng.uniform(1200, 2100)), "f3_hz": float(rng.uniform(2400, 3000)),
            "gain": float(rng.uniform(0.5, 1.0))}


def cough_signal(rng: np.random.Generator, *, person: dict[str, float] | None = None,
                 sample_rate_hz: int = SAMPLE_RATE_HZ, duration_s: float = 1.0) -> np.ndarray:
    """One cough: burst (fast attack, exponential decay) + voiced decaying tail.

    Returns float32 ``(round(duration_s * sample_rate_hz),)``.
    """
    person = person or _person(0, 0)
    n = int(round(duration_s * sample_rate_hz))
    t_s = np.arange(n) / sample_rate_hz
    onset_s = rng.uniform(0.05, 0.3) * duration_s
    local_s = t_s - onset_s
    attack_s, decay_s = rng.uniform(0.003, 0.008), rng.uniform(0.03, 0.07)
    envelope = np.where(local_s < 0, 0.0,
                        np.where(local_s < attack_s, local_s / attack_s,
                                 np.exp(-(local_s - attack_s) / decay_s)))
    burst = envelope * band_noise(rng, n, low_hz=200.0, high_hz=6000.0,
                                  sample_rate_hz=sample_rate_hz)
    tail_start_s = attack_s + rng.uniform(0.02, 0.05)
    tail_env = np.where(local_s < tail_start_s, 0.0, np.exp(-(local_s - tail_start_s) / 0.15))
    f0_hz = 1.5 * person["f0_hz"] * rng.uniform(0.95, 1.05)
    voiced = _formants(harmonic_series(t_s, f0_hz, n_harmonics=20, rolloff=0.8,
                                       nyquist_hz=sample_rate_hz / 2), person, sample_rate_hz)
    signal = burst + 0.4 * tail_env * voiced / _rms(voiced)
    return _finish(rng, signal, person, peak=0.8)


def breathing_signal(rng: np.random.Generator, *, person: dict[str, float] | None = None,
                     sample_rate_hz: int = SAMPLE_RATE_HZ, duration_s: float = 1.0) -> np.ndarray:
    """Band-limited airflow noise under a slow raised-cosine breath envelope."""
    person = person or _person(0, 0)
    n = int(round(duration_s * sample_rate_hz))
    t_s = np.arange(n) / sample_rate_hz
    rate_hz = rng.uniform(0.2, 0.5)
    envelope = 0.15 + 0.85 * 0.5 * (1 - np.cos(2 * np.pi * rate_hz * t_s + rng.uniform(0, 6.28)))
    noise = band_noise(rng, n, low_hz=200.0, high_hz=2000.0, sample_rate_hz=sample_rate_hz)
    return _finish(rng, envelope * noise, person, peak=0.3)


def speech_signal(rng: np.random.Generator, *, person: dict[str, float] | None = None,
                  sample_rate_hz: int = SAMPLE_RATE_HZ, duration_s: float = 1.0) -> np.ndarray:
    """Harmonic series with vibrato, formant-filtered, syllable-rate amplitude modulation."""
    person = person or _person(0, 0)
    n = int(round(duration_s * sample_rate_hz))
    t_s = np.arange(n) / sample_rate_hz
    f0_hz = person["f0_hz"] * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(2, 5) * t_s))
    voiced = _formants(harmonic_series(t_s, f0_hz, n_harmonics=30, rolloff=0.85,
                                       nyquist_hz=sample_rate_hz / 2), person, sample_rate_hz)
    syllable_hz = rng.uniform(3.0, 6.0)
    envelope = np.clip(np.sin(2 * np.pi * syllable_hz * t_s + rng.uniform(0, 6.28)), 0, None)
    return _finish(rng, envelope**0.7 * voiced / _rms(voiced), person, peak=0.6)


def _formants(source: np.ndarray, person: dict[str, float], rate_hz: int) -> np.ndarray:
    out = np.zeros_like(source)
    for key, bandwidth_hz, weight in (("f1_hz", 80.0, 1.0), ("f2_hz", 120.0, 0.6),
                                      ("f3_hz", 180.0, 0.3)):
        out += weight * resonator(source, center_hz=person[key], bandwidth_hz=bandwidth_hz,
                                  sample_rate_hz=rate_hz)
    return out


def _rms(x: np.ndarray) -> float:
    return max(float(np.sqrt(np.mean(x**2))), 1e-12)


def _finish(rng: np.random.Generator, signal: np.ndarray, person: dict[str, float], *,
            peak: float) -> np.ndarray:
    signal = peak * person["gain"] * signal / max(float(np.abs(signal).max()), 1e-12)
    signal = signal + 0.002 * rng.standard_normal(signal.shape)  # microphone noise floor
    return np.clip(signal, -1.0, 1.0).astype(np.float32)


_MAKERS = {"cough": cough_signal, "breathing": breathing_signal, "speech": speech_signal}


def simulate_cough(*, n_per_class: int = 20, n_people: int = 8, seed: int = 0,
                   sample_rate_hz: int = SAMPLE_RATE_HZ, duration_s: float = 1.0) -> LoadResult:
    """Cough / breathing / speech recordings from ``n_people`` simulated people.

    Returns
    -------
    LoadResult
        ``3 * n_per_class`` samples ``{"audio": float32 (n_samples,)}``, labels in
        ``CLASSES``, group ``person_XX`` (samples spread round-robin over people).
    """
    if n_per_class < 1 or n_people < 1:
        raise DataError("simulate_cough: n_per_class and n_people must be >= 1")
    people = [_person(seed, p) for p in range(n_people)]
    samples = []
    for class_index, label in enumerate(CLASSES):
        for i in range(n_per_class):
            person = i % n_people
            rng = seeded(seed, class_index, i)
            signal = _MAKERS[label](rng, person=people[person], sample_rate_hz=sample_rate_hz,
                                    duration_s=duration_s)
            samples.append(Sample(data={"audio": signal}, label=label,
                                  group=f"person_{person:02d}", key=f"{label}/{i:04d}",
                                  source=f"simulated:cough/{label}/{i:04d}",
                                  meta=(("sample_rate_hz", sample_rate_hz), ("seed", seed))))
    return LoadResult(samples=tuple(samples), name="simulated:cough")
