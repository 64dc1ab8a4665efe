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
