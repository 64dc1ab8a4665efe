"""Readers and the bad-input report: every bad file becomes a Skipped entry naming the file and
the problem, and every good file in the same folder is kept."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from sensors.errors import DataError
from sensors.sources import load_folder, read_audio, read_csv_matrix, read_image, read_mat


def _tone(rate_hz: int, duration_s: float = 0.5, freq_hz: float = 440.0) -> np.ndarray:
    t_s = np.arange(int(rate_hz * duration_s)) / rate_hz
    return (0.3 * np.sin(2 * np.pi * freq_hz * t_s)).astype(np.float32)


def _write_wav(path: Path, rate_hz: int = 16000, **kwargs: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, _tone(rate_hz, **kwargs), rate_hz, subtype="PCM_16")
    return path


@pytest.fixture
def audio_folder(tmp_path: Path) -> dict[str, Path]:
    """Two classes of good wavs plus one file for every defect."""
    root = tmp_path / "audio"
    good = [_write_wav(root / "cough" / f"good{i}.wav") for i in range(3)]
    good += [_write_wav(root / "speech" / f"good{i}.wav") for i in range(2)]
    bad = {
        "empty": root / "cough" / "empty.wav",
        "truncated": root / "cough" / "truncated.wav",
        "corrupt_mp3": root / "speech" / "corrupt.mp3",
        "wrong_rate": root / "speech" / "rate8k.wav",
        "silent": root / "speech" / "silent.wav",
        "nan": root / "cough" / "nan.wav",
    }
    bad["empty"].write_bytes(b"")
    whole = _write_wav(tmp_path / "whole.wav").read_bytes()
    bad["truncated"].write_bytes(whole[: len(whole) // 2])
    bad["corrupt_mp3"].write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 8)
    _write_wav(bad["wrong_rate"], rate_hz=8000)
    sf.write(bad["silent"], np.zeros(8000, dtype=np.float32), 16000, subtype="PCM_16")
    nan_signal = _tone(16000)
    nan_signal[100] = np.nan
    sf.write(bad["nan"], nan_signal, 16000, subtype="FLOAT")
    return {"root": root, **{f"good{i}": p for i, p in enumerate(good)}, **bad}


def test_folder_skips_every_bad_file_and_keeps_every_good_one(audio_folder):
    result = load_folder(audio_folder["root"], modality="audio", rate_mismatch="reject")
    assert len(result) == 5
    assert result.counts_by_class() == {"cough": 3, "speech": 2}
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert set(reasons) == {"empty.wav", "truncated.wav", "corrupt.mp3", "rate8k.wav",
                            "silent.wav", "nan.wav"}
    assert "empty file" in reasons["empty.wav"]
    assert "truncated WAV" in reasons["truncated.wav"]
    assert "corrupt or undecodable" in reasons["corrupt.mp3"]
    assert "8000 Hz, expected 16000 Hz" in reasons["rate8k.wav"]
    assert "near-silent" in reasons["silent.wav"]
    assert "NaN/inf" in reasons["nan.wav"]
    assert all(str(audio_folder["root"]) in s.path for s in result.skipped)
    summary = result.summary()
    assert summary["n_skipped"] == 6 and summary["counts_by_class"]["cough"] == 3


def test_wrong_rate_is_resampled_by_default(audio_folder):
    signal, rate_hz = read_audio(audio_folder["wrong_rate"], sample_rate_hz=16000)
    assert rate_hz == 16000 and signal.shape == (8000,)
    spectrum = np.abs(np.fft.rfft(signal))
    assert abs(np.argmax(spectrum) * 16000 / signal.size - 440.0) < 3.0


def test_rms_floor_is_configurable(tmp_path):
    path = tmp_path / "quiet.wav"
    sf.write(path, (1e-3 * _tone(16000)).astype(np.float32), 16000, subtype="FLOAT")
    read_audio(path, rms_floor=1e-4)  # RMS ~ 2e-4: kept
    with pytest.raises(DataError, match="near-silent"):
        read_audio(path, rms_floor=1e-3)


def test_read_audio_stereo_is_averaged_to_mono(tmp_path):
    path = tmp_path / "stereo.flac"
    tone = _tone(16000)
    sf.write(path, np.stack([tone, tone], axis=1), 16000)
    signal, _ = read_audio(path)
    assert signal.ndim == 1 and np.allclose(signal, tone, atol=1e-4)


def test_csv_defects_are_named(tmp_path):
    root = tmp_path / "vib"
    (root / "normal").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        np.savetxt(root / "normal" / f"w{i}.csv", rng.normal(size=(20, 3)), delimiter=",")
    (root / "normal" / "nan.csv").write_text("0.1,0.2,0.3\n0.1,nan,0.3\n")
    (root / "normal" / "ragged.csv").write_text("0.1,0.2,0.3\n0.1,0.2\n0.1,0.2,0.3\n")
    (root / "normal" / "text.csv").write_text("0.1,0.2,0.3\n0.1,abc,0.3\n")
    result = load_folder(root, modality="vibration", csv_columns=3)
    assert len(result) == 3
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert "NaN/inf at line 2, column 2" in reasons["nan.csv"]
    assert "line 2 has 2 columns, expected 3" in reasons["ragged.csv"]
    assert "non-numeric cell 'abc'" in reasons["text.csv"]
    assert result.samples[0].data["vibration"].shape == (20, 3)


def test_image_readers(tmp_path):
    image = np.arange(12, dtype=np.uint16).reshape(3, 4) * 100
    cv2.imwrite(str(tmp_path / "depth.png"), image)
    assert np.array_equal(read_image(tmp_path / "depth.png"), image.astype(np.float32))
    np.save(tmp_path / "t.npy", image.astype(np.float64) / 10)
    assert read_image(tmp_path / "t.npy").dtype == np.float32
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DataError, match="bad.png: corrupt"):
        read_image(tmp_path / "bad.png")
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2)))
    with pytest.raises(DataError, match="2-D"):
        read_image(tmp_path / "cube.npy")
    whole = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(whole[:-20])
    with pytest.raises(DataError, match="cut.npy"):
        read_image(tmp_path / "cut.npy")


def test_read_mat_round_trip_and_missing_key(tmp_path):
    from scipy.io import savemat

    savemat(tmp_path / "x.mat", {"X001_DE_time": np.ones((10, 1))})
    assert read_mat(tmp_path / "x.mat")["X001_DE_time"].shape == (10, 1)
    with pytest.raises(DataError, match="missing variables"):
        read_mat(tmp_path / "x.mat", keys=("RPM",))
    (tmp_path / "junk.mat").write_bytes(b"MATLAB junk" * 10)
    with pytest.raises(DataError, match="junk.mat"):
        read_mat(tmp_path / "junk.mat")


def test_csv_empty_file(tmp_path):
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DataError, match="e.csv: empty file"):
        read_csv_matrix(tmp_path / "e.csv")
