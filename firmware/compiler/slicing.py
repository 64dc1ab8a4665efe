"""STRIDED_SLICE index arithmetic (TFLite's strided_slice_logic), shared by the int8 kernel
lowering and the constant folder."""

from __future__ import annotations

from tinyfuse.core.errors import ExportError


def _clamp(value: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, value))


def _start(begin: int, stride: int, size: int, masked: bool) -> int:
    if masked:
        return 0 if stride > 0 else size - 1
    if begin < 0:
        begin += size
    return _clamp(begin, 0, size) if stride > 0 else _clamp(begin, -1, size - 1)


def _stop(end: int, stride: int, size: int, masked: bool) -> int:
    if masked:
        return size if stride > 0 else -1
    if end < 0:
        end += size
    return _clamp(end, 0, size) if stride > 0 else _clamp(end, -1, size - 1)


def slice_plan(options: dict, shape, begin: list[int], end: list[int], strides: list[int],
               where: str) -> tuple[list[int], list[int], list[int]]:
    """Per input dimension: (start index, element count, step) of a STRIDED_SLICE.

    Shrunk axes keep a count of 1 (the output just drops them). Raises :class:`ExportError` for
    ellipsis / new-axis masks or index vectors that do not match the input rank.
    """
    rank = len(shape)
    if options.get("ellipsis_mask") or options.get("new_axis_mask"):
        raise ExportError(f"{where}: STRIDED_SLICE with an ellipsis or new-axis mask is not "
                          "supported")
    if not (len(begin) == len(end) == len(strides) == rank):
        raise ExportError(f"{where}: begin/end/strides of length {len(begin)}/{len(end)}/"
                          f"{len(strides)} do not match input rank {rank}")
    if options.get("offset"):
        end = [b + e for b, e in zip(begin, end, strict=True)]
    starts, counts = [], []
    for axis, size in enumerate(shape):
        stride = strides[axis]
        if stride == 0:
            raise ExportError(f"{where}: stride 0 on axis {axis}")
        start = _start(begin[axis], stride, size, bool(options.get("begin_mask", 0) >> axis & 1))
        if options.get("shrink_axis_mask", 0) >> axis & 1:
            if not 0 <= start < size:
                raise ExportError(f"{where}: shrunk axis {axis} index {begin[axis]} is out of "
                                  f"range for size {size}")
            starts.append(start)
            counts.append(1)
            continue
        stop = _stop(end[axis], stride, size, bool(options.get("end_mask", 0) >> axis & 1))
        span = stop - start
        count = max(0, (span + stride - (1 if stride > 0 else -1)) // stride)
        starts.append(start)
        counts.append(count)
    return starts, counts, list(strides)
