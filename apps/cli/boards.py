"""`tinyfuse boards`: the table of emulated boards that `tinyfuse deploy --board` runs on."""

from __future__ import annotations

import argparse

from tinyfuse.firmware.boards import BOARDS, KIB, Board

COLUMNS = ("board", "core", "FPU", "DSP", "flash", "RAM", "console", "instr/tick", "QEMU")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "boards", help="list the emulated boards deploy runs on",
        description="One line per emulated board: its core, FPU, Arm DSP extension (for "
        "--kernels dsp), the flash and RAM of its memory map, where the results leave the "
        "board, the instruction-count resolution (instructions per timer tick under QEMU "
        "-icount shift=0) and the QEMU machine. Names in brackets are aliases.",
    )
    parser.set_defaults(handler=run)


def row(board: Board) -> tuple[str, ...]:
    """The printed cells of one board."""
    name = board.name + (f" [{', '.join(board.aliases)}]" if board.aliases else "")
    return (name, board.qemu_cpu, board.fpu, "yes" if board.dsp else "no",
            f"{board.flash.length_bytes // KIB:,} KiB", f"{board.ram.length_bytes // KIB:,} KiB",
            board.console, f"{board.instructions_per_tick:g}",
            f"{board.qemu} -M {board.machine}")


def run(args: argparse.Namespace) -> int:
    rows = [COLUMNS, *(row(board) for board in BOARDS)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    for cells in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
              .rstrip())
    return 0
