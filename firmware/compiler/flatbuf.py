"""A small, bounds-checked reader for FlatBuffers tables (just what a .tflite needs).

Every access checks that the bytes it touches lie inside the buffer, so a truncated or corrupt
file raises :class:`ExportError` naming the field instead of crashing or reading garbage.
"""

from __future__ import annotations

import struct

import numpy as np

from tinyfuse.core.errors import ExportError

_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U16 = struct.Struct("<H")

_SCALARS = {
    "int8": struct.Struct("<b"),
    "uint8": struct.Struct("<B"),
    "int16": struct.Struct("<h"),
    "uint16": struct.Struct("<H"),
    "int32": struct.Struct("<i"),
    "uint32": struct.Struct("<I"),
    "int64": struct.Struct("<q"),
    "uint64": struct.Struct("<Q"),
    "float32": struct.Struct("<f"),
    "bool": struct.Struct("<?"),
}


class Table:
    """One FlatBuffers table at byte position ``pos`` of ``buf``; ``where`` names it in errors."""

    __slots__ = ("buf", "pos", "where", "_vtable", "_vtable_len")

    def __init__(self, buf: bytes, pos: int, where: str) -> None:
        self.buf = buf
        self.pos = pos
        self.where = where
        _check(buf, pos, 4, where)
        vtable = pos - _I32.unpack_from(buf, pos)[0]
        _check(buf, vtable, 4, f"{where} vtable")
        self._vtable = vtable
        self._vtable_len = _U16.unpack_from(buf, vtable)[0]
        if self._vtable_len < 4 or self._vtable_len % 2:
            raise ExportError(f"corrupt model: {where} has a malformed vtable")
        _check(buf, vtable, self._vtable_len, f"{where} vtable")

    def _field(self, field_id: int) -> int:
        """Absolute position of a field, or 0 when absent."""
        slot = 4 + 2 * field_id
        if slot >= self._vtable_len:
            return 0
        offset = _U16.unpack_from(self.buf, self._vtable + slot)[0]
        return self.pos + offset if offset else 0

    def has(self, field_id: int) -> bool:
        return self._field(field_id) != 0

    def scalar(self, field_id: int, kind: str, default: int | float | bool = 0):
        pos = self._field(field_id)
        if not pos:
            return default
        fmt = _SCALARS[kind]
        _check(self.buf, pos, fmt.size, f"{self.where} field {field_id}")
        return fmt.unpack_from(self.buf, pos)[0]

    def _indirect(self, field_id: int, name: str) -> int:
        pos = self._field(field_id)
        if not pos:
            return 0
        _check(self.buf, pos, 4, f"{self.where}.{name}")
        target = pos + _U32.unpack_from(self.buf, pos)[0]
        _check(self.buf, target, 4, f"{self.where}.{name}")
        return target

    def table(self, field_id: int, name: str) -> Table | None:
        target = self._indirect(field_id, name)
        return Table(self.buf, target, f"{self.where}.{name}") if target else None

    def string(self, field_id: int, name: str) -> str:
        target = self._indirect(field_id, name)
        if not target:
            return ""
        length = _U32.unpack_from(self.buf, target)[0]
        _check(self.buf, target + 4, length, f"{self.where}.{name}")
        return self.buf[target + 4 : target + 4 + length].decode("utf-8", errors="replace")

    def vector_len(self, field_id: int, name: str) -> tuple[int, int]:
        """(position of the first element, element count); (0, 0) when absent."""
        target = self._indirect(field_id, name)
        if not target:
            return 0, 0
        return target + 4, _U32.unpack_from(self.buf, target)[0]

    def array(self, field_id: int, name: str, dtype: str) -> np.ndarray:
        """A vector of scalars as a numpy array (a copy); empty when absent."""
        start, count = self.vector_len(field_id, name)
        item = np.dtype(dtype).itemsize
        _check(self.buf, start, count * item, f"{self.where}.{name}")
        return np.frombuffer(self.buf, dtype=np.dtype(dtype).newbyteorder("<"), count=count,
                             offset=start).astype(dtype) if count else np.zeros(0, dtype)

    def tables(self, field_id: int, name: str) -> list[Table]:
        start, count = self.vector_len(field_id, name)
        _check(self.buf, start, 4 * count, f"{self.where}.{name}")
        out = []
        for index in range(count):
            slot = start + 4 * index
            target = slot + _U32.unpack_from(self.buf, slot)[0]
            out.append(Table(self.buf, target, f"{self.where}.{name}[{index}]"))
        return out


def root_table(buf: bytes, identifier: bytes, where: str) -> Table:
    """The root table of a FlatBuffer whose 4-byte file identifier must be ``identifier``."""
    if len(buf) < 8:
        raise ExportError(f"corrupt model: {where} is only {len(buf)} bytes long")
    if buf[4:8] != identifier:
        raise ExportError(
            f"not a {where}: file identifier is {bytes(buf[4:8])!r}, expected {identifier!r}"
        )
    return Table(buf, _U32.unpack_from(buf, 0)[0], where)


def _check(buf: bytes, pos: int, size: int, where: str) -> None:
    if pos < 0 or size < 0 or pos + size > len(buf):
        raise ExportError(
            f"corrupt model: {where} points outside the file (byte {pos}, {size} bytes, "
            f"file is {len(buf)} bytes)"
        )
