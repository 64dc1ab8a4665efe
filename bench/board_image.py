"""The whole app as a board image: its size per board, and hardware-in-the-loop parity.

For a bundle (default: the small posture bundle of ``bench.app_c`` with its demo policy;
``--bundle DIR`` for a
built one, with ``--data DIR`` and ``--option K=V`` for the loader of its stream), run
``tinyfuse export --format stm32|nrf52`` for every board of ``firmware.exports.image.BOARDS``
and ``make``: the ``.bin``/``.hex`` bytes and the sections of ``size -A``. Then the images of
the emulated boards (netduinoplus2, an STM32F405, and microbit, an nRF51, under QEMU with
their UART on a pty) get the stream window by window from ``serial_gateway.BoardLink`` (what
``tinyfuse run --on-board`` does), and their decisions are compared with the host run's
(``run_stream`` with the compiled-C scorer and the bundle's policy) on the same stream.

Writes ``bench/results/board_image.json`` (``--append`` adds to the bundles already there).

    .venv/bin/python -m bench.board_image
    .venv/bin/python -m bench.board_image --append --bundle build/bench/skab_build \\
        --data ../shared/datasets/skab --option window_rows=60 --option baseline_rows=60
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.app_c import demo_policy, demo_stream, small_bundle
from tinyfuse.apps.device_check import decision_keys, host_keys, host_run, mismatches, windows_of
from tinyfuse.apps.runner import bundle_policy, episodes, replay
from tinyfuse.apps.serial_gateway import BoardLink, board_windows
from tinyfuse.core.bundle import Bundle
from tinyfuse.firmware import deploy
from tinyfuse.firmware.exports import export_files, write_export
from tinyfuse.firmware.exports.image import BOARDS, emulator_command, image_files

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "board_image.json"
SECTIONS = (".isr_vector", ".text", ".rodata", ".ARM.exidx", ".data", ".bss", ".stack")


def image_row(bundle_dir: Path, board: str, out: Path) -> dict[str, Any]:
    """Export, build and measure the image of ``board``."""
    write_export(export_files(bundle_dir, format=BOARDS[board].format, board=board), out)
    started = time.monotonic()
    subprocess.run(["make", "-C", str(out)], check=True, capture_output=True, text=True)
    images = image_files(out)
    table = subprocess.run(["arm-none-eabi-size", "-A", str(images["app.elf"])], check=True,
                           capture_output=True, text=True).stdout
    sizes = {m.group(1): int(m.group(2)) for m in
             re.finditer(r"^(\.[\w.]+)\s+(\d+)", table, re.MULTILINE) if m.group(1) in SECTIONS}
    return {"board": board, "description": BOARDS[board].description,
            "bin_bytes": images["app.bin"].stat().st_size,
            "hex_bytes": images["app.hex"].stat().st_size, "sections": sizes,
            "ram_bytes": sizes.get(".data", 0) + sizes.get(".bss", 0) + sizes.get(".stack", 0),
            "flash_limit_bytes": BOARDS[board].flash.length_bytes,
            "ram_limit_bytes": BOARDS[board].ram.length_bytes,
            "build_s": round(time.monotonic() - started, 1)}


def replay_row(bundle: Bundle, board_name: str, elf: Path,
               stream: Sequence[tuple[float, Any]], work: Path) -> dict[str, Any]:
    """The stream through the emulated image of ``board_name`` against the host run."""
    result, _ = host_run(bundle, bundle_policy(bundle), stream,
                         work / f"host_outbox_{board_name}")
    host = host_keys(result)
    started = time.monotonic()
    with deploy.qemu_on_pty(emulator_command(elf, board_name)) as (qemu, port):
        link = BoardLink(port, bundle=bundle, ready_s=0)
        deploy.qemu_continue(qemu)
        ready = link.wait_ready(30)
        decisions = list(link.replay(board_windows(bundle, windows_of(bundle, stream))))
        summary = link.summary()
        link.close()
    board = decision_keys(decisions)
    return {"board": board_name, "windows": summary["windows"],
            "dropped_windows": summary["dropped_windows"], "ready_line": ready,
            "rejected_records": summary["rejected"], "host_decisions": len(host),
            "board_decisions": len(board),
            "decision_mismatches": mismatches(host, board),
            "wall_s": round(time.monotonic() - started, 1)}


def _stream(args: argparse.Namespace, bundle: Bundle) -> list[tuple[float, Any]]:
    if args.data is None:
        return demo_stream()
    from tinyfuse.apps.cli.data import parse_options
    from tinyfuse.sensors.sources import load_dataset

    loaded = load_dataset("auto", args.data, **parse_options(args.option))
    return list(replay(episodes(loaded.samples, seed=0)[:args.windows]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="a bundle folder (default: train the "
                        "small posture bundle of bench.app_c)")
    parser.add_argument("--data", type=Path, help="with --bundle: the data set of its stream "
                        "(default: the simulated posture stream of bench.app_c)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--windows", type=int, default=300)
    parser.add_argument("--append", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        bundle_dir = args.bundle or work / "bundle"
        if args.bundle is None:  # the demo policy decides often on the demo stream
            small = small_bundle(work / "small")
            small.with_policy(demo_policy(small)).write(bundle_dir)
        bundle = Bundle.read(bundle_dir)
        images = [image_row(bundle_dir, board, work / board) for board in sorted(BOARDS)]
        stream = _stream(args, bundle)
        replayed = [replay_row(bundle, name, image_files(work / name)["app.elf"], stream, work)
                    for name in sorted(n for n, b in BOARDS.items() if b.machine)]
    row = {"app": bundle.app, "bundle_hash": bundle.bundle_hash,
           "bundle": str(args.bundle) if args.bundle else
           "bench.app_c.small_bundle + demo_policy",
           "stream": str(args.data) if args.data else "bench.app_c.demo_stream",
           "modalities": list(bundle.modalities), "images": images, "replay": replayed}
    log.info("%s", json.dumps(row, indent=1))
    previous = json.loads(args.out.read_text())["bundles"] if args.append and \
        args.out.is_file() else []
    report = {"command": "python -m bench.board_image", "bundles": [
        *[b for b in previous if b["bundle_hash"] != bundle.bundle_hash], row]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
