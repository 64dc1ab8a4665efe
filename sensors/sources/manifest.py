"""A manifest CSV names every recording: ``file,label,group[,modality,key,start_s,end_s]``.

* ``file``: path relative to the manifest's folder (wav/flac/mp3/ogg, png/npy, csv);
* ``label``, ``group``: the class and what must never sit on both sides of a split (a
  patient, a machine, a session); an empty group makes the file its own group;
* ``modality``: the data key (default: the ``modality`` option, e.g. the app's one
  modality); rows of several modalities with the same ``key`` are joined into one sample;
* ``start_s``, ``end_s``: the part of an audio or vibration recording to use (seconds).

Examples
--------
::

    file,label,group,modality,key
    p07/cough.wav,positive,p07,cough,p07
    p07/breath.wav,positive,p07,breathing,p07
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.sources.base import LoadResult, Sample, Skipped, collect, spread
from tinyfuse.sensors.sources.folder import read_any
from tinyfuse.sensors.sources.join import join_by_key
from tinyfuse.sensors.sources.readers import DEFAULT_RMS_FLOOR

MANIFEST = "manifest.csv"
COLUMNS = ("file", "label", "group", "modality", "key", "start_s", "end_s")
MAX_ROWS = 1_000_000


def is_manifest(root: Path) -> bool:
    return (Path(root) / MANIFEST).is_file()


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [c.strip() for c in reader.fieldnames or []]
            missing = [c for c in ("file", "label") if c not in header]
            if missing:
                raise DataError(f"{path}: the header needs columns {missing} (it has {header})")
            unknown = sorted(set(header) - set(COLUMNS))
            if unknown:
                raise DataError(f"{path}: unknown columns {unknown} (known: {list(COLUMNS)})")
            rows = []
            for number, row in enumerate(reader, start=2):
                if number > MAX_ROWS:
                    raise DataError(f"{path}: more than {MAX_ROWS} rows")
                rows.append({k.strip(): (v or "").strip() for k, v in row.items() if k})
            return rows
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the manifest ({exc})") from None


def _seconds(row: dict[str, str], column: str, where: str) -> float | None:
    text = row.get(column, "")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: {column} {text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise DataError(f"{where}: {column} {value} must be a finite time >= 0")
    return value


def _crop(array: np.ndarray, meta: tuple, row: dict[str, str], where: str) -> np.ndarray:
    start, end = _seconds(row, "start_s", where), _seconds(row, "end_s", where)
    if start is None and end is None:
        return array
    rate = dict(meta).get("sample_rate_hz")
    if not isinstance(rate, int | float):
        raise DataError(f"{where}: start_s/end_s need a recording with a sample rate")
    first = int(round((start or 0.0) * rate))
    last = len(array) if end is None else int(round(end * rate))
    if not first < last <= len(array):
        raise DataError(f"{where}: start_s/end_s select samples {first}..{last} of "
                        f"{len(array)}")
    return array[first:last]


def load_manifest(root: str | Path, *, modality: str = "", manifest: str = MANIFEST,
                  missing: str = "drop", rms_floor: float = DEFAULT_RMS_FLOOR,
                  limit: int | None = None) -> LoadResult:
    """Load the recordings ``root/manifest.csv`` lists (see the module docstring).

    Parameters
    ----------
    modality : str
        Data key of rows without a ``modality`` column value.
    missing : {"drop", "keep"}
        With several modalities: a key lacking one is dropped (and listed) or kept with
        ``Sample.missing``.
    limit : int, optional
        At most this many rows per label (in manifest order).
    """
    root = Path(root)
    path = root / manifest
    rows = _rows(path)
    by_label: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for number, row in enumerate(rows, start=2):
        by_label.setdefault(row["label"], []).append((number, row))
    chosen = sorted((item for items in by_label.values() for item in spread(items, limit)),
                    key=lambda item: item[0])

    def load_one(item: tuple[int, dict[str, str]]) -> list[Sample]:
        number, row = item
        where = f"{path}:{number}"
        name = row.get("modality") or modality
        if not row["file"] or not row["label"] or not name:
            raise DataError(f"{where}: needs a file, a label and a modality (column or the "
                            f"modality option)")
        file = (root / row["file"]).resolve()
        array, meta = read_any(file, rms_floor=rms_floor, csv_columns=None)
        array = _crop(array, meta, row, where)
        group = row.get("group") or f"{row['label']}/{Path(row['file']).stem}"
        key = row.get("key") or row["file"]
        return [Sample(data={name: array}, label=row["label"], group=group, key=key,
                       source=str(file), meta=(*meta, ("modality", name)))]

    samples, skipped = collect(chosen, load_one, path_of=lambda item: f"{path}:{item[0]}",
                               desc=f"load {root.name}", total=len(chosen))
    names = sorted({str(s.meta_value("modality")) for s in samples})
    if len(names) <= 1:
        return LoadResult(samples=tuple(samples), skipped=tuple(skipped),
                          name=f"manifest:{root}")
    parts = {name: LoadResult(samples=tuple(s for s in samples
                                            if s.meta_value("modality") == name))
             for name in names}
    joined = join_by_key(parts, missing=missing, name=f"manifest:{root}")
    return LoadResult(samples=joined.samples, name=joined.name,
                      skipped=(*skipped, *[s for s in joined.skipped
                                           if isinstance(s, Skipped)]))
