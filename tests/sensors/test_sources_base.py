"""Sample/LoadResult model: counts, group and time splits, the multimodal join."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.sources import LoadResult, Sample, Skipped, join_by_key


def _result(groups_per_label: dict[str, int], per_group: int = 3) -> LoadResult:
    samples = []
    for label, n_groups in groups_per_label.items():
        for g in range(n_groups):
            for i in range(per_group):
                samples.append(Sample(data={"x": np.zeros(2, np.float32)}, label=label,
                                      group=f"{label}-{g}", key=f"{label}-{g}-{i}",
                                      source="mem"))
    return LoadResult(samples=tuple(samples), name="t")


def test_counts_and_modalities():
    result = _result({"a": 2, "b": 1})
    assert result.counts_by_class() == {"a": 6, "b": 3}
    assert result.counts_by_group()["a-1"] == 3
    assert result.modalities == ("x",) and result.classes == ("a", "b")
    assert result.stack("x").shape == (9, 2)


def test_sample_arrays_are_read_only():
    sample = Sample(data={"x": np.zeros(3)}, label="a", group="g", key="k", source="s")
    with pytest.raises(ValueError):
        sample.data["x"][0] = 1.0


@settings(max_examples=30, deadline=None)
@given(n_a=st.integers(1, 8), n_b=st.integers(1, 8), seed=st.integers(0, 2**31),
       fraction=st.floats(0.1, 0.9))
def test_group_split_never_leaks_and_is_deterministic(n_a, n_b, seed, fraction):
    result = _result({"a": n_a, "b": n_b})
    train, test = result.group_split(test_fraction=fraction, seed=seed)
    assert not {s.group for s in train} & {s.group for s in test}
    assert len(train) + len(test) == len(result)
    again = result.group_split(test_fraction=fraction, seed=seed)
    assert [s.key for s in again[1]] == [s.key for s in test]
    for label, n_groups in (("a", n_a), ("b", n_b)):
        test_groups = {s.group for s in test if s.label == label}
        if n_groups >= 2:  # stratified: every class with 2+ groups is on both sides
            assert 1 <= len(test_groups) < n_groups


def test_group_split_seeds_differ():
    result = _result({"a": 10, "b": 10})
    splits = {tuple(sorted({s.group for s in result.group_split(test_fraction=0.3,
                                                                seed=seed)[1]}))
              for seed in range(5)}
    assert len(splits) > 1


def test_time_split_drops_straddling_windows():
    samples = tuple(Sample(data={"v": np.zeros(1)}, label="n", group="rec", key=str(i),
                           source="s", meta=(("start_fraction", i / 10),
                                             ("end_fraction", (i + 1.5) / 10)))
                    for i in range(9))
    train, test = LoadResult(samples=samples).time_split(test_fraction=0.3)
    assert [s.key for s in train] == ["0", "1", "2", "3", "4", "5"]
    assert [s.key for s in test] == ["7", "8"]
    with pytest.raises(DataError, match="no time position"):
        _result({"a": 1}).time_split()


def _one(modality: str, keys: list[str], label: str = "x") -> LoadResult:
    return LoadResult(samples=tuple(
        Sample(data={"audio": np.full(4, i, np.float32)}, label=label, group=k, key=k,
               source=f"{modality}/{k}.wav") for i, k in enumerate(keys)),
        skipped=(Skipped(f"{modality}/p3.wav", "near-silent", key="p3"),) if
        "p3" not in keys else ())


def test_join_drop_and_keep_missing():
    parts = {"cough": _one("cough", ["p1", "p2", "p3"]), "breathing": _one("breathing",
                                                                             ["p1", "p2"])}
    dropped = join_by_key(parts, missing="drop")
    assert [s.key for s in dropped] == ["p1", "p2"]
    assert dropped.modalities == ("breathing", "cough")
    why = [s for s in dropped.skipped if s.path == "p3"][0].reason
    assert "missing breathing" in why and "near-silent" in why
    kept = join_by_key(parts, missing="keep")
    p3 = [s for s in kept if s.key == "p3"][0]
    assert p3.missing == ("breathing",) and set(p3.data) == {"cough"}
    assert set(kept.samples[0].data) == {"cough", "breathing"}


def test_join_rejects_conflicting_labels():
    with pytest.raises(DataError, match="conflicting labels"):
        join_by_key({"a": _one("a", ["p1"], "x"), "b": _one("b", ["p1"], "y")})
    with pytest.raises(DataError, match="missing="):
        join_by_key({"a": _one("a", ["p1"])}, missing="zero")
