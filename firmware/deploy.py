"""Build a compiled model for an emulated board, run it under QEMU, and report.

The boards are rows of one table (`tinyfuse.firmware.boards`): Arm's MPS2/MPS3 FPGA images
(Cortex-M4F, M7, M33, M55), the BBC micro:bit (Cortex-M0), the Netduino Plus 2 (STM32F405) and
QEMU's RISC-V ``virt`` machine (RV32IMC); ``qemu-m4`` is the MPS2 AN386 (Cortex-M4F). All of
them run one harness (``firmware/boards/harness``): it reads input vectors from a host file,
runs ``tinyfuse_model_invoke`` on each, and writes the outputs, the stack high-water mark and
the timer ticks spent inside every invoke (see the comment at the top of its ``main.c``), as
host files or, on a UART board, as text lines this module turns back into the same files.

Instruction counting: QEMU runs with ``-icount shift=0``, one instruction per virtual
nanosecond, and the harness reads the board's tick counter around each invoke; one tick is
``Board.instructions_per_tick`` instructions. On the AN386 that is the CMSDK APB timer 0 at the
25 MHz system clock, 40 instructions a tick (`INSTRUCTIONS_PER_TICK`): counts are exact
multiples of 40 with a resolution of +/- 40 instructions per inference, and identical from run
to run. The per-board rates and resolutions are in ``firmware/boards/README.md``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyfuse.core.errors import DeployError
from tinyfuse.firmware.boards import BOARDS_DIR, Board, Kernels, find_board

logger = logging.getLogger(__name__)

HARNESS_DIR = BOARDS_DIR / "harness"
C_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-ffunction-sections", "-fdata-sections")
LINK_FLAGS = {
    "arm": ("--specs=nano.specs", "--specs=nosys.specs", "-nostartfiles", "-Wl,--gc-sections"),
    "riscv": ("--specs=picolibc.specs", "-nostartfiles", "-Wl,--gc-sections"),
}
PACKAGES = {
    "arm": "gcc-arm-none-eabi, libnewlib-arm-none-eabi (toolchain) and qemu-system-arm "
           "(emulator)",
    "riscv": "gcc-riscv64-unknown-elf, picolibc-riscv64-unknown-elf (toolchain) and "
             "qemu-system-misc (emulator)",
}
DEFAULT_IO_BYTES = 65536  # harness I/O buffer when the model's own total is not known
# 40: one instruction per virtual ns over the AN386's 25 MHz timer clock
INSTRUCTIONS_PER_TICK = round(find_board("mps2-an386").instructions_per_tick)
_IO_TABLE = re.compile(r"tinyfuse_model_(input|output)_bytes\[\] = \{([0-9, ]*)\}")
_OVERFLOW = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")
_ELF_MACHINES = {40: "arm", 243: "riscv"}  # e_machine: EM_ARM, EM_RISCV
_HASH_DEFINE = re.compile(r'#define [A-Z0-9_]+_BUNDLE_HASH "([0-9a-f]*)"')
HEADER_MAGIC = 0x48554654
HEADER_WORDS = 8
HARNESS_STATUS = {
    10: "cannot open inputs.bin",
    11: "inputs.bin length does not match the model's input bytes",
    12: "model inputs + outputs exceed the harness I/O buffer (HARNESS_IO_BYTES)",
    13: "cannot write result files",
    20: "tinyfuse_model_invoke returned non-zero",
    70: "the core took a fault exception",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SizeReport:
    """Bytes of the model and its kernels in the linked ELF (harness sections excluded)."""

    text_bytes: int
    rodata_bytes: int
    data_bytes: int
    bss_bytes: int

    @property
    def flash_bytes(self) -> int:
        """Code plus constants plus the .data load image."""
        return self.text_bytes + self.rodata_bytes + self.data_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class QemuRun:
    """What one emulator run reported.

    ``outputs[v][k]`` is output ``k`` of vector ``v`` (int8; flat unless the model's shapes were
    known). ``instructions_per_inference`` is the mean count over the vectors, rounded (each
    vector's count is quantized to the board's ``instructions_per_tick``, 40 on the AN386;
    the mean over many vectors is finer);
    ``instructions_per_vector`` has every vector's count. ``stack_bytes`` is the high-water
    mark of the stack below the harness frame that called ``tinyfuse_model_invoke`` (64 bytes
    minimum, the unpainted guard band). ``arena_bytes`` is ``TINYFUSE_MODEL_ARENA_BYTES``.
    """

    outputs: list[list[np.ndarray]]
    bundle_hash: str
    instructions_per_inference: int
    instructions_per_vector: tuple[int, ...]
    stack_bytes: int
    arena_bytes: int
    elf: Path


def _tool(name: str, family: str = "arm") -> str:
    path = shutil.which(name)
    if path is None:
        raise DeployError(f"{name} not found on PATH; install the Debian packages "
                          f"{PACKAGES[family]}")
    return path


def _io_bytes(model_c: Path) -> int:
    """Input + output bytes of one vector, from the model's byte tables in ``model.c``."""
    try:
        tables = _IO_TABLE.findall(model_c.read_text(errors="replace"))
    except OSError as exc:
        raise DeployError(f"{model_c}: cannot read: {exc}") from None
    if len(tables) != 2:
        return DEFAULT_IO_BYTES
    total = sum(int(v) for _, values in tables for v in values.split(",") if v.strip())
    return max(16, (total + 15) // 16 * 16)


def _link_error(board: Board, model_dir: Path, stderr: str) -> DeployError:
    """One line when the image does not fit the board, else the compiler's whole message."""
    overflow = _OVERFLOW.search(stderr)
    if overflow is None:
        return DeployError(f"{board.toolchain_prefix}gcc failed for {model_dir}:\n"
                           f"{stderr.strip()}")
    region, extra = overflow.group(1), int(overflow.group(2))
    if region == "RAM":
        size, note = board.ram, f"{board.stack_bytes:,} B stack and the harness I/O buffer included"
    else:
        size, note = board.flash, "the harness code included"
    return DeployError(
        f"{model_dir}: the model does not fit {board.name} ({board.description}): {region} "
        f"overflowed by {extra:,} bytes of {size.length_bytes:,} ({note})"
    )


def _runtime_parts() -> tuple[list[str], list[Path]]:
    """Include flags and C sources of the compiler's runtime kernels."""
    from tinyfuse.firmware.compiler import runtime_dir, runtime_sources

    return [f"-I{runtime_dir()}"], list(runtime_sources())


def build_for_qemu(model_dir: str | Path, *, kernels: Kernels = "portable",
                   out_dir: str | Path, board: str = "qemu-m4") -> Path:
    """Compile ``model.c`` + runtime kernels + the board harness into an ELF for ``board``.

    Parameters
    ----------
    model_dir : path
        Folder holding the generated ``model.c`` and ``model.h`` (see the C contract).
    kernels : {"portable", "dsp", "mve"}
        ``"dsp"`` defines ``TINYFUSE_USE_DSP=1`` so the kernels use the Arm DSP SIMD loops
        (only on a board whose table row has ``dsp``); ``"mve"`` adds ``TINYFUSE_USE_MVE=1``,
        the Helium dot products and convolution (a board with ``mve``).
    out_dir : path
        Where ``app.elf``, its link map ``app.map`` and the generated ``board.ld`` go (created
        if missing).
    board : str
        A name (or alias) from `tinyfuse.firmware.boards.BOARDS`.

    Returns
    -------
    Path
        The linked ``app.elf``.

    Raises
    ------
    DeployError
        Unknown board, DSP kernels on a core without the DSP extension, missing sources or
        tools, a compiler error, or (in one line) a model too big for the board's memory.
    """
    target = find_board(board)
    defines = target.kernel_defines(kernels)
    model_dir = Path(model_dir)
    missing = [name for name in ("model.c", "model.h") if not (model_dir / name).is_file()]
    if missing:
        raise DeployError(f"{model_dir}: missing {', '.join(missing)} (run the compiler first)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    elf = out_dir / "app.elf"
    (out_dir / "board.ld").write_text(target.linker_script())
    includes, runtime = _runtime_parts()
    command = [
        _tool(f"{target.toolchain_prefix}gcc", target.family), *target.gcc_flags, *C_FLAGS,
        *defines,
        *target.harness_defines(), f"-DHARNESS_IO_BYTES={_io_bytes(model_dir / 'model.c')}",
        f"-I{model_dir}", f"-I{HARNESS_DIR}", *includes,
        str(model_dir / "model.c"), *map(str, runtime), *map(str, target.harness_sources()),
        *LINK_FLAGS[target.family], f"-L{HARNESS_DIR}", f"-T{out_dir / 'board.ld'}",
        f"-Wl,-Map={out_dir / 'app.map'}", "-o", str(elf),
    ]
    logger.debug("building: %s", " ".join(command))
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise _link_error(target, model_dir, result.stderr)
    return elf


def _elf_family(elf: Path) -> str:
    try:
        with open(elf, "rb") as source:
            head = source.read(20)
    except OSError as exc:
        raise DeployError(f"{elf}: cannot read: {exc}") from None
    machine = int.from_bytes(head[18:20], "little") if head[:4] == b"\x7fELF" else -1
    if machine not in _ELF_MACHINES:
        raise DeployError(f"{elf}: not an Arm or RISC-V ELF image")
    return _ELF_MACHINES[machine]


def size_report(elf: str | Path) -> SizeReport:
    """Section sizes of the model + kernels from ``size -A`` (the Arm or RISC-V one, from the
    ELF's machine).

    The harness keeps its code, strings and buffers in ``.harness_*`` sections and the vector
    table in ``.isr_vector``; those are left out, so what remains is what the model costs.
    """
    family = _elf_family(Path(elf))
    tool = "arm-none-eabi-size" if family == "arm" else "riscv64-unknown-elf-size"
    command = [_tool(tool, family), "-A", str(elf)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DeployError(f"{tool} failed for {elf}: {result.stderr.strip()}")
    sizes: dict[str, int] = {}
    for line in result.stdout.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0].startswith(".") and fields[1].isdigit():
            sizes[fields[0]] = int(fields[1])
    return SizeReport(
        text_bytes=sizes.get(".text", 0) + sizes.get(".ARM.exidx", 0),
        rodata_bytes=sizes.get(".rodata", 0),
        data_bytes=sizes.get(".data", 0),
        bss_bytes=sizes.get(".bss", 0),
    )


MODEL_FILES = frozenset({"outputs.bin", "ticks.bin", "header.bin", "bundle_hash.txt"})


def _qemu(elf: Path, run_dir: Path, board: Board, *, timeout_s: float,
          uart_files: frozenset[str] = MODEL_FILES) -> str:
    # qemu runs inside run_dir (semihosting files land there): the ELF path must not be relative
    uart_log = run_dir / "uart.txt" if board.console != "semihosting" else None
    command = board.qemu_command(Path(elf).resolve(), uart_log=uart_log)
    command[0] = _tool(command[0], board.family)
    try:
        result = subprocess.run(
            command, cwd=run_dir, capture_output=True, text=True, check=False,
            stdin=subprocess.DEVNULL, timeout=timeout_s,
        )
    except subprocess.TimeoutExpired as exc:
        raise DeployError(f"{board.qemu} timed out after {timeout_s:g} s running {elf}") from exc
    if uart_log is not None and uart_log.is_file():
        _files_from_uart(uart_log, run_dir, allowed=uart_files)
    console = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        reason = HARNESS_STATUS.get(result.returncode, "qemu or the harness failed")
        raise DeployError(
            f"qemu run of {elf} exited with {result.returncode} ({reason}):\n{console}"
        )
    return console


def _files_from_uart(uart_log: Path, run_dir: Path, *, allowed: frozenset[str]) -> None:
    """Rebuild the result files named in ``allowed`` from the UART lines of
    ``harness/report_uart.c``."""
    files: dict[str, bytearray] = {}
    for line in uart_log.read_text(encoding="ascii", errors="replace").splitlines():
        name, colon, payload = line.strip().partition(":")
        if not colon or name not in allowed:
            continue
        try:
            files.setdefault(name, bytearray()).extend(bytes.fromhex(payload))
        except ValueError:
            raise DeployError(f"{uart_log}: corrupt record for {name}: {line[:60]!r}") from None
    for name, data in files.items():
        (run_dir / name).write_bytes(bytes(data))


def _read_header(run_dir: Path) -> tuple[np.ndarray, list[int], list[int]]:
    path = run_dir / "header.bin"
    words = np.fromfile(path, dtype="<u4") if path.is_file() else np.zeros(0, "<u4")
    if len(words) < HEADER_WORDS or words[0] != HEADER_MAGIC or words[1] != 1:
        raise DeployError(f"{path}: missing or not a tinyfuse harness header (version 1)")
    n_in, n_out = int(words[3]), int(words[4])
    sizes = [int(w) for w in words[HEADER_WORDS:HEADER_WORDS + n_in + n_out]]
    if len(sizes) != n_in + n_out:
        raise DeployError(f"{path}: truncated input/output byte counts")
    return words, sizes[:n_in], sizes[n_in:]


def _write_inputs(path: Path, vectors: list[list[np.ndarray]]) -> list[int]:
    if not vectors:
        raise DeployError("vectors: need at least one input vector")
    input_bytes = [np.asarray(a).size for a in vectors[0]]
    with path.open("wb") as sink:
        for index, vector in enumerate(vectors):
            arrays = [np.asarray(a) for a in vector]
            if [a.size for a in arrays] != input_bytes or any(a.dtype != np.int8 for a in arrays):
                raise DeployError(
                    f"vectors[{index}]: expected int8 inputs of {input_bytes} elements, got "
                    f"{[f'{a.dtype.name}[{a.size}]' for a in arrays]}"
                )
            for array in arrays:
                sink.write(np.ascontiguousarray(array).tobytes())
    return input_bytes


def _prepare(model, work_dir: Path, kernels: Kernels,
             board: str) -> tuple[Path, list[tuple] | None]:
    """ELF to run and the output shapes if known; ``model`` is an ELF, a C dir or a
    ``CompiledModel`` (anything with ``write(out_dir)`` and ``outputs``)."""
    if hasattr(model, "write") and hasattr(model, "outputs"):
        model.write(work_dir / "model")
        shapes = [tuple(int(d) for d in t.shape) for t in model.outputs]
        elf = build_for_qemu(work_dir / "model", kernels=kernels, out_dir=work_dir, board=board)
        return elf, shapes
    path = Path(model)
    if path.suffix == ".elf" and path.is_file():
        return path, None
    return build_for_qemu(path, kernels=kernels, out_dir=work_dir, board=board), None


def run_on_qemu(model, vectors: list[list[np.ndarray]], *, kernels: Kernels = "portable",
                board: str = "qemu-m4", work_dir: str | Path | None = None,
                timeout_s: float = 120.0) -> QemuRun:
    """Run every input vector through the model on an emulated board in one QEMU run.

    Parameters
    ----------
    model : path or CompiledModel
        A folder with ``model.c``/``model.h``, an ``app.elf`` from `build_for_qemu`, or a
        ``tinyfuse.firmware.compiler.CompiledModel`` (written and built here).
    vectors : list of list of ndarray
        ``vectors[v][i]`` is input ``i`` of vector ``v``, int8, any shape of the right size.
    kernels : {"portable", "dsp", "mve"}
        Kernel path when this call builds the ELF.
    board : str
        The board (a name or alias from `tinyfuse.firmware.boards.BOARDS`); an ELF given as
        ``model`` must have been built for it.
    work_dir : path, optional
        Where the build and the run files go; a temporary folder (removed after) if omitted.
    timeout_s : float
        Wall-clock limit of the QEMU run; exceeding it raises `DeployError`.

    Returns
    -------
    QemuRun
    """
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="tinyfuse-qemu-") as scratch:
            return run_on_qemu(model, vectors, kernels=kernels, board=board,
                               work_dir=scratch, timeout_s=timeout_s)
    target = find_board(board)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    elf, shapes = _prepare(model, work_dir, kernels, board)
    run_dir = work_dir / "run"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir()
    input_bytes = _write_inputs(run_dir / "inputs.bin", vectors)
    console = _qemu(elf, run_dir, target, timeout_s=timeout_s)
    logger.debug("qemu console: %s", console)
    words, want_in, out_bytes = _read_header(run_dir)
    if want_in != input_bytes or int(words[2]) != len(vectors):
        raise DeployError(
            f"{elf}: model takes inputs of {want_in} bytes, vectors have {input_bytes}; "
            f"ran {int(words[2])} of {len(vectors)} vectors"
        )
    flat = np.fromfile(run_dir / "outputs.bin", dtype=np.int8).reshape(len(vectors), -1)
    splits = np.cumsum(out_bytes)[:-1]
    outputs = [np.split(row, splits) for row in flat]
    if shapes is not None:
        outputs = [[o.reshape(s) for o, s in zip(row, shapes, strict=True)] for row in outputs]
    hash_file = run_dir / "bundle_hash.txt"
    board_hash = hash_file.read_bytes()[:64].decode("ascii", "replace") \
        if hash_file.is_file() else ""
    ticks = np.fromfile(run_dir / "ticks.bin", dtype="<u4").astype(np.int64)
    per_vector = tuple(round(int(t) * target.instructions_per_tick) for t in ticks)
    return QemuRun(
        outputs=outputs, bundle_hash=board_hash,
        instructions_per_inference=round(float(np.mean(per_vector))),
        instructions_per_vector=per_vector, stack_bytes=int(words[5]),
        arena_bytes=int(words[6]), elf=elf,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceReport:
    """Result of `deploy`, written as ``device.json``. ``mismatches`` counts output elements
    (over all vectors) where the board differs from the TFLite Micro reference;
    ``ram_peak_bytes`` is the model's static RAM (.bss + .data, which hold the arena) plus
    the stack high-water mark."""

    board: str
    kernels: str
    bundle_hash: str
    parity: bool
    mismatches: int
    vectors: int
    instructions_per_inference: int
    text_bytes: int
    rodata_bytes: int
    data_bytes: int
    bss_bytes: int
    arena_bytes: int
    stack_bytes: int
    ram_peak_bytes: int
    tflm_arena_bytes: int

    def to_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}


def compiled_hash(model_h: Path) -> str:
    """The ``*_BUNDLE_HASH`` a generated ``model.h`` carries ("" when it has none)."""
    try:
        text = model_h.read_text(errors="replace")
    except OSError as exc:
        raise DeployError(f"{model_h}: cannot read: {exc}") from None
    match = _HASH_DEFINE.search(text)
    return match.group(1) if match else ""


def deploy(build_dir: str | Path, *, board: str = "qemu-m4", vectors: int = 32,
           kernels: Kernels = "portable", seed: int = 0) -> DeviceReport:
    """Compile a build folder's bundle, run it on the board, check parity, report.

    Uses ``model.c``/``model.h`` already in ``build_dir`` when both are there (refused unless
    ``model.h`` carries the bundle's hash), else compiles the bundle into
    ``build_dir/BOARD/model``. The board reports the hash of the model it runs; a board
    whose hash is not the bundle's is refused. Runs ``vectors`` input sets (all -128, all
    127, then seeded random: ``tinyfuse.firmware.parity.random_inputs``, the same as
    ``tinyfuse verify``) in one emulator run, compares every output with TFLite Micro and
    writes ``build_dir/device.json``.

    Parameters
    ----------
    build_dir : path
        Folder with ``bundle.json`` and the model.
    board : str
        A board name or alias from `tinyfuse.firmware.boards.BOARDS` (``tinyfuse boards``);
        the report and the work folder carry the name as given.
    vectors, seed : int
        How many input sets, and their seed.
    kernels : {"portable", "dsp", "mve"}
        ``"dsp"`` only on a board with the DSP extension, ``"mve"`` only on one with Helium.

    Raises
    ------
    DeployError
        Unknown board, a model that does not fit the board (one line), a build or run failure,
        or a board that runs another bundle's model.
    """
    try:
        find_board(board)
    except DeployError as exc:
        raise DeployError(f"{exc}; MicroPython boards: tinyfuse.firmware.micropython_export") \
            from None
    if vectors < 1:
        raise DeployError(f"vectors must be >= 1, got {vectors}")
    from tinyfuse.core.bundle import Bundle
    from tinyfuse.core.tflm import tflm_arena_bytes
    from tinyfuse.firmware.compiler import compile_bundle
    from tinyfuse.firmware.parity import (
        board_inputs,
        compare_outputs,
        host_outputs,
        random_inputs,
        reference_outputs,
    )

    build_dir = Path(build_dir)
    bundle = Bundle.read(build_dir)
    compiled = compile_bundle(bundle)
    if any(t.float_io for t in (*compiled.inputs, *compiled.outputs)):
        raise DeployError(f"{build_dir}: float32 inputs/outputs; deploy checks int8-I/O models")
    work_dir = build_dir / board
    model_dir = build_dir
    if (build_dir / "model.c").is_file() and (build_dir / "model.h").is_file():
        found = compiled_hash(build_dir / "model.h")
        if found != bundle.bundle_hash:
            raise DeployError(f"{build_dir / 'model.h'}: compiled for bundle "
                              f"{found[:12] or '(none)'}, not this bundle "
                              f"{bundle.bundle_hash[:12]}: recompile it (tinyfuse compile "
                              f"{build_dir} --out {build_dir}) or remove model.c/model.h")
    else:
        model_dir = work_dir / "model"
        compiled.write(model_dir)
    inputs = random_inputs(compiled.inputs, count=vectors, seed=seed)
    elf = build_for_qemu(model_dir, kernels=kernels, out_dir=work_dir, board=board)
    run = run_on_qemu(elf, board_inputs(compiled, inputs), board=board, work_dir=work_dir)
    if run.bundle_hash != bundle.bundle_hash:
        raise DeployError(f"{elf}: the board runs bundle {run.bundle_hash[:12] or '(none)'}, "
                          f"not {bundle.bundle_hash[:12]}")
    parity = compare_outputs(f"{board} ({kernels})", compiled,
                             reference_outputs(bundle.tflite, inputs),
                             host_outputs(compiled, run.outputs))
    sizes = size_report(elf)
    report = DeviceReport(
        board=board, kernels=kernels, bundle_hash=bundle.bundle_hash, parity=parity.ok,
        mismatches=parity.mismatches, vectors=vectors,
        instructions_per_inference=run.instructions_per_inference,
        text_bytes=sizes.text_bytes, rodata_bytes=sizes.rodata_bytes,
        data_bytes=sizes.data_bytes, bss_bytes=sizes.bss_bytes, arena_bytes=run.arena_bytes,
        stack_bytes=run.stack_bytes,
        ram_peak_bytes=sizes.bss_bytes + sizes.data_bytes + run.stack_bytes,
        tflm_arena_bytes=tflm_arena_bytes(bundle.tflite),
    )
    (build_dir / "device.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    logger.info("deployed %s on %s: parity=%s", build_dir, board, report.parity)
    if not parity.ok:
        logger.warning("%s", parity)
    return report


@contextlib.contextmanager
def qemu_on_pty(command: list[str], *, cwd: str | Path | None = None,
                start_timeout_lines: int = 50) -> Iterator[tuple[subprocess.Popen, str]]:
    """Run an emulator ``command`` (a ``qemu-system-*`` line without ``-monitor`` or
    ``-serial``) with its first UART on a pty, paused before the first instruction, so that
    whoever opens the pty sees every byte the board sends: yields ``(process, pty path)``;
    :func:`qemu_continue` starts the board. The emulator is killed on exit.

    Raises
    ------
    DeployError
        QEMU exits or names no pty.
    """
    qemu = subprocess.Popen([*command, "-monitor", "stdio", "-serial", "pty", "-S"],
                            cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        port = None
        assert qemu.stdout is not None
        for _ in range(start_timeout_lines):
            line = qemu.stdout.readline()
            found = re.search(r"char device redirected to (\S+)", line)
            if found:
                port = found.group(1)
                break
            if not line and qemu.poll() is not None:
                break
        if port is None:
            raise DeployError(f"{command[0]} named no pty for its UART (exit {qemu.poll()})")
        yield qemu, port
    finally:
        qemu.kill()
        qemu.wait()


def qemu_continue(qemu: subprocess.Popen) -> None:
    """Let an emulator paused by :func:`qemu_on_pty` run (the monitor's ``cont``)."""
    assert qemu.stdin is not None
    qemu.stdin.write("cont\n")
    qemu.stdin.flush()
