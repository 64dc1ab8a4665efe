"""``tinyfuse run BUNDLE --source serial:PORT[:BAUD]``: a board's decisions in, alerts out.

The board runs the generated app (``tinyfuse.firmware.app_c``) and decides by itself; the host
carries each decision on as the same alert `tinyfuse run` raises for a host-scored window:
same alert id (``confirm.incident_id``), payload, outbox, MQTT delivery and confirmation
hooks, so a subscriber cannot tell a board's alert from the host's.

Lines accepted on the port (ASCII, ``\\n`` terminated, ``\\r`` dropped):

* an alert record, the app's compact JSON line (``app_c.RECORD_FIELDS``): what a board prints;
* ``records.jsonl:HEX``, the framing of the emulated UART board
  (``firmware/boards/harness/report_uart.c``): the bytes are joined and cut into record lines;
* anything else (a boot banner, the harness's other result files) is counted and ignored.

A line longer than :data:`MAX_LINE_BYTES` is dropped and counted, so noise on the wire cannot
grow memory. A record that breaks the format is rejected with a one-line warning naming the
field; a record of another bundle (its ``bundle`` prefix is not this bundle's hash) ends the
run with an error: the board runs another model than the one the alerts would be labelled
with.

:class:`BoardLink` is the other direction too (``tinyfuse run --on-board serial:PORT``,
hardware in the loop): it sends a board that runs ``tinyfuse export --format stm32|nrf52``'s
image one CRC-checked window frame at a time (``firmware/boards/image/app_uart_main.c``) and
yields the decisions the board sends back.
"""

from __future__ import annotations

import json
import logging
import math
import os
import select
import termios
import time
import tty
import zlib
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tinyfuse.apps.policy import Decision
from tinyfuse.core.errors import DataError, DeployError
from tinyfuse.firmware.app_c import HASH_PREFIX_CHARS, RECORD_FIELDS

log = logging.getLogger(__name__)

PREFIX = "serial:"
DEFAULT_BAUD = 115200
BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
MAX_LINE_BYTES = 4096
KEPT_LINES = 64
RECORD_FILE = "records.jsonl"  # the harness's name for the alert records
STATES = {"raised": False, "awaiting": True}  # record state -> needs a person


def parse_source(text: str) -> tuple[str, int]:
    """``serial:PORT[:BAUD]`` -> ``(PORT, BAUD)`` (default :data:`DEFAULT_BAUD`)."""
    if not text.startswith(PREFIX) or len(text) == len(PREFIX):
        raise DataError(f"--source {text!r}: expected serial:PORT[:BAUD], e.g. "
                        f"serial:/dev/ttyACM0:115200")
    port, sep, baud = text[len(PREFIX):].rpartition(":")
    if not sep or not baud.isdigit():
        return text[len(PREFIX):], DEFAULT_BAUD
    if int(baud) not in BAUDS:
        raise DataError(f"--source {text!r}: baud {baud} is not one of {list(BAUDS)}")
    return port, int(baud)


@dataclass
class LineCounts:
    """What came over the port."""

    lines: int = 0
    records: int = 0
    ignored: int = 0
    too_long: int = 0
    rejected: Counter = field(default_factory=Counter)


class RecordReader:
    """Bytes in (any chunking), record lines out; see the module docstring for the framings.
    The latest other lines are kept in ``others`` (at most :data:`KEPT_LINES`) for a caller
    that speaks a protocol around the records (:class:`BoardLink`)."""

    def __init__(self) -> None:
        self.counts = LineCounts()
        self.others: deque[str] = deque(maxlen=KEPT_LINES)
        self._line = bytearray()
        self._overlong = False
        self._framed = bytearray()  # records.jsonl bytes of the hex framing, not yet a line

    def feed(self, data: bytes) -> list[str]:
        """The complete record lines that ``data`` finished (in order)."""
        out: list[str] = []
        for byte in data:
            if byte != 0x0A:
                if len(self._line) < MAX_LINE_BYTES:
                    self._line.append(byte)
                else:
                    self._overlong = True
                continue
            line, overlong = bytes(self._line).rstrip(b"\r"), self._overlong
            self._line.clear()
            self._overlong = False
            self.counts.lines += 1
            if overlong:
                self.counts.too_long += 1
                continue
            out.extend(self._line_records(line))
        return out

    def _line_records(self, line: bytes) -> list[str]:
        text = line.decode("ascii", errors="replace").strip()
        if text.startswith("{"):
            return [text]
        name, colon, payload = text.partition(":")
        if not colon or name != RECORD_FILE:
            self.counts.ignored += 1
            self.others.append(text)
            return []
        try:
            self._framed.extend(bytes.fromhex(payload))
        except ValueError:
            self.counts.rejected["corrupt hex framing"] += 1
            return []
        *done, rest = bytes(self._framed).split(b"\n")
        self._framed = bytearray(rest[:MAX_LINE_BYTES])
        return [d.decode("ascii", errors="replace") for d in done if d.strip()]


def decision_from_record(line: str, *, classes: tuple[str, ...], modalities: tuple[str, ...],
                         bundle_hash: str) -> Decision:
    """The :class:`~tinyfuse.apps.policy.Decision` of one record line.

    Raises
    ------
    DataError
        The line is not a record (names the field and what is wrong).
    DeployError
        A record of another bundle.
    """
    try:
        record = json.loads(line)
    except ValueError:
        raise DataError(f"not JSON: {line[:60]!r}") from None
    if not isinstance(record, dict):
        raise DataError(f"not a JSON object: {line[:60]!r}")
    if "error" in record:
        raise DeployError(f"the board's app stopped: {json.dumps(record)[:120]}")
    missing_fields = [name for name in RECORD_FIELDS if name not in record]
    if missing_fields:
        raise DataError(f"record lacks {missing_fields}")
    prefix = record["bundle"]
    if not isinstance(prefix, str) or prefix != bundle_hash[:HASH_PREFIX_CHARS]:
        raise DeployError(f"the board's records come from bundle {str(prefix)[:16]!r}, not "
                          f"{bundle_hash[:HASH_PREFIX_CHARS]!r} (flash the app built from "
                          f"this bundle, or pass that bundle)")
    t, score = record["t"], record["score"]
    if not _number(t) or t < 0:
        raise DataError(f"record field 't': {t!r} is not a finite time >= 0")
    if not _number(score) or not 0.0 <= score <= 1.0:
        raise DataError(f"record field 'score': {score!r} is not in [0, 1]")
    if record["label"] not in classes:
        raise DataError(f"record field 'label': {record['label']!r} is not one of {list(classes)}")
    if record["state"] not in STATES:
        raise DataError(f"record field 'state': {record['state']!r} is not one of "
                        f"{list(STATES)}")
    for name, low, high in (("hits", 0, 1 << 16), ("q", -128, 127)):
        value = record[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise DataError(f"record field {name!r}: {value!r} is not an integer in "
                            f"[{low}, {high}]")
    absent = record["missing"]
    if not isinstance(absent, list) or any(m not in modalities for m in absent):
        raise DataError(f"record field 'missing': {absent!r} is not a list of the bundle's "
                        f"modalities {list(modalities)}")
    if not isinstance(record["reason"], str) or len(record["reason"]) > 64:
        raise DataError(f"record field 'reason': {record['reason']!r} is not a short string")
    return Decision(label=record["label"], score=float(score), time_s=float(t),
                    classes=(record["label"],), scores=(float(score),), hits=record["hits"],
                    needs_confirmation=STATES[record["state"]], reason=record["reason"],
                    missing=tuple(absent))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        math.isfinite(value)


class _Port:
    """An open serial port (raw mode, ``baud`` when it is a tty) and the reader of its lines."""

    def __init__(self, port: str, *, baud: int, bundle: Any, write: bool) -> None:
        self.port, self.baud = port, baud
        self.classes, self.modalities = tuple(bundle.classes), tuple(bundle.modalities)
        self.bundle_hash = bundle.bundle_hash
        self.reader = RecordReader()
        self.ended_by = ""
        self.bytes_read = 0
        mode = (os.O_RDWR if write else os.O_RDONLY) | os.O_NOCTTY | os.O_NONBLOCK
        try:
            self._fd = os.open(port, mode)
        except OSError as exc:
            raise DeployError(f"serial port {port}: cannot open ({exc.strerror})") from None
        if os.isatty(self._fd):
            tty.setraw(self._fd)
            attributes = termios.tcgetattr(self._fd)
            attributes[4] = attributes[5] = getattr(termios, f"B{baud}")
            termios.tcsetattr(self._fd, termios.TCSANOW, attributes)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _pump(self, wait_s: float) -> list[Decision] | None:
        """Read what arrives within ``wait_s``: its decisions, or ``None`` when the port
        closed (the other end of a pty went away, EOF)."""
        ready, _, _ = select.select([self._fd], [], [], wait_s)
        if not ready:
            return []
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return []
        except OSError:  # EIO: the other end of a pty (the emulator) closed
            data = b""
        if not data:
            return None
        self.bytes_read += len(data)
        decisions = []
        for line in self.reader.feed(data):
            try:
                decisions.append(decision_from_record(
                    line, classes=self.classes, modalities=self.modalities,
                    bundle_hash=self.bundle_hash))
            except DataError as exc:
                self.reader.counts.rejected[str(exc).split(":")[0]] += 1
                log.warning("%s: record rejected: %s", self.port, exc)
                continue
            self.reader.counts.records += 1
        return decisions

    def summary(self) -> dict[str, Any]:
        counts = self.reader.counts
        return {"port": self.port, "baud": self.baud, "lines": counts.lines,
                "records": counts.records, "ignored_lines": counts.ignored,
                "too_long_lines": counts.too_long, "rejected": dict(counts.rejected),
                "ended_by": self.ended_by}


class SerialSource(_Port):
    """The decisions a board sends on ``port``; iterate for them. Ends when the port closes
    (the board or emulator went away), after ``idle_s`` without a byte, after ``limit``
    records, or on :meth:`stop`."""

    def __init__(self, port: str, *, baud: int = DEFAULT_BAUD, bundle: Any,
                 idle_s: float = 60.0, limit: int | None = None) -> None:
        super().__init__(port, baud=baud, bundle=bundle, write=False)
        self.idle_s, self.limit = float(idle_s), limit
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True

    def __iter__(self) -> Iterator[Decision]:
        last, count = time.monotonic(), 0
        while not self._stopped:
            before = self.bytes_read
            decisions = self._pump(0.2)
            if decisions is None:
                self.ended_by = "closed"
                return
            if self.bytes_read != before:
                last = time.monotonic()
            elif time.monotonic() - last >= self.idle_s:
                self.ended_by = "idle"
                return
            for decision in decisions:
                count += 1
                yield decision
                if self.limit is not None and count >= self.limit:
                    self.ended_by = "limit"
                    return
        self.ended_by = "stopped"


FRAME_MAGIC = b"TFWN"
READY = "tinyfuse app ready bundle="


def window_frame(seq: int, window: bytes) -> bytes:
    """One window as ``firmware/boards/stm32/app_uart_main.c`` takes it: ``TFWN``, the
    sequence number, the window (``app_c.windows_bytes`` of one window), the CRC-32."""
    body = seq.to_bytes(4, "little") + window
    return FRAME_MAGIC + body + zlib.crc32(body).to_bytes(4, "little")


def board_windows(bundle: Any, windows: Sequence[Any]) -> list[bytes]:
    """Each ``app_c.Window`` as the bytes of one window of ``app_c.windows_bytes`` (the raw
    samples the board's front-ends take)."""
    from tinyfuse.apps.runner import bundle_policy
    from tinyfuse.firmware.app_c import WINDOW_HEADER_BYTES, generate_app, windows_bytes

    app = generate_app(bundle, policy=bundle_policy(bundle))
    size = WINDOW_HEADER_BYTES + 4 * sum(app.raw_floats)
    data = windows_bytes(app, windows)
    return [data[start:start + size] for start in range(0, len(data), size)]


class BoardLink(_Port):
    """Hardware in the loop: replay windows through a board that runs the real-board image
    (``tinyfuse export --format stm32``) and get its decisions back, window by window.

    The board's ``ready`` line, when it comes within ``ready_s`` of opening, must name this
    bundle; each frame waits for the board's ``ok``/``bad`` line (``ack_s`` at most). A frame
    the board dropped (``bad``: a CRC mismatch) is counted in ``dropped``, not resent."""

    def __init__(self, port: str, *, baud: int = DEFAULT_BAUD, bundle: Any,
                 ready_s: float = 2.0, ack_s: float = 30.0) -> None:
        super().__init__(port, baud=baud, bundle=bundle, write=True)
        self.ack_s, self.dropped, self.windows, self.ready = float(ack_s), 0, 0, False
        self._backlog: list[Decision] = []
        self.wait_ready(ready_s)

    def wait_ready(self, timeout_s: float) -> bool:
        """Up to ``timeout_s`` for the board's ``ready`` line (it comes once, after reset: a
        board reset before the port was opened has sent it already); whether it came."""
        deadline = time.monotonic() + timeout_s
        while not self.ready and time.monotonic() < deadline:
            self._take(self._pump(0.05))
        return self.ready

    def _take(self, decisions: list[Decision] | None) -> str | None:
        """Keep ``decisions``; check the control lines that came; return the last ack."""
        if decisions is None:
            raise DeployError(f"serial port {self.port}: closed by the board")
        self._backlog.extend(decisions)
        ack = None
        while self.reader.others:
            line = self.reader.others.popleft()
            if line.startswith(READY):
                named = (line[len(READY):].split() or [""])[0]
                if named != self.bundle_hash[:HASH_PREFIX_CHARS]:
                    raise DeployError(f"{self.port}: the board runs bundle {named!r}, not "
                                      f"{self.bundle_hash[:HASH_PREFIX_CHARS]!r}")
                self.ready = True
            elif line.split()[:1] in (["ok"], ["bad"]):
                ack = line
        return ack

    def _send(self, frame: bytes) -> None:
        sent = 0
        while sent < len(frame):
            _, ready, _ = select.select([], [self._fd], [], self.ack_s)
            if not ready:
                raise DeployError(f"serial port {self.port}: cannot write for {self.ack_s:g} s")
            try:
                sent += os.write(self._fd, frame[sent:])
            except BlockingIOError:
                continue

    def replay(self, windows: list[bytes]) -> Iterator[Decision]:
        """The decisions of ``windows`` (each one window's ``app_c.windows_bytes``), in
        order; ``DeployError`` when the board stops answering."""
        yield from self._backlog
        self._backlog = []
        for seq, window in enumerate(windows):
            self._send(window_frame(seq, window))
            deadline, ack = time.monotonic() + self.ack_s, None
            while ack is None:
                if time.monotonic() > deadline:
                    raise DeployError(f"serial port {self.port}: no answer to window {seq} "
                                      f"in {self.ack_s:g} s")
                ack = self._take(self._pump(0.05))
            if ack != f"ok {seq}":
                if ack == f"bad {seq}":
                    self.dropped += 1
                else:
                    raise DeployError(f"serial port {self.port}: window {seq} answered "
                                      f"{ack!r}")
            self.windows += 1
            yield from self._backlog
            self._backlog = []
        self.ended_by = "replayed"

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "windows": self.windows, "dropped_windows": self.dropped,
                "board_ready_line": self.ready}
