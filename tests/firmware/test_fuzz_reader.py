"""Corrupt .tflite bytes: the compiler raises ExportError or compiles valid C, never crashes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.models import cached_tflite
from tinyfuse.core.errors import ExportError
from tinyfuse.firmware.compiler import compile_model
from tinyfuse.firmware.compiler.reader import read_model


@pytest.fixture(scope="module")
def good_bytes() -> bytes:
    return cached_tflite("fusion")


def _compile_or_export_error(data: bytes) -> None:
    try:
        compiled = compile_model(data)
    except ExportError:
        return
    assert "int tinyfuse_model_invoke" in compiled.sources["model.c"]
    assert compiled.arena_bytes >= 0


_FIXTURE_OK = [HealthCheck.function_scoped_fixture]


@settings(max_examples=150, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(cut=st.floats(0.0, 1.0))
def test_truncated_model_never_crashes(good_bytes, cut):
    _compile_or_export_error(good_bytes[: int(len(good_bytes) * cut)])


@settings(max_examples=300, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(flips=st.lists(st.tuples(st.floats(0.0, 0.999), st.integers(0, 7)), min_size=1,
                      max_size=4))
def test_bit_flipped_model_never_crashes(good_bytes, flips):
    data = bytearray(good_bytes)
    for where, bit in flips:
        data[int(where * len(data))] ^= 1 << bit
    _compile_or_export_error(bytes(data))


def test_not_a_tflite_file_is_named():
    with pytest.raises(ExportError, match="file identifier"):
        read_model(b"\x10\x00\x00\x00NOPE" + bytes(32))
    with pytest.raises(ExportError, match="bytes long"):
        read_model(b"TFL3")
