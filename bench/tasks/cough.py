"""Cough tasks: Coswara sound type (per recording and fused per participant) and covid19_cough
screening.

Audio is analysed at 8 kHz (MFCC, 13 coefficients, 3 s after trimming the leading silence):
the covid19_cough positives come mostly from an 8 kHz call-centre line, so 8 kHz is the one
rate every recording can honestly be compared at (a 16 kHz model could spot the missing upper
band of the phone line instead of the disease).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np

from bench.tasks.common import (
    Pool,
    TaskData,
    cache_key,
    cached_arrays,
    encode,
    featurize,
    pooled_task,
    trim_leading_silence,
)
from tinyfuse.sensors.sources import Sample, load_coswara, load_covid_cough
from tinyfuse.sensors.spec import AudioSpec, ModalitySpec, frontend_to_dict

RATE_HZ = 8000
AUDIO = AudioSpec(sample_rate_hz=RATE_HZ, duration_s=3.0, n_fft=256, hop_length=256,
                  n_mels=32, n_mfcc=13, fmin_hz=20.0, fmax_hz=4000.0, feature="mfcc")
TRAIN_CROP_OFFSETS_S = (0.0, 0.75, 1.5)
SOUNDS = ("cough", "breathing", "counting")
COSWARA_CITATION = ("N. Sharma et al., Coswara - a database of breathing, cough, and voice "
                    "sounds for COVID-19 diagnosis, Interspeech 2020 (batch 2020-04-13, "
                    "CC BY 4.0, via github.com/iiscleap/Coswara-Data)")
COVID_CITATION = "covid19-cough dataset, github.com/covid19-cough/dataset, CC0 1.0"
M2NET_COUGH = {"model": "TinyM2Net-V3 cough COVID screening", "weights_kb": 6,
               "accuracy_percent": 92.95}


def _crop(signal: np.ndarray, rate_hz: float | None, *, offset_s: float) -> np.ndarray:
    """Trim leading silence, then start ``offset_s`` later (kept short recordings whole);
    ``rate_hz`` is the recording's own rate."""
    if rate_hz is None:
        raise ValueError("a crop needs the recording's sample rate")
    trimmed = trim_leading_silence(np.asarray(signal, np.float32), sample_rate_hz=rate_hz)
    start = int(offset_s * rate_hz)
    return trimmed[start:] if start < len(trimmed) - int(rate_hz) // 2 else trimmed


def _audio_features(samples: list[Sample], modality: ModalitySpec, *, data_key: str,
                    offsets_s: tuple[float, ...]) -> np.ndarray:
    """``(len(offsets) * n, *shape)``: every crop offset of every sample, offset-major; each
    recording at its own rate (the front-end resamples)."""
    return np.concatenate([
        featurize(samples, modality, data_key=data_key,
                  transform=partial(_crop, offset_s=offset))
        for offset in offsets_s])


def _crop_pool(arrays: dict[str, np.ndarray], names: tuple[str, ...],
               classes: tuple[str, ...]) -> Pool:
    """Every recording with all its training crops (offset-major); only the first crop
    (offset 0) of a recording may be tested."""
    n_crops = len(TRAIN_CROP_OFFSETS_S)
    count = len(arrays["y"])
    return Pool(x={name: arrays[name] for name in names},
                y=encode(np.tile(arrays["y"], n_crops), classes),
                groups=np.tile(arrays["group"], n_crops),
                testable=np.arange(n_crops * count) < count)


def coswara_sound(root: Path, *, limit: int | None = None, seed: int = 0,
                  use_cache: bool = True) -> TaskData:
    """Cough vs breathing vs counting, one sample per recording, split by participant."""
    modality = ModalitySpec(name="audio", frontend=AUDIO)
    params = {"spec": modality.to_dict(), "limit": limit, "seed": seed,
              "offsets": list(TRAIN_CROP_OFFSETS_S)}

    def compute() -> dict[str, np.ndarray]:
        result = load_coswara(root / "coswara_20200413", mode="sound", limit=limit)
        _, test = result.group_split(test_fraction=0.3, seed=seed)
        samples = list(result.samples)
        return {
            "audio": _audio_features(samples, modality, data_key="audio",
                                     offsets_s=TRAIN_CROP_OFFSETS_S),
            "y": np.array([s.label for s in samples]),
            "group": np.array([s.group for s in samples]),
            "test_groups": np.array(sorted({s.group for s in test.samples})),
            "n_skipped": np.array(len(result.skipped)),
        }

    arrays = cached_arrays(cache_key("coswara_sound", params), compute, use_cache=use_cache)
    pool = _crop_pool(arrays, ("audio",), SOUNDS)
    info = {
        "dataset": "coswara_20200413 (16 kHz wav, analysed at 8 kHz)",
        "citation": COSWARA_CITATION,
        "split": f"by participant: group_split(test_fraction=0.3, seed={seed}) for a single "
                 "split; bench/run_fusion.py evaluates this task by grouped 5-fold "
                 "cross-validation over all participants instead (see result.evaluation)",
        "frontend": frontend_to_dict(AUDIO),
        "notes": [f"{int(arrays['n_skipped'])} empty or near-silent recordings skipped by "
                  "the loader", "leading silence trimmed; the first 3 s after onset are used",
                  f"training uses {len(TRAIN_CROP_OFFSETS_S)} crops per recording (offsets "
                  f"{list(TRAIN_CROP_OFFSETS_S)} s); n_train counts crops, test uses one crop "
                  "per recording"],
        "reference": {**M2NET_COUGH, "comparable": False,
                      "how_it_differs": "sound-type detection (3 classes), not COVID screening"},
    }
    return pooled_task(pool=pool, test_groups=arrays["test_groups"].tolist(),
                       name="coswara_sound", kind="classify", modalities=(modality,),
                       classes=SOUNDS, info=info)


def _gender(sample: Sample) -> str | None:
    value = sample.meta_value("cough.gender", sample.meta_value("counting.gender"))
    return value if value in ("male", "female") else None


def coswara_participant(root: Path, *, limit: int | None = None, seed: int = 0,
                        use_cache: bool = True) -> TaskData:
    """Participant-level fusion: the three recordings of one person as three modalities ->
    the person's recorded gender (the batch is all COVID-negative, so gender is the
    participant-level label it offers)."""
    modalities = tuple(ModalitySpec(name=name, frontend=AUDIO) for name in SOUNDS)
    params = {"spec": frontend_to_dict(AUDIO), "limit": limit, "seed": seed,
              "offsets": list(TRAIN_CROP_OFFSETS_S), "label": "gender"}

    def compute() -> dict[str, np.ndarray]:
        result = load_coswara(root / "coswara_20200413", mode="participant", missing="drop",
                              limit=limit)
        result = replace(result, samples=tuple(
            replace(s, label=_gender(s)) for s in result.samples if _gender(s)))
        _, test = result.group_split(test_fraction=0.3, seed=seed)
        samples = list(result.samples)
        out: dict[str, np.ndarray] = {"n_skipped": np.array(len(result.skipped))}
        for modality in modalities:
            out[modality.name] = _audio_features(
                samples, modality, data_key=modality.name, offsets_s=TRAIN_CROP_OFFSETS_S)
        out["y"] = np.array([s.label for s in samples])
        out["group"] = np.array([s.group for s in samples])
        out["test_groups"] = np.array(sorted({s.group for s in test.samples}))
        return out

    arrays = cached_arrays(cache_key("coswara_participant", params), compute,
                           use_cache=use_cache)
    classes = ("female", "male")
    info = {
        "dataset": "coswara_20200413, participants with all three recordings usable",
        "citation": COSWARA_CITATION,
        "split": f"by participant: group_split(test_fraction=0.3, seed={seed}) stratified "
                 "by gender for a single split; bench/run_fusion.py evaluates this task by "
                 "grouped 5-fold cross-validation over all participants instead (see "
                 "result.evaluation)",
        "label": "participant gender as recorded in Coswara metadata (field g); all 76 "
                 "participants of this batch are COVID-negative, so COVID status cannot be "
                 "the target",
        "notes": [f"{int(arrays['n_skipped'])} participants/recordings dropped (a recording "
                  "empty or near-silent)", "classes are imbalanced (about 3 male : 1 female); "
                  "compare with the majority baseline", "small set: cross-validation "
                  "tests every participant once instead of one split of 20"],
        "reference": {**M2NET_COUGH, "comparable": False,
                      "how_it_differs": "gender from three fused recordings, not COVID"},
    }
    return pooled_task(pool=_crop_pool(arrays, SOUNDS, classes),
                       test_groups=arrays["test_groups"].tolist(), name="coswara_participant",
                       kind="classify", modalities=modalities, classes=classes, info=info)


def covid_cough(root: Path, *, limit: int | None = None, seed: int = 0,
                use_cache: bool = True) -> TaskData:
    """COVID-19 positive vs negative from one induced cough; every file resampled to 8 kHz."""
    modality = ModalitySpec(name="audio", frontend=AUDIO)
    params = {"spec": modality.to_dict(), "limit": limit, "seed": seed}

    def compute() -> dict[str, np.ndarray]:
        result = load_covid_cough(root / "covid19_cough", limit=limit)
        train, test = result.group_split(test_fraction=0.3, seed=seed)
        out: dict[str, np.ndarray] = {"n_skipped": np.array(len(result.skipped))}
        for side, part in (("train", train), ("test", test)):
            samples = list(part.samples)
            out[f"x_{side}"] = _audio_features(samples, modality, data_key="audio",
                                               offsets_s=(0.0,))
            out[f"y_{side}"] = np.array([s.label for s in samples])
            out[f"source_{side}"] = np.array([str(s.meta_value("source")) for s in samples])
            out[f"group_{side}"] = np.array([s.group for s in samples])
        return out

    arrays = cached_arrays(cache_key("covid_cough", params), compute, use_cache=use_cache)
    classes = ("negative", "positive")
    info = {
        "dataset": "covid19_cough (1,324 induced coughs, mp3; resampled to 8 kHz)",
        "citation": COVID_CITATION,
        "split": f"by recording (the set has no participant ids): group_split(test_fraction="
                 f"0.3, seed={seed}) stratified by label",
        "frontend": frontend_to_dict(AUDIO),
        "notes": [f"{int(arrays['n_skipped'])} unusable files skipped by the loader",
                  "CHANNEL CONFOUND: most positives come from an 8 kHz call-centre line, "
                  "most negatives from a 48 kHz messaging bot; all audio is resampled to 8 kHz "
                  "and accuracy is also reported within each source, where the channel "
                  "cannot help",
                  "no participant ids: one person could have several recordings on both "
                  "sides of the split"],
        "reference": {**M2NET_COUGH, "comparable": True,
                      "how_it_differs": "same task family (cough COVID screening) but a "
                      "different data set; TinyM2Net-V3 reports 92.95% on its own data"},
    }
    return TaskData(
        name="covid_cough", kind="classify", modalities=(modality,), classes=classes,
        x_train={"audio": arrays["x_train"]}, y_train=encode(arrays["y_train"], classes),
        x_test={"audio": arrays["x_test"]}, y_test=encode(arrays["y_test"], classes),
        test_tags={"source": arrays["source_test"]}, test_groups=arrays["group_test"],
        train_groups=arrays["group_train"], info=info)
