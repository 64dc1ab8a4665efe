"""`tinyfuse boards`: the table of emulated boards that `tinyfuse deploy --board` runs on, and
(``--images``) the boards that `tinyfuse export --format stm32|nrf52 --board` builds for."""

from __future__ import annotations

import argparse

from tinyfuse.firmware.boards import BOARDS, KIB, Board

COLUMNS = ("board", "core", "FPU", "DSP", "flash", "RAM", "console", "instr/tick", "QEMU")
IMAGE_COLUMNS = ("board", "format", "chip", "flash", "RAM", "serial port", "QEMU")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "boards", help="list the emulated boards deploy runs on",
        description="One line per emulated board: its core, FPU, Arm DSP extension (for "
        "--kernels dsp), the flash and RAM of its memory map, where the results leave the "
        "board, the instruction-count resolution (instructions per timer tick under QEMU "
        "-icount shift=0) and the QEMU machine. Names in brackets are aliases.",
    )
    parser.add_argument("--images", action="store_true",
                        help="list instead the boards of `tinyfuse export --format stm32|nrf52 "
                        "--board` (the whole app as a flashable image)")
    parser.set_defaults(handler=run)


def row(board: Board) -> tuple[str, ...]:
    """The printed cells of one board."""
    name = board.name + (f" [{', '.join(board.aliases)}]" if board.aliases else "")
    return (name, board.qemu_cpu, board.fpu, "yes" if board.dsp else "no",
            f"{board.flash.length_bytes // KIB:,} KiB", f"{board.ram.length_bytes // KIB:,} KiB",
            board.console, f"{board.instructions_per_tick:g}",
            f"{board.qemu} -M {board.machine}")


def image_row(board) -> tuple[str, ...]:
    """The printed cells of one board of ``firmware.exports.image.BOARDS``."""
    return (board.name, board.format, board.description,
            f"{board.flash.length_bytes // KIB:,} KiB", f"{board.ram.length_bytes // KIB:,} KiB",
            board.port, f"-M {board.machine}" if board.machine else "-")


def run(args: argparse.Namespace) -> int:
    from tinyfuse.firmware.exports import image

    rows = [IMAGE_COLUMNS, *(image_row(b) for b in image.BOARDS.values())] if args.images \
        else [COLUMNS, *(row(board) for board in BOARDS)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for cells in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
              .rstrip())
    return 0
