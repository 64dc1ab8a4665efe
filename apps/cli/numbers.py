"""argparse types for the numbers a command takes: each refuses what makes no sense with a
one-line usage error (exit status 2) instead of a traceback later."""

from __future__ import annotations

import argparse
import math

MAX_COUNT = 10_000_000


def _integer(text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{value} must be in [{low}, {high}]")
    return value


def count(text: str) -> int:
    """An integer >= 1 (a limit, a number of vectors, samples per class, folds)."""
    return _integer(text, 1, MAX_COUNT)


def seed(text: str) -> int:
    """An integer in [0, 2**32 - 1]."""
    return _integer(text, 0, 2**32 - 1)


def seconds(text: str) -> float:
    """A finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 0 < value <= 1e9):
        raise argparse.ArgumentTypeError(f"{value} must be a finite number of seconds > 0")
    return value


def rate_hz(text: str) -> float:
    """A finite sample rate in (0, 10 MHz]."""
    value = seconds(text)
    if value > 1e7:
        raise argparse.ArgumentTypeError(f"{value} Hz is above 10 MHz")
    return value
