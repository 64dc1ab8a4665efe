"""Audio simulator: determinism and the documented physics of cough/breathing/speech."""

from __future__ import annotations

import numpy as np

from tinyfuse.sensors.simulate import breathing_signal, cough_signal, simulate_cough, speech_signal
from tinyfuse.sensors.simulate.signals import seeded

RATE_HZ = 16000


def _band_fraction(signal: np.ndarray, low_hz: float, high_hz: float) -> float:
    power = np.abs(np.fft.rfft(signal)) ** 2
    freqs_hz = np.fft.rfftfreq(signal.size, 1 / RATE_HZ)
    return float(power[(freqs_hz >= low_hz) & (freqs_hz <= high_hz)].sum() / power.sum())


def test_simulate_cough_is_deterministic_and_seed_dependent():
    a = simulate_cough(n_per_class=4, n_people=2, seed=3)
    b = simulate_cough(n_per_class=4, n_people=2, seed=3)
    c = simulate_cough(n_per_class=4, n_people=2, seed=4)
    assert a.counts_by_class() == {"breathing": 4, "cough": 4, "speech": 4}
    assert set(a.counts_by_group()) == {"person_00", "person_01"}
    for x, y, z in zip(a, b, c, strict=True):
        assert np.array_equal(x.data["audio"], y.data["audio"])
        assert not np.array_equal(x.data["audio"], z.data["audio"])
        assert x.data["audio"].dtype == np.float32 and x.data["audio"].shape == (RATE_HZ,)
        assert np.abs(x.data["audio"]).max() <= 1.0


def test_cough_is_an_explosive_burst_with_fast_attack():
    signal = cough_signal(seeded(0, 1))
    frame = 160  # 10 ms
    energy = np.square(signal[: signal.size // frame * frame]).reshape(-1, frame).mean(axis=1)
    peak = int(np.argmax(energy))
    assert energy[peak] > 30 * np.median(energy)  # a burst, not a steady sound
    assert energy[max(peak - 2, 0)] < 0.3 * energy[peak]  # reaches its peak within ~20 ms
    assert energy[min(peak + 30, energy.size - 1)] < 0.05 * energy[peak]  # decays in 300 ms
    assert _band_fraction(signal, 2000, 8000) > 0.1  # broadband


def test_breathing_is_band_limited_noise():
    signal = breathing_signal(seeded(0, 2))
    assert _band_fraction(signal, 180, 2050) > 0.95


def test_speech_has_harmonics_of_its_f0():
    person = {"f0_hz": 125.0, "f1_hz": 600.0, "f2_hz": 1500.0, "f3_hz": 2600.0, "gain": 1.0}
    signal = speech_signal(seeded(0, 3), person=person).astype(np.float64)
    ac = np.correlate(signal, signal, mode="full")[signal.size - 1:]
    lag = np.argmax(ac[RATE_HZ // 400: RATE_HZ // 60]) + RATE_HZ // 400
    assert abs(RATE_HZ / lag - 125.0) < 10.0
    assert _band_fraction(signal, 300, 3200) > 0.7  # formant region dominates
