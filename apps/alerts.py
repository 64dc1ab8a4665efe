"""Alert sinks: MQTT (paho-mqtt 2.x) behind a persistent outbox, a local file, a fallback chain.

Topic layout: ``tinyfuse/<app>/<device>/alert`` (``device`` is a device id or a modality name).
The payload is :meth:`apps.confirm.Alert.to_payload` as JSON (bundle_hash, scores, decision,
confirmation state, timestamps); every lifecycle update of an alert is one message. Model-health
alerts (``"kind": "health"``: an input modality drifted, ``tinyfuse.apps.drift``) share the
topic, the outbox and the delivery guarantee; a payload without ``kind`` is a detection.

Delivery guarantee of :class:`MqttSink`: every alert is first committed to the on-disk outbox
and deleted from it only after the broker's PUBACK (QoS 1). A broker outage or a process restart
therefore loses nothing: queued messages go out, oldest first, once a broker answers. This is
at-least-once delivery: a message whose PUBACK was lost (broker killed after receiving it) is
sent again, so a subscriber may see a duplicate; ``(alert_id, revision)`` in the payload
identifies a message and lets consumers drop repeats. paho's own in-memory session is never
relied on: every connection is a fresh clean-session client, and the outbox decides what to
resend.
"""

from __future__ import annotations

import json
import logging
import os
import re
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tinyfuse.apps.confirm import Alert
from tinyfuse.apps.outbox import Message, Outbox
from tinyfuse.core.errors import DataError, DeployError

log = logging.getLogger(__name__)

_TOPIC_PART = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
DELIVERED, QUEUED, WRITTEN = "delivered", "queued", "written"


def alert_topic(app: str, device: str) -> str:
    """``tinyfuse/<app>/<device>/alert``; both parts are plain names (no ``/``, ``+``, ``#``)."""
    for field, value in (("app", app), ("device", device)):
        if not isinstance(value, str) or not _TOPIC_PART.match(value):
            raise DataError(f"alert topic: {field} {value!r} must match {_TOPIC_PART.pattern}")
    return f"tinyfuse/{app}/{device}/alert"


def availability_topic(app: str, device: str) -> str:
    """``tinyfuse/<app>/<device>/availability``: retained ``online`` / ``offline``."""
    return alert_topic(app, device).removesuffix("/alert") + "/availability"


def payload_text(alert: Alert) -> str:
    return json.dumps(alert.to_payload(), sort_keys=True, allow_nan=False)


class AlertSink(Protocol):
    """Where alerts go. ``publish`` returns ``"delivered"`` (acknowledged by the receiver),
    ``"queued"`` (kept durably, sent later) or ``"written"`` (stored in a local file)."""

    name: str

    def publish(self, alert: Alert) -> str: ...

    def flush(self) -> int: ...

    def close(self) -> None: ...


class LocalOutbox:
    """Alerts appended as JSON lines to ``<folder>/alerts.jsonl`` (fsync'd per alert): the sink
    for a machine without a broker, and the last link of a fallback chain."""

    name = "local"

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / "alerts.jsonl"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"{self.path.parent}: cannot create the alert folder: {exc}") from exc

    def publish(self, alert: Alert) -> str:
        record = {"topic": alert_topic(alert.app, alert.device),
                  "payload": alert.to_payload()}
        line = (json.dumps(record, sort_keys=True, allow_nan=False) + "\n").encode()
        try:
            handle = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(handle, line)  # one write on an O_APPEND file: lines never interleave
                os.fsync(handle)
            finally:
                os.close(handle)
        except OSError as exc:
            raise DataError(f"{self.path}: cannot write alert {alert.alert_id}: {exc}") from exc
        return WRITTEN

    def flush(self) -> int:
        return 0

    def close(self) -> None:
        return None


def read_local(path: str | Path) -> list[dict[str, Any]]:
    """The records of an ``alerts.jsonl`` file (``{"topic", "payload"}``), in order; a torn last
    line (a crash mid-write) is skipped with a warning."""
    records = []
    lines = Path(path).read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("%s:%d: unreadable alert line skipped", path, number)
    return records


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttSecurity:
    """How to log in to a site's broker: a username and password, and TLS (a CA file to
    verify the broker, optionally a client certificate and key)."""

    username: str = ""
    password: str = ""
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""

    def __post_init__(self) -> None:
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise DataError(f"mqtt: {name.replace('_', ' ')} {path}: no such file")
        if bool(self.cert_file) != bool(self.key_file):
            raise DataError("mqtt: a client certificate needs its key file, and a key its "
                            "certificate")
        if self.cert_file and not self.ca_file:
            raise DataError("mqtt: a client certificate needs the CA file (TLS)")

    @property
    def tls(self) -> bool:
        return bool(self.ca_file)


def new_client(*, client_id: str, security: MqttSecurity, connect_timeout_s: float,
               clean_session: bool = True) -> mqtt.Client:
    """A paho MQTT 3.1.1 client (callback API 2) that logs in with ``security``."""
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                         client_id=client_id, clean_session=clean_session,
                         protocol=mqtt.MQTTv311)
    client.connect_timeout = connect_timeout_s
    if security.username:
        client.username_pw_set(security.username, security.password or None)
    if security.tls:
        try:
            client.tls_set(ca_certs=security.ca_file, certfile=security.cert_file or None,
                           keyfile=security.key_file or None)
        except (OSError, ValueError, ssl.SSLError) as exc:
            raise DataError(f"mqtt: TLS files {security.ca_file}: {exc}") from None
    return client


class MqttSink:
    """Publishes alerts over MQTT with QoS 1 from a persistent :class:`Outbox`.

    Parameters
    ----------
    host, port : str, int
        The broker.
    outbox : Outbox or path
        The queue (a path names the sqlite file; its folder is created).
    ack_timeout_s : float
        How long one flush waits for PUBACKs before it gives up on the connection (the
        messages stay queued).
    retry_interval_s : float
        After a failed connection, ``publish`` waits this long (monotonic clock) before it
        tries again; ``flush(force=True)`` tries at once.
    security : MqttSecurity, optional
        Username/password and TLS. A refused login or a TLS failure sets ``fatal_error``
        (it will not cure itself by retrying); alerts stay in the outbox.
    availability_topic : str, optional
        Retained ``online`` is published there on every connection, and the broker is left a
        retained ``offline`` last will (published by ``close`` too).
    background : bool
        Send from a thread of its own (:meth:`start`, called by the constructor): ``publish``
        only writes the alert to the outbox and wakes the sender (it returns ``QUEUED`` at
        once and never waits on the network), and the sender drains the outbox as soon as
        the broker answers, with or without new alerts. While connected, ``publish`` waits
        at most ``handoff_s`` (0.25 s) for the broker's PUBACK and returns ``DELIVERED`` when
        it came (also while the first connection is being made); after a failed connection it
        returns ``QUEUED`` at once. Without it, ``publish`` sends in the caller's
        thread.
    """

    name = "mqtt"

    def __init__(self, *, host: str, port: int = 1883, outbox: Outbox | str | Path,
                 client_id: str = "", keepalive_s: int = 30, connect_timeout_s: float = 3.0,
                 ack_timeout_s: float = 5.0, retry_interval_s: float = 5.0,
                 batch_size: int = 50, security: MqttSecurity | None = None,
                 availability_topic: str = "", background: bool = False) -> None:
        if not 0 < int(port) < 65536:
            raise DataError(f"mqtt: port {port} is not in 1..65535")
        self.host, self.port = host, int(port)
        self.outbox = outbox if isinstance(outbox, Outbox) else Outbox(outbox)
        self.client_id = client_id
        self.keepalive_s = keepalive_s
        self.connect_timeout_s = connect_timeout_s
        self.ack_timeout_s = ack_timeout_s
        self.retry_interval_s = retry_interval_s
        self.batch_size = batch_size
        self.security = security or MqttSecurity()
        self.availability_topic = availability_topic
        self.last_error = ""
        self.fatal_error = ""
        self.ever_connected = False  # has any connection been accepted (CONNACK)?
        self._client: mqtt.Client | None = None
        self._connected = False
        self._acked: set[int] = set()
        self._next_try_s = 0.0
        self._thread: threading.Thread | None = None
        self.handoff_s = 0.25
        self._sent = threading.Condition()
        self._delivered: set[int] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        if background:
            self.start()

    @property
    def connected(self) -> bool:
        return self._client is not None and self._connected

    def publish(self, alert: Alert) -> str:
        """Queue ``alert`` on disk, then try to send everything queued, oldest first (in the
        background: wake the sender and return ``QUEUED``)."""
        seq = self.outbox.put(alert_topic(alert.app, alert.device), payload_text(alert),
                              created_s=alert.updated_s)
        if self._thread is not None:
            self._wake.set()
            if not self.connected and time.monotonic() < self._next_try_s:
                return QUEUED  # the last attempt failed: do not wait for the broker
            deadline = time.monotonic() + self.handoff_s
            with self._sent:  # connected: wait a moment for the PUBACK, never longer
                while seq not in self._delivered and time.monotonic() < deadline:
                    self._sent.wait(timeout=max(0.0, deadline - time.monotonic()))
                if seq in self._delivered:
                    self._delivered.discard(seq)
                    return DELIVERED
            return QUEUED
        delivered = self._flush(force=False)
        if seq in delivered:
            return DELIVERED
        log.warning("alert %s queued in %s (%d waiting): %s", alert.alert_id,
                    self.outbox.path, len(self.outbox), self.last_error or "not sent yet")
        return QUEUED

    def flush(self, *, force: bool = True) -> int:
        """Send what the outbox holds; returns how many messages the broker acknowledged (in
        the background: wake the sender and wait until the outbox is empty, for at most one
        connection and acknowledgement timeout)."""
        if self._thread is None:
            return len(self._flush(force=force))
        before = len(self.outbox)
        if force:
            self._next_try_s = 0.0
        self._wake.set()
        deadline = time.monotonic() + self.connect_timeout_s + self.ack_timeout_s
        while len(self.outbox) and time.monotonic() < deadline and not self.fatal_error:
            time.sleep(0.02)
        return max(0, before - len(self.outbox))

    def start(self) -> None:
        """Start the background sender (see ``background``); a no-op when it runs."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._sender, name="tinyfuse-mqtt",
                                        daemon=True)
        self._thread.start()

    def _sender(self) -> None:
        """The sender thread: drain the outbox when woken, and retry while it holds
        messages; keep the connection alive when idle."""
        while not self._stop.is_set():
            try:
                if len(self.outbox) and not self.fatal_error:
                    done = self._flush(force=False)
                    with self._sent:
                        self._delivered = set(sorted(self._delivered | set(done))[-1000:])
                        self._sent.notify_all()
                elif self.connected and self._client is not None:
                    self._client.loop(timeout=0.01)  # keepalive pings
                elif not self.fatal_error:
                    self._connect(force=False)  # be connected before the first alert
            except Exception as exc:  # noqa: BLE001 - the sender must outlive any failure
                self.last_error = f"sender: {type(exc).__name__}: {exc}"
                log.error("MQTT sender: %s", self.last_error)
                self._drop(self.last_error)
            if len(self.outbox) and not self.fatal_error:
                wait = min(self.retry_interval_s, max(0.05, self._next_try_s - time.monotonic()))
            else:
                wait = 1.0
            self._wake.wait(timeout=wait)
            self._wake.clear()

    def _stop_sender(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        self._wake.set()
        thread.join(timeout=self.connect_timeout_s + self.ack_timeout_s + 2.0)

    def close(self) -> None:
        """Stop the sender, try once more to send, say ``offline`` on the availability
        topic, then disconnect; whatever is left stays in the outbox."""
        self._stop_sender()
        try:
            self._flush(force=True)
            if self.connected and self.availability_topic and self._client is not None:
                info = self._client.publish(self.availability_topic, "offline", qos=1,
                                            retain=True)
                deadline = time.monotonic() + self.ack_timeout_s
                while self.connected and info.mid not in self._acked and \
                        time.monotonic() < deadline:
                    self._client.loop(timeout=0.02)
        finally:
            self._drop("closed")
            self.outbox.close()

    # --- connection -----------------------------------------------------------------------

    def _new_client(self) -> mqtt.Client:
        client = new_client(client_id=self.client_id, security=self.security,
                            connect_timeout_s=self.connect_timeout_s)
        if self.availability_topic:
            client.will_set(self.availability_topic, "offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def _on_connect(self, client: mqtt.Client, userdata, flags, reason_code,
                    properties) -> None:
        if client is None or client is not self._client:
            return
        self._connected = not reason_code.is_failure
        self.ever_connected = self.ever_connected or self._connected
        if reason_code.is_failure:
            self.last_error = f"broker {self.host}:{self.port} refused the login: {reason_code}"
            self.fatal_error = self.last_error
        elif self.availability_topic:
            self._announce(client, "online")

    def _announce(self, client: mqtt.Client, state: str) -> None:
        client.publish(self.availability_topic, state, qos=1, retain=True)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if client is self._client:
            self._connected = False

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        if client is self._client:
            self._acked.add(int(mid))

    def _connect(self, force: bool) -> bool:
        if self.connected:
            return True
        if not force and time.monotonic() < self._next_try_s:
            return False
        self._drop("reconnecting")
        self._client, self.last_error = self._new_client(), ""
        self._acked.clear()
        try:
            self._client.connect(self.host, self.port, keepalive=self.keepalive_s)
            deadline = time.monotonic() + self.connect_timeout_s
            while not self._connected and time.monotonic() < deadline:
                if self._client.loop(timeout=0.02) != mqtt.MQTT_ERR_SUCCESS:
                    break
        except ssl.SSLError as exc:
            self.last_error = f"broker {self.host}:{self.port}: TLS failed: {exc}"
            self.fatal_error = self.last_error
        except (OSError, ValueError) as exc:
            hint = " (during the TLS handshake: does that listener speak TLS?)" \
                if self.security.tls and isinstance(exc, ConnectionResetError) else ""
            self.last_error = f"broker {self.host}:{self.port} unreachable: {exc}{hint}"
        if not self._connected:
            self.last_error = self.last_error or f"no CONNACK from {self.host}:{self.port}"
            self._next_try_s = time.monotonic() + self.retry_interval_s
            self._drop(self.last_error)
            return False
        log.info("connected to MQTT broker %s:%d", self.host, self.port)
        return True

    def _drop(self, why: str) -> None:
        client, self._client, self._connected = self._client, None, False
        if client is None:
            return
        log.debug("dropping MQTT connection: %s", why)
        try:
            client.disconnect()
            client.loop(timeout=0.01)
        except (OSError, ValueError, RuntimeError):
            pass
        sock = client.socket()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    # --- sending --------------------------------------------------------------------------

    def _flush(self, *, force: bool) -> list[int]:
        delivered: list[int] = []
        for _ in range(2):  # a stale connection found dead gets one fresh try
            if not len(self.outbox) or not self._connect(force):
                return delivered
            while len(self.outbox) and self.connected:
                delivered.extend(self._send_batch(self.outbox.pending(limit=self.batch_size)))
            force = True
        return delivered

    def _send_batch(self, batch: list[Message]) -> list[int]:
        """Publish a batch and wait for its PUBACKs; remove each acknowledged message."""
        client = self._client
        in_flight: dict[int, int] = {}
        done: list[int] = []
        if client is None:
            return done
        for message in batch:
            self.outbox.mark_attempt(message.seq)
            info = client.publish(message.topic, message.payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                self.last_error = f"publish failed: {mqtt.error_string(info.rc)}"
                break
            in_flight[info.mid] = message.seq
        deadline = time.monotonic() + self.ack_timeout_s
        while in_flight and time.monotonic() < deadline:
            rc = client.loop(timeout=0.02)
            for mid in sorted(self._acked & in_flight.keys()):
                self._acked.discard(mid)
                done.append(in_flight.pop(mid))
                self.outbox.remove(done[-1])
            if rc != mqtt.MQTT_ERR_SUCCESS or not self._connected:
                self.last_error = f"connection lost: {mqtt.error_string(rc)}"
                break
        if in_flight or not self._connected:
            self.last_error = self.last_error or f"no PUBACK within {self.ack_timeout_s} s"
            self._next_try_s = time.monotonic() + self.retry_interval_s
            self._drop(self.last_error)
        return done


class FallbackSink:
    """Tries each sink in order. An alert one sink ``delivered`` or ``written`` stops there; an
    alert a sink only ``queued`` (broker down) or could not take (it raised) goes on to the next
    sink as well, so a person can see it locally while the outbox waits for the broker.

    Raises ``DeployError`` naming every sink's failure when no sink took the alert at all.
    """

    name = "fallback"

    def __init__(self, sinks: Sequence[AlertSink]) -> None:
        if not sinks:
            raise DataError("FallbackSink: needs at least one sink")
        self.sinks = tuple(sinks)

    def publish(self, alert: Alert) -> str:
        """Returns the status of the first sink that took the alert."""
        failures, statuses = [], []
        for sink in self.sinks:
            try:
                statuses.append(sink.publish(alert))
            except (DataError, DeployError, OSError) as exc:
                failures.append(f"{sink.name}: {exc}")
                log.error("alert %s: sink %s failed: %s", alert.alert_id, sink.name, exc)
                continue
            if statuses[-1] in (DELIVERED, WRITTEN):
                break
        if not statuses:
            raise DeployError(f"alert {alert.alert_id}: no sink took it ({'; '.join(failures)})")
        return statuses[0]

    def flush(self) -> int:
        return sum(sink.flush() for sink in self.sinks)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
