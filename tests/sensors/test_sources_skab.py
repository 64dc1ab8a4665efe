"""SKAB loader: windows, baseline z-scores, labels and groups, on a small set written in SKAB's
own layout, and on the real recordings when ../shared/datasets is present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.sources.registry import detect_dataset, load_dataset
from tinyfuse.sensors.sources.skab import FAMILIES, baseline_scores, load_skab, log_compress

HEADER = ("datetime;Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;"
          "Thermocouple;Voltage;Volume Flow RateRMS;anomaly;changepoint")
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "skab"


def write_experiment(path: Path, rows: np.ndarray, anomalous: np.ndarray | None) -> None:
    """One SKAB CSV: ``rows`` (n, 8) sensor values in the file's column order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = HEADER if anomalous is not None else HEADER.rsplit(";", 2)[0]
    lines = [header]
    for index, row in enumerate(rows):
        cells = [f"2020-03-09 10:{index // 60:02d}:{index % 60:02d}"]
        cells += [f"{v:.6g}" for v in row]
        if anomalous is not None:
            cells += [f"{float(anomalous[index]):.1f}", "0.0"]
        lines.append(";".join(cells))
    path.write_text("\n".join(lines) + "\n")


def small_set(root: Path, *, n_rows: int = 120, onset: int = 60, seed: int = 0) -> Path:
    """valve1/0, valve2/0 (pressure drops at ``onset``), other/0 (vibration rises) and the
    fault-free run."""
    rng = np.random.default_rng(seed)
    level = np.array([0.2, 0.27, 2.0, 1.0, 80.0, 26.0, 230.0, 120.0])
    noise = np.array([0.001, 0.001, 0.3, 0.02, 0.3, 0.01, 10.0, 0.4])
    faults = {"valve1": (3, -0.3), "valve2": (3, -0.3), "other": (0, 0.02)}
    data = root / "data"
    for folder, (column, step) in faults.items():
        rows = level + rng.normal(size=(n_rows, 8)) * noise
        rows[onset:, column] += step
        anomalous = np.arange(n_rows) >= onset
        write_experiment(data / folder / "0.csv", rows, anomalous)
    write_experiment(data / "anomaly-free" / "anomaly-free.csv",
                     level + rng.normal(size=(n_rows, 8)) * noise, None)
    return root


def test_baseline_scores_are_z_scores_against_the_first_rows():
    z = baseline_scores(np.array([[1.0], [3.0], [4.0]]), baseline_rows=2)
    assert z[:, 0].tolist() == [-1.0, 1.0, 2.0]
    flat = baseline_scores(np.array([[5.0], [5.0], [5.0 + 1e6]]), baseline_rows=2)
    assert np.isfinite(flat).all() and flat[2, 0] == 1000.0  # capped, never inf


def test_log_compression_is_odd_monotonic_and_keeps_small_scores():
    z = np.linspace(-1000.0, 1000.0, 2001)
    out = log_compress(z)
    assert np.all(np.diff(out) > 0) and np.allclose(out, -log_compress(-z))
    assert abs(log_compress(np.array([0.01]))[0] - 0.01) < 1e-4
    assert out.max() < 7.0  # an hour of drift (z ~ 1000) stays within a fault's order


def test_the_default_scale_is_log_compressed_z(tmp_path):
    root = small_set(tmp_path)
    plain = load_skab(root, window_rows=20, hop_rows=10, baseline_rows=30, scale="z")
    default = load_skab(root, window_rows=20, hop_rows=10, baseline_rows=30)
    for a, b in zip(plain.samples, default.samples, strict=True):
        assert np.allclose(log_compress(a.data["hydraulic"]), b.data["hydraulic"])
    assert "log-compressed" in default.notes[0] and "log" not in plain.notes[0]


def test_windows_labels_groups_and_layout(tmp_path):
    root = small_set(tmp_path)
    assert detect_dataset(root) == "skab"
    loaded = load_dataset("auto", root, window_rows=20, hop_rows=10, baseline_rows=30,
                          scale="z")
    assert loaded.counts_by_group() == {"anomaly-free/anomaly-free": 11, "other/0": 11,
                                        "valve1/0": 11, "valve2/0": 11}
    assert set(loaded.modalities) == set(FAMILIES)
    sample = next(s for s in loaded.samples if s.group == "valve1/0" and
                  s.meta_value("start_row") == 60)
    assert sample.label == "anomaly" and sample.meta_value("fault") == "valve1"
    hydraulic = sample.data["hydraulic"].reshape(20, 2)
    assert hydraulic[:, 0].mean() < -5  # the pressure drop, in baseline standard deviations
    before = next(s for s in loaded.samples if s.group == "valve1/0" and
                  s.meta_value("start_row") == 30)
    assert before.label == "normal" and before.meta_value("anomalous_fraction") == 0.0
    assert abs(before.data["hydraulic"].reshape(20, 2)[:, 0].mean()) < 1.5


def test_label_is_the_last_rows_state(tmp_path):
    root = small_set(tmp_path)
    loaded = load_skab(root, window_rows=20, hop_rows=10, baseline_rows=30, labels="fault",
                       modalities=["vibration"], anomaly_free=False)
    by_start = {(s.group, s.meta_value("start_row")): s for s in loaded.samples}
    assert by_start[("other/0", 30)].label == "normal"     # rows 30..49, onset at 60
    assert by_start[("other/0", 50)].label == "other"      # rows 50..69 end faulty
    assert by_start[("valve2/0", 50)].label == "valve2"
    assert by_start[("other/0", 50)].meta_value("anomalous_fraction") == 0.5
    assert set(loaded.modalities) == {"vibration"}
    assert by_start[("other/0", 50)].data["vibration"].shape == (40,)


@pytest.mark.parametrize("options, message", [
    ({"labels": "faults"}, "labels='faults'"),
    ({"scale": "linear"}, "scale='linear' must be one of"),
    ({"window_rows": 0}, "window_rows=0"),
    ({"modalities": ["sound"]}, "['sound'] not among"),
    ({"baseline_rows": 80}, "anomalous rows within the first 80"),
])
def test_bad_options_and_files_are_named(tmp_path, options, message):
    root = small_set(tmp_path)
    try:
        loaded = load_skab(root, **options)
    except DataError as exc:
        assert message in str(exc)
        return
    assert any(message in s.reason for s in loaded.skipped)  # a file-level problem: skipped


def test_a_truncated_file_is_skipped_and_the_rest_kept(tmp_path):
    root = small_set(tmp_path)
    (root / "data" / "valve1" / "1.csv").write_text(HEADER + "\n2020-03-09 10:00:00;0.2\n")
    loaded = load_skab(root, window_rows=20, hop_rows=10, baseline_rows=30)
    assert [Path(s.path).name for s in loaded.skipped] == ["1.csv"]
    assert "valve1/0" in loaded.counts_by_group()


def test_an_empty_folder_is_one_clear_error(tmp_path):
    (tmp_path / "valve1").mkdir()
    with pytest.raises(DataError, match="no SKAB experiments"):
        load_skab(tmp_path)


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/datasets/skab is not here")
def test_the_real_set_loads_every_experiment():
    loaded = load_skab(REAL)
    assert not loaded.skipped
    groups = loaded.counts_by_group()
    assert len(groups) == 35  # 34 fault experiments and the fault-free run
    counts = loaded.counts_by_class()
    assert counts["anomaly"] > 1000 and counts["normal"] > 2000
    assert all(np.isfinite(s.data[m]).all() for s in loaded.samples for m in s.data)
