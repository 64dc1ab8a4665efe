"""Structural verifier of a whole .tflite flatbuffer, run before anything is read from it.

The reader (``reader.py``) reads only the fields the compiler needs, but TFLite Micro's loader
(its Python wrapper unpacks every field of the model) refuses a model whose *other* fields are
damaged too: a signature def, a tensor map's name, a quantization ``min`` vector, an unused
buffer's data, ... So :func:`verify_model` walks every table the schema
(``tensorflow/lite/schema/schema.fbs``) describes and refuses, with a one-line
:class:`ExportError` naming the table and field, a model with

* a table offset, vtable, or a field's bytes outside the file, or a malformed vtable;
* a string, vector or table vector whose offset or length leaves the file;
* a buffer (or large custom options) whose file ``offset``/``size`` range leaves the file.

The schema is data (:data:`SCHEMA`: table -> field id -> name and kind), the walk is one
function. The work is bounded: every table, string and vector visited costs one unit of a
budget proportional to the file size (shared or looping offsets cannot make it slow), and the
nesting depth is capped. Builtin options tables get their offset, vtable and field bytes
checked; their values are decoded (and checked) by the reader.
"""

from __future__ import annotations

import struct

from tinyfuse.core.errors import ExportError
from tinyfuse.firmware.compiler.flatbuf import Table, root_table
from tinyfuse.firmware.compiler.schema import FILE_IDENTIFIER

MAX_DEPTH = 16
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")

# Field kinds: ("scalar", bytes), ("string",), ("vector", element bytes), ("table", name),
# ("tables", name), ("union", type field id, {union type: table name}). A union member that is
# not in its map (every builtin options table but a few) is walked as "Options": offset,
# vtable and the bytes of its fields (at least one each; their sizes are the reader's business).
Kind = tuple


def _s(size: int) -> Kind:
    return ("scalar", size)


def _v(size: int) -> Kind:
    return ("vector", size)


def _t(name: str) -> Kind:
    return ("table", name)


def _ts(name: str) -> Kind:
    return ("tables", name)


STRING: Kind = ("string",)
_SPARSE_INDEX = {1: "Int32Vector", 2: "Uint16Vector", 3: "Uint8Vector"}
# BuiltinOptions members with offset fields; the scalar-only ones are walked as "Options".
_BUILTIN_OPTIONS = {3: "ConcatEmbeddingsOptions", 17: "ReshapeOptions", 30: "SqueezeOptions",
                    111: "VarHandleOptions"}

SCHEMA: dict[str, dict[int, tuple[str, Kind]]] = {
    "Model": {
        0: ("version", _s(4)), 1: ("operator_codes", _ts("OperatorCode")),
        2: ("subgraphs", _ts("SubGraph")), 3: ("description", STRING),
        4: ("buffers", _ts("Buffer")), 5: ("metadata_buffer", _v(4)),
        6: ("metadata", _ts("Metadata")), 7: ("signature_defs", _ts("SignatureDef")),
        8: ("external_buffer_groups", _ts("ExternalBufferGroup")),
        9: ("external_buffers", _ts("ExternalBuffer")),
    },
    "OperatorCode": {
        0: ("deprecated_builtin_code", _s(1)), 1: ("custom_code", STRING),
        2: ("version", _s(4)), 3: ("builtin_code", _s(4)),
    },
    "SubGraph": {
        0: ("tensors", _ts("Tensor")), 1: ("inputs", _v(4)), 2: ("outputs", _v(4)),
        3: ("operators", _ts("Operator")), 4: ("name", STRING),
        5: ("debug_metadata_index", _s(4)),
    },
    "Tensor": {
        0: ("shape", _v(4)), 1: ("type", _s(1)), 2: ("buffer", _s(4)), 3: ("name", STRING),
        4: ("quantization", _t("QuantizationParameters")), 5: ("is_variable", _s(1)),
        6: ("sparsity", _t("SparsityParameters")), 7: ("shape_signature", _v(4)),
        8: ("has_rank", _s(1)), 9: ("variant_tensors", _ts("VariantSubType")),
        10: ("external_buffer", _s(4)),
    },
    "QuantizationParameters": {
        0: ("min", _v(4)), 1: ("max", _v(4)), 2: ("scale", _v(4)), 3: ("zero_point", _v(8)),
        4: ("details_type", _s(1)), 5: ("details", ("union", 4, {1: "CustomQuantization"})),
        6: ("quantized_dimension", _s(4)),
    },
    "CustomQuantization": {0: ("custom", _v(1))},
    "SparsityParameters": {
        0: ("traversal_order", _v(4)), 1: ("block_map", _v(4)),
        2: ("dim_metadata", _ts("DimensionMetadata")),
    },
    "DimensionMetadata": {
        0: ("format", _s(1)), 1: ("dense_size", _s(4)), 2: ("array_segments_type", _s(1)),
        3: ("array_segments", ("union", 2, _SPARSE_INDEX)), 4: ("array_indices_type", _s(1)),
        5: ("array_indices", ("union", 4, _SPARSE_INDEX)),
    },
    "Int32Vector": {0: ("values", _v(4))},
    "Uint16Vector": {0: ("values", _v(2))},
    "Uint8Vector": {0: ("values", _v(1))},
    "VariantSubType": {0: ("shape", _v(4)), 1: ("type", _s(1)), 2: ("has_rank", _s(1))},
    "Buffer": {0: ("data", _v(1)), 1: ("offset", _s(8)), 2: ("size", _s(8))},
    "Metadata": {0: ("name", STRING), 1: ("buffer", _s(4))},
    "Operator": {
        0: ("opcode_index", _s(4)), 1: ("inputs", _v(4)), 2: ("outputs", _v(4)),
        3: ("builtin_options_type", _s(1)),
        4: ("builtin_options", ("union", 3, _BUILTIN_OPTIONS)), 5: ("custom_options", _v(1)),
        6: ("custom_options_format", _s(1)), 7: ("mutating_variable_inputs", _v(1)),
        8: ("intermediates", _v(4)), 9: ("large_custom_options_offset", _s(8)),
        10: ("large_custom_options_size", _s(8)), 11: ("builtin_options_2_type", _s(1)),
        12: ("builtin_options_2", ("union", 11, {})), 13: ("debug_metadata_index", _s(4)),
    },
    "SignatureDef": {
        0: ("inputs", _ts("TensorMap")), 1: ("outputs", _ts("TensorMap")),
        2: ("signature_key", STRING), 4: ("subgraph_index", _s(4)),
    },
    "TensorMap": {0: ("name", STRING), 1: ("tensor_index", _s(4))},
    "ExternalBufferGroup": {0: ("name", STRING)},
    "ExternalBuffer": {
        0: ("id", _s(4)), 1: ("group", _s(4)), 2: ("offset", _s(8)), 3: ("length", _s(8)),
        4: ("packing", STRING),
    },
    "ConcatEmbeddingsOptions": {
        0: ("num_channels", _s(4)), 1: ("num_columns_per_channel", _v(4)),
        2: ("embedding_dim_per_channel", _v(4)),
    },
    "ReshapeOptions": {0: ("new_shape", _v(4))},
    "SqueezeOptions": {0: ("squeeze_dims", _v(4))},
    "VarHandleOptions": {0: ("container", STRING), 1: ("shared_name", STRING)},
    "Options": {},
}

# (offset field id, size field id) of tables that point at a byte range of the file itself
# (TFLite uses it when the offset is above 1).
FILE_RANGES: dict[str, tuple[int, int]] = {"Buffer": (1, 2), "Operator": (9, 10)}


def verify_model(buf: bytes) -> None:
    """Walk every table of the .tflite flatbuffer ``buf``; raise :class:`ExportError` (one
    line, naming the table and field) at the first structural damage (module docstring)."""
    _Walker(buf).table(root_table(buf, FILE_IDENTIFIER, "TFLite model"), "Model", "Model", 0)


class _Walker:
    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.budget = len(buf) + 1024  # every table, string and vector takes >= 4 bytes

    def _spend(self, where: str) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise ExportError(f"corrupt model: {where}: more tables, strings and vectors than "
                              f"a {len(self.buf)}-byte file can hold (shared or looping offsets)")

    def _inside(self, pos: int, size: int, where: str, what: str) -> None:
        if pos < 0 or size < 0 or pos + size > len(self.buf):
            raise ExportError(f"corrupt model: {where}: {what} leaves the file (byte {pos}, "
                              f"{size} bytes, file is {len(self.buf)} bytes)")

    def _target(self, pos: int, where: str) -> int:
        """Where the offset stored at ``pos`` points (its first 4 bytes checked)."""
        self._inside(pos, 4, where, "offset")
        target = pos + _U32.unpack_from(self.buf, pos)[0]
        self._inside(target, 4, where, "offset target")
        return target

    def _vector(self, pos: int, item: int, where: str) -> tuple[int, int]:
        """(first element, count) of the vector whose offset is stored at ``pos``."""
        self._spend(where)
        start = self._target(pos, where)
        count = _U32.unpack_from(self.buf, start)[0]
        self._inside(start + 4, count * item, where, f"vector of {count} x {item} bytes")
        return start + 4, count

    def table(self, table: Table, name: str, where: str, depth: int) -> None:
        self._spend(where)
        if depth > MAX_DEPTH:
            raise ExportError(f"corrupt model: {where}: tables nested deeper than {MAX_DEPTH}")
        inline = _U16.unpack_from(self.buf, table._vtable + 2)[0]
        if inline < 4:
            raise ExportError(f"corrupt model: {where}: vtable gives the table {inline} bytes")
        self._inside(table.pos, inline, where, "table")
        fields = SCHEMA[name]
        for field_id in range((table._vtable_len - 4) // 2):
            pos = table._field(field_id)
            if not pos:
                continue
            label, kind = fields.get(field_id, (f"field {field_id}", _s(1)))
            self._field(table, pos, kind, f"{where}.{label}", depth)
        if name in FILE_RANGES:
            offset_id, size_id = FILE_RANGES[name]
            offset = int(table.scalar(offset_id, "uint64"))
            if offset > 1:
                size = int(table.scalar(size_id, "uint64"))
                self._inside(offset, size, f"{where}.{fields[offset_id][0]}", "byte range")

    def _field(self, table: Table, pos: int, kind: Kind, where: str, depth: int) -> None:
        tag = kind[0]
        if tag == "scalar":
            self._inside(pos, kind[1], where, "scalar")
        elif tag == "string":
            self._vector(pos, 1, where)
        elif tag == "vector":
            self._vector(pos, kind[1], where)
        elif tag == "table":
            self._sub_table(self._target(pos, where), kind[1], where, depth)
        elif tag == "tables":
            start, count = self._vector(pos, 4, where)
            for index in range(count):
                slot = start + 4 * index
                self._sub_table(self._target(slot, f"{where}[{index}]"), kind[1],
                                f"{where}[{index}]", depth)
        else:  # union: the member table named by the type field, "Options" when unlisted
            union_type = int(table.scalar(kind[1], "uint8"))
            self._sub_table(self._target(pos, where), kind[2].get(union_type, "Options"),
                            where, depth)

    def _sub_table(self, target: int, name: str, where: str, depth: int) -> None:
        self.table(Table(self.buf, target, where), name, where, depth + 1)

