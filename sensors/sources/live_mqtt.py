"""Live sensors over MQTT: frames of each modality on ``TOPIC/<modality>`` -> aligned samples.

``LiveMqttSource`` (``tinyfuse run BUNDLE --source mqtt://HOST:PORT/TOPIC``) subscribes to
``TOPIC/+`` (QoS 1: the sender's QoS is what applies) with paho-mqtt 2.x
(``CallbackAPIVersion.VERSION2``, ``loop_start()``: the network runs off the caller's thread),
decodes each frame in the network thread, aligns the modalities by sender timestamp
(:mod:`tinyfuse.sensors.sources.align`) and yields ``(time_s, Sample)`` pairs, the stream that
``apps.runner.run_stream`` takes.

Payload, schema 1: one JSON object per frame of one modality, published on ``TOPIC/<modality>``
(the modality ``name`` of the bundle, e.g. ``plant/pump1/vibration``)::

    {"schema": 1,                 # required, the integer 1
     "t": 1764700000.125,         # required: sender time of the frame, seconds since the epoch
     "rate_hz": 12000.0,          # waveforms (audio, vibration): the sample rate
     "shape": [3000, 1],          # required: image [rows, cols]; audio [n]; vibration [n] or
                                  # [n, axes]; vector [size]
     "dtype": "float32",          # optional; only float32
     "data": "<base64>"}          # little-endian float32 bytes, row-major (C order); or, for
                                  # small frames, a JSON list (flat or nested) of numbers

Values are in the units of the modality's front-end (degC, metres, g, audio full scale). Audio
may come at any rate in ``AUDIO_NATIVE_RATE_RANGE_HZ`` (the front-end resamples it); a vibration
frame must come at the spec's rate (within 0.5 %). Senders keep their clocks within
``MAX_CLOCK_SKEW_S`` of the receiver's (NTP).

Bounds come before any allocation: a payload longer than the modality's largest frame could
need, or a ``shape`` of more than ``max_frame_factor`` (16) times the modality's expected size
(image height x width, audio and vibration window samples x axes, vector size), is refused
unread. A refused or malformed frame (bad JSON, field, shape, base64, a NaN, a duplicate or
late timestamp, a topic that is no modality) is dropped with a one-line warning naming the
topic (at most one per topic every 5 s, with the count of those not shown) and counted in
:meth:`LiveMqttSource.summary`; the stream goes on.

The stream ends on :meth:`LiveMqttSource.stop` (Ctrl-C in ``tinyfuse run``), after ``limit``
samples, or after ``idle_s`` seconds (monotonic clock) without a message on the topics.

Examples
--------
>>> payload = encode_frame(np.zeros((8, 8), np.float32), time_s=1764700000.0)
>>> spec = ModalitySpec(name="thermal", frontend=ImageSpec(height=8, width=8))
>>> decode_frame(payload, modality=spec, topic="room/thermal").data.shape
(8, 8)
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import os
import queue
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeGuard

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tinyfuse.core.errors import DataError, DeployError
from tinyfuse.sensors.sources.align import Aligned, Frame, FrameAligner
from tinyfuse.sensors.sources.base import Sample
from tinyfuse.sensors.spec import (
    AUDIO_NATIVE_RATE_RANGE_HZ,
    AudioSpec,
    ImageSpec,
    ModalitySpec,
    VectorSpec,
    VibrationSpec,
)

log = logging.getLogger(__name__)

PAYLOAD_SCHEMA = 1
MAX_FRAME_FACTOR = 16
MAX_CHARS_PER_VALUE = 32  # a float written as JSON text, with its separator
PAYLOAD_OVERHEAD_BYTES = 4096  # the other fields
MAX_CLOCK_SKEW_S = 600.0
VIBRATION_RATE_TOLERANCE = 0.005
PAYLOAD_NDIM = {"image": (2,), "audio": (1,), "vibration": (1, 2), "vector": (1,)}
WARN_INTERVAL_S = 5.0
SAMPLE_BACKLOG = 64  # assembled samples waiting for the runner; the oldest goes first
DEFAULT_IDLE_S = 60.0
POLL_S = 0.05
_TOPIC = re.compile(r"^[^#+\s\x00]+$")


class FrameError(DataError):
    """A frame refused by :func:`decode_frame`; ``reason`` is its summary key
    (``too_large``, ``bad_json``, ``bad_field``, ``bad_shape``, ``bad_data``, ``not_finite``,
    ``rate``, ``clock``; the source adds ``late``, ``unknown_topic`` and ``error``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_source_url(text: str) -> tuple[str, int, str]:
    """``mqtt://HOST[:PORT]/TOPIC`` -> ``(host, port, topic)`` (port 1883 by default), or a
    one-line ``DataError``."""
    rest = text.removeprefix("mqtt://") if text.startswith("mqtt://") else None
    address, _, topic = (rest or "").partition("/")
    host, colon, port = address.rpartition(":") if ":" in address else (address, "", "1883")
    topic = topic.rstrip("/")
    if (rest is None or not host or not port.isdigit() or not 0 < int(port) <= 65535
            or not topic or not _TOPIC.match(topic) or "//" in topic):
        raise DataError(f"--source: expected mqtt://HOST:PORT/TOPIC (a topic without + or #), "
                        f"got {text!r}")
    return host, int(port), topic


def expected_elements(modality: ModalitySpec) -> int:
    """The number of values in one frame the front-end expects: height x width of an image,
    the window's samples (x axes) of a waveform at the spec's rate, a vector's size."""
    frontend = modality.frontend
    if isinstance(frontend, ImageSpec):
        return frontend.height * frontend.width
    if isinstance(frontend, AudioSpec):
        return frontend.n_samples
    if isinstance(frontend, VibrationSpec):
        return frontend.n_samples * frontend.n_axes
    if isinstance(frontend, VectorSpec):
        return frontend.size
    raise DataError(f"{modality.name}: no live frames for a {frontend.kind} front-end")


def encode_frame(array: np.ndarray, *, time_s: float, rate_hz: float | None = None,
                 as_list: bool = False) -> bytes:
    """The schema-1 payload of one frame (module doc): ``array`` as base64 little-endian
    float32, or as a nested JSON list with ``as_list``."""
    values = np.ascontiguousarray(array, dtype="<f4")
    record: dict[str, Any] = {"schema": PAYLOAD_SCHEMA, "t": float(time_s),
                              "shape": list(values.shape), "dtype": "float32"}
    if rate_hz is not None:
        record["rate_hz"] = float(rate_hz)
    record["data"] = values.tolist() if as_list else base64.b64encode(values.tobytes()).decode()
    return json.dumps(record).encode()


def _number(value: Any) -> TypeGuard[int | float]:
    """A finite JSON number (not a bool; an integer too large for a float is not one)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def decode_frame(payload: bytes, *, modality: ModalitySpec, topic: str,
                 max_frame_factor: int = MAX_FRAME_FACTOR, now_s: float | None = None,
                 max_clock_skew_s: float = MAX_CLOCK_SKEW_S) -> Frame:
    """One frame of ``modality`` from its payload (module doc), bounded before allocating.

    Parameters
    ----------
    payload : bytes
        The MQTT message body.
    modality : ModalitySpec
        The bundle's modality the topic names.
    topic : str
        Named in every error.
    max_frame_factor : int
        A frame may hold at most this many times :func:`expected_elements`.
    now_s : float, optional
        The receiver's clock (seconds since the epoch): a frame more than
        ``max_clock_skew_s`` away is refused. ``None``: no check.

    Returns
    -------
    Frame
        ``data`` float32 of the payload's shape.

    Raises
    ------
    FrameError
        Anything wrong with the frame, one line naming ``topic``; ``reason`` says what.
    """
    max_elements = expected_elements(modality) * max_frame_factor
    max_bytes = max_elements * MAX_CHARS_PER_VALUE + PAYLOAD_OVERHEAD_BYTES
    if len(payload) > max_bytes:
        raise FrameError("too_large", f"{topic}: frame of {len(payload)} bytes refused unread "
                         f"(at most {max_bytes} for {modality.name})")
    try:
        record = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FrameError("bad_json", f"{topic}: not a JSON frame ({message})") from None
    if not isinstance(record, dict):
        raise FrameError("bad_json", f"{topic}: a frame must be a JSON object, got "
                         f"{type(record).__name__}")
    schema, time_s = record.get("schema"), record.get("t")
    if schema != PAYLOAD_SCHEMA or isinstance(schema, bool):
        raise FrameError("bad_field", f"{topic}: schema {schema!r} is not {PAYLOAD_SCHEMA}")
    if not _number(time_s) or time_s <= 0:
        raise FrameError("bad_field", f"{topic}: t {str(time_s)[:40]} must be seconds since "
                         f"the epoch")
    if now_s is not None and abs(float(time_s) - now_s) > max_clock_skew_s:
        raise FrameError("clock", f"{topic}: t {time_s:.3f} is {float(time_s) - now_s:+.0f} s "
                         f"from this clock (at most {max_clock_skew_s:g} s; sync the sender)")
    if record.get("dtype", "float32") != "float32":
        raise FrameError("bad_field", f"{topic}: dtype {record.get('dtype')!r} is not float32")
    shape = _shape(record.get("shape"), modality=modality, topic=topic, limit=max_elements)
    rate_hz = _rate(record.get("rate_hz"), modality=modality, topic=topic)
    data = _values(record.get("data"), shape=shape, topic=topic)
    if not np.isfinite(data).all():
        bad = int(data.size - np.isfinite(data).sum())
        raise FrameError("not_finite", f"{topic}: {bad} NaN or infinite value(s)")
    return Frame(modality=modality.name, time_s=float(time_s), data=data, rate_hz=rate_hz)


def _shape(value: Any, *, modality: ModalitySpec, topic: str, limit: int) -> tuple[int, ...]:
    ndim = PAYLOAD_NDIM[modality.frontend.kind]
    if (not isinstance(value, list) or len(value) not in ndim
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1
                       for n in value)):
        raise FrameError("bad_shape", f"{topic}: shape {str(value)[:60]} must be a list of "
                         f"{' or '.join(map(str, ndim))} positive integers for a "
                         f"{modality.frontend.kind} frame")
    size = 1
    for n in value:
        size *= min(n, limit + 1)  # bounded: never a huge integer
    if size > limit:
        raise FrameError("too_large", f"{topic}: shape {value} refused before allocating (at "
                         f"most {limit} values for {modality.name}, "
                         f"{limit // expected_elements(modality)}x its expected size)")
    return tuple(value)


def _rate(value: Any, *, modality: ModalitySpec, topic: str) -> float | None:
    if value is None:
        return None
    if not _number(value) or value <= 0:
        raise FrameError("bad_field", f"{topic}: rate_hz {str(value)[:40]} must be a number "
                         f"> 0")
    frontend, rate = modality.frontend, float(value)
    low, high = AUDIO_NATIVE_RATE_RANGE_HZ
    if isinstance(frontend, AudioSpec) and not low <= rate <= high:
        raise FrameError("rate", f"{topic}: rate_hz {rate:g} outside {low}..{high} Hz")
    if isinstance(frontend, VibrationSpec) and abs(rate / frontend.sample_rate_hz - 1.0) \
            > VIBRATION_RATE_TOLERANCE:
        raise FrameError("rate", f"{topic}: rate_hz {rate:g} is not the front-end's "
                         f"{frontend.sample_rate_hz:g} Hz")
    return rate if isinstance(frontend, AudioSpec | VibrationSpec) else None


def _values(value: Any, *, shape: tuple[int, ...], topic: str) -> np.ndarray:
    size = math.prod(shape)
    if isinstance(value, str):
        expected_chars = 4 * math.ceil(4 * size / 3)
        if len(value) != expected_chars:
            raise FrameError("bad_data", f"{topic}: data has {len(value)} base64 characters, "
                             f"shape {list(shape)} needs {expected_chars}")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise FrameError("bad_data", f"{topic}: data is not base64 ({exc})") from None
        if len(raw) != 4 * size:
            raise FrameError("bad_data", f"{topic}: data holds {len(raw)} bytes, shape "
                             f"{list(shape)} needs {4 * size}")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)
    if isinstance(value, list):
        try:
            with np.errstate(over="ignore"):  # beyond float32 is inf, refused just after
                array = np.asarray(value, dtype=np.float32)
        except (ValueError, TypeError, OverflowError) as exc:
            raise FrameError("bad_data", f"{topic}: data list is not numbers of one shape "
                             f"({str(exc).splitlines()[0][:80]})") from None
        if array.size != size:
            raise FrameError("bad_data", f"{topic}: data holds {array.size} values, shape "
                             f"{list(shape)} needs {size}")
        return array.reshape(shape)
    raise FrameError("bad_data", f"{topic}: data must be a base64 string or a list, got "
                     f"{type(value).__name__}")


def _plain_client(client_id: str) -> mqtt.Client:
    return mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                       protocol=mqtt.MQTTv311)


class LiveMqttSource:
    """Samples from live sensors over MQTT (module doc); iterate for ``(time_s, Sample)``.

    Parameters
    ----------
    host, port, topic : str, int, str
        The broker and the topic prefix: frames of modality ``m`` come on ``topic/m``.
    modalities : sequence of ModalitySpec
        The bundle's modalities (``Preprocessor.from_bundle(bundle).modalities``).
    align_s, stale_s : float, optional
        :class:`~tinyfuse.sensors.sources.align.FrameAligner` tolerances (``None``: from
        the observed rates).
    idle_s : float, optional
        End after this long without a message (``None``: never).
    limit : int, optional
        End after this many samples.
    client_factory : callable, optional
        ``client_id -> paho Client`` (callback API 2), e.g. one logged in with TLS; default a
        plain MQTT 3.1.1 client.
    clock : callable
        Seconds since the epoch, for the clock-skew check (``None`` turns it off).

    The sample's time is the newest timestamp among its frames; its ``meta`` holds each
    frame's time (``<modality>.time_s``) and waveform rate (``<modality>.sample_rate_hz``),
    its ``missing`` the stale modalities (absent from ``data``: the runner scores them as
    missing and the decision names them).
    """

    def __init__(self, *, host: str, port: int, topic: str, modalities: Sequence[ModalitySpec],
                 align_s: float | None = None, stale_s: float | None = None,
                 idle_s: float | None = DEFAULT_IDLE_S, limit: int | None = None,
                 max_frame_factor: int = MAX_FRAME_FACTOR,
                 client_factory: Callable[[str], mqtt.Client] | None = None,
                 clock: Callable[[], float] | None = time.time,
                 max_clock_skew_s: float = MAX_CLOCK_SKEW_S, keepalive_s: int = 30) -> None:
        if not topic or not _TOPIC.match(topic):
            raise DataError(f"live source: topic {topic!r} must be plain (no + or #)")
        for name, value in (("idle_s", idle_s), ("limit", limit)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise DataError(f"live source: {name} {value} must be > 0")
        self.host, self.port, self.topic = host, int(port), topic.rstrip("/")
        self.url = f"mqtt://{host}:{self.port}/{self.topic}"
        self.modalities = {m.name: m for m in modalities}
        for modality in self.modalities.values():
            expected_elements(modality)  # refuses a front-end without live frames
        self.idle_s, self.limit = idle_s, limit
        self.max_frame_factor, self.max_clock_skew_s = max_frame_factor, max_clock_skew_s
        self._aligner = FrameAligner(tuple(self.modalities), align_s=align_s, stale_s=stale_s)
        self._factory = client_factory or _plain_client
        self._clock, self._keepalive_s = clock, keepalive_s
        self._client: mqtt.Client | None = None
        self._samples: queue.Queue[tuple[float, Sample]] = queue.Queue(maxsize=SAMPLE_BACKLOG)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._counts: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter()
        self._dropped_by_topic: Counter[str] = Counter()
        self._missing: Counter[str] = Counter()
        self._warned: dict[str, tuple[float, int]] = {}  # topic -> (last warning, not shown)
        self._last_message = time.monotonic()
        self.ever_connected = False
        self.subscribed = threading.Event()  # set once the broker acknowledged TOPIC/+
        self.fatal_error = ""
        self.last_error = ""
        self.ended_by = ""

    # -- the network thread ----------------------------------------------------------------

    def start(self) -> None:
        """Connect (asynchronously) and start paho's network thread; idempotent."""
        if self._client is not None:
            return
        client = self._factory(f"tinyfuse-source-{os.getpid()}-{secrets.token_hex(3)}")
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._last_message = time.monotonic()
        client.connect_async(self.host, self.port, keepalive=self._keepalive_s)
        client.loop_start()
        self._client = client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.fatal_error = f"the broker refused the connection: {reason_code}"
            log.warning("live source %s: %s", self.url, self.fatal_error)
            return
        self.ever_connected = True
        client.subscribe(f"{self.topic}/+", qos=1)
        log.info("live source: subscribed to %s/+ on %s:%d", self.topic, self.host, self.port)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if any(code.is_failure for code in reason_codes):
            log.warning("live source %s: the broker refused the subscription to %s/+: %s",
                        self.url, self.topic, reason_codes)
            return
        self.subscribed.set()

    def _on_connect_fail(self, client, userdata) -> None:
        self.last_error = f"no connection to {self.host}:{self.port}"
        log.debug("live source %s: %s", self.url, self.last_error)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if not self._stop.is_set():
            self.last_error = f"disconnected ({reason_code})"
            log.warning("live source %s: %s; paho reconnects", self.url, self.last_error)

    def _on_message(self, client, userdata, message) -> None:
        self._last_message = time.monotonic()
        with self._lock:
            self._counts["frames_received"] += 1
        name = message.topic.removeprefix(self.topic + "/")
        modality = self.modalities.get(name)
        if modality is None:
            self._drop("unknown_topic", message.topic, f"{message.topic}: not one of the "
                       f"bundle's modalities {list(self.modalities)}")
            return
        try:
            frame = decode_frame(message.payload, modality=modality, topic=message.topic,
                                 max_frame_factor=self.max_frame_factor,
                                 now_s=self._clock() if self._clock else None,
                                 max_clock_skew_s=self.max_clock_skew_s)
            with self._lock:
                reading = self._aligner.push(frame)
                self._counts["frames_accepted"] += 1
        except FrameError as exc:
            self._drop(exc.reason, message.topic, str(exc))
            return
        except DataError as exc:  # the aligner: a late or repeated frame
            self._drop("late", message.topic, f"{message.topic}: {exc}")
            return
        except Exception as exc:  # paho's network thread must outlive any frame
            log.exception("live source: %s: frame could not be read", message.topic)
            self._drop("error", message.topic, f"{message.topic}: {type(exc).__name__}")
            return
        if reading is not None:
            self._put(self._sample(reading))

    def _drop(self, reason: str, topic: str, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._dropped[reason] += 1
            self._dropped_by_topic[topic] += 1
            last, hidden = self._warned.get(topic, (-math.inf, 0))
            show = now - last >= WARN_INTERVAL_S
            self._warned[topic] = (now, 0) if show else (last, hidden + 1)
        if show:
            more = f" ({hidden} more from this topic since the last warning)" if hidden else ""
            log.warning("live source: %s; frame dropped%s", message, more)

    def _sample(self, reading: Aligned) -> tuple[float, Sample]:
        meta: list[tuple[str, float | str]] = [("time_s", reading.time_s)]
        for name, frame in reading.frames.items():
            meta.append((f"{name}.time_s", frame.time_s))
            if frame.rate_hz is not None:
                meta.append((f"{name}.sample_rate_hz", frame.rate_hz))
        sample = Sample(data={name: frame.data for name, frame in reading.frames.items()},
                        label="", group=self.topic, key=f"{reading.time_s:.6f}",
                        source=f"{self.url}@{reading.time_s:.3f}", meta=tuple(meta),
                        missing=reading.missing)
        return reading.time_s, sample

    def _put(self, item: tuple[float, Sample]) -> None:
        while True:
            try:
                self._samples.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._samples.get_nowait()  # the runner lags: the oldest sample goes
                except queue.Empty:
                    continue
                with self._lock:
                    self._counts["samples_dropped_backlog"] += 1
                log.warning("live source: the runner lags; the oldest waiting sample dropped")

    # -- the caller's thread ---------------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[float, Sample]]:
        self.start()
        yielded = 0
        while True:
            if self._stop.is_set():
                self.ended_by = "stopped"
                return
            if self.limit is not None and yielded >= self.limit:
                self.ended_by = "limit"
                return
            try:
                time_s, sample = self._samples.get(timeout=POLL_S)
            except queue.Empty:
                if self.fatal_error:
                    self.ended_by = "broker"
                    if not yielded:
                        raise DeployError(f"--source {self.url}: {self.fatal_error}") from None
                    return
                if self.idle_s is not None and \
                        time.monotonic() - self._last_message > self.idle_s:
                    self.ended_by = "idle"
                    return
                continue
            yielded += 1
            with self._lock:
                self._counts["samples"] += 1
                self._counts["samples_with_missing"] += bool(sample.missing)
                self._missing.update(sample.missing)
            yield time_s, sample

    def stop(self) -> None:
        """End the stream at the next sample (safe from a signal handler or another thread)."""
        self._stop.set()

    def close(self) -> None:
        """Stop and disconnect; idempotent."""
        self._stop.set()
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def __enter__(self) -> LiveMqttSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def summary(self) -> dict[str, Any]:
        """JSON-ready counts: frames received, accepted and dropped (by reason and topic),
        samples (with a missing modality, by modality), the tolerances in force, how the
        stream ended."""
        with self._lock:
            counts, dropped = dict(self._counts), dict(self._dropped)
            by_topic, missing = dict(self._dropped_by_topic), dict(self._missing)
            align_s, stale_s = self._aligner.align_s, self._aligner.stale_s
        return {
            "url": self.url, "modalities": list(self.modalities),
            "align_s": align_s, "stale_s": stale_s,
            "idle_s": self.idle_s, "frames_received": counts.get("frames_received", 0),
            "frames_accepted": counts.get("frames_accepted", 0),
            "frames_dropped": sum(dropped.values()), "dropped_by_reason": dropped,
            "dropped_by_topic": by_topic, "samples": counts.get("samples", 0),
            "samples_with_missing": counts.get("samples_with_missing", 0),
            "missing_by_modality": missing,
            "samples_dropped_backlog": counts.get("samples_dropped_backlog", 0),
            "ever_connected": self.ever_connected, "last_error": self.last_error,
            "ended_by": self.ended_by,
        }
