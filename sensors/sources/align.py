"""Multi-rate alignment of live frames by their sender timestamps (pure: no I/O, no clock).

Frames of different modalities arrive at different rates (an 8 Hz thermal array, a 2 Hz depth
camera, one audio window a second). :class:`FrameAligner` turns them into one multimodal
reading at a time:

* the **reference time** is the oldest of the live modalities' newest timestamps: the latest
  instant that every live modality has reached;
* a reading is **assembled** as soon as every live modality holds an unused frame within
  ``align_s`` of the reference time; each modality contributes the frame nearest the reference
  time (the newest one when frames arrive in step), and the frames used, with any older ones,
  are consumed, so a frame is never used twice and readings come at the pace of the slowest
  modality;
* a modality whose newest frame is more than ``stale_s`` behind the newest frame of any
  modality (or that has sent nothing ``stale_s`` after the first frame) is **stale**: readings
  are assembled without it and name it in ``missing``, so a dead sensor leads to the
  missing-modality path instead of a stall; it is live again with its next frame;
* a frame not newer than the last frame of its modality (a duplicate, or out of order) is
  refused with a :class:`~tinyfuse.core.errors.DataError`.

Both tolerances default to the observed rates: ``align_s`` to half the slowest modality's
period (median of its recent frame intervals; 1 s until an interval is known) and ``stale_s``
to three of those periods (3 s until known), never below ``2 * align_s``.

Examples
--------
>>> import numpy as np
>>> aligner = FrameAligner(("thermal", "depth"), align_s=0.1, stale_s=2.0)
>>> aligner.push(Frame(modality="thermal", time_s=10.0, data=np.zeros((8, 8)))) is None
True
>>> reading = aligner.push(Frame(modality="depth", time_s=10.02, data=np.zeros((16, 16))))
>>> reading.time_s, sorted(reading.frames), reading.missing
(10.02, ['depth', 'thermal'], ())
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tinyfuse.core.errors import DataError

DEFAULT_ALIGN_S = 1.0  # until a frame interval is known
DEFAULT_STALE_S = 3.0
STALE_PERIODS = 3.0
MAX_BUFFERED = 16  # frames kept per modality while waiting for the others
PERIOD_HISTORY = 8  # intervals kept per modality for its period estimate


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Frame:
    """One decoded frame of one modality: sender time (seconds, any epoch shared by the
    senders), the raw array and, for waveforms, its sample rate."""

    modality: str
    time_s: float
    data: np.ndarray
    rate_hz: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Aligned:
    """One assembled reading: ``time_s`` is the newest timestamp among ``frames`` (by modality
    name); ``missing`` names the stale modalities, which have no frame here."""

    time_s: float
    frames: dict[str, Frame]
    missing: tuple[str, ...] = ()


@dataclass
class _Track:
    frames: deque[Frame] = field(default_factory=lambda: deque(maxlen=MAX_BUFFERED))
    last_s: float | None = None
    intervals: deque[float] = field(default_factory=lambda: deque(maxlen=PERIOD_HISTORY))

    def period_s(self) -> float | None:
        return statistics.median(self.intervals) if self.intervals else None


class FrameAligner:
    """Assembles frames of ``modalities`` into :class:`Aligned` readings (module doc).

    Parameters
    ----------
    modalities : sequence of str
        The modality names a reading should hold.
    align_s, stale_s : float, optional
        Positive tolerances in seconds; ``None``: derived from the observed rates.
    """

    def __init__(self, modalities: Sequence[str], *, align_s: float | None = None,
                 stale_s: float | None = None) -> None:
        names = tuple(modalities)
        if not names or len(set(names)) != len(names):
            raise DataError(f"aligner: modalities {list(names)} must be distinct and not empty")
        for option, value in (("align_s", align_s), ("stale_s", stale_s)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise DataError(f"aligner: {option} {value} must be a finite number > 0")
        self.modalities = names
        self._align_s, self._stale_s = align_s, stale_s
        self._tracks = {name: _Track() for name in names}
        self._first_s: float | None = None
        self._newest_s = -math.inf
        self._last_reading_s = -math.inf

    def slowest_period_s(self) -> float | None:
        """The longest median frame interval among the modalities (``None``: none known)."""
        periods = [p for p in (t.period_s() for t in self._tracks.values()) if p is not None]
        return max(periods) if periods else None

    @property
    def align_s(self) -> float:
        """The alignment tolerance in force (given, or half the slowest period)."""
        if self._align_s is not None:
            return self._align_s
        slowest = self.slowest_period_s()
        return DEFAULT_ALIGN_S if slowest is None else slowest / 2.0

    @property
    def stale_s(self) -> float:
        """The staleness limit in force (given, or three of the slowest periods)."""
        if self._stale_s is not None:
            return self._stale_s
        slowest = self.slowest_period_s()
        derived = DEFAULT_STALE_S if slowest is None else STALE_PERIODS * slowest
        return max(derived, 2.0 * self.align_s)

    def stale(self) -> tuple[str, ...]:
        """The modalities that count as missing now (see the module doc)."""
        if self._first_s is None:
            return ()
        limit = self.stale_s
        return tuple(name for name, track in self._tracks.items()
                     if self._newest_s - (self._first_s if track.last_s is None
                                          else track.last_s) > limit)

    def push(self, frame: Frame) -> Aligned | None:
        """Take one frame; return the reading it completes, if any.

        Raises
        ------
        DataError
            Unknown modality, a timestamp that is not finite, or a frame not newer than the
            last one of its modality (duplicate or out of order).
        """
        track = self._tracks.get(frame.modality)
        if track is None:
            raise DataError(f"aligner: {frame.modality!r} is not one of {list(self.modalities)}")
        if not math.isfinite(frame.time_s):
            raise DataError(f"{frame.modality}: timestamp {frame.time_s} is not finite")
        if track.last_s is not None:
            if frame.time_s <= track.last_s:
                raise DataError(f"{frame.modality}: frame at t={frame.time_s:.3f} is not newer "
                                f"than the last one (t={track.last_s:.3f}): late or repeated")
            track.intervals.append(frame.time_s - track.last_s)
        track.last_s = frame.time_s
        track.frames.append(frame)
        self._first_s = frame.time_s if self._first_s is None else self._first_s
        self._newest_s = max(self._newest_s, frame.time_s)
        return self._assemble()

    def _assemble(self) -> Aligned | None:
        stale = self.stale()
        live = [name for name in self.modalities if name not in stale]
        tracks = [self._tracks[name] for name in live]
        if not live or any(not t.frames for t in tracks):
            return None
        reference_s = min(t.last_s for t in tracks if t.last_s is not None)
        chosen: dict[str, Frame] = {}
        for name, track in zip(live, tracks, strict=True):
            best = min(track.frames, key=lambda f: (abs(f.time_s - reference_s), -f.time_s))
            if abs(best.time_s - reference_s) > self.align_s:
                return None
            chosen[name] = best
        time_s = max(f.time_s for f in chosen.values())
        if time_s <= self._last_reading_s:
            return None  # nothing newer than the last reading yet
        for name, track in self._tracks.items():
            used = chosen.get(name)
            kept = [f for f in track.frames if used is not None and f.time_s > used.time_s]
            track.frames.clear()
            track.frames.extend(kept)
        self._last_reading_s = time_s
        return Aligned(time_s=time_s, frames=chosen, missing=tuple(stale))
