"""Audio front-end: parity with librosa, known-answer tones, framing and the event detector."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.fft

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.frontends import audio
from tinyfuse.sensors.spec import AudioSpec

# Max abs difference allowed between our MFCC / log-mel (dB units) and librosa's, on the
# same input. Both use float32 mel filters; the gap is float32 rounding of values up to
# ~|600| (c0), measured at ~1e-5.
MFCC_TOLERANCE = 1e-3

SPECS = [
    AudioSpec(),
    AudioSpec(sample_rate_hz=22050, n_fft=1024, hop_length=300, n_mels=64, n_mfcc=20,
              fmin_hz=0.0, fmax_hz=11025.0, duration_s=0.6),
    AudioSpec(sample_rate_hz=8000, n_fft=256, hop_length=128, n_mels=26, n_mfcc=10,
              fmin_hz=50.0, fmax_hz=3800.0, duration_s=0.5),
]


def librosa_kwargs(spec: AudioSpec) -> dict:
    return dict(sr=spec.sample_rate_hz, n_fft=spec.n_fft, hop_length=spec.hop_length,
                n_mels=spec.n_mels, fmin=spec.fmin_hz, fmax=spec.fmax_hz, window="hann",
                center=True, pad_mode="constant", power=2.0, htk=False)


def librosa_mfcc(y: np.ndarray, spec: AudioSpec) -> np.ndarray:
    return librosa.feature.mfcc(y=y, n_mfcc=spec.n_mfcc, dct_type=2, norm="ortho", lifter=0,
                                mel_norm="slaney", **librosa_kwargs(spec)).T


def test_mfcc_matches_librosa(rng):
    for spec in SPECS:
        t = np.arange(spec.n_samples) / spec.sample_rate_hz
        y = (0.2 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(t.size))
        for dtype in (np.float64, np.float32):
            ours = audio.mfcc(y.astype(dtype), spec=spec)
            theirs = librosa_mfcc(y.astype(dtype), spec)
            assert ours.shape == theirs.shape == spec.output_shape
            assert np.abs(ours - theirs).max() < MFCC_TOLERANCE


def test_log_mel_matches_librosa_melspectrogram(rng):
    for spec in SPECS:
        y = 0.1 * rng.standard_normal(spec.n_samples)
        mel = librosa.feature.melspectrogram(y=y, norm="slaney", **librosa_kwargs(spec))
        theirs = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0).T
        ours = audio.log_mel(y, spec=spec)
        assert ours.dtype == np.float32
        assert np.abs(ours - theirs).max() < MFCC_TOLERANCE


def test_power_spectrogram_matches_librosa_stft(rng):
    y = rng.standard_normal(4000)
    ours = audio.power_spectrogram(y, n_fft=512, hop_length=160)
    theirs = np.abs(librosa.stft(y, n_fft=512, hop_length=160, center=True,
                                 pad_mode="constant")) ** 2
    np.testing.assert_allclose(ours, theirs.T, rtol=1e-9, atol=1e-9)


def test_dct_matrix_is_scipy_orthonormal_dct_ii(rng):
    x = rng.standard_normal((5, 40))
    expected = scipy.fft.dct(x, type=2, norm="ortho", axis=1)[:, :13]
    np.testing.assert_allclose(x @ audio.dct_matrix(13, 40).T, expected, atol=1e-12)


def test_tables_have_c_friendly_shapes():
    spec = AudioSpec()
    tables = audio.tables(spec)
    assert tables["window"].shape == (512,)
    assert tables["mel_basis"].shape == (40, 257)
    assert tables["dct"].shape == (13, 40)
    assert tables["mel_basis"].dtype == np.float32


@pytest.mark.parametrize("tone_hz", [300.0, 1000.0, 2500.0, 6000.0])
def test_tone_peaks_in_the_mel_band_that_contains_it(tone_hz):
    spec = AudioSpec(feature="logmel")
    t = np.arange(spec.n_samples) / spec.sample_rate_hz
    features = audio.log_mel(0.5 * np.sin(2 * np.pi * tone_hz * t), spec=spec)
    weights = audio.mel_basis(spec)
    tone_bin = int(round(tone_hz * spec.n_fft / spec.sample_rate_hz))
    best = np.argmax(features[features.shape[0] // 2])
    assert weights[best, tone_bin] > 0.0  # the loudest band is one whose filter covers f


def test_silence_gives_the_documented_floor():
    spec = AudioSpec()
    out = audio.mfcc(np.zeros(spec.n_samples), spec=spec)
    np.testing.assert_allclose(out[:, 0], -100.0 * np.sqrt(spec.n_mels), rtol=1e-6)
    np.testing.assert_allclose(out[:, 1:], 0.0, atol=1e-6)
    assert np.all(audio.log_mel(np.zeros(100), spec=spec) == -100.0)


def test_top_db_floors_quiet_frames_80_db_below_the_loudest():
    spec = AudioSpec(feature="logmel")
    y = np.zeros(spec.n_samples)
    y[: spec.n_samples // 2] = np.sin(np.arange(spec.n_samples // 2) * 0.3)
    out = audio.log_mel(y, spec=spec)
    assert out.min() == pytest.approx(out.max() - audio.TOP_DB, abs=1e-4)


def test_resample_keeps_a_tone_and_the_length():
    t = np.arange(8000) / 8000.0
    y = np.sin(2 * np.pi * 440.0 * t)
    up = audio.resample(y, orig_hz=8000, target_hz=16000)
    assert up.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(up))
    assert np.argmax(spectrum) == 440
    np.testing.assert_array_equal(audio.resample(y, orig_hz=8000, target_hz=8000), y)
    with pytest.raises(DataError, match="resample"):
        audio.resample(y, orig_hz=0, target_hz=16000)


def test_fix_length_pads_and_trims_at_the_end():
    x = np.arange(5.0)
    np.testing.assert_array_equal(audio.fix_length(x, n_samples=7), [0, 1, 2, 3, 4, 0, 0])
    np.testing.assert_array_equal(audio.fix_length(x, n_samples=3), [0, 1, 2])
    assert audio.fix_length(np.ones((4, 2)), n_samples=6).shape == (6, 2)


def test_frames_and_segments():
    x = np.arange(10.0)
    out = audio.frames(x, frame_length=4, hop_length=3)
    np.testing.assert_array_equal(out, [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    assert audio.frames(x, frame_length=20, hop_length=1).shape == (0, 20)
    windows = audio.segments(np.ones(2500), sample_rate_hz=1000, window_s=1.0, hop_s=0.5)
    assert windows.shape == (4, 1000)
    short = audio.segments(np.ones(300), sample_rate_hz=1000, window_s=1.0, hop_s=0.5)
    assert short.shape == (1, 1000) and short[0, 299] == 1.0 and short[0, 300] == 0.0
    with pytest.raises(DataError, match="segments"):
        audio.segments(np.ones(10), sample_rate_hz=1000, window_s=0.0, hop_s=0.5)


def _burst(rate_hz: int, duration_s: float, amplitude: float, rng) -> np.ndarray:
    n = int(duration_s * rate_hz)
    envelope = np.hanning(n)
    return amplitude * envelope * rng.standard_normal(n)


def test_detect_events_finds_bursts_in_noise(rng):
    rate_hz = 16000
    y = 0.002 * rng.standard_normal(6 * rate_hz)
    starts_s = [1.0, 3.0, 3.45]  # the last two are 0.1 s apart: merged into one event
    for start_s in starts_s:
        burst = _burst(rate_hz, 0.35, 0.5, rng)
        i = int(start_s * rate_hz)
        y[i:i + burst.size] += burst
    y[int(5.0 * rate_hz):int(5.03 * rate_hz)] += 0.5  # a 30 ms click: too short
    events = audio.detect_events(y, sample_rate_hz=rate_hz)
    assert len(events) == 2
    assert events[0].start_s == pytest.approx(1.0, abs=0.1)
    assert events[0].end_s == pytest.approx(1.35, abs=0.1)
    assert events[1].start_s == pytest.approx(3.0, abs=0.1)
    assert events[1].end_s == pytest.approx(3.8, abs=0.1)
    assert all(e.peak_db > -20.0 for e in events)


def test_detect_events_on_silence_and_steady_noise(rng):
    assert audio.detect_events(np.zeros(16000), sample_rate_hz=16000) == []
    assert audio.detect_events(0.1 * rng.standard_normal(32000), sample_rate_hz=16000) == []
    assert audio.detect_events(np.zeros(0), sample_rate_hz=16000) == []


def test_detect_events_ignores_digital_silence_when_estimating_the_floor(rng):
    rate_hz = 16000
    y = np.concatenate([np.zeros(3 * rate_hz), 0.002 * rng.standard_normal(3 * rate_hz)])
    burst = _burst(rate_hz, 0.3, 0.5, rng)
    y[4 * rate_hz:4 * rate_hz + burst.size] += burst
    events = audio.detect_events(y, sample_rate_hz=rate_hz)
    assert [round(e.start_s, 1) for e in events] == [4.0]
    assert isinstance(events[0].start_s, float)


def test_detect_events_drops_quiet_bursts_below_min_peak_db(rng):
    rate_hz = 16000
    y = 1e-5 * rng.standard_normal(2 * rate_hz)
    burst = _burst(rate_hz, 0.3, 0.003, rng)  # about -56 dBFS at its loudest
    y[rate_hz:rate_hz + burst.size] += burst
    assert len(audio.detect_events(y, sample_rate_hz=rate_hz, min_peak_db=-80.0)) == 1
    assert audio.detect_events(y, sample_rate_hz=rate_hz, min_peak_db=-40.0) == []


@pytest.mark.parametrize(("orig_hz", "target_hz"), [(44100, 16000), (48000, 16000),
                                                    (8000, 16000), (1000, 96000),
                                                    (384000, 8000), (16001, 16000)])
def test_resample_window_equals_resampling_the_whole_clip(rng, orig_hz, target_hz):
    n_samples = target_hz // 2
    y = rng.standard_normal(3 * orig_hz)
    whole = audio.resample(y, orig_hz=orig_hz, target_hz=target_hz)[:n_samples]
    window = audio.resample_window(y, orig_hz=orig_hz, target_hz=target_hz, n_samples=n_samples)
    assert window.shape == (n_samples,)
    np.testing.assert_allclose(window, whole, rtol=0, atol=1e-6)


def test_resample_window_pads_short_clips_and_bounds_the_work():
    short = audio.resample_window(np.ones(100), orig_hz=8000, target_hz=16000, n_samples=1000)
    assert short.shape == (1000,) and np.all(short[300:] == 0)
    n_in = audio.input_span(16000, orig_hz=1000, target_hz=96000)
    assert n_in < 3000  # a 1 kHz clip feeds at most ~2.2k samples, not the whole clip
    long_clip = np.zeros(600 * 1000)  # 10 min at 1 kHz; whole it would resample to 57.6M
    out = audio.resample_window(long_clip, orig_hz=1000, target_hz=96000, n_samples=16000)
    assert out.shape == (16000,)
    for bad_hz in (0, 1, 999, 384001, float("nan")):
        with pytest.raises(DataError, match=r"resample: sample rate .* outside \[1000, 384000\]"):
            audio.resample_window(np.ones(10), orig_hz=bad_hz, target_hz=16000, n_samples=10)
