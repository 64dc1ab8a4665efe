"""The emulated boards as data: one row per board, and what a build and a QEMU run need of it.

Every board runs the same harness (``harness/main.c``: read ``inputs.bin``, invoke the model per
vector, write outputs, ticks and a header) on the same generated C; a row says how to compile
for its core, where its memory is, which tick counter times an invoke, and whether the results
go out by semihosting (host files) or over the board's UART. ``firmware/deploy.py`` builds and
runs; ``tinyfuse boards`` prints the table. The memory maps and clocks are QEMU 7.2's models of
these machines (see ``README.md`` here for the sources and the per-board notes).

Instruction counting: QEMU runs with ``-icount shift=0`` (one instruction per virtual
nanosecond) and every tick counter counts virtual time, so one tick is
``1e9 / timer_hz`` instructions (`Board.instructions_per_tick`); the RISC-V ``minstret``
counter counts instructions directly (``timer_hz`` 1e9).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tinyfuse.core.errors import DeployError

BOARDS_DIR = Path(__file__).resolve().parent
KIB = 1024
MIB = 1024 * KIB
Family = Literal["arm", "riscv"]
Console = Literal["semihosting", "usart1"]
Kernels = Literal["portable", "dsp", "mve"]
# The kernel paths and what selects each in the runtime's C (tf_mac.h).
KERNEL_DEFINES: dict[Kernels, tuple[str, ...]] = {
    "portable": (), "dsp": ("-DTINYFUSE_USE_DSP=1",),
    "mve": ("-DTINYFUSE_USE_DSP=1", "-DTINYFUSE_USE_MVE=1")}
TimerKind = Literal["cmsdk", "nrf51", "stm32", "sse-counter", "riscv-instret"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Region:
    """One memory region: ``origin`` and ``length_bytes``, as the linker script takes them."""

    origin: int
    length_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Board:
    """One emulated board.

    Attributes
    ----------
    name : str
        The key (``tinyfuse deploy DIR --board NAME``); ``aliases`` are accepted too.
    description : str
        The board and its core, in words.
    family : {"arm", "riscv"}
        Toolchain, startup code and semihosting trap.
    machine, qemu_cpu : str
        QEMU's ``-M`` machine and the core it models (``qemu_args`` holds any extra flags).
    gcc_flags : tuple of str
        The core's compiler flags (``-mcpu``/``-mfloat-abi``/``-mfpu`` or ``-march``/``-mabi``).
    fpu : str
        The floating-point unit, "none" for a core without one.
    dsp : bool
        The Arm DSP extension: ``kernels="dsp"`` (``TINYFUSE_USE_DSP=1``) is allowed.
    mve : bool
        Helium, the M-profile vector extension: ``kernels="mve"`` (the DSP path with
        ``TINYFUSE_USE_MVE=1``) is allowed.
    flash, ram : Region
        Where code and constants go, and where data, the arena and the stack go.
    stack_bytes : int
        Stack reserved at the top of the image's RAM.
    console : {"semihosting", "usart1"}
        How the result files leave the board (inputs always arrive by semihosting).
    timer, timer_base, timer_hz : str, int, int
        The tick counter of ``harness/timer.c``, its address, and its rate under QEMU.
    clock_hz : int
        Core clock the firmware runs at (0 where the machine has none to speak of).
    """

    name: str
    description: str
    family: Family
    machine: str
    qemu_cpu: str
    gcc_flags: tuple[str, ...]
    fpu: str
    dsp: bool
    flash: Region
    ram: Region
    stack_bytes: int
    console: Console
    timer: TimerKind
    timer_base: int
    timer_hz: int
    clock_hz: int
    aliases: tuple[str, ...] = ()
    qemu_args: tuple[str, ...] = ()
    mve: bool = False

    @property
    def kernel_paths(self) -> tuple[Kernels, ...]:
        """The kernel paths this core can run: portable always, then dsp, then mve."""
        return ("portable", *(("dsp",) if self.dsp else ()), *(("mve",) if self.mve else ()))

    def kernel_defines(self, kernels: str) -> tuple[str, ...]:
        """The ``-D`` flags of kernel path ``kernels`` (see ``KERNEL_DEFINES``); a
        ``DeployError`` in one line when this core cannot run it."""
        if kernels not in KERNEL_DEFINES:
            raise DeployError(f"kernels must be one of {list(KERNEL_DEFINES)}, got {kernels!r}")
        if kernels not in self.kernel_paths:
            extension = "Arm DSP extension" if kernels == "dsp" else "Helium (MVE)"
            raise DeployError(f"board {self.name} ({self.qemu_cpu}) has no {extension}; use "
                              f"--kernels {' or '.join(self.kernel_paths)}")
        return KERNEL_DEFINES[kernels]

    @property
    def instructions_per_tick(self) -> float:
        """Instructions per tick of ``timer`` under ``-icount shift=0``."""
        return 1e9 / self.timer_hz

    @property
    def toolchain_prefix(self) -> str:
        return "arm-none-eabi-" if self.family == "arm" else "riscv64-unknown-elf-"

    @property
    def qemu(self) -> str:
        return "qemu-system-arm" if self.family == "arm" else "qemu-system-riscv32"

    def harness_sources(self) -> tuple[Path, ...]:
        """C files of the harness for this board (``harness/`` + startup + report sink)."""
        common = BOARDS_DIR / "harness"
        sources = [common / "main.c", common / "semihost.c", common / "timer.c",
                   BOARDS_DIR / self.family / "startup.c"]
        if self.console == "usart1":
            sources += [common / "report_uart.c", BOARDS_DIR / "stm32f4" / "usart.c"]
        else:
            sources.append(common / "report_semihost.c")
        return tuple(sources)

    def harness_defines(self) -> tuple[str, ...]:
        """Preprocessor flags that select the tick counter (and, on a UART board, find the
        real-board image's ``uart.h``, whose STM32 driver the harness shares)."""
        kind = self.timer.upper().replace("-", "_")
        uart = (f"-I{BOARDS_DIR / 'image'}",) if self.console == "usart1" else ()
        return (f"-DHARNESS_TIMER_{kind}=1", f"-DHARNESS_TIMER_BASE={self.timer_base:#x}u",
                *uart)

    def linker_script(self) -> str:
        """The board's memory map, then ``INCLUDE sections.ld`` (found with ``-L harness/``)."""
        return memory_script(title=f"{self.name}: {self.description}",
                             entry="Reset_Handler" if self.family == "arm" else "_start",
                             stack_bytes=self.stack_bytes, flash=self.flash, ram=self.ram)

    def qemu_command(self, elf: Path, *, uart_log: Path | None = None) -> list[str]:
        """The emulator command line (QEMU semihosting files resolve in its working folder)."""
        serial = ["-serial", f"file:{uart_log}"] if uart_log is not None else []
        return [self.qemu, "-M", self.machine, *self.qemu_args, "-nographic", "-monitor", "none",
                *serial, "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
                "-kernel", str(elf)]


def memory_script(*, title: str, entry: str, stack_bytes: int, flash: Region,
                  ram: Region) -> str:
    """A linker script's memory map (``FLASH`` and ``RAM`` regions, ``STACK_BYTES``, the
    entry point), then ``INCLUDE sections.ld``: the harness images and the real-board images
    (``tinyfuse.firmware.exports.image``) share it."""
    return (
        f"/* {title} (generated from the board table) */\n"
        f"ENTRY({entry})\n"
        f"STACK_BYTES = DEFINED(STACK_BYTES) ? STACK_BYTES : {stack_bytes:#x};\n"
        "MEMORY\n{\n"
        f"  FLASH (rx)  : ORIGIN = {flash.origin:#010x}, LENGTH = {flash.length_bytes:#x}\n"
        f"  RAM   (rwx) : ORIGIN = {ram.origin:#010x}, LENGTH = {ram.length_bytes:#x}\n"
        "}\n"
        "INCLUDE sections.ld\n"
    )


_M4F = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")
_MPS2_FLASH = Region(origin=0x00000000, length_bytes=4 * MIB)  # ZBT SSRAM1
_MPS2_RAM = Region(origin=0x20000000, length_bytes=4 * MIB)    # ZBT SSRAM2/3

BOARDS: tuple[Board, ...] = (
    Board(name="mps2-an386", aliases=("qemu-m4",),
          description="Arm MPS2 AN386, Cortex-M4F", family="arm",
          machine="mps2-an386", qemu_cpu="cortex-m4", gcc_flags=_M4F, fpu="fpv4-sp-d16",
          dsp=True, flash=_MPS2_FLASH, ram=_MPS2_RAM, stack_bytes=64 * KIB,
          console="semihosting", timer="cmsdk", timer_base=0x40000000,  # timer0
          timer_hz=25_000_000, clock_hz=25_000_000),
    Board(name="mps2-an500", description="Arm MPS2 AN500, Cortex-M7 (double-precision FPU)",
          family="arm", machine="mps2-an500", qemu_cpu="cortex-m7",
          gcc_flags=("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"),
          fpu="fpv5-d16", dsp=True, flash=_MPS2_FLASH, ram=_MPS2_RAM, stack_bytes=64 * KIB,
          console="semihosting", timer="cmsdk", timer_base=0x40000000,  # timer0
          timer_hz=25_000_000, clock_hz=25_000_000),
    Board(name="mps2-an505", description="Arm MPS2 AN505 (IoT Kit), Cortex-M33, Secure state",
          family="arm", machine="mps2-an505", qemu_cpu="cortex-m33",
          gcc_flags=("-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"),
          fpu="fpv5-sp-d16", dsp=True,
          # Secure aliases (address bit 28 set): SSRAM1 at 0x10000000, SSRAM2+3 at 0x38000000
          flash=Region(origin=0x10000000, length_bytes=4 * MIB),
          ram=Region(origin=0x38000000, length_bytes=4 * MIB), stack_bytes=64 * KIB,
          console="semihosting", timer="cmsdk", timer_base=0x50000000,  # timer0, Secure
          timer_hz=20_000_000, clock_hz=20_000_000),
    Board(name="mps3-an547", description="Arm MPS3 AN547 (SSE-300), Cortex-M55 with Helium",
          family="arm", machine="mps3-an547", qemu_cpu="cortex-m55",
          gcc_flags=("-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"),
          fpu="fp-armv8-fullfp16-d16 + MVE-F", dsp=True, mve=True,
          flash=Region(origin=0x00000000, length_bytes=512 * KIB),  # ITCM
          ram=Region(origin=0x21000000, length_bytes=4 * MIB),      # SRAM 2 (ISRAM0/1)
          stack_bytes=64 * KIB, console="semihosting", timer="sse-counter",
          timer_base=0x58100000, timer_hz=32_000_000, clock_hz=32_000_000),
    Board(name="microbit", description="BBC micro:bit v1, nRF51822, Cortex-M0 (16 KiB RAM)",
          family="arm", machine="microbit", qemu_cpu="cortex-m0",
          gcc_flags=("-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"), fpu="none", dsp=False,
          flash=Region(origin=0x00000000, length_bytes=256 * KIB),
          ram=Region(origin=0x20000000, length_bytes=16 * KIB), stack_bytes=2 * KIB,
          console="semihosting", timer="nrf51", timer_base=0x40008000,  # TIMER0
          timer_hz=16_000_000, clock_hz=16_000_000),
    Board(name="netduinoplus2", description="Netduino Plus 2, STM32F405RG, Cortex-M4F",
          family="arm", machine="netduinoplus2", qemu_cpu="cortex-m4", gcc_flags=_M4F,
          fpu="fpv4-sp-d16", dsp=True,
          flash=Region(origin=0x08000000, length_bytes=1 * MIB),
          ram=Region(origin=0x20000000, length_bytes=128 * KIB), stack_bytes=16 * KIB,
          console="usart1", timer="stm32", timer_base=0x40000000,  # TIM2
          timer_hz=1_000_000_000,  # QEMU 7.2 clocks the STM32 timers at 1 GHz
          clock_hz=16_000_000),    # HSI: the driver leaves the PLL off
    Board(name="riscv32-virt", aliases=("rv32imc",),
          description="QEMU virt, RV32IMC (the ESP32-C3 instruction set), machine mode",
          family="riscv", machine="virt", qemu_cpu="rv32 (I, M, C, Zicsr)",
          gcc_flags=("-march=rv32imc", "-mabi=ilp32"), fpu="none", dsp=False,
          flash=Region(origin=0x80000000, length_bytes=4 * MIB),
          ram=Region(origin=0x80400000, length_bytes=4 * MIB), stack_bytes=64 * KIB,
          console="semihosting", timer="riscv-instret", timer_base=0, timer_hz=1_000_000_000,
          clock_hz=0, qemu_args=("-bios", "none", "-cpu", "rv32,a=false,f=false,d=false")),
)


def board_names() -> tuple[str, ...]:
    """The names of every board in the table, in table order."""
    return tuple(b.name for b in BOARDS)


def find_board(name: str) -> Board:
    """The board called ``name`` (or one of its aliases).

    Raises
    ------
    DeployError
        No board has that name; the message lists the ones there are.
    """
    for candidate in BOARDS:
        if name == candidate.name or name in candidate.aliases:
            return candidate
    raise DeployError(f"board {name!r} is not supported; available boards: "
                      f"{', '.join(board_names())} (qemu-m4 = mps2-an386)")
