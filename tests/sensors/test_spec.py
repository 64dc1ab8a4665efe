"""Front-end specs: validation names the field, JSON round-trips, output shapes."""

from __future__ import annotations

import json

import pytest

from tinyfuse.core.errors import SpecError
from tinyfuse.core.specs import spec_hash
from tinyfuse.sensors.spec import (
    AudioSpec,
    ImageSpec,
    ModalitySpec,
    VectorSpec,
    VibrationSpec,
    frontend_from_dict,
)

SPECS = [
    AudioSpec(),
    AudioSpec(feature="logmel", sample_rate_hz=8000, fmax_hz=4000.0),
    ImageSpec(sensor="depth", height=16, width=12, min_value=0.5, max_value=4.0,
              fill_holes=True),
    VibrationSpec(n_axes=3),
    VectorSpec(size=2, mean=(0.5, 1.0), scale=(2.0, 3.0)),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_json_round_trip_keeps_spec_and_hash(spec):
    modality = ModalitySpec(name="m1", frontend=spec)
    text = json.dumps(modality.to_dict())
    again = ModalitySpec.from_dict(json.loads(text))
    assert again == modality
    assert spec_hash(again.to_dict()) == spec_hash(modality.to_dict())


@pytest.mark.parametrize(("factory", "field"), [
    (lambda: AudioSpec(n_fft=500), "n_fft"),
    (lambda: AudioSpec(n_mfcc=50), "n_mfcc"),
    (lambda: AudioSpec(fmax_hz=9000.0), "fmax_hz"),
    (lambda: AudioSpec(feature="mel"), "feature"),
    (lambda: ImageSpec(min_value=5.0, max_value=5.0), "min_value"),
    (lambda: ImageSpec(normalize="zscore"), "normalize"),
    (lambda: VibrationSpec(n_axes=0), "n_axes"),
    (lambda: VibrationSpec(window_s=0.001), "window_s"),
    (lambda: VectorSpec(size=2, scale=(1.0, 0.0)), "scale"),
    (lambda: ModalitySpec(name="Bad Name", frontend=AudioSpec()), "name"),
])
def test_invalid_fields_are_named(factory, field):
    with pytest.raises(SpecError, match=rf"^{field}:"):
        factory()


def test_unknown_kind_and_fields_are_rejected():
    with pytest.raises(SpecError, match="kind"):
        frontend_from_dict({"kind": "lidar"})
    with pytest.raises(SpecError, match="unknown fields"):
        frontend_from_dict({"kind": "audio", "colour": 3})


def test_output_shapes():
    assert AudioSpec().output_shape == (63, 13)
    assert AudioSpec(feature="logmel").output_shape == (63, 40)
    assert ImageSpec(height=8, width=6).output_shape == (8, 6)
    assert VibrationSpec(n_axes=3).output_shape == (3, 52)
    assert VectorSpec(size=5).output_shape == (5,)
