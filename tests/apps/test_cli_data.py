"""`tinyfuse data inspect` and `tinyfuse features` end to end (in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tinyfuse.apps.cli import main
from tinyfuse.sensors.spec import AudioSpec, ModalitySpec


def _tone_folder(root: Path) -> Path:
    t_s = np.arange(16000) / 16000
    for label, freq_hz in (("low", 300.0), ("high", 3000.0)):
        (root / label).mkdir(parents=True)
        for i in range(2):
            sf.write(root / label / f"s{i}.wav", 0.3 * np.sin(2 * np.pi * freq_hz * t_s), 16000)
    (root / "low" / "broken.wav").write_bytes(b"RIFF\x00\x00")
    return root


def test_inspect_folder_prints_counts_and_skips_and_writes_json(tmp_path, capsys):
    root = _tone_folder(tmp_path / "tones")
    out = tmp_path / "report.json"
    assert main(["data", "inspect", str(root), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "folder (4 samples, 4 groups, 1 skipped)" in text
    assert "broken.wav: corrupt WAV" in text
    report = json.loads(out.read_text())
    assert report["counts_by_class"] == {"high": 2, "low": 2}
    assert report["skipped"][0]["path"].endswith("broken.wav")
    assert report["modalities"] == ["audio"]


def test_inspect_real_set_with_limit(datasets_dir, capsys):
    assert main(["data", "inspect", str(datasets_dir / "cwru_0hp"), "--limit", "2"]) == 0
    text = capsys.readouterr().out
    assert "cwru_0hp (32 samples, 16 groups, 0 skipped)" in text
    assert "outer_race" in text


def test_inspect_bad_path_is_a_clean_error(tmp_path, capsys):
    assert main(["data", "inspect", str(tmp_path / "nope")]) == 2
    assert "nope: no such folder" in capsys.readouterr().err


def test_inspect_exits_non_zero_when_nothing_loads(tmp_path, capsys):
    (tmp_path / "set" / "cough").mkdir(parents=True)
    (tmp_path / "set" / "cough" / "broken.wav").write_bytes(b"RIFF nonsense")
    assert main(["data", "inspect", str(tmp_path / "set"), "--dataset", "folder"]) == 1
    assert "nothing could be loaded" in capsys.readouterr().err


def test_features_audio_default_and_spec(tmp_path, capsys):
    root = _tone_folder(tmp_path / "tones")
    out = tmp_path / "f.npy"
    assert main(["features", "--modality", "audio", "--input", str(root / "low" / "s0.wav"),
                 "--out", str(out)]) == 0
    assert np.load(out).shape == AudioSpec().output_shape
    assert "float32 (63, 13)" in capsys.readouterr().out
    spec_path = tmp_path / "spec.json"
    spec = ModalitySpec(name="mic", frontend=AudioSpec(feature="logmel", n_mels=20))
    spec_path.write_text(json.dumps(spec.to_dict()))
    assert main(["features", "--modality", "audio", "--input", str(root / "low" / "s0.wav"),
                 "--out", str(out), "--spec", str(spec_path)]) == 0
    assert np.load(out).shape == spec.output_shape


@pytest.mark.parametrize("modality", ["thermal", "depth"])
def test_features_images(tmp_path, modality):
    frame = np.full((16, 16), 22.0 if modality == "thermal" else 3.0)
    frame[4:10, 6:9] = 33.0 if modality == "thermal" else 1.5
    np.save(tmp_path / "frame.npy", frame)
    out = tmp_path / "f.npy"
    assert main(["features", "--modality", modality, "--input", str(tmp_path / "frame.npy"),
                 "--out", str(out)]) == 0
    features = np.load(out)
    assert features.shape == (8, 8) and features.dtype == np.float32


def test_features_vibration_csv_with_rate(tmp_path):
    t_s = np.arange(200) / 200.0
    window = np.stack([np.sin(2 * np.pi * 20 * t_s), np.zeros(200), np.ones(200)], axis=1)
    np.savetxt(tmp_path / "w.csv", window, delimiter=",")
    out = tmp_path / "f.npy"
    assert main(["features", "--modality", "vibration", "--input", str(tmp_path / "w.csv"),
                 "--out", str(out), "--sample-rate-hz", "200"]) == 0
    assert np.load(out).shape[0] == 3


def test_verbose_is_accepted_anywhere(tmp_path, capsys):
    assert main(["data", "inspect", str(tmp_path / "nope"), "-v"]) == 2  # parsed, then refused
    assert "no such folder" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["run", "b", "--period-s", "nan"], ["run", "b", "--seed", "-1"], ["run", "b", "--limit", "-5"],
    ["run", "b", "--per-class", "0"], ["verify", "m.tflite", "--vectors", "0"],
    ["deploy", "b", "--vectors", "x"], ["evaluate", "a.toml", "--out", "o", "--folds", "0"],
    ["features", "--modality", "vibration", "--input", "x", "--out", "y",
     "--sample-rate-hz", "inf"]])
def test_nonsense_numbers_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert "error: argument --" in capsys.readouterr().err
