"""Posture tasks: Omron D6T 4x4 thermal (16 classes, split by volunteer) and a SYNTHETIC
pairing of thermal frames with URFD depth features by a shared coarse label.

The two sets were never recorded together (different people, rooms, sensors), so the
thermal + depth task pairs each thermal frame with a random URFD frame of the same coarse
label (lying / not lying) from the same side of the split. Its fused accuracy says whether
the late-fusion machinery combines two independent evidence streams, NOT how a co-recorded
depth + thermal sensor would do; every JSON result of it says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.tasks.common import (
    TaskData,
    cache_key,
    cached_arrays,
    cap_per_cell,
    encode,
    featurize,
)
from tinyfuse.sensors.sources import Sample, load_thermal_d6t, load_urfd
from tinyfuse.sensors.sources.thermal_d6t import POSTURES
from tinyfuse.sensors.spec import ImageSpec, ModalitySpec, VectorSpec, frontend_to_dict

THERMAL = ModalitySpec(name="thermal", frontend=ImageSpec(
    sensor="thermal", height=4, width=4, min_value=15.0, max_value=40.0))
DEPTH = ModalitySpec(name="depth", frontend=VectorSpec(size=8))
TEST_VOLUNTEERS = ("C", "D")
CAP_PER_CELL = 300
LYING = frozenset({"lying_bed", "lying_bed_blanket", "lying_floor", "shower_lying"})
EMPTY = frozenset({"empty_bedroom", "empty_bathroom"})
D6T_CITATION = ("B. Silva Pontes et al., research-thermal-sensing: Omron D6T-44L posture "
                "data set (github.com/brunosilvapontes/research-thermal-sensing), public domain")
URFD_CITATION = ("B. Kwolek, M. Kepski, Human fall detection on embedded platform using depth "
                 "maps and wireless accelerometer, Computer Methods and Programs in "
                 "Biomedicine 117(3), 2014 (UR Fall Detection dataset)")
M2NET_POSTURE = {"model": "TinyM2Net-V3 depth + thermal posture", "weights_kb": 58,
                 "accuracy_percent": 90.7}


def _thermal_side(sample: Sample, cut_row: dict[str, int]) -> str:
    """``test`` for the held-out volunteers; the volunteer-less empty-bathroom file is cut
    in time (first 70 % of its rows train)."""
    if sample.group == "none":
        return "test" if int(sample.meta_value("row")) >= cut_row[sample.source] else "train"
    return "test" if sample.group in TEST_VOLUNTEERS else "train"


def _thermal_split(root: Path, limit: int | None, seed: int) -> dict[str, list[Sample]]:
    result = load_thermal_d6t(root / "thermal_d6t_posture", limit=limit)
    samples = cap_per_cell(result.samples, cap=CAP_PER_CELL, seed=seed)
    rows: dict[str, list[int]] = {}
    for sample in samples:
        if sample.group == "none":
            rows.setdefault(sample.source, []).append(int(sample.meta_value("row")))
    cut_row = {source: int(np.quantile(values, 0.7)) for source, values in rows.items()}
    sides: dict[str, list[Sample]] = {"train": [], "test": []}
    for sample in samples:
        sides[_thermal_side(sample, cut_row)].append(sample)
    return sides


def posture_thermal(root: Path, *, limit: int | None = None, seed: int = 0,
                    use_cache: bool = True) -> TaskData:
    """16-class posture from single 4x4 D6T frames; train volunteers A, B, E, test C, D."""
    classes = tuple(POSTURES[i] for i in sorted(POSTURES))
    params = {"spec": THERMAL.to_dict(), "limit": limit, "seed": seed, "cap": CAP_PER_CELL,
              "test": list(TEST_VOLUNTEERS)}

    def compute() -> dict[str, np.ndarray]:
        sides = _thermal_split(root, limit, seed)
        out = {}
        for side, samples in sides.items():
            out[f"x_{side}"] = featurize(samples, THERMAL, data_key="thermal")
            out[f"y_{side}"] = np.array([s.label for s in samples])
            out[f"room_{side}"] = np.array([str(s.meta_value("room")) for s in samples])
            out[f"group_{side}"] = np.array([s.group for s in samples])
        return out

    arrays = cached_arrays(cache_key("posture_thermal", params), compute, use_cache=use_cache)
    present = [c for c in classes if c in set(arrays["y_train"]) | set(arrays["y_test"])]
    info = {
        "dataset": "thermal_d6t_posture (Omron D6T-44L, 4x4 thermal, ~1 frame/s)",
        "citation": D6T_CITATION,
        "split": (f"by volunteer: test = {list(TEST_VOLUNTEERS)}, train = the others; the "
                  "empty-bathroom file (recorded without a volunteer) is cut in time: first "
                  "70% of its rows train, last 30% test"),
        "frontend": frontend_to_dict(THERMAL.frontend),
        "notes": [f"at most {CAP_PER_CELL} frames per (volunteer, posture), drawn with seed "
                  f"{seed}: volunteer E's overnight 'lying with blanket' recording alone has "
                  "18.7k frames", "one frame per sample (no temporal context)"],
        "reference": {**M2NET_POSTURE, "comparable": False,
                      "how_it_differs": "TinyM2Net-V3 fuses co-recorded depth + thermal "
                      "images; this is 4x4 thermal only, 16 fine postures, unseen volunteers"},
    }
    return TaskData(
        name="posture_thermal", kind="classify", modalities=(THERMAL,),
        classes=tuple(present),
        x_train={"thermal": arrays["x_train"]}, y_train=encode(arrays["y_train"], present),
        x_test={"thermal": arrays["x_test"]}, y_test=encode(arrays["y_test"], present),
        test_tags={"room": arrays["room_test"]}, test_groups=arrays["group_test"],
        train_groups=arrays["group_train"], info=info)


def coarse_thermal(label: str) -> str | None:
    """D6T posture -> ``lying`` / ``not_lying``; ``None`` for an empty room."""
    if label in EMPTY:
        return None
    return "lying" if label in LYING else "not_lying"


def _urfd_split(root: Path, limit: int | None, seed: int) -> dict[str, list[Sample]]:
    result = load_urfd(root / "urfd_depth_features", limit=limit)
    result = result.filter(lambda s: s.label != "falling")
    train, test = result.group_split(test_fraction=0.3, seed=seed)
    return {"train": list(train.samples), "test": list(test.samples)}


def _pair(thermal: list[Sample], depth: list[Sample], rng: np.random.Generator
          ) -> tuple[list[Sample], list[Sample], list[str]]:
    by_label: dict[str, list[Sample]] = {}
    for sample in depth:
        by_label.setdefault(sample.label, []).append(sample)
    kept_t, kept_d, labels = [], [], []
    for sample in thermal:
        label = coarse_thermal(sample.label)
        if label is None or not by_label.get(label):
            continue
        pool = by_label[label]
        kept_t.append(sample)
        kept_d.append(pool[int(rng.integers(len(pool)))])
        labels.append(label)
    return kept_t, kept_d, labels


def posture_fusion(root: Path, *, limit: int | None = None, seed: int = 0,
                   use_cache: bool = True) -> TaskData:
    """Lying / not lying from a 4x4 thermal frame + 8 URFD depth features (synthetic pairs)."""
    params = {"thermal": THERMAL.to_dict(), "depth": DEPTH.to_dict(), "limit": limit,
              "seed": seed, "cap": CAP_PER_CELL}

    def compute() -> dict[str, np.ndarray]:
        thermal = _thermal_split(root, limit, seed)
        depth = _urfd_split(root, limit, seed)
        rng = np.random.default_rng(seed)
        out = {}
        for side in ("train", "test"):
            kept_t, kept_d, labels = _pair(thermal[side], depth[side], rng)
            out[f"thermal_{side}"] = featurize(kept_t, THERMAL, data_key="thermal")
            out[f"depth_{side}"] = featurize(kept_d, DEPTH, data_key="depth_features")
            out[f"y_{side}"] = np.array(labels)
            out[f"group_{side}"] = np.array([f"{t.group}|{d.group}"
                                             for t, d in zip(kept_t, kept_d, strict=True)])
        return out

    arrays = cached_arrays(cache_key("posture_fusion", params), compute, use_cache=use_cache)
    classes = ("lying", "not_lying")
    info = {
        "dataset": "thermal_d6t_posture (4x4 thermal) + urfd_depth_features (8 Kinect depth "
                   "features per frame)",
        "citation": [D6T_CITATION, URFD_CITATION],
        "synthetic_pairing": True,
        "split": (f"thermal by volunteer (test {list(TEST_VOLUNTEERS)}), URFD by sequence "
                  f"(group_split 30% of sequences, seed {seed}); pairs are drawn only within "
                  "the same side, so no volunteer or sequence is on both sides"),
        "notes": ["SYNTHETIC PAIRING: the two sets are not co-recorded; each thermal frame is "
                  "paired with a random URFD frame of the same coarse label (lying / not "
                  "lying) from the same split side. Empty-room thermal frames and URFD "
                  "'falling' frames are dropped. The fused gain measures how the fusion "
                  "combines two independent noisy cues, not a real depth+thermal sensor.",
                  "URFD frames are reused (drawn with replacement) to match the thermal count"],
        "reference": {**M2NET_POSTURE, "comparable": False,
                      "how_it_differs": "TinyM2Net-V3 uses co-recorded depth and thermal "
                      "images and more posture classes; here 2 coarse classes, 8 precomputed "
                      "depth features, synthetic pairing"},
    }
    return TaskData(
        name="posture_fusion", kind="classify", modalities=(THERMAL, DEPTH), classes=classes,
        x_train={"thermal": arrays["thermal_train"], "depth": arrays["depth_train"]},
        y_train=encode(arrays["y_train"], classes),
        x_test={"thermal": arrays["thermal_test"], "depth": arrays["depth_test"]},
        y_test=encode(arrays["y_test"], classes), test_groups=arrays["group_test"],
        train_groups=arrays["group_train"], info=info)


__all__ = ["posture_thermal", "posture_fusion", "coarse_thermal"]
