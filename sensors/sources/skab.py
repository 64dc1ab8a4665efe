"""SKAB (Skoltech Anomaly Benchmark): a water pump whose sensors were sampled together at 1 Hz.

``data/{valve1,valve2,other}/<n>.csv`` hold one experiment each (one fault, preceded by normal
running) and ``data/anomaly-free/anomaly-free.csv`` a run without faults; ``;``-separated,
columns ``datetime; Accelerometer1RMS; Accelerometer2RMS; Current; Pressure; Temperature;
Thermocouple; Voltage; Volume Flow RateRMS; anomaly; changepoint`` (the anomaly-free run has no
label columns: every row is normal).

Every ``hop_rows`` rows, the last ``window_rows`` rows become one sample with one modality per
sensor family (:data:`FAMILIES`): ``{family: float32 (window_rows * n_channels,)}``, row-major
(the first row's channels first). Each channel is a z-score against the experiment's own
baseline, the mean and standard deviation of its first ``baseline_rows`` rows (normal running
in every experiment). That is how a pump monitor is commissioned: it learns its machine's
normal level for a minute after installation, then watches for departures from it; absolute
levels differ from run to run (water temperature, valve settings) and would otherwise say more
about the run than about a fault.

``scale="log"`` (default) then compresses each score to ``sign(z) * log(1 + |z|)``: a channel
that was nearly constant during its baseline minute (a temperature) reaches scores of hundreds
after an hour of slow drift, far outside anything a fault run showed in training, and a
network extrapolates there at random (in a grouped cross-validation of a small network, the
share of the 2.6-hour fault-free run's windows called normal ranged from 10 % to 93 % over
three seeds; 99 % to 100 % compressed). Compressed, the drift stays near the range that
training saw, while a fault's jump of 5 to 50 baseline deviations still reads 1.8 to 3.9.
``scale="z"`` keeps the plain z-scores.

Labels (``labels=``): ``"anomaly"`` (default) gives ``anomaly`` when the window's last row is
marked anomalous (the pump is faulty *now*), else ``normal``; ``"fault"`` gives the fault's
folder (``valve1``, ``valve2``, ``other``) to anomalous windows. Group = experiment
(``valve1/3``), so a split never puts rows of one run on both sides. Meta: ``fault`` (the
folder), ``experiment``, ``start_row``, ``anomalous_fraction`` (of the window's rows).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.sources.base import LoadResult, Sample, collect, spread
from tinyfuse.sensors.sources.readers import read_csv_columns

NAME = "skab"
SAMPLE_RATE_HZ = 1.0
FAULT_FOLDERS = ("valve1", "valve2", "other")
NORMAL_FOLDER = "anomaly-free"
#: sensor family (modality name) -> its CSV columns
FAMILIES: dict[str, tuple[str, ...]] = {
    "vibration": ("Accelerometer1RMS", "Accelerometer2RMS"),
    "electrical": ("Current", "Voltage"),
    "hydraulic": ("Pressure", "Volume Flow RateRMS"),
    "thermal": ("Temperature", "Thermocouple"),
}
LABEL_COLUMN = "anomaly"
LABEL_MODES = ("anomaly", "fault")
SCALES = ("log", "z")
Z_LIMIT = 1000.0  # |z-score| cap: a channel that was nearly constant at baseline stays finite


def is_skab(root: Path) -> bool:
    """True when ``root`` (or its ``data/`` folder) holds SKAB's experiment folders."""
    return any((base / folder).is_dir() and any((base / folder).glob("*.csv"))
               for base in (root, root / "data") for folder in ("valve1", "valve2"))


def _data_root(root: Path) -> Path:
    return root / "data" if (root / "data").is_dir() else root


def load_skab(root: str | Path, *, window_rows: int = 60, hop_rows: int = 10,
              baseline_rows: int = 60, labels: str = "anomaly", scale: str = "log",
              modalities: tuple[str, ...] | list[str] | None = None,
              anomaly_free: bool = True, limit: int | None = None) -> LoadResult:
    """Load windows of every experiment (see the module docstring).

    Parameters
    ----------
    window_rows, hop_rows : int
        Window length and step in rows (seconds at SKAB's 1 Hz).
    baseline_rows : int
        Rows at the start of each experiment that set its per-channel mean and scale.
    labels : {"anomaly", "fault"}
    scale : {"log", "z"}
        ``log``: z-scores compressed to ``sign(z) * log(1 + |z|)``; ``z``: plain z-scores.
    modalities : sequence of str, optional
        Families to load (default: all of :data:`FAMILIES`).
    anomaly_free : bool
        Also load the fault-free run (all windows ``normal``, its own group).
    limit : int, optional
        At most this many experiments per folder, spread over the folder's sorted files.

    Raises
    ------
    DataError
        Bad options, or no experiment folder under ``root``.
    """
    root = _data_root(Path(root))
    families = _families(modalities)
    if labels not in LABEL_MODES:
        raise DataError(f"skab: labels={labels!r} must be one of {LABEL_MODES}")
    if scale not in SCALES:
        raise DataError(f"skab: scale={scale!r} must be one of {SCALES}")
    for name, value in (("window_rows", window_rows), ("hop_rows", hop_rows),
                        ("baseline_rows", baseline_rows)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
            raise DataError(f"skab: {name}={value!r} must be an integer in [1, 100000]")
    folders = [*FAULT_FOLDERS, *([NORMAL_FOLDER] if anomaly_free else [])]
    files = [path for folder in folders
             for path in spread(sorted((root / folder).glob("*.csv"), key=_file_order), limit)]
    if not files:
        raise DataError(f"{root}: no SKAB experiments (expected {'/'.join(FAULT_FOLDERS)}"
                        f"/<n>.csv)")

    def load_one(path: Path) -> list[Sample]:
        return _windows(path, families=families, window_rows=window_rows, hop_rows=hop_rows,
                        baseline_rows=baseline_rows, labels=labels, scale=scale)

    samples, skipped = collect(files, load_one, path_of=str, desc="skab", total=len(files))
    return LoadResult(samples=tuple(samples), skipped=tuple(skipped), name=NAME,
                      notes=(f"{window_rows}-row windows every {hop_rows} rows, each channel "
                             f"a z-score against its experiment's first {baseline_rows} rows"
                             f"{', log-compressed' if scale == 'log' else ''}",))


def _file_order(path: Path) -> tuple[int, str]:
    return (int(path.stem), path.stem) if path.stem.isdigit() else (1 << 30, path.stem)


def _families(modalities: tuple[str, ...] | list[str] | None) -> dict[str, tuple[str, ...]]:
    if modalities is None:
        return dict(FAMILIES)
    names = [modalities] if isinstance(modalities, str) else list(modalities)
    unknown = [m for m in names if m not in FAMILIES]
    if unknown or not names:
        raise DataError(f"skab: modalities {unknown or names} not among {sorted(FAMILIES)}")
    return {m: FAMILIES[m] for m in names}


def _windows(path: Path, *, families: dict[str, tuple[str, ...]], window_rows: int,
             hop_rows: int, baseline_rows: int, labels: str, scale: str) -> list[Sample]:
    """The windows of one experiment file."""
    folder = path.parent.name
    columns = [c for cols in families.values() for c in cols]
    labelled = folder != NORMAL_FOLDER  # the fault-free run has no label columns
    table = read_csv_columns(path, columns=(*columns, *([LABEL_COLUMN] if labelled else [])),
                             delimiter=";")
    values = table[:, :len(columns)]
    anomalous = table[:, -1] > 0.5 if labelled else np.zeros(len(table), bool)
    if len(values) < max(window_rows, baseline_rows):
        raise DataError(f"{path}: {len(values)} rows, fewer than window_rows={window_rows} "
                        f"or baseline_rows={baseline_rows}")
    if anomalous[:baseline_rows].any():
        raise DataError(f"{path}: anomalous rows within the first {baseline_rows} "
                        f"(baseline_rows must cover normal running only)")
    z = baseline_scores(values, baseline_rows=baseline_rows)
    if scale == "log":
        z = log_compress(z)
    experiment = f"{folder}/{path.stem}"
    out = []
    for start in range(0, len(values) - window_rows + 1, hop_rows):
        stop = start + window_rows
        faulty = bool(anomalous[stop - 1])
        label = ("anomaly" if labels == "anomaly" else folder) if faulty else "normal"
        data, offset = {}, 0
        for family, cols in families.items():
            data[family] = z[start:stop, offset:offset + len(cols)].reshape(-1).copy()
            offset += len(cols)
        out.append(Sample(data=data, label=label, group=experiment,
                          key=f"{experiment}@{start}", source=str(path),
                          meta=(("fault", folder), ("experiment", experiment),
                                ("start_row", start), ("sample_rate_hz", SAMPLE_RATE_HZ),
                                ("anomalous_fraction",
                                 float(anomalous[start:stop].mean())))))
    return out


def baseline_scores(values: np.ndarray, *, baseline_rows: int) -> np.ndarray:
    """Each column of ``values`` ``(n_rows, n_channels)`` as a z-score against its first
    ``baseline_rows`` rows, float32; the scale is floored at 0.1 % of the baseline level (and
    1e-6) and the result capped at +/- :data:`Z_LIMIT`.

    Examples
    --------
    >>> baseline_scores(np.array([[1.0], [3.0], [4.0]]), baseline_rows=2)[:, 0].tolist()
    [-1.0, 1.0, 2.0]
    """
    base = values[:baseline_rows]
    mean = base.mean(axis=0)
    scale = np.maximum(base.std(axis=0), np.maximum(1e-3 * np.abs(mean), 1e-6))
    return np.clip((values - mean) / scale, -Z_LIMIT, Z_LIMIT).astype(np.float32)


def log_compress(z: np.ndarray) -> np.ndarray:
    """``sign(z) * log(1 + |z|)``, float32: odd, monotonic, about ``z`` near 0.

    Examples
    --------
    >>> [round(float(v), 3) for v in log_compress(np.array([0.0, -(np.e - 1.0), 1000.0]))]
    [0.0, -1.0, 6.909]
    """
    return (np.sign(z) * np.log1p(np.abs(z))).astype(np.float32)
