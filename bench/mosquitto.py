"""A real mosquitto broker on a free loopback port, a small subscriber and test certificates,
for the MQTT tests and ``bench/mqtt_delivery.py``.

``Broker(folder)`` picks a free port; ``start()`` writes a config (``listener PORT 127.0.0.1``,
``allow_anonymous true``, no persistence), runs ``mosquitto -c`` and waits (bounded) until the
port accepts connections; ``stop()`` terminates it, ``kill()`` sends SIGKILL (a crash). The same
object can be started again on the same port; ``pause()`` / ``resume()`` stall it (SIGSTOP /
SIGCONT: the port stays open and nothing answers). ``make_certificates(folder)`` makes a CA and
a server certificate for 127.0.0.1 with openssl.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Broker:
    """``users`` ({name: password}) turns anonymous access off (a mosquitto password file);
    ``tls`` (ca, cert, key file paths) makes the listener TLS-only; ``persistent`` keeps
    sessions, subscriptions and queued messages on disk across a restart (or a crash)."""

    def __init__(self, folder: Path, port: int | None = None, *,
                 users: dict[str, str] | None = None,
                 tls: tuple[Path, Path, Path] | None = None, persistent: bool = False) -> None:
        self.folder = Path(folder)
        self.port = port or free_port()
        self.users = users or {}
        self.tls = tls
        self.persistent = persistent
        self.process: subprocess.Popen | None = None
        self.config = self.folder / "mosquitto.conf"
        self.log = self.folder / "mosquitto.log"

    def start(self, *, timeout_s: float = 10.0) -> Broker:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.persistent:  # saved on every change, so a SIGKILL loses (almost) nothing
            lines = [f"listener {self.port} 127.0.0.1", "persistence true",
                     f"persistence_location {self.folder}/", "autosave_interval 1",
                     "autosave_on_changes true", "max_queued_messages 100000"]
        else:
            lines = [f"listener {self.port} 127.0.0.1", "persistence false"]
        if os.geteuid() == 0:  # stay root: the password and key files are root's
            lines.append("user root")
        if self.users:
            passwords = self.folder / "passwords"
            passwords.write_text("")
            for name, password in self.users.items():
                subprocess.run([shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd",
                                "-b", str(passwords), name, password], check=True,
                               capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        if self.tls:
            ca, cert, key = self.tls
            lines += [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]
        self.config.write_text("\n".join(lines) + "\n")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)],
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            if port_open(self.port):
                time.sleep(0.05 if self.tls else 0.0)
                return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"mosquitto did not open port {self.port} in {timeout_s} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def pause(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None


class Subscriber:
    """Collects the JSON payloads published on ``topic`` (a background paho loop)."""

    def __init__(self, port: int, topic: str = "tinyfuse/+/+/alert") -> None:
        self.messages: list[tuple[str, dict]] = []
        self._subscribed = False
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                  protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        wait_for(lambda: self._subscribed, what="SUBACK")

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self._subscribed = True

    def _on_message(self, client, userdata, message) -> None:
        self.messages.append((message.topic, json.loads(message.payload)))

    def alert_ids(self) -> list[str]:
        return [payload["alert_id"] for _, payload in self.messages]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def wait_for(condition, *, timeout_s: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(folder: Path) -> Path:
    """A CA (``ca.crt``) and a server certificate (``server.crt``, ``server.key``) for IP
    127.0.0.1 signed by it, in ``folder``."""
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl is missing (tools/system_packages.sh installs it)")
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=tinyfuse test CA", "-keyout", "ca.key", "-out", "ca.crt", cwd=folder)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
             "server.key", "-out", "server.csr", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt",
             cwd=folder)
    return folder
