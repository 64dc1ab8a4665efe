"""The Preprocessor: front-end features at each sample's own rate (joined multimodal samples
included), missing modalities as zeros after standardisation, int8 with TFLite's rounding."""

from __future__ import annotations

import numpy as np
import pytest

from tinyfuse.core.errors import DataError
from tinyfuse.sensors import extract
from tinyfuse.sensors.preprocess import (
    InputQuantization,
    Preprocessor,
    fit_standardization,
    standardize,
)
from tinyfuse.sensors.sources import Sample
from tinyfuse.sensors.spec import AudioSpec, ModalitySpec, VectorSpec

COUGH = ModalitySpec(name="cough", frontend=AudioSpec(sample_rate_hz=8000, duration_s=0.5,
                                                      n_fft=256, hop_length=256, n_mels=32,
                                                      fmax_hz=4000.0))
SPEED = ModalitySpec(name="speed", frontend=VectorSpec(size=3))


def tone(rate_hz: int) -> np.ndarray:
    t = np.arange(int(0.6 * rate_hz)) / rate_hz
    return (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)


def test_each_modality_at_its_own_rate_in_a_joined_sample():
    joined = Sample(data={"cough": tone(48000), "speed": np.array([1.0, 2.0, 3.0])},
                    label="a", group="g", key="k", source="mem",
                    meta=(("cough.sample_rate_hz", 48000), ("speed.unit", "m/s")))
    features = Preprocessor((COUGH, SPEED)).features(joined)
    np.testing.assert_array_equal(features["cough"],
                                  extract(COUGH, tone(48000), sample_rate_hz=48000))
    plain = Sample(data={"cough": tone(8000)}, label="a", group="g", key="k", source="mem",
                   meta=(("sample_rate_hz", 8000),))
    assert Preprocessor((COUGH, SPEED)).features(plain)["speed"] is None


def test_standardisation_and_int8_inputs():
    rows = np.array([[1.0, 10.0, 0.0], [3.0, 30.0, 0.0]], np.float32)
    mean, scale = fit_standardization(rows, per_channel=True)
    assert mean.tolist() == [2.0, 20.0, 0.0] and scale.tolist() == [1.0, 10.0, 1.0]
    assert fit_standardization(rows, per_channel=False)[0].shape == (1,)
    pre = Preprocessor((SPEED,), stats={"speed": (mean, scale)},
                       quantization={"speed": InputQuantization(scale=0.5, zero_point=-1,
                                                                shape=(1, 3))})
    [q] = pre.int8_inputs({"speed": np.array([2.25, 27.5, 0.0], np.float32)})
    # standardised [0.25, 0.75, 0]: / 0.5 -> [0.5, 1.5, 0] rounds away from zero -> [1, 2, 0]
    assert q.dtype == np.int8 and q.shape == (1, 3) and q.tolist() == [[0, 1, -1]]
    [missing] = pre.int8_inputs({"speed": None})
    assert missing.tolist() == [[-1, -1, -1]]  # zeros after standardisation
    np.testing.assert_array_equal(pre.standardize_batch("speed", rows, np.array([True, False])),
                                  np.array([[-1, -1, 0], [0, 0, 0]], np.float32))
    np.testing.assert_array_equal(standardize(rows, mean=mean, scale=scale)[1], [1, 1, 0])
    with pytest.raises(DataError, match=r"features\['speed'\]: expected shape \(3,\)"):
        pre.int8_inputs({"speed": np.zeros(4)})
    with pytest.raises(DataError, match="no int8 quantisation for modality 'speed'"):
        Preprocessor((SPEED,), stats={"speed": (mean, scale)}).int8_inputs({"speed": None})


def test_readings_no_sensor_can_make_are_a_missing_modality(caplog):
    from tinyfuse.sensors.preprocess import Preprocessor, sensor_fault
    from tinyfuse.sensors.spec import ImageSpec, VibrationSpec

    thermal = ModalitySpec(name="thermal", frontend=ImageSpec(height=4, width=4))
    vibration = ModalitySpec(name="vibration", frontend=VibrationSpec())
    pre = Preprocessor((thermal, vibration))
    rng = np.random.default_rng(0)
    good = {"thermal": 20 + rng.random((4, 4)), "vibration": rng.normal(size=3000)}
    sample = Sample(data=good, label="a", group="g", key="k", source="mem:ok")
    assert pre.missing(pre.features(sample)) == ()
    hot = Sample(data={**good, "thermal": np.full((4, 4), 1e6)}, label="a", group="g",
                 key="k", source="mem:hot")
    loud = Sample(data={**good, "vibration": np.full(3000, 1e30)}, label="a", group="g",
                  key="k", source="mem:loud")
    assert pre.missing(pre.features(hot)) == ("thermal",)
    assert pre.missing(pre.features(loud)) == ("vibration",)
    assert (pre.faults(sample), pre.faults(hot), pre.faults(loud)) == ((), ("thermal",),
                                                                        ("vibration",))
    assert "mem:hot: thermal: values 1e+06..1e+06 outside the plausible" in caplog.text
    assert sensor_fault(thermal, np.full((4, 4), 39.0)) == ""
    assert sensor_fault(vibration, np.full(10, -2e4)) != ""
