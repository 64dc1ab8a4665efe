"""Confirmation hooks a site uses: a question over MQTT, or over an HTTP webhook.

Both run through the same lifecycle (:class:`tinyfuse.apps.confirm.Confirmations`): a
question is asked once per alert (again, harmlessly, when a restarted tracker resumes it),
the answer is matched by alert id, and a question that was answered or expired is withdrawn.

MQTT (:class:`MqttConfirm`), logged in like the alerts (``alerts.MqttSecurity``):

* question: retained, QoS 1, on ``tinyfuse/<app>/<device>/confirm/request/<alert_id>``
  (``{"schema", "alert_id", "question", "answer_topic", "alert"}``), so a console that
  connects later still sees every open question; withdrawn with an empty retained message;
* answer: ``{"alert_id": ..., "answer": "confirm" | "dismiss", "by": "..."}`` on
  ``tinyfuse/<app>/<device>/confirm/answer``. The hook keeps a persistent session (fixed client
  id, clean session off), so answers sent while the app was down arrive when it is back.

HTTP (:class:`HttpConfirm`): each question is POSTed as JSON to the webhook ``url``; a POST
that fails is retried on the next poll. The answer comes back either by callback (``listen``:
this process serves ``POST /answer`` with ``{"alert_id", "answer"}``, and the question names
that ``answer_url``) or by polling (``GET <url>/<alert_id>`` answers 200 with
``{"answer": ...}`` once a person has answered, 404 or 204 before). Posting and polling run
in the app loop, each bounded by ``timeout_s`` and at most once per ``poll_interval_s`` per
alert.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tinyfuse.apps.alerts import MqttSecurity, alert_topic, new_client
from tinyfuse.apps.confirm import ANSWERS, PAYLOAD_SCHEMA, Alert, question
from tinyfuse.core.errors import DataError

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 4096  # an answer is a few dozen bytes; anything larger is refused


def parse_answer(body: bytes, *, where: str) -> tuple[str, str, str]:
    """``(alert_id, answer, by)`` from an answer message, or a one-line ``DataError``."""
    if len(body) > MAX_ANSWER_BYTES:
        raise DataError(f"{where}: answer of {len(body)} bytes (at most {MAX_ANSWER_BYTES})")
    try:
        record = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: answer is not JSON ({exc})") from None
    if not isinstance(record, dict):
        raise DataError(f"{where}: answer must be a JSON object, got {type(record).__name__}")
    alert_id, reply = record.get("alert_id"), record.get("answer")
    if not isinstance(alert_id, str) or not alert_id:
        raise DataError(f"{where}: answer has no alert_id")
    if reply not in ANSWERS:
        raise DataError(f"{where}: answer {reply!r} for {alert_id} is not one of {ANSWERS}")
    return alert_id, str(reply), str(record.get("by") or "")


def question_record(alert: Alert, **where_to_answer: str) -> dict[str, Any]:
    """What a remote person (or their console) is sent about ``alert``."""
    return {"schema": PAYLOAD_SCHEMA, "alert_id": alert.alert_id, "question": question(alert),
            **where_to_answer, "alert": alert.to_payload()}


class MqttConfirm:
    """Asks over MQTT (see the module doc for the topics and messages)."""

    def __init__(self, *, host: str, port: int, app: str, device: str,
                 security: MqttSecurity | None = None, connect_timeout_s: float = 5.0,
                 keepalive_s: int = 30) -> None:
        self.name = "mqtt"
        root = alert_topic(app, device).removesuffix("/alert") + "/confirm"
        self.request_root = root + "/request"
        self.answer_topic = root + "/answer"
        self._answers: dict[str, str] = {}
        self._open: dict[str, Alert] = {}  # asked, not yet acknowledged by the broker
        self._lock = threading.Lock()
        self._client = new_client(client_id=f"tinyfuse-confirm-{app}-{device}",
                                  security=security or MqttSecurity(),
                                  connect_timeout_s=connect_timeout_s, clean_session=False)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.connect_async(host, port, keepalive=keepalive_s)
        self._client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("mqtt confirm: the broker refused the login: %s", reason_code)
            return
        client.subscribe(self.answer_topic, qos=1)
        with self._lock:
            pending = list(self._open.values())
        for alert in pending:  # asked while the broker was away
            self._publish_question(alert)

    def _on_message(self, client, userdata, message) -> None:
        try:
            alert_id, reply, by = parse_answer(message.payload, where=message.topic)
        except DataError as exc:
            log.warning("%s; ignored", exc)
            return
        log.info("mqtt confirm: %s answered %s%s", alert_id, reply, f" by {by}" if by else "")
        with self._lock:
            self._answers[alert_id] = reply

    def _publish_question(self, alert: Alert) -> None:
        text = json.dumps(question_record(alert, answer_topic=self.answer_topic),
                          sort_keys=True, allow_nan=False)
        self._client.publish(f"{self.request_root}/{alert.alert_id}", text, qos=1, retain=True)

    def request(self, alert: Alert) -> None:
        with self._lock:
            self._open[alert.alert_id] = alert
        if self._client.is_connected():
            self._publish_question(alert)

    def answer(self, alert: Alert) -> str | None:
        with self._lock:
            return self._answers.pop(alert.alert_id, None)

    def done(self, alert: Alert) -> None:
        with self._lock:
            self._open.pop(alert.alert_id, None)
        self._client.publish(f"{self.request_root}/{alert.alert_id}", b"", qos=1, retain=True)

    def close(self, *, timeout_s: float = 2.0) -> None:
        """Let queued withdrawals go out (bounded), then disconnect."""
        deadline = time.monotonic() + timeout_s
        while self._client.want_write() and time.monotonic() < deadline:
            time.sleep(0.01)
        self._client.disconnect()
        self._client.loop_stop()


class HttpConfirm:
    """Asks an HTTP webhook (see the module doc): answers by callback with ``listen``
    (``(host, port)``; port 0 picks a free one, see ``answer_url``), else by polling."""

    def __init__(self, url: str, *, listen: tuple[str, int] | None = None,
                 poll_interval_s: float = 1.0, timeout_s: float = 2.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise DataError(f"--confirm-url {url!r}: must start with http:// or https://")
        if not poll_interval_s >= 0 or not timeout_s > 0:
            raise DataError("HttpConfirm: poll_interval_s must be >= 0 and timeout_s > 0")
        self.name = "http"
        self.url = url.rstrip("/")
        self.poll_interval_s = float(poll_interval_s)
        self.timeout_s = float(timeout_s)
        self._answers: dict[str, str] = {}
        self._unsent: dict[str, Alert] = {}
        self._polled: dict[str, float] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.answer_url = ""
        if listen is not None:
            self._serve(*listen)

    def _serve(self, host: str, port: int) -> None:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                if self.path.rstrip("/") != "/answer":
                    self._reply(404, "POST /answer")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= MAX_ANSWER_BYTES:
                    self._reply(400, f"body of {length} bytes")
                    return
                try:
                    alert_id, reply, _ = parse_answer(self.rfile.read(length), where="answer")
                except DataError as exc:
                    self._reply(400, str(exc))
                    return
                with hook._lock:
                    hook._answers[alert_id] = reply
                self._reply(204, "")

            def _reply(self, status: int, text: str) -> None:
                body = text.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("confirm callback: " + format, *args)

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise DataError(f"--confirm-listen {host}:{port}: {exc.strerror or exc}") from None
        self.answer_url = f"http://{host}:{self._server.server_port}/answer"
        threading.Thread(target=self._server.serve_forever, name="tinyfuse-confirm-http",
                         daemon=True).start()

    def _post(self, alert: Alert) -> bool:
        where = {"answer_url": self.answer_url} if self.answer_url else {}
        body = json.dumps(question_record(alert, **where), allow_nan=False).encode()
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read(MAX_ANSWER_BYTES)
            return True
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning("confirm webhook %s: %s; will retry", self.url, exc)
            return False

    def _poll(self, alert_id: str) -> str | None:
        try:
            with urllib.request.urlopen(f"{self.url}/{alert_id}",
                                        timeout=self.timeout_s) as response:
                if response.status != 200:
                    return None
                body = response.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as exc:
            if exc.code not in (404, 204):
                log.warning("confirm webhook %s/%s: HTTP %d", self.url, alert_id, exc.code)
            return None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.debug("confirm webhook %s: %s", self.url, exc)
            return None
        try:
            record = json.loads(body)
            reply = record.get("answer") if isinstance(record, dict) else None
        except ValueError:
            reply = body.decode("utf-8", "replace").strip().lower()
        if reply not in ANSWERS:
            log.warning("confirm webhook %s/%s: answer %r is not one of %s; ignored", self.url,
                        alert_id, reply, ANSWERS)
            return None
        return str(reply)

    def request(self, alert: Alert) -> None:
        if not self._post(alert):
            self._unsent[alert.alert_id] = alert

    def answer(self, alert: Alert) -> str | None:
        with self._lock:
            reply = self._answers.pop(alert.alert_id, None)
        if reply is not None:
            return reply
        now = time.monotonic()
        if now - self._polled.get(alert.alert_id, -1e9) < self.poll_interval_s:
            return None
        self._polled[alert.alert_id] = now
        if alert.alert_id in self._unsent:
            if not self._post(self._unsent[alert.alert_id]):
                return None
            del self._unsent[alert.alert_id]
        return None if self._server is not None else self._poll(alert.alert_id)

    def done(self, alert: Alert) -> None:
        self._unsent.pop(alert.alert_id, None)
        self._polled.pop(alert.alert_id, None)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
