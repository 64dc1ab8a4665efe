"""FusionSpec / CompressionSpec / Budget: validation, JSON round-trip, hash, board presets."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyfuse.core.errors import SpecError
from tinyfuse.fusion.boards import BOARD_NAMES, board_budget, board_totals
from tinyfuse.fusion.spec import BranchSpec, Budget, CompressionSpec, FusionSpec
from tinyfuse.sensors.spec import AudioSpec, ModalitySpec, VibrationSpec

from .conftest import make_spec


def test_fusion_spec_round_trips_and_hash_is_stable():
    spec = make_spec(fusion="gated")
    again = FusionSpec.from_json(spec.to_json())
    assert again == spec
    assert again.spec_hash() == spec.spec_hash()
    assert len(spec.spec_hash()) == 16
    assert make_spec(width=5).spec_hash() != spec.spec_hash()
    relu6 = make_spec(activation="relu6")
    assert FusionSpec.from_json(relu6.to_json()) == relu6
    assert relu6.spec_hash() != make_spec().spec_hash()
    assert relu6.scaled(width_multiplier=2.0).branches[0].activation == "relu6"


def test_default_branches_follow_the_modality_kind():
    spec = FusionSpec(
        modalities=(ModalitySpec(name="sound", frontend=AudioSpec()),
                    ModalitySpec(name="vibration", frontend=VibrationSpec())),
        classes=("ok", "fault"))
    assert [b.block for b in spec.branches] == ["dsconv", "dense"]
    assert FusionSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(("change", "field"), [
    ({"classes": ("a",)}, "classes"),
    ({"classes": ("a", "a")}, "classes"),
    ({"fusion": "attention"}, "fusion"),
    ({"head_units": -1}, "head_units"),
    ({"modality_dropout": 1.0}, "modality_dropout"),
    ({"branches": (BranchSpec(modality="vec", block="dense"),)}, "branches"),
    ({"branches": (BranchSpec(modality="thermal"), BranchSpec(modality="vec", block="conv"))},
     "vec.block"),
])
def test_fusion_spec_rejects_bad_fields(change, field):
    with pytest.raises(SpecError, match=field):
        dataclasses.replace(make_spec(), **change)


def test_unknown_json_fields_are_named():
    data = make_spec().to_dict() | {"colour": "red"}
    with pytest.raises(SpecError, match="colour"):
        FusionSpec.from_dict(data)
    with pytest.raises(SpecError, match="invalid JSON"):
        FusionSpec.from_json("{")
    with pytest.raises(SpecError, match="quantization"):
        CompressionSpec(quantization="int2")
    with pytest.raises(SpecError, match="block"):
        BranchSpec(modality="x", block="lstm")
    with pytest.raises(SpecError, match="x.activation"):
        BranchSpec(modality="x", activation="gelu")


@settings(max_examples=30, deadline=None)
@given(temperature=st.floats(0.5, 20), alpha=st.floats(0, 1), prune=st.floats(0, 0.9),
       mode=st.sampled_from(["int8", "int8-qat", "int4-weights"]),
       samples=st.integers(1, 1000))
def test_compression_spec_round_trip_property(temperature, alpha, prune, mode, samples):
    spec = CompressionSpec(temperature=temperature, distill_alpha=alpha, prune_fraction=prune,
                           quantization=mode, representative_samples=samples)
    assert CompressionSpec.from_json(spec.to_json()) == spec
    assert CompressionSpec.from_json(spec.to_json()).spec_hash() == spec.spec_hash()


def test_board_presets_leave_a_reserve():
    assert set(BOARD_NAMES) == {"nrf52840", "stm32l4r5", "stm32f746", "rp2040", "esp32s3"}
    for name in BOARD_NAMES:
        budget, totals = board_budget(name), board_totals(name)
        assert 0 < budget.flash_bytes < totals["flash_total_bytes"]
        assert 0 < budget.ram_bytes < totals["ram_total_bytes"]
        assert Budget.from_json(budget.to_json()) == budget
    assert board_budget("nRF52840") == Budget(name="nrf52840", flash_bytes=768 * 1024,
                                              ram_bytes=160 * 1024)
    with pytest.raises(SpecError, match="unknown board"):
        board_budget("arduino-uno")
    with pytest.raises(SpecError, match="ram_bytes"):
        Budget(name="x", flash_bytes=1, ram_bytes=0)


@pytest.mark.parametrize("name", ["OR007@12", "B 0.007\"", "état", "a/b:c", "x"])
def test_any_printable_class_name_is_allowed(name):
    spec = dataclasses.replace(make_spec(), classes=(name, "other"))
    assert FusionSpec.from_json(spec.to_json()).classes == (name, "other")


@pytest.mark.parametrize("name", ["", "   ", "tab\there", "new\nline", 3])
def test_blank_or_unprintable_class_names_are_rejected(name):
    with pytest.raises(SpecError, match="classes"):
        dataclasses.replace(make_spec(), classes=(name, "other"))
