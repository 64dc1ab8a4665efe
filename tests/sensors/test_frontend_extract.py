"""``extract``: validation, dispatch, PCM scaling, resampling and padding."""

from __future__ import annotations

import numpy as np
import pytest

from tinyfuse import sensors
from tinyfuse.core.errors import DataError
from tinyfuse.sensors import extract
from tinyfuse.sensors.frontends import audio, image
from tinyfuse.sensors.spec import AudioSpec, ImageSpec, ModalitySpec, VectorSpec, VibrationSpec

COUGH = ModalitySpec(name="cough", frontend=AudioSpec(duration_s=0.5))


def test_sensors_reexports_extract():
    assert sensors.extract is extract
    with pytest.raises(AttributeError):
        sensors.no_such_name  # noqa: B018


@pytest.mark.parametrize(("sample", "message"), [
    (np.array([0.1, np.inf, 0.2]), "1 NaN or infinite"),
    (np.zeros((8, 2)), "ndim"),
    (np.zeros(0), "empty"),
    (np.array(["a", "b"]), "real numbers"),
    (np.ones(4, dtype=bool), "real numbers"),
    (np.ones(4, dtype=complex), "real numbers"),
])
def test_bad_audio_samples_name_the_modality(sample, message):
    with pytest.raises(DataError, match=rf"^cough: .*{message}"):
        extract(COUGH, sample)


def test_wrong_shapes_are_data_errors():
    with pytest.raises(DataError, match=r"^vector: .*\(3,\)"):
        extract(VectorSpec(size=3), np.zeros(4))
    with pytest.raises(DataError, match=r"^vibe: .*\(n_samples, 2\)"):
        extract(ModalitySpec(name="vibe", frontend=VibrationSpec(n_axes=2)), np.zeros(300))
    with pytest.raises(DataError, match=r"^thermal: .*ndim"):
        extract(ModalitySpec(name="thermal", frontend=ImageSpec()), np.zeros((2, 4, 4)))


def test_int16_pcm_is_scaled_to_full_scale(rng):
    x = rng.integers(-20000, 20000, size=8000).astype(np.int16)
    np.testing.assert_array_equal(extract(COUGH, x), extract(COUGH, x / 32768.0))
    u = (x.astype(np.int32) + 32768).astype(np.uint16)
    np.testing.assert_allclose(extract(COUGH, u), extract(COUGH, x), atol=1e-4)


def test_audio_is_padded_trimmed_and_resampled(rng):
    spec = COUGH.frontend
    x = 0.1 * rng.standard_normal(spec.n_samples)
    full = extract(COUGH, x)
    np.testing.assert_array_equal(extract(COUGH, np.concatenate([x, x])), full)
    short = extract(COUGH, x[:4000])
    np.testing.assert_array_equal(short, audio.mfcc(audio.fix_length(x[:4000], n_samples=8000),
                                                    spec=spec))
    t = np.arange(4000) / 8000.0
    tone = 0.5 * np.sin(2 * np.pi * 1000.0 * t)
    resampled = extract(ModalitySpec(name="cough", frontend=AudioSpec(duration_s=0.5,
                                                                      feature="logmel")),
                        tone, sample_rate_hz=8000)
    band = int(np.argmax(resampled[resampled.shape[0] // 2]))
    assert audio.mel_basis(AudioSpec(feature="logmel"))[band, 32] > 0  # 1 kHz is bin 32


def test_audio_rate_is_bounded_and_names_the_modality():
    spec = ModalitySpec(name="cough", frontend=AudioSpec(duration_s=0.5))
    for bad_hz in (1, 1e-9, 1e9):
        with pytest.raises(DataError, match=r"^cough: resample: sample rate .* outside"):
            extract(spec, np.ones(1000), sample_rate_hz=bad_hz)
    x = np.random.default_rng(0).standard_normal(48000 * 5)
    np.testing.assert_array_equal(extract(spec, x, sample_rate_hz=48000),
                                  extract(spec, x[:48000], sample_rate_hz=48000))


def test_image_background_is_passed_through():
    spec = ImageSpec(height=2, width=2, min_value=0.0, max_value=10.0,
                     subtract_background=True)
    frame = np.full((4, 4), 25.0)
    background = np.full((4, 4), 20.0)
    np.testing.assert_allclose(extract(spec, frame, background=background), 0.5)
    np.testing.assert_array_equal(
        extract(spec, frame, background=background),
        image.process_image(frame, spec=spec, background=background))


def test_integer_thermal_frames_are_accepted():
    out = extract(ImageSpec(height=4, width=4), np.full((4, 4), 30, dtype=np.int16))
    np.testing.assert_allclose(out, 0.6)
