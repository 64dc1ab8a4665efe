"""`tinyfuse deploy DIR --board NAME`: build, run on an emulated board (`tinyfuse boards` lists
them; qemu-m4 is mps2-an386), check parity, report.
`--board micropython-esp32|micropython-rp2`: write the MicroPython file set and print the
mpremote commands (``tinyfuse.firmware.micropython_export``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tinyfuse.apps.cli import numbers
from tinyfuse.firmware import micropython_export
from tinyfuse.firmware.boards import BOARDS, find_board
from tinyfuse.firmware.deploy import deploy

MICROPYTHON_BOARDS = ("micropython-esp32", "micropython-rp2")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "deploy",
        help="run a build folder's model on a board and check it against the reference",
        description="Compile the bundle in DIR (or use DIR/model.c and model.h when they "
        "carry the bundle's hash), run it on the board, check that the board runs this "
        "bundle, compare every output with the TFLite Micro reference (all -128, all 127, "
        "then seeded random inputs, as verify does) and write DIR/device.json. With "
        "--board micropython-esp32 or micropython-rp2: write the board's file set (weights "
        "file, config.json, main.py, tfmp/*.mpy) into --out and print the mpremote commands "
        "that copy it (--port runs them).",
    )
    parser.add_argument("build_dir", metavar="DIR",
                        help="build folder (bundle.json + model.tflite)")
    emulated = [name for board in BOARDS for name in (board.name, *board.aliases)]
    parser.add_argument("--board", default="qemu-m4", choices=[*emulated, *MICROPYTHON_BOARDS],
                        metavar="BOARD",
                        help="an emulated board from `tinyfuse boards` (qemu-m4 is mps2-an386, "
                        "the Cortex-M4F), or micropython-esp32|micropython-rp2: write the "
                        "MicroPython file set")
    parser.add_argument("--out", default=None, metavar="OUT",
                        help="micropython-*: folder for the file set (default: DIR/BOARD)")
    parser.add_argument("--port", default=None,
                        help="micropython-*: copy the files to the board on this serial port")
    parser.add_argument("--vectors", type=numbers.count, default=32,
                        help="int8 input sets to check, extremes included (default: 32)")
    parser.add_argument("--kernels", default="portable", choices=["portable", "dsp"],
                        help="portable C99 kernels or the Arm DSP SIMD path (boards with DSP "
                        "in `tinyfuse boards`)")
    parser.add_argument("--seed", type=numbers.seed, default=0, help="seed of the input vectors")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.board in MICROPYTHON_BOARDS:
        return run_micropython(args)
    # absolute: firmware.deploy runs QEMU inside the run folder, so a relative ELF path given
    # to -kernel would not resolve there
    report = deploy(Path(args.build_dir).resolve(), board=args.board, vectors=args.vectors,
                    kernels=args.kernels, seed=args.seed)
    board = find_board(report.board)
    verdict = "bit-exact" if report.parity else f"{report.mismatches} input sets differ"
    print(f"{args.build_dir}: {report.board} ({report.kernels} kernels), {report.vectors} vectors, "
          f"{verdict}")
    print(f"  bundle {report.bundle_hash[:16]} (the board reports the same)")
    print(f"  instructions/inference {report.instructions_per_inference:,} "
          f"(resolution {board.instructions_per_tick:g}, {board.timer} counter)")
    print(f"  flash {report.text_bytes + report.rodata_bytes + report.data_bytes:,} B "
          f"of {board.flash.length_bytes:,} (text {report.text_bytes:,}, "
          f"rodata {report.rodata_bytes:,}, data {report.data_bytes:,})")
    print(f"  RAM peak {report.ram_peak_bytes:,} B of {board.ram.length_bytes:,} "
          f"(static {report.bss_bytes + report.data_bytes:,}, stack {report.stack_bytes:,}); "
          f"TFLM arena {report.tflm_arena_bytes:,} B")
    print(f"  wrote {args.build_dir}/device.json")
    return 0 if report.parity else 1


def run_micropython(args: argparse.Namespace) -> int:
    out = Path(args.out or Path(args.build_dir) / args.board)
    files = micropython_export.export_bundle(args.build_dir, out, board=args.board)
    print(f"{args.build_dir}: wrote {len(files)} files for {args.board} into {out}")
    print("  copy them to the board (edit config.json first: Wi-Fi and broker):")
    for command in micropython_export.mpremote_commands(out, port=args.port):
        print(f"    {command}")
    if args.port:
        micropython_export.copy_to_board(out, port=args.port)
        print(f"  copied to the board on {args.port}")
    return 0
