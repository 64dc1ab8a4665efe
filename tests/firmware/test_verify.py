"""The structural verifier (``tinyfuse.firmware.compiler.verify``) walks every table of a
.tflite, the fields the compiler never reads included, and refuses in one line what leaves the
file; a valid model passes, and a file of shared offsets cannot make the walk slow."""

from __future__ import annotations

import struct
import time

import pytest

from bench.models import cached_tflite
from tinyfuse.core.errors import ExportError
from tinyfuse.firmware.compiler import compile_model
from tinyfuse.firmware.compiler import schema as S
from tinyfuse.firmware.compiler.flatbuf import root_table
from tinyfuse.firmware.compiler.verify import SCHEMA, verify_model


@pytest.fixture(scope="module")
def good_bytes() -> bytes:
    return cached_tflite("fusion")


def _model_field(data: bytes, field_id: int) -> int:
    """Byte position of one of the root Model table's fields (it must be present)."""
    pos = root_table(data, S.FILE_IDENTIFIER, "TFLite model")._field(field_id)
    assert pos, f"the fusion model has no Model field {field_id}"
    return pos


def test_a_valid_model_passes(good_bytes):
    verify_model(good_bytes)


def test_description_offset_past_the_end_is_refused(good_bytes):
    data = bytearray(good_bytes)
    pos = _model_field(good_bytes, S.MODEL_DESCRIPTION)
    struct.pack_into("<I", data, pos, len(data) - pos + 16)  # 16 bytes past the end
    with pytest.raises(ExportError, match=r"^corrupt model: Model\.description: offset target "
                                          r"leaves the file") as caught:
        compile_model(bytes(data))
    assert "\n" not in str(caught.value)


def test_description_length_past_the_end_is_refused(good_bytes):
    data = bytearray(good_bytes)
    pos = _model_field(good_bytes, S.MODEL_DESCRIPTION)
    target = pos + struct.unpack_from("<I", data, pos)[0]
    struct.pack_into("<I", data, target, len(data))  # the string's length
    with pytest.raises(ExportError, match=r"Model\.description: vector of \d+ x 1 bytes leaves"):
        verify_model(bytes(data))


def test_a_signature_def_vector_too_long_is_refused(good_bytes):
    data = bytearray(good_bytes)
    pos = _model_field(good_bytes, 7)  # Model.signature_defs, never read by the compiler
    target = pos + struct.unpack_from("<I", data, pos)[0]
    struct.pack_into("<I", data, target, 0xFFFFFFFF)
    with pytest.raises(ExportError, match=r"Model\.signature_defs: vector of 4294967295 x 4"):
        compile_model(bytes(data))


def test_the_schema_names_every_kind_it_uses():
    for table, fields in SCHEMA.items():
        for name, kind in fields.values():
            assert kind[0] in ("scalar", "string", "vector", "table", "tables", "union"), name
            if kind[0] in ("table", "tables"):
                assert kind[1] in SCHEMA, f"{table}.{name} names unknown table {kind[1]}"
            if kind[0] == "union":
                assert kind[1] in fields, f"{table}.{name}: no type field {kind[1]}"
                assert all(member in SCHEMA for member in kind[2].values())


def _shared_offsets(count: int) -> bytes:
    """A tiny hand-built model: ``count`` subgraph offsets all to one SubGraph, whose
    ``count`` tensor offsets all point to one Tensor: ``count**2`` tables reachable."""
    out = bytearray(b"\0\0\0\0TFL3")
    out += struct.pack("<5H", 10, 12, 4, 0, 8) + b"\0\0"  # Model vtable at 8
    model = len(out)  # 20
    out += struct.pack("<iII", model - 8, 3, 4)  # soffset, version 3, subgraphs -> next
    vector = len(out)
    sub_vtable = vector + 4 + 4 * count
    sub = sub_vtable + 8
    out += struct.pack("<I", count)
    out += b"".join(struct.pack("<I", sub - (vector + 4 + 4 * i)) for i in range(count))
    out += struct.pack("<3H", 6, 8, 4) + b"\0\0"  # SubGraph vtable: field 0 (tensors)
    out += struct.pack("<iI", sub - sub_vtable, 4)
    tensors = len(out)
    tensor_vtable = tensors + 4 + 4 * count
    tensor = tensor_vtable + 4
    out += struct.pack("<I", count)
    out += b"".join(struct.pack("<I", tensor - (tensors + 4 + 4 * i)) for i in range(count))
    out += struct.pack("<2H", 4, 4) + struct.pack("<i", tensor - tensor_vtable)
    struct.pack_into("<I", out, 0, model)
    return bytes(out)


def test_shared_offsets_cannot_make_the_walk_slow():
    verify_model(_shared_offsets(2))  # well formed: 2 x 2 tensors
    data = _shared_offsets(3000)  # 9 million tables through 24 kB of offsets
    started = time.perf_counter()
    with pytest.raises(ExportError, match="more tables, strings and vectors than a"):
        verify_model(data)
    assert time.perf_counter() - started < 2.0
