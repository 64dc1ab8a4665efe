"""A rotating machine (motor + rolling bearing): vibration, a thermal view and its sound.

Physics, simplified:

- **Vibration** (g, 12 kHz): the shaft turns at ``f_r`` 20-30 Hz; residual unbalance and
  misalignment give harmonics ``k * f_r`` (k = 1..4, falling amplitude) over Gaussian noise.
  *Imbalance* raises the 1x component (centrifugal force ~ m r w^2 at the shaft rate) 4-8x.
  *Bearing faults*: each ball passing a defect strikes it, exciting a structural resonance
  (2.5-3.5 kHz, damping ratio ~5 %) that rings down. The strikes repeat at the outer-race
  ball-pass frequency ``BPFO = n/2 f_r (1 - d/D cos a)`` or the inner-race one
  ``BPFI = n/2 f_r (1 + d/D cos a)`` (6205 bearing: n = 9, d = 7.94 mm, D = 39.04 mm,
  a = 0), with 1 % random slip of each period. An inner-race defect turns with the shaft,
  so its strikes are amplitude-modulated at ``f_r`` as it passes through the load zone.
  The fault is invisible in the raw spectrum's low band but shows as a peak at BPFO/BPFI in
  the *envelope spectrum* (spectrum of the magnitude of the analytic signal).
- **Thermal** (8x8 degC): ambient 20-24 degC, motor housing 35-45 degC, the bearing a small
  spot at one end of the housing; a worn bearing runs 8-15 degC hotter (friction), an
  imbalanced one 2-4 degC hotter. Area-mean pixels + 0.15 degC noise.
- **Sound** (16 kHz): hum at the shaft harmonics and twice the mains frequency (100 Hz),
  broadband fan noise, and for bearing faults clicks at the fault rate (the same impulses
  radiated by the housing, resonance 4-5 kHz).
"""

from __future__ import annotations

import numpy as np

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.simulate.signals import area_mean, band_noise, seeded
from tinyfuse.sensors.sources.base import LoadResult, Sample

CLASSES = ("normal", "imbalance", "outer_race", "inner_race")
VIBRATION_RATE_HZ = 12000
AUDIO_RATE_HZ = 16000
N_BALLS, BALL_MM, PITCH_MM = 9, 7.94, 39.04


def bearing_frequencies(shaft_hz: float) -> dict[str, float]:
    """Defect frequencies (Hz) of the simulated 6205 bearing at ``shaft_hz``."""
    ratio = BALL_MM / PITCH_MM
    return {"bpfo_hz": N_BALLS / 2 * shaft_hz * (1 - ratio),
            "bpfi_hz": N_BALLS / 2 * shaft_hz * (1 + ratio)}


def impulse_train(rng: np.random.Generator, n_samples: int, *, rate_hz: float,
                  sample_rate_hz: float, resonance_hz: float, damping: float = 0.05,
                  slip: float = 0.01) -> np.ndarray:
    """Decaying resonance excited at ``rate_hz`` (each period jittered by ``slip``).

    Returns float64 ``(n_samples,)`` with peak about 1.
    """
    strikes = np.zeros(n_samples)
    t_s = rng.uniform(0, 1.0 / rate_hz)
    while t_s * sample_rate_hz < n_samples:
        strikes[int(t_s * sample_rate_hz)] = 1.0
        t_s += (1.0 / rate_hz) * (1 + slip * rng.standard_normal())
    ring_t = np.arange(int(0.01 * sample_rate_hz)) / sample_rate_hz
    ring = np.exp(-damping * 2 * np.pi * resonance_hz * ring_t) * np.sin(
        2 * np.pi * resonance_hz * ring_t)
    return np.convolve(strikes, ring)[:n_samples]


def vibration_signal(rng: np.random.Generator, label: str, *, shaft_hz: float,
                     duration_s: float, sample_rate_hz: float = VIBRATION_RATE_HZ) -> np.ndarray:
    """Accelerometer signal in g, float32 ``(n_samples, 1)``."""
    n = int(round(duration_s * sample_rate_hz))
    t_s = np.arange(n) / sample_rate_hz
    amplitudes_g = [0.05, 0.03, 0.015, 0.008]
    if label == "imbalance":
        amplitudes_g[0] *= rng.uniform(4.0, 8.0)
    signal = sum(a * np.sin(2 * np.pi * (k + 1) * shaft_hz * t_s + rng.uniform(0, 6.28))
                 for k, a in enumerate(amplitudes_g))
    signal = signal + 0.02 * rng.standard_normal(n)
    signal = signal + _fault(rng, label, n, shaft_hz=shaft_hz, t_s=t_s, rate_hz=sample_rate_hz,
                             resonance_hz=rng.uniform(2500, 3500), strength_g=0.6)
    return signal.astype(np.float32)[:, None]


def _fault(rng: np.random.Generator, label: str, n: int, *, shaft_hz: float, t_s: np.ndarray,
           rate_hz: float, resonance_hz: float, strength_g: float) -> np.ndarray:
    freqs = bearing_frequencies(shaft_hz)
    if label == "outer_race":
        return strength_g * impulse_train(rng, n, rate_hz=freqs["bpfo_hz"],
                                          sample_rate_hz=rate_hz, resonance_hz=resonance_hz)
    if label == "inner_race":
        load_zone = 0.5 * (1 + np.cos(2 * np.pi * shaft_hz * t_s))
        return strength_g * load_zone * impulse_train(
            rng, n, rate_hz=freqs["bpfi_hz"], sample_rate_hz=rate_hz, resonance_hz=resonance_hz)
    return np.zeros(n)


def thermal_image(rng: np.random.Generator, label: str, *, housing_c: float,
                  shape: tuple[int, int] = (8, 8), size_px: int = 64) -> np.ndarray:
    """Thermal view of the machine (degC, float32 ``shape``) with the bearing hot spot."""
    coords = (np.arange(size_px) + 0.5) / size_px
    rows, cols = np.meshgrid(coords, coords, indexing="ij")
    scene_c = np.full((size_px, size_px), rng.uniform(20.0, 24.0))
    housing = (np.abs(rows - 0.55) < 0.2) & (np.abs(cols - 0.45) < 0.3)
    scene_c[housing] = housing_c
    extra_c = {"outer_race": rng.uniform(8, 15), "inner_race": rng.uniform(8, 15),
               "imbalance": rng.uniform(2, 4)}.get(label, 0.0)
    bearing = (rows - 0.55) ** 2 + (cols - 0.8) ** 2 < 0.1**2
    scene_c[bearing] = housing_c + 3.0 + extra_c
    image = area_mean(scene_c, shape) + 0.15 * rng.standard_normal(shape)
    return image.astype(np.float32)


def sound_signal(rng: np.random.Generator, label: str, *, shaft_hz: float, duration_s: float,
                 sample_rate_hz: int = AUDIO_RATE_HZ) -> np.ndarray:
    """Machine sound, float32 ``(n_samples,)`` in [-1, 1]."""
    n = int(round(duration_s * sample_rate_hz))
    t_s = np.arange(n) / sample_rate_hz
    hum_1x = 0.05 * (rng.uniform(3, 5) if label == "imbalance" else 1.0)
    hum = (hum_1x * np.sin(2 * np.pi * shaft_hz * t_s)
           + 0.03 * np.sin(2 * np.pi * 2 * shaft_hz * t_s)
           + 0.05 * np.sin(2 * np.pi * 100.0 * t_s))
    noise = 0.02 * band_noise(rng, n, low_hz=50.0, high_hz=6000.0, sample_rate_hz=sample_rate_hz)
    clicks = _fault(rng, label, n, shaft_hz=shaft_hz, t_s=t_s, rate_hz=sample_rate_hz,
                    resonance_hz=rng.uniform(4000, 5000), strength_g=0.2)
    return np.clip(hum + noise + clicks, -1, 1).astype(np.float32)


def simulate_factory(*, n_per_class: int = 20, n_machines: int = 4, seed: int = 0,
                     window_s: float = 0.25, audio_s: float = 1.0) -> LoadResult:
    """Vibration + thermal + sound of ``n_machines`` machines in four conditions.

    Returns
    -------
    LoadResult
        ``4 * n_per_class`` samples ``{"vibration": float32 (window_s * 12000, 1) g,
        "thermal": float32 (8, 8) degC, "audio": float32 (audio_s * 16000,)}``; labels in
        ``CLASSES``; group ``machine_XX``; meta ``shaft_hz``, ``bpfo_hz``, ``bpfi_hz``.
    """
    if n_per_class < 1 or n_machines < 1:
        raise DataError("simulate_factory: n_per_class and n_machines must be >= 1")
    samples = []
    for class_index, label in enumerate(CLASSES):
        for i in range(n_per_class):
            machine = i % n_machines
            traits = seeded(seed, 1000, machine)
            shaft_hz, housing_c = traits.uniform(20.0, 30.0), traits.uniform(35.0, 45.0)
            rng = seeded(seed, class_index, i)
            shaft_hz *= rng.uniform(0.99, 1.01)  # load-dependent speed
            data = {"vibration": vibration_signal(rng, label, shaft_hz=shaft_hz,
                                                  duration_s=window_s),
                    "thermal": thermal_image(rng, label, housing_c=housing_c),
                    "audio": sound_signal(rng, label, shaft_hz=shaft_hz, duration_s=audio_s)}
            freqs = bearing_frequencies(shaft_hz)
            samples.append(Sample(data=data, label=label, group=f"machine_{machine:02d}",
                                  key=f"{label}/{i:04d}",
                                  source=f"simulated:factory/{label}/{i:04d}",
                                  meta=(("seed", seed), ("shaft_hz", float(shaft_hz)),
                                        ("bpfo_hz", freqs["bpfo_hz"]),
                                        ("bpfi_hz", freqs["bpfi_hz"]))))
    return LoadResult(samples=tuple(samples), name="simulated:factory")
