"""Factory tasks: CWRU bearing faults fusing two accelerometers, and ceiling-fan imbalance
anomaly detection trained on normal windows only.

Both split every recording in time (first 70 % of its windows train, last 30 % test; a
window straddling the cut is dropped), never by shuffled window.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.tasks.common import (
    TaskData,
    cache_key,
    cached_arrays,
    encode,
    featurize,
    thin_per_group,
)
from tinyfuse.sensors.sources import Sample, load_ceiling_fan, load_cwru
from tinyfuse.sensors.spec import ModalitySpec, VibrationSpec, frontend_to_dict

CWRU_SPEC = VibrationSpec(sample_rate_hz=12000.0, window_s=0.25, n_axes=1)
CWRU_HOP_S = 0.125
CWRU_CHANNELS = ("drive_end", "fan_end")
FAN_SPEC = VibrationSpec(sample_rate_hz=200.0, window_s=1.0, n_axes=3, n_fft=128, n_bands=16,
                         fmin_hz=1.0, fmax_hz=100.0, n_envelope_bands=8,
                         envelope_fmax_hz=50.0)
CWRU_CITATION = ("Case Western Reserve University Bearing Data Center, 12 kHz drive-end "
                 "fault data at 0 HP (via github.com/XiongMeijing/CWRU-1)")
FAN_CITATION = ("S. Hymel, tinyml-example-anomaly-detection (ceiling fan, MSA301 "
                "accelerometer), github.com/ShawnHymel/tinyml-example-anomaly-detection, "
                "Beerware")


def _column(index: int):
    def pick(raw: np.ndarray, _rate_hz: float | None) -> np.ndarray:
        return raw[:, index]
    return pick


def _cwru_arrays(root: Path, modalities: tuple[ModalitySpec, ...], channels: tuple[str, ...],
                 limit: int | None, use_cache: bool, name: str) -> dict[str, np.ndarray]:
    """Features of every CWRU recording that has ``channels``, split 70/30 in time."""
    params = {"spec": frontend_to_dict(CWRU_SPEC), "hop_s": CWRU_HOP_S, "limit": limit,
              "channels": list(channels)}

    def compute() -> dict[str, np.ndarray]:
        result = load_cwru(root / "cwru_0hp", window_s=CWRU_SPEC.window_s, hop_s=CWRU_HOP_S,
                           channels=channels, label_by="code")
        train, test = result.time_split(test_fraction=0.3)
        out: dict[str, np.ndarray] = {"skipped": np.array([str(s) for s in result.skipped])}
        for side, part in (("train", train), ("test", test)):
            samples = thin_per_group(part.samples, limit)
            for index, modality in enumerate(modalities):
                out[f"{modality.name}_{side}"] = featurize(
                    samples, modality, data_key="vibration", transform=_column(index))
            out[f"y_{side}"] = np.array([s.label for s in samples])
            out[f"group_{side}"] = np.array([s.group for s in samples])
        return out

    return cached_arrays(cache_key(name, params), compute, use_cache=use_cache)


def _cwru_task(name: str, modalities: tuple[ModalitySpec, ...], arrays: dict[str, np.ndarray],
               info: dict) -> TaskData:
    y_train, y_test = (arrays[k].astype(str) for k in ("y_train", "y_test"))
    classes = tuple(str(c) for c in sorted(set(y_train) | set(y_test)))
    return TaskData(
        name=name, kind="classify", modalities=modalities, classes=classes,
        x_train={m.name: arrays[f"{m.name}_train"] for m in modalities},
        y_train=encode(y_train, classes),
        x_test={m.name: arrays[f"{m.name}_test"] for m in modalities},
        y_test=encode(y_test, classes), test_groups=arrays["group_test"],
        train_groups=arrays["group_train"], info=info, in_time_order=True)


CWRU_SPLIT = ("in time within each recording: windows of 0.25 s (hop 0.125 s) in the first "
              "70% train, the last 30% test; windows straddling the cut dropped")


def cwru(root: Path, *, limit: int | None = None, seed: int = 0,
         use_cache: bool = True) -> TaskData:
    """Fault code (normal + 13 faults that have both sensors) from the drive-end and fan-end
    accelerometers as two modalities; each recording split 70/30 in time."""
    modalities = tuple(ModalitySpec(name=name, frontend=CWRU_SPEC) for name in CWRU_CHANNELS)
    arrays = _cwru_arrays(root, modalities, ("DE", "FE"), limit, use_cache, "cwru")
    n_classes = len(set(arrays["y_train"].tolist()) | set(arrays["y_test"].tolist()))
    info = {
        "dataset": "cwru_0hp (12 kHz; Normal decimated from 48 kHz by the loader)",
        "citation": CWRU_CITATION, "split": CWRU_SPLIT,
        "frontend": frontend_to_dict(CWRU_SPEC),
        "notes": [f"{n_classes} classes, not 16: B028 and IR028 have no fan-end channel "
                  "(loader skips: " + "; ".join(arrays["skipped"].tolist()) + "). Feeding "
                  "zeros for their fan-end input would let the model recognise them by the "
                  "missing sensor, so they are left out of the two-sensor task; see cwru_de "
                  "for all 16 codes from the drive end alone",
                  "Normal has one recording (10 s after decimation) and so fewer windows"],
    }
    return _cwru_task("cwru", modalities, arrays, info)


def cwru_de(root: Path, *, limit: int | None = None, seed: int = 0,
            use_cache: bool = True) -> TaskData:
    """All 16 fault codes from the drive-end accelerometer alone (one modality)."""
    modalities = (ModalitySpec(name="drive_end", frontend=CWRU_SPEC),)
    arrays = _cwru_arrays(root, modalities, ("DE",), limit, use_cache, "cwru_de")
    info = {
        "dataset": "cwru_0hp (12 kHz; Normal decimated from 48 kHz by the loader)",
        "citation": CWRU_CITATION, "split": CWRU_SPLIT,
        "frontend": frontend_to_dict(CWRU_SPEC),
        "notes": ["drive-end only, so B028 and IR028 (no fan-end channel) are included: "
                  "the 16-code counterpart of the two-sensor cwru task"],
    }
    return _cwru_task("cwru_de", modalities, arrays, info)


def _fan_kind(sample: Sample) -> str:
    return sample.label  # normal / imbalance / moved


def ceiling_fan(root: Path, *, limit: int | None = None, seed: int = 0,
                use_cache: bool = True) -> TaskData:
    """Imbalance anomaly: train on the first 70% of every normal recording; test on the last
    30% of them (y=0) against every imbalance window (y=1) and the moved-mount windows
    (y=1, reported separately)."""
    modality = ModalitySpec(name="vibration", frontend=FAN_SPEC)
    params = {"spec": frontend_to_dict(FAN_SPEC), "limit": limit}

    def compute() -> dict[str, np.ndarray]:
        result = load_ceiling_fan(root / "ceiling_fan")
        normal = result.filter(lambda s: s.label == "normal")
        train, normal_test = normal.time_split(test_fraction=0.3)
        anomalies = [s for s in result.samples if s.label != "normal"]
        test = thin_per_group(list(normal_test.samples) + anomalies, limit)
        return {
            "x_train": featurize(thin_per_group(train.samples, limit), modality,
                                 data_key="vibration"),
            "x_test": featurize(test, modality, data_key="vibration"),
            "kind_test": np.array([_fan_kind(s) for s in test]),
            "speed_test": np.array([str(s.meta_value("speed")) for s in test]),
            "group_test": np.array([s.group for s in test]),
        }

    arrays = cached_arrays(cache_key("ceiling_fan", params), compute, use_cache=use_cache)
    kinds = arrays["kind_test"]
    info = {
        "dataset": "ceiling_fan (MSA301 3-axis accelerometer, ~200 Hz, 1-s windows)",
        "citation": FAN_CITATION,
        "split": "normal (_0_weight) recordings cut in time: first 70% of each recording "
                 "trains, last 30% is the normal test set; anomalies (_1_weight imbalance, "
                 "and the moved mount) are never trained on",
        "frontend": frontend_to_dict(FAN_SPEC),
        "notes": ["there is no off-speed imbalance recording; off-speed normal windows are "
                  "in the normal test set", "imbalance windows come from whole recordings "
                  "(all of their time), normal test windows from the last 30%"],
    }
    return TaskData(
        name="ceiling_fan", kind="anomaly", modalities=(modality,),
        classes=("normal", "anomaly"),
        x_train={"vibration": arrays["x_train"]},
        y_train=np.zeros(len(arrays["x_train"]), np.int64),
        x_test={"vibration": arrays["x_test"]},
        y_test=(kinds != "normal").astype(np.int64),
        test_tags={"kind": kinds, "speed": arrays["speed_test"]},
        test_groups=arrays["group_test"], info=info)
