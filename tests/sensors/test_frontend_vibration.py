"""Vibration front-end: filters, Welch bands, statistics and the envelope spectrum."""

from __future__ import annotations

import numpy as np
import pytest

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.frontends import vibration
from tinyfuse.sensors.spec import VibrationSpec

RATE_HZ = 12000.0


def tone(freq_hz: float, n: int = 6000, rate_hz: float = RATE_HZ) -> np.ndarray:
    return np.sin(2 * np.pi * freq_hz * np.arange(n) / rate_hz)


def test_detrend_removes_a_line():
    t = np.arange(100.0)
    np.testing.assert_allclose(vibration.detrend(3.0 + 0.5 * t), 0.0, atol=1e-10)
    assert vibration.detrend(np.ones((100, 3))).shape == (100, 3)


def test_bandpass_keeps_the_passband_and_removes_the_rest():
    inside, below, above = tone(1000.0), tone(20.0), tone(5500.0)
    out = vibration.bandpass(inside + below + above, sample_rate_hz=RATE_HZ, low_hz=500.0,
                             high_hz=2000.0)
    middle = slice(1000, 5000)
    np.testing.assert_allclose(out[middle], inside[middle], atol=0.02)
    low_pass = vibration.bandpass(below + above, sample_rate_hz=RATE_HZ, low_hz=0.0,
                                  high_hz=200.0)
    np.testing.assert_allclose(low_pass[middle], below[middle], atol=0.02)
    with pytest.raises(DataError, match="bandpass"):
        vibration.bandpass(inside, sample_rate_hz=RATE_HZ, low_hz=2000.0, high_hz=500.0)


def test_band_matrix_integrates_the_whole_range():
    freqs = np.linspace(0, 6000, 513)
    weights = vibration.band_matrix(freqs, fmin_hz=10.0, fmax_hz=5000.0, n_bands=32)
    assert weights.shape == (32, 513)
    assert weights.sum() == pytest.approx(4990.0)
    narrow = vibration.band_matrix(freqs, fmin_hz=100.0, fmax_hz=110.0, n_bands=4)
    assert np.all(narrow.sum(axis=1) == pytest.approx(2.5))


@pytest.mark.parametrize("freq_hz", [300.0, 1234.0, 4100.0])
def test_sine_peaks_in_its_welch_band(freq_hz):
    powers = vibration.band_powers(tone(freq_hz), sample_rate_hz=RATE_HZ, n_fft=1024,
                                   fmin_hz=0.0, fmax_hz=6000.0, n_bands=30)
    assert np.argmax(powers) == int(freq_hz // 200.0)
    # A unit sine carries 0.5 units**2; the Hann leakage stays in the neighbouring bands.
    assert np.log10(np.sum(10.0 ** powers)) == pytest.approx(np.log10(0.5), abs=0.02)


def test_statistics_known_answers(rng):
    sine = tone(100.0, n=12000)
    assert vibration.rms(sine) == pytest.approx(np.sqrt(0.5), rel=1e-4)
    assert vibration.peak(sine) == pytest.approx(1.0, rel=1e-4)
    assert vibration.crest_factor(sine) == pytest.approx(np.sqrt(2.0), rel=1e-3)
    assert vibration.kurtosis(sine) == pytest.approx(1.5, rel=1e-3)
    assert vibration.kurtosis(rng.standard_normal(200000)) == pytest.approx(3.0, abs=0.05)
    assert vibration.crest_factor(np.zeros(10)) == 0.0
    assert vibration.kurtosis(np.ones(10)) == 0.0
    assert vibration.rms(np.ones((10, 3))).shape == (3,)


def test_envelope_spectrum_shows_the_modulation_frequency():
    n = 24000
    t = np.arange(n) / RATE_HZ
    signal = (1.0 + 0.8 * np.sin(2 * np.pi * 87.0 * t)) * np.sin(2 * np.pi * 3000.0 * t)
    freqs, psd = vibration.envelope_spectrum(signal, sample_rate_hz=RATE_HZ, n_fft=4096,
                                             low_hz=2000.0, high_hz=4000.0)
    assert freqs[np.argmax(psd)] == pytest.approx(87.0, abs=RATE_HZ / 4096)
    plain_freqs, plain = vibration.envelope_spectrum(np.sin(2 * np.pi * 3000.0 * t),
                                                     sample_rate_hz=RATE_HZ, n_fft=4096)
    assert plain.max() < 1e-3 * psd.max()


def test_features_layout_for_three_axes():
    spec = VibrationSpec(n_axes=3)
    n = spec.n_samples
    data = np.stack([tone(3000.0, n), 2.0 * tone(157.0, n), np.zeros(n)], axis=1)
    out = vibration.vibration_features(data, spec=spec)
    assert out.shape == spec.output_shape == (3, 52)
    band_width_hz = (spec.fmax_hz - spec.fmin_hz) / spec.n_bands
    assert np.argmax(out[0, :32]) == int((3000.0 - spec.fmin_hz) // band_width_hz)
    assert np.argmax(out[1, :32]) == int((157.0 - spec.fmin_hz) // band_width_hz)
    assert out[1, 32] == pytest.approx(np.log10(2.0 * np.sqrt(0.5)), abs=0.01)  # log10 rms
    # crest factor: the filter's edge ripple on a 0.25 s window lifts the peak by a few %
    assert out[1, 34] == pytest.approx(np.sqrt(2.0), abs=0.1)
    assert out[1, 35] == pytest.approx(1.5, abs=0.05)  # Pearson kurtosis of a sine
    np.testing.assert_array_equal(out[2, :32], -12.0)  # silent axis: documented floor


def test_features_check_the_axis_count():
    spec = VibrationSpec(n_axes=2)
    with pytest.raises(DataError, match=r"\(n_samples, 2\)"):
        vibration.vibration_features(np.zeros((3000, 3)), spec=spec)
    one = VibrationSpec()
    assert vibration.vibration_features(np.zeros(3000), spec=one).shape == (1, 52)


def test_short_windows_are_padded_long_ones_trimmed(rng):
    spec = VibrationSpec(sample_rate_hz=200.0, window_s=1.0, n_fft=64, n_bands=8,
                         fmin_hz=1.0, fmax_hz=100.0, n_envelope_bands=4,
                         envelope_fmax_hz=50.0, n_axes=3)
    data = rng.standard_normal((260, 3))
    np.testing.assert_array_equal(vibration.vibration_features(data, spec=spec),
                                  vibration.vibration_features(data[:200], spec=spec))
    assert np.isfinite(vibration.vibration_features(data[:40], spec=spec)).all()
