"""`tinyfuse verify MODEL.tflite [--target host|BOARD] [--kernels portable|dsp] [--vectors N]
[--json FILE]`: parity of the compiled C with the TFLite Micro reference, on the host or on an
emulated board (`tinyfuse boards`); exit code 1 on any mismatch."""

from __future__ import annotations

import argparse
from pathlib import Path

from tinyfuse.apps.cli import numbers
from tinyfuse.apps.cli.compile import read_tflite
from tinyfuse.core.errors import ExportError
from tinyfuse.firmware.boards import BOARDS, KERNEL_DEFINES


def register(subparsers) -> None:
    parser = subparsers.add_parser("verify", help="check compiled C against TFLite Micro")
    parser.add_argument("model", type=Path, help="int8 .tflite file")
    boards = [name for board in BOARDS for name in (board.name, *board.aliases)]
    parser.add_argument("--target", choices=("host", *boards), default="host", metavar="TARGET",
                        help="host (default), or an emulated board from `tinyfuse boards` "
                        "(qemu-m4 is mps2-an386, the Cortex-M4F)")
    parser.add_argument("--kernels", choices=tuple(KERNEL_DEFINES), default="portable",
                        help="kernel path of a board build: portable C99 (default), the Arm "
                        "DSP kernels (boards with the DSP extension) or mve, the Helium "
                        "kernels (mps3-an547, the Cortex-M55)")
    parser.add_argument("--vectors", type=numbers.count, default=64, help="random input sets")
    parser.add_argument("--seed", type=numbers.seed, default=0)
    parser.add_argument("--json", type=Path, help="write the parity report here")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tinyfuse.firmware.parity import check_parity

    result = check_parity(read_tflite(args.model), target=args.target, vectors=args.vectors,
                          seed=args.seed, kernels=args.kernels)
    print(result)
    if args.json:
        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(result.to_json())
        except OSError as exc:
            raise ExportError(f"cannot write {args.json}: {exc}") from exc
    return 0 if result.ok else 1
