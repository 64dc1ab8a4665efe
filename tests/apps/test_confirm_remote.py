"""Confirmation over MQTT (a real mosquitto, password and TLS) and over an HTTP webhook (a local
server on a free loopback port), through the same lifecycle as every other hook, across a
restart of the app."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.apps.mosquitto import Broker, broker, wait_for
from tests.apps.test_confirm import alert, states
from tests.apps.test_mqtt_secured import USERS, _security, certificates
from tinyfuse.apps.confirm import Confirmations
from tinyfuse.apps.confirm_remote import HttpConfirm, MqttConfirm, parse_answer
from tinyfuse.core.errors import DataError

__all__ = ["broker", "certificates"]  # pytest fixtures, imported for use here

REQUESTS = "tinyfuse/posture/room1/confirm/request"
ANSWERS = "tinyfuse/posture/room1/confirm/answer"


class Console:
    """A site's operator console: sees the open questions (retained) and answers them."""

    def __init__(self, port: int, *, ca_file: str = "", login: bool = False) -> None:
        self.open: dict[str, dict] = {}
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                  protocol=mqtt.MQTTv311)
        if login:
            self.client.username_pw_set("site", USERS["site"])
        if ca_file:
            self.client.tls_set(ca_certs=ca_file)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(REQUESTS + "/+", qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        alert_id = message.topic.rsplit("/", 1)[-1]
        if message.payload:
            self.open[alert_id] = json.loads(message.payload)
        else:
            self.open.pop(alert_id, None)

    def answer(self, alert_id: str, reply: str) -> None:
        body = json.dumps({"alert_id": alert_id, "answer": reply, "by": "operator"})
        self.client.publish(ANSWERS, body, qos=1).wait_for_publish(timeout=5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _poll_until(tracker: Confirmations, *, now_s: float) -> list:
    changed: list = []
    wait_for(lambda: changed.extend(tracker.poll(now_s=now_s)) or changed, what="an answer")
    return changed


def test_parse_answer_names_what_is_wrong():
    assert parse_answer(b'{"alert_id": "p1", "answer": "dismiss"}', where="t") == (
        "p1", "dismiss", "")
    for body, message in ((b"yes", "not JSON"), (b"[1]", "must be a JSON object"),
                          (b'{"answer": "confirm"}', "no alert_id"),
                          (b'{"alert_id": "p1", "answer": "maybe"}', "'maybe' for p1"),
                          (b" " * 5000, "5000 bytes")):
        with pytest.raises(DataError, match=message):
            parse_answer(body, where="t")


def test_mqtt_questions_are_retained_answered_and_withdrawn(broker):
    console = Console(broker.port)
    hook = MqttConfirm(host="127.0.0.1", port=broker.port, app="posture", device="room1")
    try:
        wait_for(lambda: hook._client.is_connected(), what="CONNACK")
        tracker = Confirmations(hook, timeout_s=60.0)
        assert states(tracker.submit(alert(1), now_s=0.0)) == ["awaiting"]
        tracker.submit(alert(2), now_s=0.0)
        wait_for(lambda: set(console.open) == {"p1", "p2"}, what="both questions")
        assert console.open["p1"]["answer_topic"] == ANSWERS
        assert console.open["p1"]["alert"]["confirmation"]["state"] == "awaiting"
        console.client.publish(ANSWERS, b"not json", qos=1)  # ignored with a warning
        console.answer("p1", "dismiss")
        [answered] = _poll_until(tracker, now_s=1.0)
        assert (answered.alert_id, answered.state, answered.answered_by) == (
            "p1", "dismissed", "mqtt")
        wait_for(lambda: set(console.open) == {"p2"}, what="the withdrawal of p1")
        assert states(tracker.poll(now_s=61.0)) == ["expired"]  # p2: nobody answered
        wait_for(lambda: not console.open, what="the withdrawal of p2")
    finally:
        hook.close()
        console.close()


def test_mqtt_answers_given_while_the_app_is_down_arrive_after_its_restart(
        tmp_path, certificates):
    site = Broker(tmp_path / "broker", users=USERS, tls=(
        certificates / "ca.crt", certificates / "server.crt", certificates / "server.key"))
    site.start()
    state = tmp_path / "waiting.json"
    ca = str(certificates / "ca.crt")
    console = Console(site.port, ca_file=ca, login=True)
    try:
        hook = MqttConfirm(host="127.0.0.1", port=site.port, app="posture", device="room1",
                           security=_security(certificates))
        wait_for(lambda: hook._client.is_connected(), what="CONNACK over TLS")
        first = Confirmations(hook, timeout_s=60.0, state_file=state)
        first.submit(alert(5), now_s=0.0)
        wait_for(lambda: "p5" in console.open, what="the question")
        hook.close()  # the app stops; the operator answers while it is away
        console.answer("p5", "confirm")
        restarted = MqttConfirm(host="127.0.0.1", port=site.port, app="posture",
                                device="room1", security=_security(certificates))
        try:
            second = Confirmations(restarted, timeout_s=60.0, state_file=state)
            assert [a.alert_id for a in second.waiting] == ["p5"]
            [answered] = _poll_until(second, now_s=5.0)
            assert (answered.state, answered.answered_by) == ("confirmed", "mqtt")
            assert json.loads(state.read_text()) == []
            wait_for(lambda: not console.open, what="the withdrawal")
        finally:
            restarted.close()
    finally:
        console.close()
        site.stop()


class Webhook:
    """A site's webhook: keeps each POSTed question; answers ``GET /q/<id>`` from ``answers``."""

    def __init__(self) -> None:
        self.questions: list[dict] = []
        self.answers: dict[str, str] = {}
        self.always = ""  # when set: the answer to every question asked
        self.failures = 0  # the next N POSTs fail with HTTP 503
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.failures:
                    hook.failures -= 1
                    self._send(503, b"")
                    return
                hook.questions.append(json.loads(body))
                self._send(202, b"")

            def do_GET(self) -> None:  # noqa: N802
                alert_id = self.path.rsplit("/", 1)[-1]
                asked = any(q["alert_id"] == alert_id for q in hook.questions)
                reply = hook.answers.get(alert_id) or (hook.always if asked else None)
                if reply is None:
                    self._send(404, b"")
                else:
                    self._send(200, json.dumps({"answer": reply}).encode())

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/q"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_http_webhook_by_polling_with_a_failed_post_retried():
    site = Webhook()
    site.failures = 2  # the request and the first check's retry
    hook = HttpConfirm(site.url, poll_interval_s=0.0)
    try:
        tracker = Confirmations(hook, timeout_s=60.0)
        tracker.submit(alert(3), now_s=0.0)
        assert site.questions == []  # the webhook answered 503 twice: kept for a retry
        assert tracker.poll(now_s=1.0) == []
        assert [q["alert_id"] for q in site.questions] == ["p3"]
        assert "answer_url" not in site.questions[0]
        site.answers["p3"] = "confirm"
        [answered] = tracker.poll(now_s=2.0)
        assert (answered.state, answered.answered_by) == ("confirmed", "http")
    finally:
        site.close()


def test_http_webhook_answered_by_callback_and_bad_answers_refused():
    import urllib.error
    import urllib.request

    site = Webhook()
    hook = HttpConfirm(site.url, listen=("127.0.0.1", 0), poll_interval_s=0.0)
    try:
        tracker = Confirmations(hook, timeout_s=60.0)
        tracker.submit(alert(8), now_s=0.0)
        [question] = site.questions
        assert question["answer_url"] == hook.answer_url

        def post(body: bytes) -> int:
            request = urllib.request.Request(hook.answer_url, data=body, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return response.status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert post(b'{"alert_id": "p8", "answer": "perhaps"}') == 400
        assert tracker.poll(now_s=1.0) == []
        assert post(b'{"alert_id": "p8", "answer": "dismiss"}') == 204
        [answered] = tracker.poll(now_s=2.0)
        assert (answered.state, answered.answered_by) == ("dismissed", "http")
    finally:
        hook.close()
        site.close()


def test_http_settings_are_checked():
    with pytest.raises(DataError, match="must start with http"):
        HttpConfirm("ftp://example.invalid/q")
    taken = HttpConfirm("http://127.0.0.1:9/q", listen=("127.0.0.1", 0))
    try:
        host, port = taken.answer_url.removeprefix("http://").split("/")[0].split(":")
        with pytest.raises(DataError, match="--confirm-listen 127.0.0.1"):
            HttpConfirm("http://127.0.0.1:9/q", listen=(host, int(port)))
    finally:
        taken.close()


def test_run_asks_a_webhook_and_refuses_incomplete_settings(tmp_path, bundle_dir, capsys):
    from tinyfuse.apps.cli import main

    base = ["run", str(bundle_dir), "--out", str(tmp_path / "run"), "--per-class", "2",
            "--scorer", "tflite"]
    for extra, message in ((["--confirm", "mqtt"], "--confirm mqtt: needs --mqtt"),
                           (["--confirm", "http"], "--confirm http: needs --confirm-url"),
                           (["--confirm-url", "http://127.0.0.1:9/q"], "go with --confirm http"),
                           (["--confirm", "http", "--confirm-url", "http://127.0.0.1:9/q",
                             "--confirm-listen", "nowhere"], "--confirm-listen: expected")):
        assert main(base + extra) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1
    site = Webhook()
    site.always = "dismiss"
    try:  # the thermal camera is down: every alert asks a person, who dismisses it
        code = main(base + ["--confirm", "http", "--confirm-url", site.url,
                            "--drop-modality", "thermal", "--per-class", "4"])
        assert code == 0
        summary = json.loads((tmp_path / "run" / "run_summary.json").read_text())
        asked = [q["alert_id"] for q in site.questions]
        assert asked and len(set(asked)) == len(asked)  # each question posted once
        assert summary["alerts_by_state"] == {"dismissed": len(asked)}
        waiting = json.loads((tmp_path / "run" / "confirm" / "waiting.json").read_text())
        assert waiting == []
    finally:
        site.close()
