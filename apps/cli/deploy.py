"""`tinyfuse deploy DIR --board NAME`: build, run on an emulated board (`tinyfuse boards` lists
them; qemu-m4 is mps2-an386), check parity, report. ``--app``: the whole app (C front-ends,
model, policy) on the board over a stream, against `tinyfuse run` on the host
(``tinyfuse.apps.device_check``).
`--board micropython-esp32|micropython-rp2`: write the MicroPython file set and print the
mpremote commands (``tinyfuse.firmware.micropython_export``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tinyfuse.apps.cli import numbers
from tinyfuse.firmware import micropython_export
from tinyfuse.firmware.boards import BOARDS, KERNEL_DEFINES, find_board
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
    parser.add_argument("--kernels", default="portable", choices=tuple(KERNEL_DEFINES),
                        help="portable C99 kernels, the Arm DSP SIMD path (boards with DSP "
                        "in `tinyfuse boards`) or the Helium path, mve (mps3-an547)")
    parser.add_argument("--seed", type=numbers.seed, default=0, help="seed of the input vectors")
    parser.add_argument("--app", action="store_true",
                        help="run the whole app (C front-ends, model, the bundle's policy) on the "
                        "board over a stream and compare its int8 inputs and decisions with "
                        "`tinyfuse run` on the host; writes DIR/app_device.json")
    parser.add_argument("--source", default="simulate", metavar="simulate|PATH",
                        help="with --app: the stream (the app's simulator, or a data set folder)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="with --app --source PATH: a loader option")
    parser.add_argument("--limit", type=numbers.count, default=60,
                        help="with --app: windows of the stream (default: 60)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.board in MICROPYTHON_BOARDS:
        return run_micropython(args)
    if args.app:
        return run_app(args)
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


def _app_stream(args: argparse.Namespace, bundle) -> list:
    from tinyfuse.apps.runner import episodes, replay
    from tinyfuse.core.errors import DataError
    from tinyfuse.sensors import simulate
    from tinyfuse.sensors.sources import load_dataset

    if args.source == "simulate":
        maker = getattr(simulate, f"simulate_{bundle.app}", None)
        if maker is None:
            raise DataError(f"no simulator for app {bundle.app!r}; pass --source PATH")
        samples = maker(seed=args.seed + 1000, n_per_class=args.limit).samples
    else:
        from tinyfuse.apps.cli.data import parse_options

        samples = load_dataset("auto", args.source, **parse_options(args.option)).samples
    return list(replay(episodes(samples, seed=args.seed)[:args.limit]))


def run_app(args: argparse.Namespace) -> int:
    import json

    from tinyfuse.apps.device_check import app_check
    from tinyfuse.apps.scoring import load_bundle

    folder = Path(args.build_dir).resolve()
    bundle = load_bundle(folder)
    stream = _app_stream(args, bundle)
    counts, _, _ = app_check(bundle, stream, board=find_board(args.board).name,
                             work_dir=folder / "app_device")
    (folder / "app_device.json").write_text(json.dumps(counts, indent=2) + "\n")
    steps = counts["instructions_per_window"]
    same = counts["decision_mismatches"] == 0
    print(f"{args.build_dir}: the app on {counts['board']}, {counts['windows']} windows of "
          f"{args.source}: {counts['board_decisions']} decisions on the board, "
          f"{counts['host_decisions']} on the host, "
          f"{'the same' if same else str(counts['decision_mismatches']) + ' differ'}")
    print(f"  int8 inputs: {counts['inputs_differing_host_python_features']} of "
          f"{counts['input_elements']:,} elements differ from the host's (max "
          f"{counts['inputs_max_lsb_host_python_features']} LSB); "
          f"{counts['windows_with_missing_modality']} windows with a modality missing")
    print(f"  instructions/window: front-ends {steps['frontends']:,}, model {steps['model']:,}, "
          f"policy {steps['policy']:,} (max total {steps['total_max']:,})")
    print(f"  app flash {counts['flash_bytes']:,} B, RAM {counts['ram_bytes']:,} B "
          f"(stack {counts['stack_bytes']:,})")
    print(f"  wrote {args.build_dir}/app_device.json")
    return 0 if same else 1
