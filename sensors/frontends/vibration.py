"""Vibration front-end (SciPy): spectra and statistics of accelerometer windows.

:func:`vibration_features` works per axis (sensors are stacked as axes) on a window of
``spec.n_samples`` samples (trimmed or zero-padded at the end):

1. linear detrend, then a zero-phase Butterworth band-pass ``fmin_hz..fmax_hz`` (order 4,
   forward-backward, the window mirrored at both ends; a low-pass when ``fmin_hz == 0``,
   a high-pass when ``fmax_hz`` is Nyquist);
2. ``n_bands`` log10 band powers of the Welch PSD (Hann, ``nperseg = min(n_fft, n)``, 50 %
   overlap, ``nfft = n_fft``) on fixed, equal-width bands from ``fmin_hz`` to ``fmax_hz``;
   each FFT bin counts in a band by the fraction of its width inside the band, so narrow
   bands never come out empty;
3. four statistics: ``log10(rms)``, ``log10(peak)``, crest factor, Pearson kurtosis
   (3 for Gaussian noise, 1.5 for a sine);
4. ``n_envelope_bands`` log10 band powers of the envelope spectrum (Hilbert envelope of the
   band-passed signal, mean removed) on equal-width bands from 0 to ``envelope_fmax_hz``.

Powers are floored at ``POWER_FLOOR`` and amplitudes at ``AMPLITUDE_FLOOR`` before the log;
crest factor and kurtosis are 0 when the RMS is at or below ``AMPLITUDE_FLOOR`` (a silent
or constant window, whose detrended residue is rounding noise). A silent window therefore gives
``-12`` for every band power, ``-6`` for ``log10(rms)`` and ``log10(peak)``, and 0, 0.
Scaling the input by ``a`` adds ``2 log10(a)`` to band powers and ``log10(a)`` to the
amplitude statistics, and leaves crest factor and kurtosis unchanged.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.spec import VibrationSpec

POWER_FLOOR = 1e-12
AMPLITUDE_FLOOR = 1e-6
FILTER_ORDER = 4


def detrend(x: np.ndarray) -> np.ndarray:
    """Remove the least-squares line along axis 0; shape of ``x``, float64."""
    return scipy.signal.detrend(np.asarray(x, dtype=np.float64), axis=0, type="linear")


def bandpass(
    x: np.ndarray, *, sample_rate_hz: float, low_hz: float, high_hz: float,
    order: int = FILTER_ORDER,
) -> np.ndarray:
    """Zero-phase Butterworth band-pass along axis 0 (``sosfiltfilt``, even extension of
    the whole window at both ends).

    ``low_hz <= 0`` gives a low-pass, ``high_hz >= Nyquist`` a high-pass, both the input.

    Parameters
    ----------
    x : np.ndarray, shape (n_samples, ...) or (n_samples,)
    sample_rate_hz, low_hz, high_hz : float
    order : int

    Returns
    -------
    np.ndarray, shape of ``x``, float64
    """
    data = np.asarray(x, dtype=np.float64)
    nyquist_hz = sample_rate_hz / 2.0
    has_low, has_high = low_hz > 0.0, high_hz < nyquist_hz
    if has_low and has_high and not low_hz < high_hz:
        raise DataError(f"bandpass: low_hz {low_hz} must be below high_hz {high_hz}")
    if not (has_low or has_high):
        return data.copy()
    if has_low and has_high:
        sos = scipy.signal.butter(order, [low_hz, high_hz], btype="bandpass",
                                  fs=sample_rate_hz, output="sos")
    elif has_low:
        sos = scipy.signal.butter(order, low_hz, btype="highpass", fs=sample_rate_hz,
                                  output="sos")
    else:
        sos = scipy.signal.butter(order, high_hz, btype="lowpass", fs=sample_rate_hz,
                                  output="sos")
    # Mirror the whole window at both ends: on short windows the default short odd extension
    # leaves edge transients far above the signal (a sine's peak grew by up to 2x).
    return scipy.signal.sosfiltfilt(sos, data, axis=0, padtype="even",
                                    padlen=data.shape[0] - 1)


def welch_psd(x: np.ndarray, *, sample_rate_hz: float, n_fft: int) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """Welch PSD along axis 0 (Hann, ``nperseg = min(n_fft, n)``, half overlap, ``nfft=n_fft``,
    no detrending).

    Returns
    -------
    freqs_hz : np.ndarray, shape (n_fft // 2 + 1,)
    psd : np.ndarray, shape (n_fft // 2 + 1, ...), units**2 / Hz, float64
    """
    data = np.asarray(x, dtype=np.float64)
    nperseg = min(n_fft, data.shape[0])
    freqs, psd = scipy.signal.welch(data, fs=sample_rate_hz, window="hann", nperseg=nperseg,
                                    noverlap=nperseg // 2, nfft=n_fft, detrend=False, axis=0)
    return freqs, psd


def band_matrix(freqs_hz: np.ndarray, *, fmin_hz: float, fmax_hz: float,
                n_bands: int) -> np.ndarray:
    """Weights turning a PSD into band powers: ``powers = W @ psd``.

    Band ``b`` covers ``[fmin + b w, fmin + (b+1) w)`` with ``w = (fmax - fmin) / n_bands``;
    bin ``k`` (width ``df``, centred on ``freqs_hz[k]``) counts by ``df`` times the fraction of
    its width inside the band, so ``W @ psd`` integrates the PSD over each band.

    Returns
    -------
    np.ndarray, shape (n_bands, len(freqs_hz)), float64
    """
    df = float(freqs_hz[1] - freqs_hz[0])
    edges = np.linspace(fmin_hz, fmax_hz, n_bands + 1)
    bin_low = np.maximum(freqs_hz - df / 2.0, 0.0)[np.newaxis, :]
    bin_high = (freqs_hz + df / 2.0)[np.newaxis, :]
    overlap = (np.minimum(bin_high, edges[1:, np.newaxis])
               - np.maximum(bin_low, edges[:-1, np.newaxis]))
    return np.clip(overlap, 0.0, None)


def band_powers(
    x: np.ndarray, *, sample_rate_hz: float, n_fft: int, fmin_hz: float, fmax_hz: float,
    n_bands: int,
) -> np.ndarray:
    """log10 band powers of the Welch PSD on fixed equal-width bands.

    Parameters
    ----------
    x : np.ndarray, shape (n_samples,) or (n_samples, n_axes)

    Returns
    -------
    np.ndarray, shape (n_bands,) or (n_bands, n_axes), float64 (log10 of units**2)
    """
    freqs, psd = welch_psd(x, sample_rate_hz=sample_rate_hz, n_fft=n_fft)
    weights = band_matrix(freqs, fmin_hz=fmin_hz, fmax_hz=fmax_hz, n_bands=n_bands)
    return np.log10(np.maximum(np.tensordot(weights, psd, axes=1), POWER_FLOOR))


def rms(x: np.ndarray) -> np.ndarray:
    """Root mean square along axis 0; shape ``x.shape[1:]``, float64."""
    return np.sqrt(np.mean(np.square(np.asarray(x, dtype=np.float64)), axis=0))


def peak(x: np.ndarray) -> np.ndarray:
    """Largest absolute value along axis 0; shape ``x.shape[1:]``, float64."""
    return np.max(np.abs(np.asarray(x, dtype=np.float64)), axis=0)


def crest_factor(x: np.ndarray) -> np.ndarray:
    """``peak / rms`` along axis 0 (sqrt(2) for a sine); 0 where the signal is all zero."""
    level = rms(x)
    return np.divide(peak(x), level, out=np.zeros_like(level), where=level > 0)


def kurtosis(x: np.ndarray) -> np.ndarray:
    """Pearson kurtosis ``m4 / m2**2`` along axis 0 (3 for Gaussian, 1.5 for a sine);
    0 where the signal is constant."""
    data = np.asarray(x, dtype=np.float64)
    centred = data - data.mean(axis=0)
    m2 = np.mean(centred**2, axis=0)
    m4 = np.mean(centred**4, axis=0)
    return np.divide(m4, m2**2, out=np.zeros_like(m2), where=m2 > 0)


def envelope_spectrum(
    x: np.ndarray, *, sample_rate_hz: float, n_fft: int, low_hz: float = 0.0,
    high_hz: float | None = None, order: int = FILTER_ORDER,
) -> tuple[np.ndarray, np.ndarray]:
    """Envelope spectrum for bearing-fault frequencies: band-pass ``low_hz..high_hz``
    (default: no filtering), Hilbert envelope, mean removed, Welch PSD.

    Parameters
    ----------
    x : np.ndarray, shape (n_samples,) or (n_samples, n_axes)

    Returns
    -------
    freqs_hz : np.ndarray, shape (n_fft // 2 + 1,)
    psd : np.ndarray, shape (n_fft // 2 + 1,) or (n_fft // 2 + 1, n_axes), float64
    """
    top_hz = sample_rate_hz / 2.0 if high_hz is None else high_hz
    filtered = bandpass(x, sample_rate_hz=sample_rate_hz, low_hz=low_hz, high_hz=top_hz,
                        order=order)
    envelope = np.abs(scipy.signal.hilbert(filtered, axis=0))
    envelope -= envelope.mean(axis=0)
    return welch_psd(envelope, sample_rate_hz=sample_rate_hz, n_fft=n_fft)


def _as_window(x: np.ndarray, spec: VibrationSpec) -> np.ndarray:
    data = np.asarray(x)
    if not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
        raise DataError(f"vibration: expected real numbers, got dtype {data.dtype}")
    if data.ndim == 1 and spec.n_axes == 1:
        data = data[:, np.newaxis]
    if data.ndim != 2 or data.shape[1] != spec.n_axes:
        raise DataError(f"vibration: expected shape (n_samples, {spec.n_axes}), "
                        f"got {data.shape}")
    data = data.astype(np.float64)
    if data.shape[0] >= spec.n_samples:
        return data[:spec.n_samples]
    return np.pad(data, [(0, spec.n_samples - data.shape[0]), (0, 0)])


def vibration_features(x: np.ndarray, *, spec: VibrationSpec) -> np.ndarray:
    """Per-axis band powers, statistics and envelope band powers (module docs).

    Parameters
    ----------
    x : np.ndarray, shape (n_samples, spec.n_axes), or (n_samples,) when ``n_axes == 1``
    spec : VibrationSpec

    Returns
    -------
    np.ndarray, shape (spec.n_axes, spec.n_bands + 4 + spec.n_envelope_bands), float32
    """
    data = _as_window(x, spec)
    filtered = bandpass(detrend(data), sample_rate_hz=spec.sample_rate_hz,
                        low_hz=spec.fmin_hz, high_hz=spec.fmax_hz)
    bands = band_powers(filtered, sample_rate_hz=spec.sample_rate_hz, n_fft=spec.n_fft,
                        fmin_hz=spec.fmin_hz, fmax_hz=spec.fmax_hz, n_bands=spec.n_bands)
    level = rms(filtered)
    audible = level > AMPLITUDE_FLOOR
    stats = np.stack([
        np.log10(np.maximum(level, AMPLITUDE_FLOOR)),
        np.log10(np.maximum(peak(filtered), AMPLITUDE_FLOOR)),
        np.where(audible, crest_factor(filtered), 0.0),
        np.where(audible, kurtosis(filtered), 0.0),
    ])
    parts = [bands, stats]
    if spec.n_envelope_bands:
        freqs, psd = envelope_spectrum(filtered, sample_rate_hz=spec.sample_rate_hz,
                                       n_fft=spec.n_fft)
        weights = band_matrix(freqs, fmin_hz=0.0, fmax_hz=spec.envelope_fmax_hz,
                              n_bands=spec.n_envelope_bands)
        parts.append(np.log10(np.maximum(weights @ psd, POWER_FLOOR)))
    return np.concatenate(parts, axis=0).T.astype(np.float32)
