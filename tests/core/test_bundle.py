"""tinyfuse.core.bundle: the hash covers every part of the bundle, one atomic writer, a reader
that refuses another schema version, a changed file or a malformed field with one line."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tinyfuse import __version__
from tinyfuse.core.bundle import SCHEMA_VERSION, Bundle, BundleInput, BundleOutput
from tinyfuse.core.errors import DataError, SpecError
from tinyfuse.core.policy import Policy
from tinyfuse.core.quant import dequantize, quantize

CLASSES = ("normal", "fault")


def make_bundle(**changes) -> Bundle:
    inputs = (
        BundleInput(name="vibration", frontend={"kind": "vibration", "n_bands": 16}, index=0,
                    shape=(1, 20), mean=(0.5,) * 20, std_scale=(2.0,) * 20, scale=0.05,
                    zero_point=-3),
        BundleInput(name="thermal", frontend={"kind": "image", "height": 8, "width": 8},
                    index=1, shape=(1, 8, 8, 1), mean=(0.1,), std_scale=(0.3,), scale=0.02,
                    zero_point=0),
    )
    values = {"app": "factory", "classes": CLASSES, "inputs": inputs,
              "output": BundleOutput(scale=1 / 256, zero_point=-128, shape=(1, 2)),
              "tflite": b"TFL3" + bytes(range(64)),
              "policy": Policy(classes=CLASSES, alert_classes=("fault",), on_levels=(0.6,)),
              "record": {"spec": {"head_units": 8}}}
    values.update(changes)
    return Bundle(**values)


def changed_input(bundle: Bundle, index: int, **changes) -> Bundle:
    inputs = list(bundle.inputs)
    inputs[index] = dataclasses.replace(inputs[index], **changes)
    return dataclasses.replace(bundle, inputs=tuple(inputs))


def test_every_part_changes_the_hash():
    base = make_bundle()
    variants = {
        "weights": dataclasses.replace(base, tflite=base.tflite[:-1] + b"\x00"),
        "standardisation mean": changed_input(base, 0, mean=(0.5,) * 19 + (0.51,)),
        "standardisation scale": changed_input(base, 1, std_scale=(0.31,)),
        "input quantisation": changed_input(base, 0, zero_point=-2),
        "input scale": changed_input(base, 1, scale=0.021),
        "front-end": changed_input(base, 0, frontend={"kind": "vibration", "n_bands": 32}),
        "output quantisation": dataclasses.replace(
            base, output=BundleOutput(scale=1 / 128, zero_point=-128, shape=(1, 2))),
        "policy level": base.with_policy(dataclasses.replace(base.policy, on_levels=(0.61,))),
        "policy cooldown": base.with_policy(dataclasses.replace(base.policy, cooldown_s=5.0)),
        "no policy": dataclasses.replace(base, policy=None),
        "classes": make_bundle(classes=("ok", "fault"), policy=None),
        "app": dataclasses.replace(base, app="pump"),
    }
    hashes = {name: bundle.bundle_hash for name, bundle in variants.items()}
    assert base.bundle_hash not in hashes.values()
    assert len(set(hashes.values())) == len(hashes)
    assert make_bundle().bundle_hash == base.bundle_hash  # deterministic
    assert len(base.bundle_hash) == 64 and int(base.bundle_hash, 16) >= 0


def test_write_read_round_trip_is_exact(tmp_path):
    bundle = make_bundle()
    bundle.write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.json", "model.tflite"]
    again = Bundle.read(tmp_path)
    assert again == bundle and again.bundle_hash == bundle.bundle_hash
    data = json.loads((tmp_path / "bundle.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION and data["tinyfuse_version"] == __version__
    assert data["bundle_hash"] == bundle.bundle_hash
    float32 = np.float32(0.1)  # standardisation stored from float32 comes back bit-exact
    stored = changed_input(bundle, 1, mean=(float(float32),))
    stored.write(tmp_path)
    assert np.float32(Bundle.read(tmp_path).inputs[1].mean[0]) == float32


def test_reader_refuses_what_does_not_match(tmp_path):
    make_bundle().write(tmp_path)
    path = tmp_path / "bundle.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "schema_version": 2}))
    with pytest.raises(DataError, match=r"bundle.json: bundle schema version 2, this tinyfuse "
                       r".* reads version 1: rebuild"):
        Bundle.read(tmp_path)
    edited = json.loads(json.dumps(data))
    edited["inputs"][0]["scale"] = 0.06  # edited by hand after the build
    path.write_text(json.dumps(edited))
    with pytest.raises(DataError, match="does not match the files"):
        Bundle.read(tmp_path)
    path.write_text(json.dumps(data))
    (tmp_path / "model.tflite").write_bytes(b"TFL3" + bytes(64))  # another model
    with pytest.raises(DataError, match="model.tflite or bundle.json was changed"):
        Bundle.read(tmp_path)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.pop("inputs"), r"missing field 'inputs'"),
    (lambda d: d["inputs"][0].update(scale="big"), r"inputs\[0\]\.scale: expected a finite"),
    (lambda d: d["inputs"][0].update(zero_point=300), r"zero_point: must be in \[-128, 127\]"),
    (lambda d: d["inputs"][1]["standardize"].update(scale=[0.0]), "every scale > 0"),
    (lambda d: d["inputs"][0].update(index=1), "model input order"),
    (lambda d: d.update(classes="normal"), r"classes: expected a list"),
    (lambda d: d["policy"].update(k=0), r"policy.k"),
    (lambda d: d.update(record=[]), r"record: expected an object"),
])
def test_malformed_fields_are_one_line_errors(tmp_path, edit, message):
    make_bundle().write(tmp_path)
    path = tmp_path / "bundle.json"
    data = json.loads(path.read_text())
    data.pop("bundle_hash")
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=message) as caught:
        Bundle.read(tmp_path)
    assert "\n" not in str(caught.value) and "bundle.json" in str(caught.value)


def test_missing_files_and_garbage(tmp_path):
    with pytest.raises(DataError, match="no bundle.json"):
        Bundle.read(tmp_path)
    (tmp_path / "bundle.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(DataError, match="not valid JSON"):
        Bundle.read(tmp_path)
    (tmp_path / "bundle.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataError):
        Bundle.read(tmp_path)
    make_bundle().write(tmp_path)
    (tmp_path / "model.tflite").unlink()
    with pytest.raises(DataError, match="model.tflite: missing"):
        Bundle.read(tmp_path)


def test_invalid_bundles_cannot_be_made():
    with pytest.raises(SpecError, match="policy: its classes"):
        make_bundle(policy=Policy(classes=("a", "b"), alert_classes=("a",), on_levels=(0.5,)))
    with pytest.raises(SpecError, match="tflite"):
        make_bundle(tflite=b"")
    with pytest.raises(SpecError, match="duplicate modality names"):
        base = make_bundle()
        make_bundle(inputs=(base.inputs[0], dataclasses.replace(base.inputs[0], index=1)))


def test_quantize_rounds_half_away_from_zero_like_tflite():
    values = np.array([0.25, 0.75, -0.25, 1.25])
    assert quantize(values, scale=0.5, zero_point=0).tolist() == [1, 2, -1, 3]
    assert quantize(np.array([1e9, -1e9]), scale=0.1, zero_point=5).tolist() == [127, -128]
    q = np.arange(-128, 128, dtype=np.int8)
    assert (quantize(dequantize(q, scale=0.037, zero_point=-7), scale=0.037,
                     zero_point=-7) == q).all()


LEAVES = [None, True, -1, 0, 1, 300, 1e308, -1e-9, "", "x", [], {}, [1, 2], {"kind": 1},
          float("nan")]


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def test_any_edited_field_is_a_data_error_or_a_valid_bundle(tmp_path):
    """Every field of a real bundle.json replaced by each of a set of hostile values: the
    reader returns a bundle or raises DataError; it never raises anything else."""
    make_bundle().write(tmp_path)
    path = tmp_path / "bundle.json"
    original = json.loads(path.read_text())
    original.pop("bundle_hash")
    outcomes = {"ok": 0, "refused": 0}
    for where in list(_paths(original))[1:]:
        for leaf in LEAVES:
            data = json.loads(json.dumps(original))
            target = data
            for key in where[:-1]:
                target = target[key]
            target[where[-1]] = leaf
            path.write_text(json.dumps(data))
            try:
                assert len(Bundle.read(tmp_path).bundle_hash) == 64
                outcomes["ok"] += 1
            except DataError as exc:
                assert "\n" not in str(exc)
                outcomes["refused"] += 1
    assert outcomes["refused"] > 100 and outcomes["ok"] > 0
