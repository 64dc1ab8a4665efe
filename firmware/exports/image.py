"""The whole app as a flashable board image: ``tinyfuse export BUNDLE --format stm32|nrf52``.

The folder holds the generated app (``tinyfuse_app.c``: C front-ends, standardisation,
quantisation, the policy; ``firmware/app_c.py``), the compiled model, every runtime file, the
real-board layer (``firmware/boards/image``: startup and ``app_uart_main.c``, which takes
sensor windows over the UART and sends the alert records back; the family's register-level
UART driver from ``firmware/boards/stm32`` or ``firmware/boards/nrf5``) and a Makefile that
builds ``app.elf``, ``app.bin`` and ``app.hex`` with arm-none-eabi-gcc. :data:`BOARDS` are
the boards it builds for; in each family one board is a chip QEMU emulates (``netduinoplus2``,
an STM32F405; ``microbit``, an nRF51), which is how CI runs the images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tinyfuse.core.errors import ExportError
from tinyfuse.firmware.boards import BOARDS_DIR, KIB, Region, memory_script
from tinyfuse.firmware.compiler import runtime_dir
from tinyfuse.firmware.exports.sources import ModelSources

IMAGE_DIR = BOARDS_DIR / "image"
IMAGE_FILES = ("uart.h", "startup.c", "app_uart_main.c")
FAMILY_FILES = ("board.h", "uart.c")
_M4F = "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -DTINYFUSE_USE_DSP=1"
_M0 = "-mcpu=cortex-m0 -mthumb -mfloat-abi=soft"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageBoard:
    """One board an image builds for: its export format, its family's driver folder and
    ``board.h`` define, its core, memory, serial port and how to flash it; ``machine`` is the
    QEMU machine that emulates it (``None``: none does)."""

    name: str
    format: str
    description: str
    family: str
    define: str
    cpu_flags: str
    flash: Region
    ram: Region
    stack_bytes: int
    port: str
    flash_commands: tuple[str, ...]
    machine: str | None = None


BOARDS: dict[str, ImageBoard] = {board.name: board for board in (
    ImageBoard(
        name="nucleo-f446re", format="stm32",
        description="ST NUCLEO-F446RE (STM32F446RE, Cortex-M4F)", family="stm32",
        define="TF_BOARD_NUCLEO_F446RE", cpu_flags=_M4F,
        flash=Region(origin=0x08000000, length_bytes=512 * KIB),
        ram=Region(origin=0x20000000, length_bytes=128 * KIB), stack_bytes=8 * KIB,
        port="USART2 on PA2/PA3, the ST-LINK virtual COM port (/dev/ttyACM0 on Linux)",
        flash_commands=("st-flash --reset write app.bin 0x08000000",
                        'openocd -f board/st_nucleo_f4.cfg -c "program app.elf verify reset exit"',
                        "pyocd flash -t stm32f446retx app.hex")),
    ImageBoard(
        name="netduinoplus2", format="stm32",
        description="Netduino Plus 2 (STM32F405RG, Cortex-M4F)", family="stm32",
        define="TF_BOARD_NETDUINOPLUS2", cpu_flags=_M4F,
        flash=Region(origin=0x08000000, length_bytes=1024 * KIB),
        ram=Region(origin=0x20000000, length_bytes=128 * KIB), stack_bytes=8 * KIB,
        port="USART1 on PA9/PA10 (QEMU: -serial pty)",
        flash_commands=("qemu-system-arm -M netduinoplus2 -nographic -serial pty "
                        "-kernel app.elf",
                        'openocd -f interface/stlink.cfg -f target/stm32f4x.cfg -c "program '
                        'app.elf verify reset exit"'),
        machine="netduinoplus2"),
    ImageBoard(
        name="nrf52840-dk", format="nrf52",
        description="Nordic nRF52840-DK (nRF52840, Cortex-M4F), no SoftDevice", family="nrf5",
        define="TF_BOARD_NRF52840_DK", cpu_flags=_M4F,
        flash=Region(origin=0x00000000, length_bytes=1024 * KIB),
        ram=Region(origin=0x20000000, length_bytes=256 * KIB), stack_bytes=8 * KIB,
        port="UART0 on P0.06/P0.08, the J-Link virtual COM port (/dev/ttyACM0 on Linux)",
        flash_commands=("nrfjprog --program app.hex --chiperase --verify --reset",
                        "pyocd flash -t nrf52840 app.hex",
                        "or copy app.hex to the JLINK drive")),
    ImageBoard(
        name="microbit", format="nrf52",
        description="BBC micro:bit v1 (nRF51822, Cortex-M0, 16 KiB RAM)", family="nrf5",
        define="TF_BOARD_MICROBIT", cpu_flags=_M0,
        flash=Region(origin=0x00000000, length_bytes=256 * KIB),
        ram=Region(origin=0x20000000, length_bytes=16 * KIB), stack_bytes=4 * KIB,
        port="UART0 on P0.24/P0.25, the DAPLink virtual COM port (QEMU: -serial pty)",
        flash_commands=("copy app.hex to the MICROBIT drive",
                        "qemu-system-arm -M microbit -nographic -serial pty -kernel app.elf"),
        machine="microbit"),
)}
IMAGE_FORMATS = ("stm32", "nrf52")
DEFAULT_BOARD = {"stm32": "nucleo-f446re", "nrf52": "nrf52840-dk"}


def find_image_board(format: str, name: str | None) -> ImageBoard:
    """The board called ``name`` of ``format`` (default :data:`DEFAULT_BOARD`)."""
    chosen = name or DEFAULT_BOARD[format]
    names = sorted(b.name for b in BOARDS.values() if b.format == format)
    if chosen not in names:
        raise ExportError(f"--board {chosen!r}: the {format} export builds for {names}")
    return BOARDS[chosen]


def files(sources: ModelSources, *, format: str = "stm32",
          board: str | None = None) -> dict[str, str]:
    """``Makefile``, ``board.ld``, ``sections.ld``, ``README.md`` and ``src/``."""
    from tinyfuse.firmware.app_c import WINDOW_HEADER_BYTES, generate_app

    if sources.bundle is None:
        raise ExportError(f"the {format} export is the whole app (front-ends, model, policy): "
                          f"pass a bundle folder, not a bare .tflite")
    target = find_image_board(format, board)
    bundle = sources.bundle
    if bundle.policy is None:
        raise ExportError("the bundle stores no policy (tinyfuse build calibrates one); the "
                          "board decides with the bundle's own")
    app = generate_app(bundle)
    runtime = {p.name: p.read_text() for p in sorted(runtime_dir().glob("tf_*.[ch]"))}
    layer = {name: (IMAGE_DIR / name).read_text() for name in IMAGE_FILES}
    layer.update({name: (BOARDS_DIR / target.family / name).read_text()
                  for name in FAMILY_FILES})
    layer["vectors.h"] = (BOARDS_DIR / "arm" / "vectors.h").read_text()
    src = {**sources.compiled.sources, **runtime, **app.files, **layer}
    script = memory_script(title=f"{target.name}: {target.description}", entry="Reset_Handler",
                           stack_bytes=target.stack_bytes, flash=target.flash, ram=target.ram)
    sections = (BOARDS_DIR / "harness" / "sections.ld").read_text()
    return {"Makefile": makefile(target), "board.ld": script, "sections.ld": sections,
            "README.md": readme(sources, target, window_bytes=WINDOW_HEADER_BYTES + 4 * sum(
                app.raw_floats)),
            **{f"src/{name}": text for name, text in sorted(src.items())}}


def makefile(target: ImageBoard) -> str:
    return f"""# Generated by tinyfuse export: the app for {target.description}.
# make            -> app.elf, app.bin, app.hex (arm-none-eabi-gcc, newlib-nano)
CC = arm-none-eabi-gcc
OBJCOPY = arm-none-eabi-objcopy
SIZE = arm-none-eabi-size
CFLAGS = {target.cpu_flags} -std=c99 -O2 -Wall -Wextra -ffunction-sections \\
  -fdata-sections -D{target.define} -Isrc
LDFLAGS = --specs=nano.specs --specs=nosys.specs -nostartfiles -Wl,--gc-sections \\
  -L. -T board.ld -Wl,-Map=app.map
SOURCES = $(wildcard src/*.c)

all: app.bin app.hex

app.elf: $(SOURCES) $(wildcard src/*.h) board.ld sections.ld
\t$(CC) $(CFLAGS) $(SOURCES) $(LDFLAGS) -lm -o $@
\t$(SIZE) $@

app.bin: app.elf
\t$(OBJCOPY) -O binary $< $@

app.hex: app.elf
\t$(OBJCOPY) -O ihex $< $@

clean:
\trm -f app.elf app.bin app.hex app.map

.PHONY: all clean
"""


def readme(sources: ModelSources, target: ImageBoard, *, window_bytes: int) -> str:
    flash = "\n".join(f"    {command}" for command in target.flash_commands)
    return f"""# {sources.name} on {target.description}

Generated by `tinyfuse export --format {target.format} --board {target.name}`: the whole app (C
front-ends, standardisation, quantisation, the int8 model, the decision policy) for the
board, with nothing but a serial cable: sensor windows come in over {target.port} at
115200 baud 8N1, alert records go back on the same port. {CLOCKS[target.family]}

Build (Debian: `apt install gcc-arm-none-eabi libnewlib-arm-none-eabi make`):

    make

Flash (any one):

{flash}

After reset the board prints `tinyfuse app ready bundle=<12 hex> window_bytes={window_bytes}`.
Each window is one frame, little-endian: `TFWN`, uint32 sequence number, float64 time (s),
uint32 missing-modality mask, uint32 0, the raw float32 samples of every modality in the
bundle's order, then the CRC-32 (zlib's) of everything after `TFWN`. The board answers
`ok <seq>` (or `bad <seq>` on a CRC mismatch) after the window, preceded by one JSON record
line when the policy decided. Send the next frame after that line.
`tinyfuse run BUNDLE --on-board serial:PORT` replays a recorded or simulated stream through
the board this way and raises its decisions as alerts (`tinyfuse.apps.serial_gateway`).
Classes:
{', '.join(sources.labels)}.
"""


CLOCKS = {"stm32": "The core runs on the 16 MHz HSI it resets to (no PLL).",
          "nrf5": "The core and UART run on the internal high-frequency oscillator (the crystal "
                  "is not started)."}


def emulator_command(elf: str | Path, board: str) -> list[str]:
    """QEMU's command line for the image of ``board`` (one with a ``machine``; give it a
    UART, e.g. ``firmware.deploy.qemu_on_pty``): no semihosting, the image talks on its UART
    only."""
    from tinyfuse.firmware.deploy import _tool

    machine = BOARDS[board].machine
    if machine is None:
        raise ExportError(f"{board}: no emulator runs this board")
    return [_tool("qemu-system-arm"), "-M", machine, "-nographic", "-kernel", str(elf)]


def image_files(folder: str | Path) -> dict[str, Path]:
    """``app.elf``, ``app.bin`` and ``app.hex`` of a built export (``ExportError`` when one
    is missing)."""
    root = Path(folder)
    found = {name: root / name for name in ("app.elf", "app.bin", "app.hex")}
    missing = [name for name, path in found.items() if not path.is_file()]
    if missing:
        raise ExportError(f"{root}: no {', '.join(missing)} (run make there)")
    return found
