"""Omron D6T-44L posture set: ``Dataset/Data-<Room>-Day<N>/<Room>-Day<N>-<Vol>-<Posture>.csv``.

Each CSV starts with a "BEGINNING OF FILE" stamp and a header
``TPTAT, T1..T16, CheckPEC, Delta t, Time Stamp`` and may end with an "END OF FILE" stamp.
Each data row is one frame: T1..T16 in 0.1 degC become a ``(4, 4)`` float32 frame in degC
(row-major, T1 top-left). Rows whose CheckPEC is 0 (failed packet check) are dropped and
counted in the result's notes. Group = volunteer (A-E; ``None`` for the empty-room file
recorded without one); meta keeps room, day, posture id, row number and ambient (TPTAT).

A few files name the posture in words; they are mapped explicitly (``NAMED_POSTURES``) and an
unknown posture is skipped with its reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.sources.base import LoadResult, Sample, collect, spread
from tinyfuse.sensors.sources.readers import check_nonempty

NAME = "thermal_d6t_posture"
POSTURES = {
    1: "lying_bed", 2: "sitting_bed", 3: "lying_bed_blanket", 4: "sitting_floor",
    5: "standing", 6: "lying_floor", 7: "standing_winter_clothes", 8: "empty_bedroom",
    9: "shower_lying", 10: "shower_standing", 11: "sink_standing",
    12: "toilet_standing_heavy_clothes", 13: "toilet_standing_light_clothes",
    14: "toilet_sitting_heavy_clothes", 15: "toilet_sitting_light_clothes", 16: "empty_bathroom",
}
NAMED_POSTURES = {
    "Lying-Sheetthick-on-the-bed": 3, "Lying-Sheetthin-on-the-bed": 3,
    "Sleeping-on-the-bed-using-blanket": 3, "None-After-Sleeping": 8,
}
_FILE = re.compile(r"^(?P<room>Bedroom|Bathroom)-Day(?P<day>\d+)-(?P<vol>[A-Za-z]+)-(?P<rest>.+)$")
_N_COLUMNS = 20  # TPTAT, T1..T16, CheckPEC, delta t, time stamp


def is_thermal_d6t(root: Path) -> bool:
    """True when ``root`` (or ``root/Dataset``) holds ``Data-<Room>-Day<N>`` folders."""
    base = root / "Dataset" if (root / "Dataset").is_dir() else root
    return any(base.glob("Data-*-Day*/*.csv"))


def parse_name(path: Path) -> dict[str, str | int]:
    """Room, day, volunteer and posture id from a file name (``DataError`` if unknown)."""
    match = _FILE.match(path.stem)
    if not match:
        raise DataError(f"{path}: file name does not match <Room>-Day<N>-<Vol>-<Posture>")
    rest = match["rest"]
    if rest.isdigit() and int(rest) in POSTURES:
        posture = int(rest)
    elif rest in NAMED_POSTURES:
        posture = NAMED_POSTURES[rest]
    else:
        raise DataError(f"{path}: unknown posture {rest!r}")
    return {"room": match["room"].lower(), "day": int(match["day"]),
            "volunteer": match["vol"], "posture_id": posture}


def read_d6t_csv(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Frames of one D6T CSV.

    Returns
    -------
    (frames_c, ambient_c, row_numbers, n_dropped)
        ``frames_c`` float32 ``(n, 4, 4)`` degC; ``ambient_c`` float32 ``(n,)`` (TPTAT);
        ``row_numbers`` int ``(n,)`` (1-based file lines); ``n_dropped`` CheckPEC==0 rows.
    """
    path = check_nonempty(path)
    values, lines = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        cells = [c.strip() for c in line.split(",")]
        if "OF FILE" in line or cells[0] == "TPTAT" or not line.strip():
            continue
        if len(cells) != _N_COLUMNS:
            raise DataError(f"{path}: ragged rows: line {number} has {len(cells)} columns, "
                            f"expected {_N_COLUMNS}")
        try:
            values.append([int(c) for c in cells[:18]])
        except ValueError:
            raise DataError(f"{path}: line {number}: non-integer temperature/CheckPEC") from None
        lines.append(number)
    if not values:
        raise DataError(f"{path}: no frames")
    table = np.array(values, dtype=np.int32)
    good = table[:, 17] != 0
    if not good.any():
        raise DataError(f"{path}: every row has CheckPEC == 0")
    table = table[good]
    frames_c = (table[:, 1:17].astype(np.float32) / 10.0).reshape(-1, 4, 4)
    ambient_c = table[:, 0].astype(np.float32) / 10.0
    return frames_c, ambient_c, np.array(lines)[good], int((~good).sum())


def load_thermal_d6t(root: str | Path, *, limit: int | None = None) -> LoadResult:
    """Load every frame of the D6T posture set as a ``{"thermal": (4, 4)}`` degC sample.

    Parameters
    ----------
    limit : int, optional
        At most this many files per posture (sorted by path).
    """
    root = Path(root)
    base = root / "Dataset" if (root / "Dataset").is_dir() else root
    files = _limit_per_posture(sorted(base.glob("Data-*-Day*/*.csv")), limit)
    dropped: list[tuple[Path, int]] = []

    def load_one(path: Path) -> list[Sample]:
        info = parse_name(path)
        frames_c, ambient_c, rows, n_dropped = read_d6t_csv(path)
        if n_dropped:
            dropped.append((path, n_dropped))
        label = POSTURES[int(info["posture_id"])]
        group = "none" if str(info["volunteer"]).lower() == "none" else str(info["volunteer"])
        count = len(rows)
        return [Sample(data={"thermal": frame}, label=label, group=group,
                       key=f"{path.stem}#{row}", source=str(path),
                       meta=(("room", info["room"]), ("day", info["day"]),
                             ("posture_id", info["posture_id"]), ("row", int(row)),
                             ("ambient_c", float(ambient)),
                             ("start_fraction", position / count),
                             ("end_fraction", (position + 1) / count)))
                for position, (frame, ambient, row) in enumerate(
                    zip(frames_c, ambient_c, rows, strict=True))]

    samples, skipped = collect(files, load_one, path_of=str, desc="thermal_d6t",
                               total=len(files))
    total = sum(n for _, n in dropped)
    notes = (f"dropped {total} CheckPEC==0 row(s) in {len(dropped)} file(s)",
             *(f"{path}: dropped {n} row(s) with CheckPEC == 0" for path, n in dropped))
    return LoadResult(samples=tuple(samples), skipped=tuple(skipped), name=NAME, notes=notes)


def _limit_per_posture(files: list[Path], limit: int | None) -> list[Path]:
    by_posture: dict[str, list[Path]] = {}
    for path in files:
        by_posture.setdefault(path.stem.rsplit("-", 1)[-1], []).append(path)
    kept = {path for paths in by_posture.values() for path in spread(paths, limit)}
    return [path for path in files if path in kept]
