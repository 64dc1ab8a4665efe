"""Readers and the bad-input report: every bad file becomes a Skipped entry naming the file and
the problem, and every good file in the same folder is kept."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from tinyfuse.core.errors import DataError
from tinyfuse.sensors import sources
from tinyfuse.sensors.frontends import audio, extract
from tinyfuse.sensors.sources import load_folder, read_audio, read_csv_matrix, read_image, read_mat
from tinyfuse.sensors.spec import AudioSpec, ModalitySpec


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
        "silent": root / "speech" / "silent.wav",
        "nan": root / "cough" / "nan.wav",
    }
    bad["empty"].write_bytes(b"")
    whole = _write_wav(tmp_path / "whole.wav").read_bytes()
    bad["truncated"].write_bytes(whole[: len(whole) // 2])
    bad["corrupt_mp3"].write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 8)
    sf.write(bad["silent"], np.zeros(8000, dtype=np.float32), 16000, subtype="PCM_16")
    nan_signal = _tone(16000)
    nan_signal[100] = np.nan
    sf.write(bad["nan"], nan_signal, 16000, subtype="FLOAT")
    return {"root": root, **{f"good{i}": p for i, p in enumerate(good)}, **bad}


def test_folder_skips_every_bad_file_and_keeps_every_good_one(audio_folder):
    result = load_folder(audio_folder["root"], modality="audio")
    assert len(result) == 5
    assert result.counts_by_class() == {"cough": 3, "speech": 2}
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert set(reasons) == {"empty.wav", "truncated.wav", "corrupt.mp3", "silent.wav",
                            "nan.wav"}
    assert "empty file" in reasons["empty.wav"]
    assert "truncated WAV" in reasons["truncated.wav"]
    assert "corrupt or undecodable" in reasons["corrupt.mp3"]
    assert "near-silent" in reasons["silent.wav"]
    assert "NaN/inf" in reasons["nan.wav"]
    assert all(str(audio_folder["root"]) in s.path for s in result.skipped)
    summary = result.summary()
    assert summary["n_skipped"] == 5 and summary["counts_by_class"]["cough"] == 3


def test_loaders_keep_the_native_rate_in_meta(tmp_path):
    for rate_hz in (44100, 48000, 8000):
        _write_wav(tmp_path / "cough" / f"r{rate_hz}.wav", rate_hz=rate_hz, duration_s=0.5)
    result = load_folder(tmp_path, modality="audio")
    assert not result.skipped
    for sample in result:
        rate_hz = int(Path(sample.source).stem[1:])
        assert sample.meta_value("sample_rate_hz") == rate_hz
        assert sample.data["audio"].shape == (rate_hz // 2,)
        np.testing.assert_allclose(sample.data["audio"], _tone(rate_hz), atol=1e-4)
    assert not hasattr(sources, "resample")


@pytest.mark.parametrize("rate_hz", [44100, 48000])
def test_extract_of_a_loaded_sample_is_the_front_end_resampling(tmp_path, rate_hz):
    path = _write_wav(tmp_path / "cough" / "clip.wav", rate_hz=rate_hz, duration_s=1.5,
                      freq_hz=1000.0)
    (sample,) = load_folder(tmp_path, modality="audio").samples
    spec = ModalitySpec(name="audio", frontend=AudioSpec(duration_s=1.0))
    served = extract(spec, sf.read(path, dtype="float32")[0], sample_rate_hz=rate_hz)
    trained = extract(spec, sample.data["audio"],
                      sample_rate_hz=sample.meta_value("sample_rate_hz"))
    np.testing.assert_array_equal(trained, served)
    whole = audio.resample(sample.data["audio"], orig_hz=rate_hz, target_hz=16000)
    reference = audio.mfcc(audio.fix_length(whole, n_samples=16000), spec=spec.frontend)
    np.testing.assert_allclose(trained, reference, atol=1e-3)


def _wav_header(rate_hz: int, n_data_bytes: int) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 1, rate_hz, 2 * rate_hz, 2, 16)
    return (b"RIFF" + struct.pack("<I", 36 + n_data_bytes) + b"WAVE" + b"fmt "
            + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", n_data_bytes))


@pytest.mark.parametrize("rate_hz", [1, 999, 384001, 4_000_000])
def test_absurd_header_rate_is_rejected_before_decoding(tmp_path, rate_hz):
    path = tmp_path / f"rate{rate_hz}.wav"
    data = (np.sin(np.arange(200_000) * 0.1) * 10000).astype("<i2").tobytes()
    path.write_bytes(_wav_header(rate_hz, len(data)) + data)
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as caught:
            read_audio(path)
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert f"sample rate {rate_hz} Hz, outside [1000, 384000] Hz" in message
    assert peak_bytes < 200_000  # nothing decoded: the 400 KB of samples are never read


def test_long_recordings_are_rejected_before_decoding(tmp_path):
    path = _write_wav(tmp_path / "long.wav", rate_hz=16000, duration_s=2.0)
    assert read_audio(path, max_duration_s=2.0)[0].shape == (32000,)
    with pytest.raises(DataError, match=r"long.wav: too long: header claims 32000 frames"):
        read_audio(path, max_duration_s=1.0)


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


def _frames(root, layout):
    for path in layout:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, np.full((4, 4), 20.0, np.float32))


def test_folder_groups_from_sub_folders_and_from_a_regex(tmp_path):
    from tinyfuse.sensors.sources import load_folder

    _frames(tmp_path / "v", ["fall/video1/000.npy", "fall/video1/001.npy", "fall/video2/000.npy",
                             "walk/video3/000.npy", "walk/lone.npy"])
    nested = load_folder(tmp_path / "v", modality="depth", groups="folder")
    assert sorted((s.label, s.group) for s in nested.samples) == [
        ("fall", "fall/video1"), ("fall", "fall/video1"), ("fall", "fall/video2"),
        ("walk", "walk/lone"), ("walk", "walk/video3")]
    assert len({s.key for s in nested.samples}) == 5  # frames of one video keep their own keys
    _frames(tmp_path / "r", ["cough/p07_a.npy", "cough/p07_b.npy", "cough/p09_a.npy",
                             "cough/x.npy"])
    by_name = load_folder(tmp_path / "r", modality="thermal", group_regex=r"(p\d+)_")
    assert sorted(s.group for s in by_name.samples) == ["p07", "p07", "p09"]
    assert [s.path.endswith("x.npy") for s in by_name.skipped] == [True]
    assert "does not match its path" in by_name.skipped[0].reason
    with pytest.raises(DataError, match="needs a capture group"):
        load_folder(tmp_path / "r", group_regex=r"p\d+")
    with pytest.raises(DataError, match="groups='speaker' must be one of"):
        load_folder(tmp_path / "r", groups="speaker")


def test_a_limited_load_spans_every_group(tmp_path):
    from tinyfuse.sensors.sources import load_folder
    from tinyfuse.sensors.sources.base import spread

    assert spread(list("abcdefgh"), 3) == ["a", "e", "h"]
    assert spread(list("ab"), 5) == ["a", "b"] and spread(list("abc"), 1) == ["a"]
    assert spread(list("abc"), None) == ["a", "b", "c"] and spread([], 2) == []
    _frames(tmp_path / "v", [f"fall/video{v}/{f:03d}.npy" for v in range(3) for f in range(4)])
    limited = load_folder(tmp_path / "v", modality="depth", groups="folder", limit=3)
    assert sorted(s.group for s in limited.samples) == [
        "fall/video0", "fall/video1", "fall/video2"]


def test_a_manifest_names_files_labels_groups_modalities_and_crops(tmp_path):
    from tinyfuse.sensors.sources import load_dataset

    for name in ("p1/cough.wav", "p1/breath.wav", "p2/cough.wav", "p2/breath.wav"):
        _write_wav(tmp_path / name, rate_hz=8000, duration_s=2.0)
    (tmp_path / "manifest.csv").write_text(
        "file,label,group,modality,key,start_s,end_s\n"
        "p1/cough.wav,sick,p1,cough,p1,0.5,1.5\n"
        "p1/breath.wav,sick,p1,breathing,p1,,\n"
        "p2/cough.wav,well,p2,cough,p2,,\n"
        "p2/breath.wav,well,p2,breathing,p2,,\n"
        "p3/none.wav,well,p3,cough,p3,,\n")
    loaded = load_dataset("auto", tmp_path)
    assert [(s.label, s.group, sorted(s.data)) for s in loaded.samples] == [
        ("sick", "p1", ["breathing", "cough"]), ("well", "p2", ["breathing", "cough"])]
    assert len(loaded.samples[0].data["cough"]) == 8000  # 0.5 s .. 1.5 s at 8 kHz
    assert loaded.samples[0].sample_rate_hz("cough") == 8000
    assert any("p3/none.wav" in s.path or "manifest.csv:6" in s.path for s in loaded.skipped)
    (tmp_path / "manifest.csv").write_text("path,class\nx.wav,a\n")
    with pytest.raises(DataError, match=r"manifest.csv: the header needs columns \['file'"):
        load_dataset("manifest", tmp_path)


def test_unread_files_are_listed_and_huge_values_refused(tmp_path):
    from tinyfuse.sensors.sources import load_folder

    _write_wav(tmp_path / "set" / "cough" / "a.wav", rate_hz=8000, duration_s=1.0)
    (tmp_path / "set" / "cough" / "notes.txt").write_text("recorded on a Monday")
    (tmp_path / "set" / "cough" / "b.mat").write_bytes(b"MATLAB")
    loaded = load_folder(tmp_path / "set")
    assert len(loaded.samples) == 1
    reasons = {Path(s.path).name: s.reason for s in loaded.skipped}
    assert set(reasons) == {"notes.txt", "b.mat"}
    assert reasons["b.mat"].startswith("unsupported file type '.mat'")
    (tmp_path / "v" / "hit").mkdir(parents=True)
    (tmp_path / "v" / "hit" / "x.csv").write_text("1e308,1,2\n0,1,2\n")
    huge = load_folder(tmp_path / "v", modality="vibration")
    assert not huge.samples and "beyond the float32 range" in huge.skipped[0].reason


def test_csv_with_a_header_timestamps_and_chosen_columns(tmp_path):
    from tinyfuse.sensors.sources import read_csv_columns

    path = tmp_path / "log.csv"
    path.write_text("datetime,x,y,status\n2020-03-09 10:14:33,0.5,1.5,ok\n"
                    "2020-03-09 10:14:34,0.25,2.0,ok\n")
    assert read_csv_columns(path, columns=("x", "y")).tolist() == [[0.5, 1.5], [0.25, 2.0]]
    assert read_csv_columns(path, columns=(2,)).tolist() == [[1.5], [2.0]]
    with pytest.raises(DataError, match=r"line 2, datetime: non-numeric cell .*columns option"):
        read_csv_columns(path)
    with pytest.raises(DataError, match=r"no column 'z' \(header"):
        read_csv_columns(path, columns=("z",))
    with pytest.raises(DataError, match="column 9 out of range"):
        read_csv_columns(path, columns=(9,))
    plain = tmp_path / "plain.csv"
    plain.write_text("1,2\n3,4\n")
    assert read_csv_columns(plain).tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_npz_archives_by_key_and_in_a_folder(tmp_path):
    from tinyfuse.sensors.sources import read_npz

    (tmp_path / "lying").mkdir()
    np.savez(tmp_path / "lying" / "take1.npz", frame=np.ones((4, 4)), stamp=np.zeros(1))
    with pytest.raises(DataError, match="name one with the npz_key option"):
        read_npz(tmp_path / "lying" / "take1.npz")
    assert read_npz(tmp_path / "lying" / "take1.npz", key="frame").shape == (4, 4)
    loaded = load_folder(tmp_path, modality="thermal", npz_key="frame")
    assert [s.data["thermal"].shape for s in loaded.samples] == [(4, 4)]
    bad = tmp_path / "lying" / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    assert any("bad.npz" in s.path for s in load_folder(tmp_path, modality="thermal",
                                                          npz_key="frame").skipped)
