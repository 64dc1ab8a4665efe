"""covid19_cough: 1,324 induced coughs (mp3) with COVID-19 labels from ``metadata.json``.

Label is ``"positive"``/``"negative"`` (``covid19`` field). The positives come mostly from
an 8 kHz call-centre line and the negatives from a 48 kHz bot: every recording is returned at
its native rate (meta ``sample_rate_hz``) and the audio front-end resamples all of them to the
spec's one rate, the same way at training and at serving. Meta also keeps ``source`` (the
channel), ``verified`` and ``asymptomatic`` so accuracy can be reported within each source.
Each recording is its own group (the set has no participant ids).
"""

from __future__ import annotations

import json
from pathlib import Path

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.sources.base import LoadResult, Sample, collect
from tinyfuse.sensors.sources.readers import DEFAULT_RMS_FLOOR, read_audio

NAME = "covid19_cough"


def is_covid_cough(root: Path) -> bool:
    """True when ``root`` holds ``metadata.json`` and a ``raw/`` folder of mp3s."""
    return (root / "metadata.json").is_file() and (root / "raw").is_dir()


def read_metadata(root: Path) -> list[dict]:
    """The list of records in ``root/metadata.json`` (``DataError`` when unreadable)."""
    path = root / "metadata.json"
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable metadata ({exc})") from None
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of records")
    return records


def load_covid_cough(
    root: str | Path,
    *,
    rms_floor: float = DEFAULT_RMS_FLOOR,
    min_duration_s: float = 0.1,
    limit: int | None = None,
) -> LoadResult:
    """Load every mp3 listed in ``metadata.json`` at its native rate.

    Parameters
    ----------
    limit : int, optional
        At most this many recordings per label (in metadata order).

    Returns
    -------
    LoadResult
        ``data={"audio": float32 (n_samples,)}`` at the rate in meta ``sample_rate_hz``;
        unusable files are skipped with reasons.
    """
    root = Path(root)
    records = _limit_per_label(read_metadata(root), limit)

    def load_one(record: dict) -> list[Sample]:
        path = root / "raw" / str(record.get("filename", ""))
        if not isinstance(record.get("covid19"), bool):
            raise DataError(f"{path}: metadata field 'covid19' is {record.get('covid19')!r}, "
                            "expected true/false")
        signal, rate_hz = read_audio(path, rms_floor=rms_floor, min_duration_s=min_duration_s)
        meta = (("source", str(record.get("source"))), ("sample_rate_hz", rate_hz),
                ("verified", record.get("verified")),
                ("asymptomatic", record.get("asymptomatic")))
        label = "positive" if record["covid19"] else "negative"
        return [Sample(data={"audio": signal}, label=label, group=path.stem, key=path.stem,
                       source=str(path), meta=meta)]

    samples, skipped = collect(records, load_one,
                               path_of=lambda r: str(root / "raw" / str(r.get("filename", ""))),
                               desc="covid19_cough", total=len(records))
    return LoadResult(samples=tuple(samples), skipped=tuple(skipped), name=NAME)


def _limit_per_label(records: list[dict], limit: int | None) -> list[dict]:
    if limit is None:
        return records
    seen: dict[object, int] = {}
    kept = []
    for record in records:
        label = record.get("covid19")
        if seen.get(label, 0) < limit:
            seen[label] = seen.get(label, 0) + 1
            kept.append(record)
    return kept
