"""Load a tinyfuse weights file (``model.tfw``) and run it: int8 in, int8 out, bit-exact with
TFLite Micro.

File layout (little-endian), written by ``tinyfuse.firmware.micropython_export``:

* header ``HEADER`` (64 bytes): magic ``TFMP``, format version, number of steps, arena bytes,
  blob bytes, table bytes, number of inputs, of outputs, reserved, CRC-32 of table then blob,
  the first 32 hex digits of the bundle hash;
* the table: int32 words; per input then per output ``offset, size, scale (float32 bits),
  zero_point, rank, dims...``; per step ``opcode, count, words...``;
* the blob: constants (int8 filters, int32 biases, multipliers and shifts), 4-byte aligned.

A step's words are the parameters of its kernel as the tinyfuse compiler computes them
(``firmware/compiler``); offsets count bytes in the arena (activations) or the blob
(constants).
"""

import struct
from array import array

from . import kernels

try:
    import binascii
except ImportError:  # a port built without it
    binascii = None  # type: ignore[assignment]
crc32 = getattr(binascii, "crc32", None)

MAGIC = b"TFMP"
FORMAT_VERSION = 1
HEADER = "<4sHHIIIBBHI32s"
HEADER_BYTES = struct.calcsize(HEADER)
MAX_ARENA_BYTES = 16 * 1024 * 1024
MAX_PARAMS = 4096

CONV, DEPTHWISE, FULLY_CONNECTED, MAX_POOL, AVERAGE_POOL, MEAN = 1, 2, 3, 4, 5, 6
CONCATENATION, SOFTMAX, ADD, LOGISTIC, REQUANTIZE, RELU, CLAMP = 7, 8, 9, 10, 11, 12, 13
REDUCE_MAX = 14
OP_NAMES = {CONV: "CONV_2D", DEPTHWISE: "DEPTHWISE_CONV_2D",
            FULLY_CONNECTED: "FULLY_CONNECTED", MAX_POOL: "MAX_POOL_2D",
            AVERAGE_POOL: "AVERAGE_POOL_2D", MEAN: "MEAN", CONCATENATION: "CONCATENATION",
            SOFTMAX: "SOFTMAX", ADD: "ADD", LOGISTIC: "LOGISTIC", REQUANTIZE: "QUANTIZE",
            RELU: "RELU", CLAMP: "RELU6", REDUCE_MAX: "REDUCE_MAX"}
# CONV/DEPTHWISE words: 19 geometry words (all >= 0, read by mac.conv_acc), then
# input_offset, output_offset, act_min, act_max, out_off, bias_off (-1: none), mult_off,
# shift_off. FULLY_CONNECTED: 5 geometry words (batches, depth, out_depth, in_off,
# filter_off), then input_offset, filter_offset, output_offset, act_min, act_max, out_off,
# bias_off, mult_off, shift_off.
CONV_GEOMETRY = 19
FC_GEOMETRY = 5
# word counts of the other kernels (see kernels.py for their order)
WORDS = {MAX_POOL: 16, AVERAGE_POOL: 16, MEAN: 10, SOFTMAX: 7, ADD: 27, LOGISTIC: 7,
         REQUANTIZE: 7, RELU: 9, CLAMP: 5, REDUCE_MAX: 5}


class ModelError(ValueError):
    """The weights file is not one this package can run; the message says what is wrong."""


class Tensor:
    """A model input or output: arena ``offset``, ``size`` bytes, ``shape``, quantization."""

    def __init__(self, offset, size, scale, zero_point, shape):
        self.offset = offset
        self.size = size
        self.scale = scale
        self.zero_point = zero_point
        self.shape = shape


def _words(data, start, count):
    return struct.unpack_from("<%di" % count, data, start)


def _need(condition, message):
    if not condition:
        raise ModelError(message)


class Model:
    """An int8 model loaded from a weights file.

    ``run([input0, ...])`` takes one int8 buffer per input (``bytes``, ``bytearray`` or
    ``array('b')`` of ``inputs[i].size`` values) and returns one ``array('b')`` per output.
    """

    def __init__(self, path):
        with open(path, "rb") as stream:
            head = stream.read(HEADER_BYTES)
            _need(len(head) == HEADER_BYTES, path + ": shorter than a header")
            fields = struct.unpack(HEADER, head)
            magic, version, steps, arena_bytes, blob_bytes, table_bytes = fields[:6]
            _need(magic == MAGIC, path + ": not a tinyfuse weights file (magic)")
            _need(version == FORMAT_VERSION, path + ": format version %d, this package "
                  "reads %d" % (version, FORMAT_VERSION))
            _need(arena_bytes <= MAX_ARENA_BYTES and table_bytes % 4 == 0
                  and table_bytes <= 4 * MAX_PARAMS * (steps + 8), path + ": sizes out of range")
            table = stream.read(table_bytes)
            _need(len(table) == table_bytes, path + ": truncated table")
            self.blob = bytearray(blob_bytes)
            _need(stream.readinto(self.blob) == blob_bytes, path + ": truncated blob")
            _need(stream.read(1) == b"", path + ": bytes after the blob")
        if crc32 is not None:
            _need(crc32(self.blob, crc32(table)) & 0xFFFFFFFF == fields[9],
                  path + ": checksum mismatch (corrupt file)")
        self.bundle_hash = fields[10].decode()
        self.arena = array("b", bytes(arena_bytes))
        words = _words(table, 0, table_bytes // 4)
        position = 0
        self.inputs, position = self._io(words, position, fields[6], table)
        self.outputs, position = self._io(words, position, fields[7], table)
        self.steps = []
        sums = 0  # int32 scratch words the convolutions and dense layers need
        for _ in range(steps):
            _need(position + 2 <= len(words), path + ": truncated step table")
            opcode, count = words[position], words[position + 1]
            _need(opcode in OP_NAMES and 0 <= count <= MAX_PARAMS
                  and position + 2 + count <= len(words), path + ": bad step header")
            step = self._step(opcode, words[position + 2:position + 2 + count])
            self.steps.append(step)
            if step[1] is not None:
                g = step[1]
                sums = max(sums, g[0] * g[4] * g[5] * g[6] if opcode in (CONV, DEPTHWISE)
                           else g[0] * g[2])
            position += 2 + count
        _need(position == len(words), path + ": table longer than its steps")
        self.sums = array("i", bytes(4 * sums))

    def _io(self, words, position, count, table):
        found = []
        for _ in range(count):
            offset, size, zero_point, rank = (words[position], words[position + 1],
                                              words[position + 3], words[position + 4])
            scale = struct.unpack_from("<f", table, 4 * (position + 2))[0]
            shape = tuple(words[position + 5:position + 5 + rank])
            _need(0 <= offset and offset + size <= len(self.arena), "I/O outside the arena")
            found.append(Tensor(offset, size, scale, zero_point, shape))
            position += 5 + rank
        return found, position

    def _ints(self, offset, count):
        if offset < 0:
            return None
        _need(offset + 4 * count <= len(self.blob), "constant table outside the blob")
        return list(_words(self.blob, offset, count))

    def _step(self, opcode, p):
        if opcode in (CONV, DEPTHWISE):
            g = p[:CONV_GEOMETRY]
            _need(min(g) >= 0 and len(p) == CONV_GEOMETRY + 8, "bad convolution words")
            batches, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w, fic = g[:10]
            _need(g[17] + batches * in_h * in_w * in_c <= len(self.arena)
                  and p[23] + batches * out_h * out_w * out_c <= len(self.arena)
                  and g[18] + (k_h * k_w * out_c if opcode == DEPTHWISE else
                               out_c * k_h * k_w * fic) <= len(self.blob)
                  and min(in_c, fic, g[10], out_c) > 0 and in_c % fic == 0,
                  "convolution outside its buffers")
            return (opcode, array("i", g), p[CONV_GEOMETRY:], self._tables(p[24:27], out_c))
        if opcode == FULLY_CONNECTED:
            g = p[:FC_GEOMETRY]
            _need(min(g) >= 0 and len(p) == FC_GEOMETRY + 9, "bad fully-connected words")
            batches, depth, out_depth, src, weights = g
            _need(src + batches * depth <= len(self.arena)
                  and p[10] + batches * out_depth <= len(self.arena)
                  and weights + depth * out_depth <= len(self.blob),
                  "fully-connected outside its buffers")
            return (opcode, array("i", g), p[FC_GEOMETRY:], self._tables(p[11:14], out_depth))
        if opcode == CONCATENATION:
            _need(len(p) >= 3 and len(p) == 3 + 2 * p[2], "bad concatenation words")
        else:
            _need(len(p) == WORDS[opcode], "%s: %d words, expected %d" % (
                OP_NAMES[opcode], len(p), WORDS[opcode]))
        return (opcode, None, p, None)

    def _tables(self, offsets, channels):
        bias, mult, shift = offsets
        return (self._ints(bias, channels), self._ints(mult, channels),
                self._ints(shift, channels))

    def run(self, inputs):
        """One inference: int8 buffers in (input order), ``array('b')`` outputs out."""
        _need(len(inputs) == len(self.inputs), "the model takes %d inputs, got %d"
              % (len(self.inputs), len(inputs)))
        arena = self.arena
        for tensor, values in zip(self.inputs, inputs):
            _need(len(values) == tensor.size, "input of %d values, expected %d"
                  % (len(values), tensor.size))
            if isinstance(values, (bytes, bytearray)):
                values = array("b", values)
            arena[tensor.offset:tensor.offset + tensor.size] = values
        for opcode, geometry, p, tables in self.steps:
            _run_step(arena, self.blob, self.sums, opcode, geometry, p, tables)
        return [arena[t.offset:t.offset + t.size] for t in self.outputs]


def _run_step(arena, blob, sums, opcode, geometry, p, tables):
    if opcode == CONV or opcode == DEPTHWISE:
        kernels.conv(arena, blob, sums, geometry, p, tables, 1 if opcode == DEPTHWISE else 0)
    elif opcode == FULLY_CONNECTED:
        kernels.fully_connected(arena, blob, sums, geometry, p, tables)
    elif opcode == MAX_POOL or opcode == AVERAGE_POOL:
        kernels.pool(arena, p, opcode == MAX_POOL)
    elif opcode == MEAN:
        kernels.mean(arena, p)
    elif opcode == CONCATENATION:
        kernels.concatenation(arena, p)
    elif opcode == SOFTMAX:
        kernels.softmax(arena, p)
    elif opcode == ADD:
        kernels.add(arena, p)
    elif opcode == LOGISTIC:
        kernels.logistic(arena, p)
    elif opcode == REQUANTIZE:
        kernels.requantize(arena, p)
    elif opcode == RELU:
        kernels.relu(arena, p)
    elif opcode == REDUCE_MAX:
        kernels.reduce_max(arena, p)
    else:
        kernels.clamp_only(arena, p)


def f32(value):
    """``value`` rounded to float32 (a no-op where MicroPython floats are float32)."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def quantize(values, scale, zero_point):
    """float -> int8 as TFLite's AffineQuantize: float32 division, round half away from
    zero, clamp to [-128, 127]; returns ``array('b')``."""
    scale = f32(scale)
    out = array("b", bytes(len(values)))
    for i in range(len(values)):
        ratio = f32(f32(values[i]) / scale)
        rounded = int(abs(ratio) + 0.5)
        q = (rounded if ratio >= 0 else -rounded) + zero_point
        out[i] = -128 if q < -128 else (127 if q > 127 else q)
    return out


def dequantize(values, scale, zero_point):
    """int8 -> float as TFLite's Dequantize: ``float32(scale * (q - zero_point))``."""
    return [f32(scale * (q - zero_point)) for q in values]
