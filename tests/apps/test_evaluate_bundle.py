"""`tinyfuse evaluate BUNDLE --data DIR`: a bundle scored on a labelled set it never saw, with
its own Preprocessor and int8 engine; a set without the bundle's modalities is refused."""

from __future__ import annotations

import json

import numpy as np

from tinyfuse.apps.cli import main
from tinyfuse.sensors.simulate import simulate_posture


def write_frames(root, *, seed: int) -> int:
    data = simulate_posture(n_per_class=3, n_people=2, seed=seed)
    for index, sample in enumerate(data.samples):
        folder = root / sample.label
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"{index:03d}.npy", sample.data["thermal"])
    return len(data.samples)


def test_a_bundle_scored_on_another_set(bundle_dir, tmp_path, capsys):
    count = write_frames(tmp_path / "frames", seed=77)
    out = tmp_path / "eval"
    code = main(["evaluate", str(bundle_dir), "--data", str(tmp_path / "frames"),
                 "--dataset", "folder", "--option", "modality=thermal", "--scorer", "tflite",
                 "--out", str(out)])
    assert code == 0
    result = json.loads((out / "evaluation.json").read_text())
    assert result["n_scored"] == count and result["engine"] == "tflite_micro"
    assert set(result["int8_metrics"]["per_class"]) == {"standing", "sitting", "lying",
                                                        "empty"}
    assert np.asarray(result["confusion_matrix"]).sum() == count
    assert result["missing_modality"] == {"depth": count}
    assert any("lack 'depth'" in w for w in result["warnings"])
    assert sum(row["n"] for row in result["per_group"].values()) == count
    assert (out / "confusion.png").stat().st_size > 5_000
    assert "balanced accuracy" in capsys.readouterr().out


def test_a_set_without_the_bundles_modalities_is_refused(bundle_dir, tmp_path, capsys):
    write_frames(tmp_path / "frames", seed=78)
    code = main(["evaluate", str(bundle_dir), "--data", str(tmp_path / "frames"),
                 "--dataset", "folder", "--option", "modality=audio", "--out",
                 str(tmp_path / "eval")])
    assert code == 2
    err = capsys.readouterr().err
    assert "carries none of the modalities ['thermal', 'depth']" in err
    assert main(["evaluate", str(bundle_dir), "--out", str(tmp_path / "e")]) == 2
    assert "needs --data DIR" in capsys.readouterr().err


def test_run_refuses_a_source_without_the_bundles_modalities(bundle_dir, tmp_path, capsys):
    write_frames(tmp_path / "frames", seed=79)
    source = ["--source", str(tmp_path / "frames"), "--dataset", "folder"]
    code = main(["run", str(bundle_dir), *source, "--option", "modality=audio", "--out",
                 str(tmp_path / "run")])
    assert code == 2
    assert "carries none of the modalities" in capsys.readouterr().err
    assert not (tmp_path / "run" / "outbox").exists()  # nothing was published
    assert main(["run", str(bundle_dir), *source, "--option", "modality=thermal", "--out",
                 str(tmp_path / "run2"), "--scorer", "tflite"]) == 0
