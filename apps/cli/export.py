"""`tinyfuse export BUNDLE_OR_BUILD_DIR --format cmake|arduino|esp-idf|pico|stm32|nrf52
--out DIR`: the compiled model, the runtime kernels it needs and a thin build layer for the
user's own toolchain, or (``stm32``, ``nrf52``, with ``--board``) the whole app as a flashable
image (``tinyfuse.firmware.exports``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tinyfuse.firmware.exports import FORMATS, export_files, write_export
from tinyfuse.firmware.exports.image import BOARDS, DEFAULT_BOARD


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="write the model as a CMake, Arduino, ESP-IDF or Pico SDK project, or "
        "the whole app as an STM32 or nRF52 image",
        description="Compile the bundle (or an int8 .tflite) and write a self-contained "
        "folder for your own toolchain: model.c/model.h, the runtime kernels and a CMake "
        "library, an Arduino library with an example sketch, an ESP-IDF component or a "
        "Pico SDK project; stm32 or nrf52: the whole app (front-ends, model, policy) with "
        "startup, linker script, UART driver and a Makefile for .elf/.bin/.hex.",
        epilog="example: tinyfuse export out/posture --format stm32 --board nucleo-f446re "
        "--out out/posture-f446 && make -C out/posture-f446")
    parser.add_argument("bundle", type=Path, metavar="BUNDLE_OR_BUILD_DIR",
                        help="bundle folder (bundle.json + model.tflite) or an int8 .tflite")
    parser.add_argument("--format", required=True, choices=FORMATS, help="the build layer")
    parser.add_argument("--board", choices=sorted(BOARDS), default=None,
                        help="with --format stm32 or nrf52: the board (default "
                        f"{' / '.join(DEFAULT_BOARD.values())})")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    files = export_files(args.bundle, format=args.format, board=args.board)
    written = write_export(files, args.out)
    total = sum(path.stat().st_size for path in written)
    print(f"{args.bundle}: {args.format} export, {len(written)} files, {total:,} bytes "
          f"in {args.out}")
    return 0
