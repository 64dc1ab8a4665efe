"""A small MQTT 3.1.1 client: CONNECT (clean session, username/password, last will),
QoS 0/1 PUBLISH with PUBACK, keepalive PINGREQ/PINGRESP, DISCONNECT. Blocking socket with a
timeout; no subscriptions (the board only publishes).

    client = MQTTClient("board-1", "192.168.1.10", username="u", password="p",
                        will=("tinyfuse/factory/board/status", b"offline", 1, True))
    client.connect()
    client.publish("tinyfuse/factory/board/alert", b"{...}", qos=1)  # returns on PUBACK
"""

import socket
import struct

from .clock import ticks_diff, ticks_ms

CONNECT, CONNACK, PUBLISH, PUBACK = 0x10, 0x20, 0x30, 0x40
PINGREQ, PINGRESP, DISCONNECT = 0xC0, 0xD0, 0xE0
MAX_PACKET_BYTES = 64 * 1024
CONNACK_REASONS = {1: "unacceptable protocol version", 2: "client id rejected",
                   3: "server unavailable", 4: "bad user name or password",
                   5: "not authorised"}


class MQTTError(OSError):
    """The broker refused us, broke the protocol, or did not answer in time."""


def _string(value):
    data = value.encode() if isinstance(value, str) else bytes(value)
    return struct.pack("!H", len(data)) + data


def _remaining_length(count):
    out = bytearray()
    while True:
        byte = count & 0x7F
        count >>= 7
        out.append(byte | 0x80 if count else byte)
        if not count:
            return bytes(out)


def packet(kind, body):
    """One control packet: fixed header byte, remaining length, body."""
    return bytes([kind]) + _remaining_length(len(body)) + body


class MQTTClient:
    def __init__(self, client_id, host, port=1883, username=None, password=None,
                 keepalive_s=60, will=None, timeout_s=5.0):
        self.client_id = client_id
        self.host = host
        self.port = port
        self.username = username or None
        self.password = password or None
        self.keepalive_s = keepalive_s
        self.will = will          # (topic, payload, qos, retain) or None
        self.timeout_s = timeout_s
        self.sock = None
        self.next_id = 1
        self.last_sent_ms = ticks_ms()

    def connect(self):
        """Open the connection and wait for CONNACK; raises MQTTError when refused."""
        address = socket.getaddrinfo(self.host, self.port)[0][-1]
        self.sock = socket.socket()
        self.sock.settimeout(self.timeout_s)
        try:
            self.sock.connect(address)
            flags = 0x02  # clean session
            body = _string("MQTT") + b"\x04"
            payload = _string(self.client_id)
            if self.will is not None:
                topic, message, qos, retain = self.will
                flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
                payload += _string(topic) + _string(message)
            if self.username is not None:
                flags |= 0x80
                payload += _string(self.username)
                if self.password is not None:
                    flags |= 0x40
                    payload += _string(self.password)
            body += bytes([flags]) + struct.pack("!H", self.keepalive_s) + payload
            self._send(packet(CONNECT, body))
            kind, body = self._read()
            if kind != CONNACK or len(body) != 2:
                raise MQTTError("expected CONNACK, got packet type 0x%02x" % kind)
            if body[1]:
                raise MQTTError("broker refused the connection: " +
                                CONNACK_REASONS.get(body[1], "code %d" % body[1]))
        except BaseException:
            self.close()
            raise

    def publish(self, topic, payload, qos=1, retain=False):
        """Send one message; with QoS 1 return only once the broker's PUBACK arrives."""
        if qos not in (0, 1):
            raise ValueError("qos must be 0 or 1")
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        body = _string(topic)
        packet_id = 0
        if qos:
            packet_id = self.next_id
            self.next_id = self.next_id % 65535 + 1
            body += struct.pack("!H", packet_id)
        self._send(packet(PUBLISH | (qos << 1) | (1 if retain else 0), body + data))
        if qos:
            self._wait_for(PUBACK, packet_id)
        return packet_id

    def ping(self):
        """PINGREQ, then wait for PINGRESP."""
        self._send(packet(PINGREQ, b""))
        self._wait_for(PINGRESP, None)

    def keepalive(self):
        """Ping when half the keepalive interval passed without sending anything."""
        if self.keepalive_s and ticks_diff(ticks_ms(), self.last_sent_ms) >= \
                self.keepalive_s * 500:
            self.ping()

    def disconnect(self):
        try:
            if self.sock is not None:
                self._send(packet(DISCONNECT, b""))
        finally:
            self.close()

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def _wait_for(self, kind, packet_id):
        while True:
            got, body = self._read()
            if got == kind and (packet_id is None or
                                struct.unpack("!H", body[:2])[0] == packet_id):
                return
            if got not in (PUBACK, PINGRESP):
                raise MQTTError("unexpected packet type 0x%02x" % got)

    def _send(self, data):
        if self.sock is None:
            raise MQTTError("not connected")
        view = memoryview(data)
        while len(view):
            sent = self.sock.send(view)
            if not sent:
                raise MQTTError("connection closed while sending")
            view = view[sent:]
        self.last_sent_ms = ticks_ms()

    def _read_exact(self, count):
        out = b""
        while len(out) < count:
            chunk = self.sock.recv(count - len(out))
            if not chunk:
                raise MQTTError("connection closed by the broker")
            out += chunk
        return out

    def _read(self):
        if self.sock is None:
            raise MQTTError("not connected")
        kind = self._read_exact(1)[0] & 0xF0
        length, shift = 0, 0
        while True:
            byte = self._read_exact(1)[0]
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 21:
                raise MQTTError("malformed remaining length")
        if length > MAX_PACKET_BYTES:
            raise MQTTError("packet of %d bytes is too large" % length)
        return kind, self._read_exact(length) if length else b""
