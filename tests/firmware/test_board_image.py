"""`tinyfuse export --format stm32|nrf52`: the whole app as a flashable board image. Its
layout and refusals; `make` builds warning-free .elf/.bin/.hex images for every board; and
the images of the emulated boards (netduinoplus2, an STM32F405; microbit, an nRF51), fed
windows over their UART by `serial_gateway.BoardLink` through QEMU's pty, decide as
`tinyfuse run` on the host."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench import app_c as bench
from tests.firmware.test_app_c import HAVE_ARM
from tinyfuse.apps import device_check
from tinyfuse.apps.cli import main
from tinyfuse.apps.runner import bundle_policy
from tinyfuse.apps.serial_gateway import BoardLink, board_windows, window_frame
from tinyfuse.core.bundle import Bundle
from tinyfuse.core.errors import ExportError
from tinyfuse.firmware import deploy
from tinyfuse.firmware.exports import export_files, write_export
from tinyfuse.firmware.exports.image import BOARDS, emulator_command, image_files

HAVE_MAKE = HAVE_ARM and shutil.which("make") is not None


EMULATED = sorted(name for name, b in BOARDS.items() if b.machine)


def _built(bundle_dir: Path, out: Path, board: str) -> Path:
    write_export(export_files(bundle_dir, format=BOARDS[board].format, board=board), out)
    result = subprocess.run(["make", "-C", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr.lower(), result.stderr
    return out


def test_the_export_is_the_whole_app_for_the_board(bundle_dir):
    files = export_files(bundle_dir, format="stm32", board="nucleo-f446re")
    assert {"Makefile", "board.ld", "sections.ld", "README.md", "src/model.c",
            "src/tinyfuse_app.c", "src/app_uart_main.c", "src/uart.c", "src/startup.c",
            "src/tf_policy.c"} <= set(files)
    assert "ORIGIN = 0x08000000, LENGTH = 0x80000" in files["board.ld"]  # 512 KiB
    assert "-DTF_BOARD_NUCLEO_F446RE" in files["Makefile"]
    assert "st-flash --reset write app.bin 0x08000000" in files["README.md"]
    bundle = Bundle.read(bundle_dir)
    assert bundle.bundle_hash in files["src/tinyfuse_app.h"]
    assert files == export_files(bundle_dir, format="stm32", board="nucleo-f446re")


@pytest.mark.parametrize("kwargs, message", [
    ({"format": "stm32", "board": "nucleo-h743zi"}, "builds for"),
    ({"format": "nrf52", "board": "nucleo-f446re"}, "the nrf52 export builds for"),
    ({"format": "cmake", "board": "nucleo-f446re"}, "--board goes with --format stm32"),
])
def test_bad_boards_and_formats_are_refused(bundle_dir, kwargs, message):
    with pytest.raises(ExportError, match=message):
        export_files(bundle_dir, **kwargs)


def test_a_bare_tflite_cannot_make_an_app(bundle_dir, tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes((bundle_dir / "model.tflite").read_bytes())
    with pytest.raises(ExportError, match="pass a bundle folder"):
        export_files(model, format="stm32")


@pytest.mark.skipif(not HAVE_MAKE, reason="arm-none-eabi-gcc or make not installed")
@pytest.mark.parametrize("board", sorted(BOARDS))
def test_the_image_builds_for_each_board(bundle_dir, tmp_path, board):
    out = _built(bundle_dir, tmp_path / board, board)
    images = image_files(out)
    hex_lines = images["app.hex"].read_text().splitlines()
    assert all(re.fullmatch(r":[0-9A-F]+", line) for line in hex_lines)
    assert hex_lines[-1] == ":00000001FF"
    size = subprocess.run(["arm-none-eabi-size", "-A", str(images["app.elf"])],
                          capture_output=True, text=True, check=True).stdout
    loaded = sum(int(m.group(2)) for m in re.finditer(r"^(\.isr_vector|\.text|\.harness_text|"
                                                       r"\.rodata|\.ARM\.exidx|\.data)\s+(\d+)",
                                                       size, re.MULTILINE))
    image = images["app.bin"].read_bytes()
    flash, ram = BOARDS[board].flash, BOARDS[board].ram
    assert loaded <= len(image) < loaded + 64  # section alignment only
    assert len(image) < flash.length_bytes
    stack, reset = int.from_bytes(image[0:4], "little"), int.from_bytes(image[4:8], "little")
    assert ram.origin < stack <= ram.origin + ram.length_bytes  # initial SP
    assert flash.origin <= reset < flash.origin + len(image) and reset & 1  # Thumb entry


@pytest.mark.skipif(not HAVE_MAKE, reason="arm-none-eabi-gcc or make not installed")
def test_the_cli_exports_for_a_board(bundle_dir, tmp_path, capsys):
    assert main(["export", str(bundle_dir), "--format", "stm32", "--board", "netduinoplus2",
                 "--out", str(tmp_path / "x")]) == 0
    assert "stm32 export" in capsys.readouterr().out
    assert "-DTF_BOARD_NETDUINOPLUS2" in (tmp_path / "x" / "Makefile").read_text()


def _paused_board(elf: Path, board: str = "netduinoplus2"):
    return deploy.qemu_on_pty(emulator_command(elf, board))


def _host_decisions(bundle: Bundle, stream, outbox: Path) -> list[tuple]:
    result, _ = device_check.host_run(bundle, bundle_policy(bundle), stream, outbox)
    return sorted(device_check.host_keys(result))


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_MAKE, reason="arm-none-eabi-gcc or make not installed")
@pytest.mark.parametrize("board", EMULATED)
def test_the_image_replays_the_host_run_on_an_emulated_board(bundle_dir, tmp_path, board):
    """Hardware in the loop on the emulated boards: windows in over the UART, records out; a
    corrupted frame and line noise cost that frame only."""
    bundle = Bundle.read(bundle_dir)
    elf = image_files(_built(bundle_dir, tmp_path / "image", board))["app.elf"]
    stream = bench.demo_stream()
    with _paused_board(elf, board) as (qemu, port):
        link = BoardLink(port, bundle=bundle, ready_s=0)
        deploy.qemu_continue(qemu)
        assert link.wait_ready(30)
        frame = bytearray(window_frame(99, board_windows(
            bundle, device_check.windows_of(bundle, stream[:1]))[0]))
        frame[30] ^= 0xFF  # one damaged byte
        link._send(b"noise TFW" + bytes(frame))
        while link._take(link._pump(0.1)) != "bad 99":
            pass
        windows = board_windows(bundle, device_check.windows_of(bundle, stream))
        decisions = list(link.replay(windows))
        summary = link.summary()
        link.close()
    assert summary["windows"] == len(stream) and summary["dropped_windows"] == 0
    assert not summary["rejected"]
    board = sorted(device_check.decision_keys(decisions))
    assert board == _host_decisions(bundle, stream, tmp_path / "outbox") and len(board) >= 1


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_MAKE, reason="arm-none-eabi-gcc or make not installed")
def test_tinyfuse_run_on_board_raises_the_boards_decisions(bundle_dir, tmp_path, capsys):
    """`tinyfuse run BUNDLE --on-board serial:PTY`: the simulated stream goes through the
    board (started before the port was opened, so its ready line may be gone), its decisions
    become the alerts, and they are the host run's on the same stream."""
    from tinyfuse.apps.alerts import read_local
    from tinyfuse.apps.runner import episodes, replay
    from tinyfuse.sensors.simulate import simulate_posture

    bundle = Bundle.read(bundle_dir)
    elf = image_files(_built(bundle_dir, tmp_path / "image", "netduinoplus2"))["app.elf"]
    with _paused_board(elf) as (qemu, port):
        deploy.qemu_continue(qemu)
        assert main(["run", str(bundle_dir), "--on-board", f"serial:{port}", "--per-class",
                     "6", "--out", str(tmp_path / "run"), "--device", "bench"]) == 0
    printed = capsys.readouterr().out
    assert "replaying the stream through the board" in printed  # ready line seen or not: a race
    assert "windows run, 0 dropped" in printed
    summary = json.loads((tmp_path / "run" / "run_summary.json").read_text())
    assert summary["scorer"] == "board" and summary["board"]["ended_by"] == "replayed"
    # the CLI's simulated stream (tinyfuse run's defaults: seed 0, episodes, 1 s apart)
    data = simulate_posture(seed=1000, n_per_class=6)
    stream = list(replay(episodes(data.samples, seed=0), period_s=1.0))
    assert summary["board"]["windows"] == len(stream)
    relayed = [r["payload"] for r in read_local(tmp_path / "run" / "outbox" / "alerts.jsonl")]
    first = {p["alert_id"]: p["decision"] for p in reversed(relayed)}
    board = sorted(device_check.decision_key(d["time_s"], d["label"], d["needs_confirmation"],
                                             d["missing"]) for d in first.values())
    assert board == _host_decisions(bundle, stream, tmp_path / "outbox")
