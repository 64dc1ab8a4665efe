"""Small numeric building blocks shared by the simulators (all deterministic given ``rng``)."""

from __future__ import annotations

import numpy as np


def band_noise(rng: np.random.Generator, n_samples: int, *, low_hz: float, high_hz: float,
               sample_rate_hz: float) -> np.ndarray:
    """White Gaussian noise band-limited to ``[low_hz, high_hz]`` by zeroing FFT bins.

    Returns
    -------
    np.ndarray
        float64 ``(n_samples,)`` with unit RMS.
    """
    spectrum = np.fft.rfft(rng.standard_normal(n_samples))
    freqs_hz = np.fft.rfftfreq(n_samples, d=1.0 / sample_rate_hz)
    spectrum[(freqs_hz < low_hz) | (freqs_hz > high_hz)] = 0.0
    noise = np.fft.irfft(spectrum, n=n_samples)
    return noise / max(float(np.sqrt(np.mean(noise**2))), 1e-12)


def resonator(signal: np.ndarray, *, center_hz: float, bandwidth_hz: float,
              sample_rate_hz: float) -> np.ndarray:
    """Two-pole resonant filter (a formant or a structural mode) applied to ``signal``.

    Poles at radius ``exp(-pi * bandwidth / fs)`` and angle ``2 pi center / fs``; the gain is
    normalised to 1 at ``center_hz``.
    """
    from scipy.signal import lfilter

    radius = np.exp(-np.pi * bandwidth_hz / sample_rate_hz)
    theta = 2.0 * np.pi * center_hz / sample_rate_hz
    a = np.array([1.0, -2.0 * radius * np.cos(theta), radius**2])
    gain = abs(np.polyval(a[::-1], np.exp(-1j * theta)))  # |A(e^{j theta})|
    return lfilter([gain], a, signal)


def harmonic_series(t_s: np.ndarray, f0_hz: np.ndarray | float, *, n_harmonics: int,
                    rolloff: float, nyquist_hz: float) -> np.ndarray:
    """Sum of harmonics k*f0 (k = 1..n) with amplitude ``rolloff**(k-1)``; ``f0_hz`` may vary
    with time (phase is the running integral of the frequency). Harmonics above Nyquist are
    left out."""
    f0 = np.broadcast_to(np.asarray(f0_hz, dtype=np.float64), t_s.shape)
    dt_s = float(t_s[1] - t_s[0]) if t_s.size > 1 else 1.0
    phase = 2.0 * np.pi * np.cumsum(f0) * dt_s
    out = np.zeros_like(t_s)
    for k in range(1, n_harmonics + 1):
        if k * float(f0.max()) >= nyquist_hz:
            break
        out += rolloff ** (k - 1) * np.sin(k * phase)
    return out


def seeded(seed: int, *path: int) -> np.random.Generator:
    """Independent generator for one item: ``default_rng(SeedSequence([seed, *path]))``."""
    return np.random.default_rng(np.random.SeedSequence([seed, *path]))


def area_mean(scene: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Block means of a square ``scene`` over a ``shape`` grid (what an array sensor whose
    pixels integrate their field of view reports); float64 ``shape``."""
    size = scene.shape[0]
    row_edges = np.linspace(0, size, shape[0] + 1).astype(int)
    col_edges = np.linspace(0, size, shape[1] + 1).astype(int)
    return np.array([[scene[r0:r1, c0:c1].mean()
                      for c0, c1 in zip(col_edges[:-1], col_edges[1:], strict=True)]
                     for r0, r1 in zip(row_edges[:-1], row_edges[1:], strict=True)])
