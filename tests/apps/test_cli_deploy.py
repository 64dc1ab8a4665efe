"""`tinyfuse deploy` with a relative build folder (as `make demo` passes it) runs on the
emulated Cortex-M4 and is bit-exact with the TFLite Micro reference."""

from __future__ import annotations

import json
import shutil

from tinyfuse.apps.cli import main

TOOLS = ("arm-none-eabi-gcc", "qemu-system-arm")


def test_deploy_accepts_a_relative_folder(bundle_dir, tmp_path, monkeypatch, capsys):
    shutil.copytree(bundle_dir, tmp_path / "bundle")
    monkeypatch.chdir(tmp_path)
    assert main(["deploy", "bundle", "--board", "qemu-m4", "--vectors", "4"]) == 0
    report = json.loads((tmp_path / "bundle" / "device.json").read_text())
    assert report["parity"] is True and report["vectors"] == 4
    assert "bundle: qemu-m4 (portable kernels), 4 vectors, bit-exact" in capsys.readouterr().out


def test_deploy_app_runs_the_whole_app_and_matches_the_host(bundle_dir, tmp_path, capsys):
    """`deploy --app`: the simulated stream through the app on the board and through
    `tinyfuse run` on the host: the same int8 inputs and decisions."""
    shutil.copytree(bundle_dir, tmp_path / "bundle")
    assert main(["deploy", str(tmp_path / "bundle"), "--board", "qemu-m4", "--app",
                 "--limit", "30"]) == 0
    counts = json.loads((tmp_path / "bundle" / "app_device.json").read_text())
    assert counts["board"] == "mps2-an386" and counts["windows"] == 30
    assert counts["decision_mismatches"] == 0
    assert counts["board_decisions"] == counts["host_decisions"] >= 1
    assert counts["inputs_differing_host_python_features"] == 0
    assert counts["instructions_per_window"]["model"] > 0 and counts["flash_bytes"] > 0
    assert "decisions on the board" in capsys.readouterr().out
