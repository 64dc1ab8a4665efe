"""A motor-driven pump on a rolling bearing: vibration, a thermal view and its sound.

Each fault shows in one or two sensors and hides in the others, as on a real machine, so
that no single sensor tells every condition apart and the fused model has work to do
(``tinyfuse demo factory`` reports every branch alone and each sensor dropped). Physics,
simplified:

- **Vibration** (g, 12 kHz; accelerometer on the drive-end bearing housing): the shaft turns
  at ``f_r`` 20-30 Hz; residual unbalance and misalignment give harmonics ``k * f_r``
  (k = 1..4, falling amplitude; each machine's residual level differs by 0.6-1.6x) over
  Gaussian noise. *Imbalance* raises the 1x component (centrifugal force ~ m r w^2 at the
  shaft rate) 4-8x. An *outer-race defect*: each ball passing it strikes it, exciting a
  structural resonance (2.5-3.5 kHz, damping ratio ~5 %) that rings down; the strikes repeat
  at the ball-pass frequency ``BPFO = n/2 f_r (1 - d/D cos a)`` (6205 bearing: n = 9,
  d = 7.94 mm, D = 39.04 mm, a = 0) with 1 % slip. It is invisible in the raw spectrum's low
  band but peaks at BPFO in the *envelope spectrum*. (An inner-race defect, at
  ``BPFI = n/2 f_r (1 + d/D cos a)`` and modulated at ``f_r`` by the load zone, is modelled
  too, for tests, but is not one of the demo's classes.) *Lubrication loss* (early: a dry
  bearing, no damage yet) adds friction torque, not impacts: the accelerometer sees nothing.
  *Cavitation* (vapour bubbles collapsing at the impeller) is a broadband hiss carried by the
  fluid and the air; the bearing housing picks up a 10 % rise of its noise floor, within the
  spread from machine to machine.
- **Thermal** (8x8 degC): ambient 18-28 degC, motor housing 35-45 degC, the bearing a small
  spot at one end of the housing 1.5-4.5 degC above it (per machine). A dry bearing runs
  8-15 degC hotter (friction); imbalance and an early outer-race defect add 0-1.5 degC, lost
  in the spread between machines. Area-mean pixels + 0.15 degC noise.
- **Sound** (16 kHz, a microphone near the pump): hum at the shaft harmonics and twice the
  mains frequency (100 Hz), broadband background at a level that differs by machine and hall.
  *Cavitation* adds crackle: 20-60 bursts a second of 1-8 kHz noise, 2-5 ms each. An
  outer-race defect radiates faint clicks at BPFO (housing resonance 4-5 kHz); imbalance
  raises the 1x hum 1.2-1.6x. A dry bearing is silent at this stage.
"""
from __future__ import annotations

import numpy as np

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.simulate.signals import area_mean, band_noise, seeded
from tinyfuse.sensors.sources.base import LoadResult, Sample

CLASSES = ("normal", "imbalance", "outer_race", "lubrication", "cavitation")
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
                     duration_s: float, sample_rate_hz: float = VIBRATION_RATE_HZ,
                     residual: float = 1.0) -> np.ndarray:
    """Accelerometer signal in g, float32 ``(n_samples, 1)``; ``residual`` scales the
    machine's own shaft harmonics."""
    n = int(round(duration_s * sample_rate_hz))
    t_s = np.arange(n) / sample_rate_hz
    amplitudes_g = [residual * a for a in (0.05, 0.03, 0.015, 0.008)]
    if label == "imbalance":
        amplitudes_g[0] *= rng.uniform(4.0, 8.0)
    signal = sum(a * np.sin(2 * np.pi * (k + 1) * shaft_hz * t_s + rng.uniform(0, 6.28))
                 for k, a in enumerate(amplitudes_g))
    floor_g = 0.02 * (1.1 if label == "cavitation" else 1.0) * rng.uniform(0.85, 1.15)
    signal = signal + floor_g * rng.standard_normal(n)
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
                  bearing_rise_c: float = 3.0, ambient_c: float | None = None,
                  shape: tuple[int, int] = (8, 8), size_px: int = 64) -> np.ndarray:
    """Thermal view of the machine (degC, float32 ``shape``) with the bearing hot spot
    ``bearing_rise_c`` above the housing (plus the fault's heat)."""
    coords = (np.arange(size_px) + 0.5) / size_px
    rows, cols = np.meshgrid(coords, coords, indexing="ij")
    ambient = rng.uniform(18.0, 28.0) if ambient_c is None else ambient_c
    scene_c = np.full((size_px, size_px), ambient)
    housing = (np.abs(rows - 0.55) < 0.2) & (np.abs(cols - 0.45) < 0.3)
    scene_c[housing] = housing_c
    extra_c = {"lubrication": rng.uniform(8, 15), "inner_race": rng.uniform(8, 15),
               "imbalance": rng.uniform(0, 1.5), "outer_race": rng.uniform(0, 1.5)
               }.get(label, 0.0)
    bearing = (rows - 0.55) ** 2 + (cols - 0.8) ** 2 < 0.1**2
    scene_c[bearing] = housing_c + bearing_rise_c + extra_c
    image = area_mean(scene_c, shape) + 0.15 * rng.standard_normal(shape)
    return image.astype(np.float32)


def sound_signal(rng: np.random.Generator, label: str, *, shaft_hz: float, duration_s: float,
                 sample_rate_hz: int = AUDIO_RATE_HZ, background: float = 0.02) -> np.ndarray:
    """Machine sound, float32 ``(n_samples,)`` in [-1, 1]; ``background`` is the hall's
    broadband level."""
    n = int(round(duration_s * sample_rate_hz))
    t_s = np.arange(n) / sample_rate_hz
    hum_1x = 0.05 * (rng.uniform(1.2, 1.6) if label == "imbalance" else 1.0)
    hum = (hum_1x * np.sin(2 * np.pi * shaft_hz * t_s)
           + 0.03 * np.sin(2 * np.pi * 2 * shaft_hz * t_s)
           + 0.05 * np.sin(2 * np.pi * 100.0 * t_s))
    noise = background * band_noise(rng, n, low_hz=50.0, high_hz=6000.0,
                                    sample_rate_hz=sample_rate_hz)
    clicks = _fault(rng, label, n, shaft_hz=shaft_hz, t_s=t_s, rate_hz=sample_rate_hz,
                    resonance_hz=rng.uniform(4000, 5000), strength_g=0.1)
    if label == "cavitation":
        clicks = clicks + crackle(rng, n, sample_rate_hz=sample_rate_hz)
    return np.clip(hum + noise + clicks, -1, 1).astype(np.float32)


def crackle(rng: np.random.Generator, n_samples: int, *, sample_rate_hz: float) -> np.ndarray:
    """Cavitation: 20-60 bursts a second of 1-8 kHz noise, 2-5 ms each, float64."""
    out = np.zeros(n_samples)
    rate_hz = rng.uniform(20, 60)
    hiss = band_noise(rng, n_samples, low_hz=1000.0, high_hz=min(8000.0, sample_rate_hz / 2.1),
                      sample_rate_hz=sample_rate_hz)
    t_s = rng.exponential(1.0 / rate_hz)
    while t_s * sample_rate_hz < n_samples:
        start = int(t_s * sample_rate_hz)
        stop = min(n_samples, start + int(rng.uniform(0.002, 0.005) * sample_rate_hz))
        out[start:stop] += rng.uniform(3.0, 6.0) * hiss[start:stop]
        t_s += rng.exponential(1.0 / rate_hz)
    return 0.03 * out


def simulate_factory(*, n_per_class: int = 20, n_machines: int = 4, seed: int = 0,
                     window_s: float = 0.25, audio_s: float = 1.0) -> LoadResult:
    """Vibration + thermal + sound of ``n_machines`` machines in the conditions of
    :data:`CLASSES`.

    Returns
    -------
    LoadResult
        ``len(CLASSES) * n_per_class`` samples ``{"vibration": float32 (window_s * 12000, 1) g,
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
            residual, rise_c = traits.uniform(0.6, 1.6), traits.uniform(1.5, 4.5)
            background = traits.uniform(0.015, 0.03)
            rng = seeded(seed, class_index, i)
            shaft_hz *= rng.uniform(0.99, 1.01)  # load-dependent speed
            data = {"vibration": vibration_signal(rng, label, shaft_hz=shaft_hz,
                                                  duration_s=window_s, residual=residual),
                    "thermal": thermal_image(rng, label, housing_c=housing_c,
                                             bearing_rise_c=rise_c),
                    "audio": sound_signal(rng, label, shaft_hz=shaft_hz, duration_s=audio_s,
                                          background=background)}
            freqs = bearing_frequencies(shaft_hz)
            samples.append(Sample(data=data, label=label, group=f"machine_{machine:02d}",
                                  key=f"{label}/{i:04d}",
                                  source=f"simulated:factory/{label}/{i:04d}",
                                  meta=(("seed", seed), ("shaft_hz", float(shaft_hz)),
                                        ("bpfo_hz", freqs["bpfo_hz"]),
                                        ("bpfi_hz", freqs["bpfi_hz"]))))
    return LoadResult(samples=tuple(samples), name="simulated:factory")
