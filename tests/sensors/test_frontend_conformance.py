"""Conformance suite: every front-end kind honours the same contract through ``extract``.

Contract: float32 of exactly ``spec.output_shape``, finite, deterministic, a documented value
on silence / constant input, and known answers. Plus Hypothesis properties and the real
Coswara MFCC agreement with librosa.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import librosa
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinyfuse.sensors import extract
from tinyfuse.sensors.frontends import audio, image, vibration
from tinyfuse.sensors.spec import AudioSpec, ImageSpec, ModalitySpec, VectorSpec, VibrationSpec

log = logging.getLogger(__name__)

FAST = settings(max_examples=15, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

KINDS: dict[str, tuple[object, Callable[[np.random.Generator], np.ndarray]]] = {
    "audio_mfcc": (AudioSpec(duration_s=0.5),
                   lambda rng: 0.1 * rng.standard_normal(8000)),
    "audio_logmel": (AudioSpec(feature="logmel", duration_s=0.5),
                     lambda rng: 0.1 * rng.standard_normal(8000)),
    "thermal": (ImageSpec(height=8, width=8),
                lambda rng: 20.0 + 10.0 * rng.random((24, 32))),
    "thermal_minmax_bg": (ImageSpec(height=4, width=4, normalize="minmax",
                                    subtract_background=True),
                          lambda rng: 20.0 + 10.0 * rng.random((4, 4))),
    "depth": (ImageSpec(sensor="depth", height=16, width=16, min_value=0.5, max_value=4.0,
                        fill_holes=True),
              lambda rng: np.where(rng.random((48, 64)) < 0.1, 0.0,
                                   1.0 + 2.0 * rng.random((48, 64)))),
    "vibration": (VibrationSpec(n_axes=3),
                  lambda rng: rng.standard_normal((3000, 3))),
    "vector": (VectorSpec(size=6, mean=(1.0,) * 6, scale=(2.0,) * 6),
               lambda rng: rng.standard_normal(6)),
}


def _silence(spec: object, sample: np.ndarray) -> np.ndarray:
    return np.zeros_like(sample)


def _expected_on_silence(spec: object) -> np.ndarray:
    """The documented output for an all-zero sample of each kind."""
    shape = spec.output_shape
    if isinstance(spec, AudioSpec) and spec.feature == "mfcc":
        out = np.zeros(shape)
        out[:, 0] = -100.0 * np.sqrt(spec.n_mels)
        return out
    if isinstance(spec, AudioSpec):
        return np.full(shape, -100.0)
    if isinstance(spec, ImageSpec):
        return np.zeros(shape)  # fixed range starts above 0; minmax of a constant is 0
    if isinstance(spec, VibrationSpec):
        row = ([np.log10(vibration.POWER_FLOOR)] * spec.n_bands
               + [np.log10(vibration.AMPLITUDE_FLOOR)] * 2 + [0.0, 0.0]
               + [np.log10(vibration.POWER_FLOOR)] * spec.n_envelope_bands)
        return np.tile(row, (spec.n_axes, 1))
    return -np.asarray(spec.mean) / np.asarray(spec.scale)


@pytest.fixture(params=sorted(KINDS))
def kind(request):
    return KINDS[request.param]


def test_shape_dtype_finite(kind, rng):
    spec, make = kind
    out = extract(ModalitySpec(name="sensor", frontend=spec), make(rng))
    assert out.shape == spec.output_shape
    assert out.dtype == np.float32
    assert np.isfinite(out).all()


def test_deterministic(kind, rng):
    spec, make = kind
    sample = make(rng)
    first, second = extract(spec, sample), extract(spec, sample.copy())
    assert first.tobytes() == second.tobytes()


def test_silence_gives_the_documented_value(kind, rng):
    spec, make = kind
    out = extract(spec, _silence(spec, make(rng)))
    np.testing.assert_allclose(out, _expected_on_silence(spec), atol=1e-4, rtol=1e-6)


def test_constant_input_is_finite(kind, rng):
    spec, make = kind
    out = extract(spec, np.full_like(make(rng), 0.7))
    assert np.isfinite(out).all() and out.shape == spec.output_shape


def test_nan_names_the_modality(kind, rng):
    spec, make = kind
    sample = make(rng).astype(np.float64)
    sample.flat[sample.size // 2] = np.nan
    with pytest.raises(Exception, match=r"^sensor: .*NaN") as info:
        extract(ModalitySpec(name="sensor", frontend=spec), sample)
    assert type(info.value).__name__ == "DataError"


# --- known answers -----------------------------------------------------------------------

@pytest.mark.parametrize("tone_hz", [440.0, 3000.0])
def test_tone_peaks_in_its_mel_band(tone_hz):
    spec = AudioSpec(feature="logmel", duration_s=0.5)
    t = np.arange(spec.n_samples) / spec.sample_rate_hz
    out = extract(spec, 0.5 * np.sin(2 * np.pi * tone_hz * t))
    band = int(np.argmax(out[out.shape[0] // 2]))
    tone_bin = int(round(tone_hz * spec.n_fft / spec.sample_rate_hz))
    assert audio.mel_basis(spec)[band, tone_bin] > 0.0


def test_sine_peaks_in_its_vibration_band():
    spec = VibrationSpec()
    t = np.arange(spec.n_samples) / spec.sample_rate_hz
    out = extract(spec, np.sin(2 * np.pi * 1600.0 * t))
    width_hz = (spec.fmax_hz - spec.fmin_hz) / spec.n_bands
    assert int(np.argmax(out[0, :spec.n_bands])) == int((1600.0 - spec.fmin_hz) // width_hz)


def test_am_carrier_shows_its_modulation_in_the_envelope_bands():
    spec = VibrationSpec(window_s=1.0, n_fft=4096)
    t = np.arange(spec.n_samples) / spec.sample_rate_hz
    signal = (1.0 + 0.8 * np.sin(2 * np.pi * 162.0 * t)) * np.sin(2 * np.pi * 3500.0 * t)
    envelope_bands = extract(spec, signal)[0, spec.n_bands + 4:]
    width_hz = spec.envelope_fmax_hz / spec.n_envelope_bands
    assert int(np.argmax(envelope_bands)) == int(162.0 // width_hz)


@pytest.mark.parametrize(("row", "col"), [(0, 0), (3, 5), (7, 7)])
def test_hot_blob_lands_in_its_cell(row, col):
    spec = ImageSpec(height=8, width=8, min_value=15.0, max_value=40.0)
    frame = np.full((24, 32), 21.0)
    frame[row * 3:(row + 1) * 3, col * 4:(col + 1) * 4] = 36.0
    out = extract(spec, frame)
    assert np.unravel_index(np.argmax(out), out.shape) == (row, col)
    assert out[row, col] == pytest.approx((36.0 - 15.0) / 25.0, abs=1e-6)


# --- Hypothesis properties ----------------------------------------------------------------

@FAST
@given(scale=st.floats(0.05, 20.0), seed=st.integers(0, 2**16))
def test_mfcc_scaling_moves_only_c0(scale, seed):
    spec = AudioSpec(duration_s=0.25)
    x = 0.1 * np.random.default_rng(seed).standard_normal(spec.n_samples)
    base, scaled = audio.mfcc(x, spec=spec), audio.mfcc(scale * x, spec=spec)
    shift = 20.0 * np.log10(scale) * np.sqrt(spec.n_mels)
    np.testing.assert_allclose(scaled[:, 0] - base[:, 0], shift, atol=2e-3)
    np.testing.assert_allclose(scaled[:, 1:], base[:, 1:], atol=2e-3)


@FAST
@given(frame=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=40),
                        elements=st.floats(-1e4, 1e4)),
       low=st.floats(-50.0, 50.0), span=st.floats(0.1, 100.0))
def test_fixed_normalisation_stays_in_unit_range(frame, low, span):
    spec = ImageSpec(height=5, width=7, min_value=low, max_value=low + span)
    out = extract(spec, frame)
    assert out.shape == (5, 7)
    assert out.min() >= 0.0 and out.max() <= 1.0


@FAST
@given(tenths=hnp.arrays(np.int64, (12, 16), elements=st.integers(0, 1000)),
       gain=st.floats(0.1, 10.0), offset=st.floats(-50.0, 50.0))
def test_minmax_ignores_gain_and_offset(tenths, gain, offset):
    # readings on a 0.1-degree grid (as the D6T reports them): a range far below float
    # resolution, such as 1e-218, would vanish in ``+ offset`` and is not a sensor frame
    frame = tenths / 10.0
    np.testing.assert_allclose(image.normalize_minmax(gain * frame + offset),
                               image.normalize_minmax(frame), atol=1e-9)


@FAST
@given(scale=st.floats(0.01, 100.0), seed=st.integers(0, 2**16))
def test_vibration_scaling_shifts_logs_and_keeps_shape_statistics(scale, seed):
    spec = VibrationSpec(sample_rate_hz=1000.0, window_s=0.5, n_fft=128, n_bands=8,
                         fmin_hz=5.0, fmax_hz=400.0, n_envelope_bands=4,
                         envelope_fmax_hz=100.0)
    x = np.random.default_rng(seed).standard_normal(spec.n_samples)
    base, scaled = extract(spec, x)[0], extract(spec, scale * x)[0]
    shift = np.log10(scale)
    n = spec.n_bands
    np.testing.assert_allclose(scaled[:n] - base[:n], 2 * shift, atol=1e-3)
    np.testing.assert_allclose(scaled[n:n + 2] - base[n:n + 2], shift, atol=1e-3)
    np.testing.assert_allclose(scaled[n + 2:n + 4], base[n + 2:n + 4], rtol=1e-4)
    np.testing.assert_allclose(scaled[n + 4:] - base[n + 4:], 2 * shift, atol=1e-3)


audio_specs = st.builds(
    lambda rate, n_fft_log2, hop_frac, n_mels, n_mfcc, duration_s, feature: AudioSpec(
        sample_rate_hz=rate, n_fft=2**n_fft_log2, hop_length=max(1, int(2**n_fft_log2 * hop_frac)),
        n_mels=n_mels, n_mfcc=min(n_mfcc, n_mels), fmin_hz=0.0, fmax_hz=rate / 2,
        duration_s=duration_s, feature=feature),
    st.sampled_from([8000, 16000, 22050]), st.integers(7, 10), st.floats(0.25, 1.0),
    st.integers(4, 40), st.integers(1, 20), st.floats(0.05, 0.3),
    st.sampled_from(["mfcc", "logmel"]),
)


@FAST
@given(spec=audio_specs, seed=st.integers(0, 2**16))
def test_audio_shape_for_any_valid_spec(spec, seed):
    x = np.random.default_rng(seed).standard_normal(int(spec.n_samples * 0.7))
    out = extract(spec, 0.1 * x)
    assert out.shape == spec.output_shape and out.dtype == np.float32
    assert np.isfinite(out).all()


vibration_specs = st.builds(
    lambda rate, n_fft_log2, n_bands, n_env, n_axes, window_s: VibrationSpec(
        sample_rate_hz=rate, n_fft=2**n_fft_log2, n_bands=min(n_bands, 2**n_fft_log2 // 2),
        fmin_hz=1.0, fmax_hz=rate / 2, n_envelope_bands=n_env, envelope_fmax_hz=rate / 4,
        n_axes=n_axes, window_s=window_s),
    st.sampled_from([200.0, 1000.0, 12000.0]), st.integers(4, 11), st.integers(1, 64),
    st.integers(0, 16), st.integers(1, 4), st.floats(0.1, 0.5),
)


@FAST
@given(spec=vibration_specs, seed=st.integers(0, 2**16))
def test_vibration_shape_for_any_valid_spec(spec, seed):
    x = np.random.default_rng(seed).standard_normal((spec.n_samples, spec.n_axes))
    out = extract(spec, x)
    assert out.shape == spec.output_shape and out.dtype == np.float32
    assert np.isfinite(out).all()


@FAST
@given(rows=st.integers(1, 64), cols=st.integers(1, 64), height=st.integers(1, 32),
       width=st.integers(1, 32), sensor=st.sampled_from(["thermal", "depth"]),
       normalize=st.sampled_from(["fixed", "minmax"]), seed=st.integers(0, 2**16))
def test_image_shape_and_range_for_any_grid(rows, cols, height, width, sensor, normalize,
                                            seed):
    spec = ImageSpec(sensor=sensor, height=height, width=width, normalize=normalize,
                     min_value=0.0, max_value=5.0, fill_holes=sensor == "depth")
    frame = 4.0 * np.random.default_rng(seed).random((rows, cols))
    out = extract(spec, frame)
    assert out.shape == (height, width) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0


# --- real data ----------------------------------------------------------------------------

@pytest.mark.realdata
def test_mfcc_matches_librosa_on_a_real_coswara_cough(datasets_dir, record_property):
    import soundfile

    folder = datasets_dir / "coswara_20200413"
    for path in sorted(folder.glob("*/cough-heavy.wav")):
        signal, rate_hz = soundfile.read(path, dtype="float32")
        if signal.ndim == 1 and signal.size and np.sqrt(np.mean(signal**2)) > 1e-3:
            break
    else:
        pytest.fail(f"no non-silent cough-heavy.wav under {folder}")
    spec = AudioSpec(sample_rate_hz=rate_hz, duration_s=signal.size / rate_hz)
    ours = audio.mfcc(signal, spec=spec)
    theirs = librosa.feature.mfcc(
        y=signal, sr=rate_hz, n_mfcc=spec.n_mfcc, n_fft=spec.n_fft, hop_length=spec.hop_length,
        n_mels=spec.n_mels, fmin=spec.fmin_hz, fmax=spec.fmax_hz, window="hann", center=True,
        pad_mode="constant", power=2.0, htk=False, mel_norm="slaney", dct_type=2,
        norm="ortho", lifter=0).T
    max_abs_diff = float(np.abs(ours - theirs).max())
    record_property("coswara_file", f"{path.parent.name}/{path.name}")
    record_property("mfcc_max_abs_diff", max_abs_diff)
    log.info("Coswara %s: %d frames, MFCC max abs diff vs librosa %.3g",
             path.parent.name, ours.shape[0], max_abs_diff)
    print(f"coswara {path.parent.name}: frames={ours.shape[0]} "
          f"mfcc_max_abs_diff={max_abs_diff:.3g}")
    assert ours.shape == theirs.shape
    assert max_abs_diff < 1e-3
    np.testing.assert_array_equal(extract(spec, signal), ours)
