"""CWRU bearing data, 0 HP: ``Normal/Normal_0.mat`` (48 kHz) and ``12k_DE/<fault>_0.mat``.

Every recording is cut in time into windows of ``window_s`` (hop ``hop_s``) at 12 kHz; the
Normal baseline is decimated by 4 (FIR anti-alias filter, zero phase) from 48 kHz first.
Each window is ``{"vibration": float32 (n_samples, n_channels)}`` in g with channels
``DE`` (drive end) and optionally ``FE`` (fan end) as axes. Recordings without a requested
channel (B028 and IR028 have no FE) are skipped with that reason.

Meta keeps the window's time position (``start_s``, ``start_fraction``, ``end_fraction``)
so :meth:`LoadResult.time_split` can train on the first 70 % of each recording and test on
the last 30 %; group = recording. Label is the fault type (``normal``, ``inner_race``,
``ball``, ``outer_race``) or, with ``label_by="code"``, the file's code (``IR007``...).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.sources.base import LoadResult, Sample, collect
from tinyfuse.sensors.sources.readers import (
    as_float32,
    check_finite,
    decimation_factor,
    read_mat,
)

NAME = "cwru_0hp"
log = logging.getLogger(__name__)
SAMPLE_RATE_HZ = 12000
NORMAL_RATE_HZ = 48000
FAULT_TYPES = {"IR": "inner_race", "B": "ball", "OR": "outer_race", "Normal": "normal"}
_CODE = re.compile(r"^(?P<kind>IR|B|OR|Normal)(?P<mils>\d{3})?(@(?P<clock>\d+))?_(?P<hp>\d)$")


def is_cwru(root: Path) -> bool:
    """True when ``root`` holds ``12k_DE/*.mat`` or ``Normal/*.mat``."""
    return any(root.glob("12k_DE/*.mat")) or any(root.glob("Normal/*.mat"))


def load_cwru(
    root: str | Path,
    *,
    window_s: float = 0.25,
    hop_s: float | None = None,
    channels: tuple[str, ...] = ("DE",),
    label_by: str = "type",
    limit: int | None = None,
    channel_names: tuple[str, ...] = (),
    loads_hp: tuple[int, ...] = (),
) -> LoadResult:
    """Load all recordings as time windows at 12 kHz.

    Parameters
    ----------
    window_s, hop_s : float
        Window length and hop in seconds (hop defaults to the window: no overlap).
    channels : tuple of {"DE", "FE", "BA"}
        Accelerometers to stack as axes.
    label_by : {"type", "code"}
    limit : int, optional
        At most this many windows per recording (from its start).
    channel_names : tuple of str, optional
        One modality name per channel: each accelerometer becomes its own modality (a
        ``(n,)`` signal under that name) instead of one ``"vibration"`` array with the
        channels as axes.
    loads_hp : tuple of int, optional
        Only the recordings at these motor loads (the ``_<hp>`` of the file name); every
        load when empty. What was read (windows, recordings, loads, channels) is logged.
    """
    root = Path(root)
    channels = (channels,) if isinstance(channels, str) else tuple(channels)
    channel_names = (channel_names,) if isinstance(channel_names, str) else tuple(channel_names)
    if channel_names and len(channel_names) != len(channels):
        raise DataError(f"load_cwru: channel_names {list(channel_names)} must name each of "
                        f"the channels {list(channels)}")
    if label_by not in ("type", "code"):
        raise DataError(f"load_cwru: label_by={label_by!r} must be 'type' or 'code'")
    window = int(round(window_s * SAMPLE_RATE_HZ))
    hop = int(round((hop_s or window_s) * SAMPLE_RATE_HZ))
    if window < 16 or hop < 1:
        raise DataError(f"load_cwru: window_s={window_s}, hop_s={hop_s} too short")
    files = sorted(root.glob("Normal/*.mat")) + sorted(root.glob("12k_DE/*.mat"))
    loads = (loads_hp,) if isinstance(loads_hp, int) else tuple(int(v) for v in loads_hp)
    if loads:
        files = [f for f in files if (m := _CODE.match(f.stem)) and int(m["hp"]) in loads]
        if not files:
            raise DataError(f"{root}: no recording at motor load(s) {list(loads)} hp")

    def load_one(path: Path) -> list[Sample]:
        code = _parse_code(path)
        signal = _read_channels(path, channels)
        label = FAULT_TYPES[code["kind"]] if label_by == "type" else path.stem.split("_")[0]
        return _windows(path, signal, label, code, window=window, hop=hop, limit=limit,
                        names=channel_names)

    samples, skipped = collect(files, load_one, path_of=str, desc="cwru", total=len(files))
    read = sorted({str(s.meta_value("load_hp")) for s in samples})
    log.info("cwru: %d windows from %d recordings at load(s) %s hp, channels %s",
             len(samples), len({s.group for s in samples}), read, list(channels))
    return LoadResult(samples=tuple(samples), skipped=tuple(skipped), name=NAME)


def _parse_code(path: Path) -> dict[str, str]:
    match = _CODE.match(path.stem)
    if not match:
        raise DataError(f"{path}: file name is not a CWRU code like IR007_0 or OR007@6_0")
    return {k: v or "" for k, v in match.groupdict().items()}


def _read_channels(path: Path, channels: tuple[str, ...]) -> np.ndarray:
    variables = read_mat(path)
    columns = []
    for channel in channels:
        names = [k for k in variables if k.endswith(f"_{channel}_time")]
        if len(names) != 1:
            raise DataError(f"{path}: no {channel} channel (variables: {sorted(variables)})")
        columns.append(np.asarray(variables[names[0]], dtype=np.float64).reshape(-1))
    lengths = {c.shape[0] for c in columns}
    if len(lengths) != 1:
        raise DataError(f"{path}: channels {channels} differ in length {sorted(lengths)}")
    signal = check_finite(path, np.stack(columns, axis=1))
    if path.parent.name == "Normal":
        from scipy.signal import decimate

        factor = decimation_factor(NORMAL_RATE_HZ, SAMPLE_RATE_HZ)
        signal = decimate(signal, factor, ftype="fir", axis=0, zero_phase=True)
    return as_float32(path, signal)


def _windows(path: Path, signal: np.ndarray, label: str, code: dict[str, str], *, window: int,
             hop: int, limit: int | None, names: tuple[str, ...] = ()) -> list[Sample]:
    n_total = signal.shape[0]
    if n_total < window:
        raise DataError(f"{path}: {n_total} samples, shorter than one window of {window}")
    starts = list(range(0, n_total - window + 1, hop))[:limit]
    meta_base = (("code", path.stem.split("_")[0]), ("fault_mils", int(code["mils"] or 0)),
                 ("clock", code["clock"] or None), ("load_hp", int(code["hp"])),
                 ("sample_rate_hz", SAMPLE_RATE_HZ))

    def data(start: int) -> dict[str, np.ndarray]:
        part = signal[start:start + window]
        if names:
            return {name: part[:, i].copy() for i, name in enumerate(names)}
        return {"vibration": part.copy()}

    return [Sample(data=data(s), label=label,
                   group=path.stem, key=f"{path.stem}@{s}", source=str(path),
                   meta=(*meta_base, ("start_s", s / SAMPLE_RATE_HZ),
                         ("start_fraction", s / n_total),
                         ("end_fraction", (s + window) / n_total)))
            for s in starts]
