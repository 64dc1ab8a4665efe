"""Coswara batch 2020-04-13: 3 sounds per participant (mono wav, 16 kHz in this copy).

Two views of the same files:

- ``mode="sound"``: one sample per recording, ``data={"audio": ...}``, label = sound type
  (``cough``, ``breathing``, ``counting``), group = participant (speaker-independent splits).
- ``mode="participant"``: one sample per participant joining the three recordings as
  modalities ``cough``/``breathing``/``counting`` (label = ``covid_status`` from metadata).
  A participant with an unusable recording is dropped (``missing="drop"``, the skip says
  which recording and why) or kept with ``Sample.missing`` naming it (``missing="keep"``).

Empty and near-silent recordings (RMS below ``rms_floor``) are skipped with their reason.
Audio keeps each file's native rate (meta ``sample_rate_hz``); the front-end resamples.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.sources.base import LoadResult, Sample, Skipped, collect
from tinyfuse.sensors.sources.join import join_by_key
from tinyfuse.sensors.sources.readers import DEFAULT_RMS_FLOOR, read_audio

NAME = "coswara_20200413"
SOUNDS = {"cough-heavy": "cough", "breathing-deep": "breathing", "counting-normal": "counting"}


def is_coswara(root: Path) -> bool:
    """True when ``root`` looks like a Coswara batch (participant dirs with the 3 wavs)."""
    return (root / "participants.csv").is_file() or any(
        (d / "cough-heavy.wav").is_file() for d in _participant_dirs(root)[:5])


def _participant_dirs(root: Path) -> list[Path]:
    return sorted(d for d in root.iterdir() if d.is_dir() and d.name != "annotations")


def load_coswara(
    root: str | Path,
    *,
    mode: str = "sound",
    missing: str = "drop",
    rms_floor: float = DEFAULT_RMS_FLOOR,
    min_duration_s: float = 0.1,
    limit: int | None = None,
    label_by: str = "covid_status",
) -> LoadResult:
    """Load the Coswara batch under ``root``.

    Parameters
    ----------
    mode : {"sound", "participant"}
        See the module docstring.
    missing : {"drop", "keep"}
        Participant mode only: handling of a participant with a missing/unusable recording.
    rms_floor, min_duration_s : float
        Recordings below the RMS floor or shorter than this are skipped.
    limit : int, optional
        At most this many participants (sorted by id).
    label_by : {"covid_status", "gender"}
        Participant mode only: the label (``gender`` keeps participants whose recorded
        gender is male or female; the others are skipped and listed).

    Returns
    -------
    LoadResult
        Audio arrays are float32 ``(n_samples,)`` at the file's native rate (meta
        ``sample_rate_hz``; 16 kHz for the files of this batch).
    """
    root = Path(root)
    if mode not in ("sound", "participant"):
        raise DataError(f"load_coswara: mode={mode!r} must be 'sound' or 'participant'")
    if label_by not in ("covid_status", "gender"):
        raise DataError(f"load_coswara: label_by={label_by!r} must be 'covid_status' or "
                        f"'gender'")
    if not root.is_dir():
        raise DataError(f"{root}: not a directory")
    participants = _participant_dirs(root)[:limit]
    info = _participant_info(root, participants)
    quality = _quality_labels(root)
    per_sound = {
        sound: _load_sound(participants, stem, sound, info, quality, mode=mode,
                           rms_floor=rms_floor, min_duration_s=min_duration_s)
        for stem, sound in SOUNDS.items()
    }
    if mode == "participant":
        joined = join_by_key(per_sound, missing=missing, name=NAME)
        if label_by == "gender":
            return _by_gender(joined)
        return LoadResult(samples=joined.samples, skipped=joined.skipped, name=NAME)
    samples = sorted((s for r in per_sound.values() for s in r.samples), key=lambda s: s.source)
    skipped = sorted((s for r in per_sound.values() for s in r.skipped), key=lambda s: s.path)
    return LoadResult(samples=tuple(samples), skipped=tuple(skipped), name=NAME)


def _load_sound(participants: list[Path], stem: str, sound: str, info: dict[str, dict],
                quality: dict[str, str], *, mode: str, rms_floor: float,
                min_duration_s: float) -> LoadResult:
    def load_one(folder: Path) -> list[Sample]:
        path = folder / f"{stem}.wav"
        signal, rate_hz = read_audio(path, rms_floor=rms_floor, min_duration_s=min_duration_s)
        person = info.get(folder.name, {})
        status = str(person.get("covid_status", "unknown"))
        meta = (("sound", sound), ("covid_status", status),
                ("quality", quality.get(f"{folder.name}_{stem}")),
                ("gender", person.get("g")), ("age", _age(person.get("a"))),
                ("sample_rate_hz", rate_hz))
        label = sound if mode == "sound" else status
        data_key = "audio" if mode == "sound" else sound
        return [Sample(data={data_key: signal}, label=label, group=folder.name, key=folder.name,
                       source=str(path), meta=meta)]

    samples, skipped = collect(participants, load_one, path_of=lambda f: str(f / f"{stem}.wav"),
                               key_of=lambda f: f.name, desc=f"coswara {sound}",
                               total=len(participants))
    return LoadResult(samples=tuple(samples), skipped=tuple(skipped), name=f"{NAME}:{sound}")


def _by_gender(joined: LoadResult) -> LoadResult:
    """Participants relabelled by recorded gender; those without male/female are skipped."""
    kept, skipped = [], list(joined.skipped)
    for sample in joined.samples:
        gender = next((sample.meta_value(f"{sound}.gender") for sound in SOUNDS.values()
                       if sample.meta_value(f"{sound}.gender") in ("male", "female")), None)
        if gender is None:
            skipped.append(Skipped(path=sample.source, reason="no male/female gender recorded",
                                   key=sample.key))
        else:
            kept.append(dataclasses.replace(sample, label=str(gender)))
    return LoadResult(samples=tuple(kept), skipped=tuple(skipped), name=f"{NAME}:gender")


def _age(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _participant_info(root: Path, participants: list[Path]) -> dict[str, dict]:
    info: dict[str, dict] = {}
    for folder in participants:
        path = folder / "metadata.json"
        try:
            info[folder.name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info[folder.name] = {}
    return info


def _quality_labels(root: Path) -> dict[str, str]:
    labels: dict[str, str] = {}
    for path in sorted((root / "annotations").glob("*_labels.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                if len(row) >= 2 and row[0] != "FILENAME":
                    labels[row[0].strip()] = row[1].strip()
    return labels
