"""Audio front-end: resampling, framing, log-mel and MFCC features, and an event detector.

The feature pipeline is written as explicit numpy steps so that a C front-end can reproduce it
table for table (see :func:`tables`):

1. centred framing: ``n_fft // 2`` zeros on each side (librosa ``center=True,
   pad_mode="constant"``), frames of ``n_fft`` samples every ``hop_length`` samples;
2. periodic Hann window (``scipy.signal.get_window("hann", n_fft)``), ``rfft``;
3. power spectrum ``|X|**2`` (``power=2``);
4. mel filterbank from ``librosa.filters.mel(htk=False, norm="slaney")`` (float32, as librosa
   uses it);
5. decibels ``10 * log10(max(S, AMIN)) - 10 * log10(REF)`` with ``REF = 1.0``,
   ``AMIN = 1e-10``, then the clip-wide floor ``max(S_db, S_db.max() - TOP_DB)`` with
   ``TOP_DB = 80`` (librosa's ``power_to_db`` defaults, which ``librosa.feature.mfcc`` uses);
6. MFCC: DCT-II with orthonormal scaling along the mel axis, first ``n_mfcc`` coefficients,
   no liftering.

These choices equal ``librosa.feature.mfcc(y=..., sr=..., n_fft=..., hop_length=...,
n_mels=..., n_mfcc=..., fmin=..., fmax=..., window="hann", center=True, pad_mode="constant",
power=2.0, htk=False, mel_norm="slaney", dct_type=2, norm="ortho", lifter=0)``. Feature maps
here are time-major: ``(n_frames, n_coefficients)``, the transpose of librosa's layout.

Silence: every mel band sits at ``10 * log10(AMIN) = -100`` dB, so log-mel is all ``-100``
and MFCC is ``-100 * sqrt(n_mels)`` in coefficient 0 and ``0`` elsewhere.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import librosa
import numpy as np
import scipy.signal

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.spec import AUDIO_NATIVE_RATE_RANGE_HZ, AudioSpec

log = logging.getLogger(__name__)

POWER = 2.0
REF = 1.0
AMIN = 1e-10
TOP_DB = 80.0
#: Samples kept past the window, both at the input and at the output rate, when only the start
#: of a clip is resampled (:func:`resample_window`); covers the soxr HQ filter's support.
RESAMPLE_MARGIN = 2048


def _as_mono(signal: np.ndarray, op: str) -> np.ndarray:
    array = np.asarray(signal)
    if array.ndim != 1:
        raise DataError(f"{op}: expected a mono 1-D signal, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise DataError(f"{op}: expected real numbers, got dtype {array.dtype}")
    return array.astype(np.float64, copy=False)


def resample(signal: np.ndarray, *, orig_hz: float, target_hz: float) -> np.ndarray:
    """Resample a mono signal (soxr high quality, librosa's default).

    The one resampler in tinyfuse: loaders keep audio at its native rate and ``frontends.extract``
    resamples through :func:`resample_window`, so training and serving cannot differ.

    Parameters
    ----------
    signal : np.ndarray, shape (n,), real
    orig_hz, target_hz : float
        Sample rates in Hz, both positive.

    Returns
    -------
    np.ndarray, shape (ceil(n * target_hz / orig_hz),), float64
    """
    x = _as_mono(signal, "resample")
    if orig_hz <= 0 or target_hz <= 0:
        raise DataError(f"resample: rates must be positive, got {orig_hz} -> {target_hz}")
    if orig_hz == target_hz:
        return x.copy()
    return librosa.resample(x, orig_sr=orig_hz, target_sr=target_hz, res_type="soxr_hq")


def check_rate(rate_hz: float, *, op: str) -> float:
    """Return ``rate_hz`` as a float; ``DataError`` unless it lies in
    ``AUDIO_NATIVE_RATE_RANGE_HZ`` (the native rates a recording may have)."""
    low, high = AUDIO_NATIVE_RATE_RANGE_HZ
    if not low <= rate_hz <= high:
        raise DataError(f"{op}: sample rate {rate_hz} Hz is outside [{low}, {high}] Hz")
    return float(rate_hz)


def input_span(n_samples: int, *, orig_hz: float, target_hz: float) -> int:
    """Input samples (at ``orig_hz``) that determine the first ``n_samples`` output samples of
    :func:`resample`: the span of the window plus ``RESAMPLE_MARGIN`` at both rates."""
    ratio = orig_hz / target_hz
    return math.ceil(n_samples * ratio) + math.ceil(RESAMPLE_MARGIN * ratio) + RESAMPLE_MARGIN


def resample_window(
    signal: np.ndarray, *, orig_hz: float, target_hz: float, n_samples: int
) -> np.ndarray:
    """The first ``n_samples`` of ``resample(signal)``, zero-padded at the end when short.

    Only :func:`input_span` input samples are resampled, so the work and memory are bounded by
    the window, not by the clip: a long clip or a large rate ratio cannot exhaust memory. The
    result equals resampling the whole clip and cutting it (bit for bit in the tests over rate
    pairs from 1 kHz to 384 kHz; at worst a float32 rounding difference, ~1e-7 of full scale).

    Parameters
    ----------
    signal : np.ndarray, shape (n,), real
    orig_hz : float
        Rate of ``signal``, in ``AUDIO_NATIVE_RATE_RANGE_HZ``.
    target_hz : float, positive
    n_samples : int, >= 0

    Returns
    -------
    np.ndarray, shape (n_samples,), float64

    Raises
    ------
    DataError
        A rate out of range, or a signal that is not mono real numbers.
    """
    x = _as_mono(signal, "resample")
    check_rate(orig_hz, op="resample")
    if orig_hz != target_hz:
        x = resample(x[:input_span(n_samples, orig_hz=orig_hz, target_hz=target_hz)],
                     orig_hz=orig_hz, target_hz=target_hz)
    return fix_length(x, n_samples=n_samples)


def fix_length(signal: np.ndarray, *, n_samples: int) -> np.ndarray:
    """Trim the end of, or zero-pad at the end, a signal to exactly ``n_samples`` along axis 0.

    Parameters
    ----------
    signal : np.ndarray, shape (n, ...)
    n_samples : int, >= 0

    Returns
    -------
    np.ndarray, shape (n_samples, ...), same dtype as ``signal``
    """
    array = np.asarray(signal)
    if n_samples < 0:
        raise DataError(f"fix_length: n_samples must be >= 0, got {n_samples}")
    if array.shape[0] >= n_samples:
        return array[:n_samples].copy()
    pad = [(0, n_samples - array.shape[0])] + [(0, 0)] * (array.ndim - 1)
    return np.pad(array, pad, mode="constant")


def frames(signal: np.ndarray, *, frame_length: int, hop_length: int) -> np.ndarray:
    """Cut a signal into overlapping frames (no padding; a trailing partial frame is dropped).

    Parameters
    ----------
    signal : np.ndarray, shape (n,)
    frame_length, hop_length : int, positive

    Returns
    -------
    np.ndarray, shape (n_frames, frame_length), same dtype; ``n_frames =
    1 + (n - frame_length) // hop_length``, or 0 when ``n < frame_length``.
    """
    array = np.asarray(signal)
    if array.ndim != 1:
        raise DataError(f"frames: expected a 1-D signal, got shape {array.shape}")
    if frame_length <= 0 or hop_length <= 0:
        raise DataError(f"frames: frame_length ({frame_length}) and hop_length ({hop_length})"
                        " must be positive")
    if array.shape[0] < frame_length:
        return np.zeros((0, frame_length), dtype=array.dtype)
    view = np.lib.stride_tricks.sliding_window_view(array, frame_length)
    return view[::hop_length].copy()


def segments(
    signal: np.ndarray, *, sample_rate_hz: float, window_s: float, hop_s: float
) -> np.ndarray:
    """Fixed-length windows of a long recording.

    Only whole windows are returned; a signal shorter than one window gives one window,
    zero-padded at the end.

    Parameters
    ----------
    signal : np.ndarray, shape (n,)
    sample_rate_hz, window_s, hop_s : float, positive

    Returns
    -------
    np.ndarray, shape (n_segments, round(window_s * sample_rate_hz)), float64
    """
    x = _as_mono(signal, "segments")
    window = int(round(window_s * sample_rate_hz))
    hop = int(round(hop_s * sample_rate_hz))
    if window <= 0 or hop <= 0:
        raise DataError(f"segments: window_s={window_s} and hop_s={hop_s} must give at least "
                        f"one sample at {sample_rate_hz} Hz")
    if x.shape[0] < window:
        return fix_length(x, n_samples=window)[np.newaxis, :]
    return frames(x, frame_length=window, hop_length=hop)


def window(n_fft: int) -> np.ndarray:
    """Periodic Hann window, shape (n_fft,), float64 (librosa's ``window="hann"``)."""
    return scipy.signal.get_window("hann", n_fft, fftbins=True)


def mel_basis(spec: AudioSpec) -> np.ndarray:
    """Slaney-style mel filterbank, shape (n_mels, n_fft // 2 + 1), float32."""
    return librosa.filters.mel(
        sr=spec.sample_rate_hz, n_fft=spec.n_fft, n_mels=spec.n_mels,
        fmin=spec.fmin_hz, fmax=spec.fmax_hz, htk=False, norm="slaney", dtype=np.float32,
    )


def dct_matrix(n_mfcc: int, n_mels: int) -> np.ndarray:
    """Orthonormal DCT-II rows, shape (n_mfcc, n_mels), float64: ``mfcc = D @ log_mel``."""
    k = np.arange(n_mfcc)[:, np.newaxis]
    m = np.arange(n_mels)[np.newaxis, :]
    matrix = np.sqrt(2.0 / n_mels) * np.cos(np.pi * k * (2 * m + 1) / (2 * n_mels))
    matrix[0] /= np.sqrt(2.0)
    return matrix


def tables(spec: AudioSpec) -> dict[str, np.ndarray]:
    """Every constant a C front-end needs to reproduce :func:`mfcc` / :func:`log_mel`.

    Returns
    -------
    dict with ``window`` (n_fft,) float32, ``mel_basis`` (n_mels, n_fft//2+1) float32,
    ``dct`` (n_mfcc, n_mels) float32 and ``log`` = [POWER, REF, AMIN, TOP_DB] float64.
    """
    return {
        "window": window(spec.n_fft).astype(np.float32),
        "mel_basis": mel_basis(spec),
        "dct": dct_matrix(spec.n_mfcc, spec.n_mels).astype(np.float32),
        "log": np.array([POWER, REF, AMIN, TOP_DB]),
    }


def power_spectrogram(signal: np.ndarray, *, n_fft: int, hop_length: int) -> np.ndarray:
    """Centred, zero-padded, Hann-windowed power spectrogram.

    Parameters
    ----------
    signal : np.ndarray, shape (n,)
    n_fft, hop_length : int

    Returns
    -------
    np.ndarray, shape (1 + n // hop_length, n_fft // 2 + 1), float64
    """
    x = _as_mono(signal, "power_spectrogram")
    padded = np.pad(x, n_fft // 2, mode="constant")
    framed = frames(padded, frame_length=n_fft, hop_length=hop_length)
    spectrum = np.fft.rfft(framed * window(n_fft), axis=1)
    return np.abs(spectrum) ** POWER


def power_to_db(power: np.ndarray) -> np.ndarray:
    """``10 log10(max(S, AMIN)) - 10 log10(REF)``, floored at ``max - TOP_DB``; same shape."""
    db = 10.0 * np.log10(np.maximum(power, AMIN)) - 10.0 * np.log10(REF)
    if db.size:
        db = np.maximum(db, db.max() - TOP_DB)
    return db


def _log_mel64(signal: np.ndarray, spec: AudioSpec) -> np.ndarray:
    power = power_spectrogram(signal, n_fft=spec.n_fft, hop_length=spec.hop_length)
    mel = power @ mel_basis(spec).astype(np.float64).T
    return power_to_db(mel)


def log_mel(signal: np.ndarray, *, spec: AudioSpec) -> np.ndarray:
    """Log-mel spectrogram in dB.

    Parameters
    ----------
    signal : np.ndarray, shape (n,), at ``spec.sample_rate_hz``, full scale +-1
    spec : AudioSpec

    Returns
    -------
    np.ndarray, shape (1 + n // spec.hop_length, spec.n_mels), float32
    """
    return _log_mel64(signal, spec).astype(np.float32)


def mfcc(signal: np.ndarray, *, spec: AudioSpec) -> np.ndarray:
    """Mel-frequency cepstral coefficients, equal to ``librosa.feature.mfcc`` (module docs).

    Parameters
    ----------
    signal : np.ndarray, shape (n,), at ``spec.sample_rate_hz``, full scale +-1
    spec : AudioSpec

    Returns
    -------
    np.ndarray, shape (1 + n // spec.hop_length, spec.n_mfcc), float32
    """
    db = _log_mel64(signal, spec)
    return (db @ dct_matrix(spec.n_mfcc, spec.n_mels).T).astype(np.float32)


def features(signal: np.ndarray, *, spec: AudioSpec) -> np.ndarray:
    """The spec's feature (``mfcc`` or ``logmel``) of a signal already at the spec rate and
    length; shape ``spec.output_shape``, float32."""
    if spec.feature == "mfcc":
        return mfcc(signal, spec=spec)
    return log_mel(signal, spec=spec)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One burst found by :func:`detect_events`: its span in seconds from the start of the
    recording and its loudest frame in dB relative to full scale (a full-scale sine is -3 dB)."""

    start_s: float
    end_s: float
    peak_db: float


def frame_energy_db(signal: np.ndarray, *, frame_length: int) -> np.ndarray:
    """Mean-square energy of non-overlapping frames in dB full scale, floored at
    ``10 log10(AMIN)``; shape (ceil(n / frame_length),), float64 (last frame zero-padded)."""
    x = _as_mono(signal, "frame_energy_db")
    n_frames = -(-x.shape[0] // frame_length)
    padded = fix_length(x, n_samples=n_frames * frame_length)
    energy = np.mean(padded.reshape(n_frames, frame_length) ** 2, axis=1)
    return 10.0 * np.log10(np.maximum(energy, AMIN))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index runs ``[start, stop)`` where ``mask`` is True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _merge(runs: list[tuple[int, int]], max_gap: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, stop in runs:
        if merged and start - merged[-1][1] <= max_gap:
            merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((start, stop))
    return merged


def detect_events(
    signal: np.ndarray,
    *,
    sample_rate_hz: float,
    frame_s: float = 0.02,
    threshold_db: float = 15.0,
    min_duration_s: float = 0.1,
    merge_gap_s: float = 0.15,
    noise_percentile: float = 20.0,
    min_peak_db: float = -60.0,
) -> list[Event]:
    """Find loud bursts (coughs, knocks) in a long recording.

    The noise floor is the ``noise_percentile`` percentile of the non-overlapping frame
    energies (dB full scale), digital silence (all-zero frames) left out; frames louder than
    ``floor + threshold_db`` are active. Active runs closer than ``merge_gap_s`` are merged,
    then runs shorter than ``min_duration_s`` or whose loudest frame is below
    ``min_peak_db`` are dropped. A silent or steady-level recording gives no events.

    Parameters
    ----------
    signal : np.ndarray, shape (n,), full scale +-1
    sample_rate_hz : float
    frame_s, threshold_db, min_duration_s, merge_gap_s, noise_percentile, min_peak_db : float

    Returns
    -------
    list of Event, in time order; ``end_s`` is capped at the recording's duration.
    """
    frame_length = int(round(frame_s * sample_rate_hz))
    if frame_length <= 0:
        raise DataError(f"detect_events: frame_s={frame_s} is under one sample")
    energy_db = frame_energy_db(signal, frame_length=frame_length)
    if energy_db.size == 0:
        return []
    silence_db = 10.0 * np.log10(AMIN)
    sounding = energy_db[energy_db > silence_db]
    if sounding.size == 0:
        return []
    floor_db = float(np.percentile(sounding, noise_percentile))
    runs = _runs(energy_db > floor_db + threshold_db)
    runs = _merge(runs, int(np.floor(merge_gap_s / frame_s + 1e-9)))
    duration_s = len(signal) / sample_rate_hz
    events = []
    for start, stop in runs:
        peak_db = float(energy_db[start:stop].max())
        if (stop - start) * frame_s + 1e-9 < min_duration_s or peak_db < min_peak_db:
            continue
        events.append(Event(
            start_s=float(start * frame_length / sample_rate_hz),
            end_s=float(min(stop * frame_length / sample_rate_hz, duration_s)),
            peak_db=peak_db,
        ))
    log.debug("detect_events: floor %.1f dB, %d events", floor_db, len(events))
    return events
