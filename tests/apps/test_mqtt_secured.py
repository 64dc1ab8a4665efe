"""Alerts through a site's broker: a real mosquitto with a password file and a TLS listener
(certificates made here with openssl, for 127.0.0.1), the retained availability topic with its
last will, and a refused login that is a clear error instead of a silent queue."""

from __future__ import annotations

import json
import shutil
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bench.mosquitto import Broker, make_certificates, wait_for
from tinyfuse.apps.alerts import MqttSecurity, MqttSink, availability_topic
from tinyfuse.apps.cli import main
from tinyfuse.apps.confirm import raise_alert
from tinyfuse.apps.policy import Decision
from tinyfuse.core.errors import DataError

USERS = {"site": "s3cret-pass"}


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A CA and a server certificate for IP 127.0.0.1 signed by it."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is missing (tools/system_packages.sh installs it)")
    return make_certificates(tmp_path_factory.mktemp("tls"))


def _alert(index: int):
    decision = Decision(label="fault", score=0.97, time_s=float(index), classes=("ok", "fault"),
                        scores=(0.03, 0.97), hits=1, needs_confirmation=False,
                        reason="on-level reached")
    return raise_alert(decision, alert_id=f"pump-{index:03d}", app="pump", device="m1",
                       bundle_hash="ab" * 32)


class Watcher:
    """A subscriber that logs in like the site's dashboard and keeps every payload."""

    def __init__(self, port: int, *, ca_file: str = "") -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                  protocol=mqtt.MQTTv311)
        self.client.username_pw_set("site", USERS["site"])
        if ca_file:
            self.client.tls_set(ca_certs=ca_file)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("tinyfuse/#", qos=1)
        self.client.on_message = lambda c, u, m: self.messages.append(
            (m.topic, m.payload, bool(m.retain)))
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def topic(self, name: str) -> list[bytes]:
        return [payload for topic, payload, _ in self.messages if topic == name]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _security(certificates=None, password=USERS["site"]) -> MqttSecurity:
    ca = str(certificates / "ca.crt") if certificates else ""
    return MqttSecurity(username="site", password=password, ca_file=ca)


@pytest.mark.parametrize("tls", [False, True], ids=["password", "password+tls"])
def test_alerts_reach_a_secured_broker_with_availability(tmp_path, certificates, tls):
    files = (certificates / "ca.crt", certificates / "server.crt", certificates / "server.key")
    broker = Broker(tmp_path / "broker", users=USERS, tls=files if tls else None).start()
    watcher = Watcher(broker.port, ca_file=str(files[0]) if tls else "")
    topic = availability_topic("pump", "m1")
    try:
        sink = MqttSink(host="127.0.0.1", port=broker.port, outbox=tmp_path / "o.sqlite",
                        security=_security(certificates if tls else None),
                        availability_topic=topic, connect_timeout_s=3.0)
        statuses = [sink.publish(_alert(i)) for i in range(5)]
        assert statuses == ["delivered"] * 5 and not sink.fatal_error
        wait_for(lambda: len(watcher.topic("tinyfuse/pump/m1/alert")) == 5, what="5 alerts")
        assert watcher.topic(topic)[0] == b"online"
        sink.close()
        wait_for(lambda: watcher.topic(topic)[-1:] == [b"offline"], what="offline")
        ids = [json.loads(p)["alert_id"] for p in watcher.topic("tinyfuse/pump/m1/alert")]
        assert ids == [f"pump-{i:03d}" for i in range(5)]
    finally:
        watcher.close()
        broker.stop()


def test_the_last_will_says_offline_when_the_app_dies(tmp_path, certificates):
    broker = Broker(tmp_path / "broker", users=USERS).start()
    topic = availability_topic("pump", "m1")
    try:
        sink = MqttSink(host="127.0.0.1", port=broker.port, outbox=tmp_path / "o.sqlite",
                        security=_security(), availability_topic=topic, keepalive_s=1)
        assert sink.publish(_alert(0)) == "delivered"
        sink._client.socket().close()  # the process dies: no DISCONNECT is sent
        watcher = Watcher(broker.port)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and watcher.topic(topic)[-1:] != [b"offline"]:
                time.sleep(0.05)
            assert watcher.topic(topic)[-1:] == [b"offline"]  # retained will, seen late
        finally:
            watcher.close()
    finally:
        broker.stop()


def test_a_refused_login_is_a_clear_error(tmp_path, bundle_dir, capsys):
    broker = Broker(tmp_path / "broker", users=USERS).start()
    try:
        sink = MqttSink(host="127.0.0.1", port=broker.port, outbox=tmp_path / "o.sqlite",
                        security=_security(password="wrong"), connect_timeout_s=2.0)
        assert sink.publish(_alert(0)) == "queued"
        assert "refused the login" in sink.fatal_error and len(sink.outbox) == 1
        sink.close()
        (tmp_path / "pw").write_text("wrong\n")
        code = main(["run", str(bundle_dir), "--out", str(tmp_path / "run"), "--per-class", "2",
                     "--scorer", "tflite", "--mqtt", f"127.0.0.1:{broker.port}",
                     "--mqtt-username", "site", "--mqtt-password-file", str(tmp_path / "pw")])
        assert code == 2
        err = capsys.readouterr().err
        assert f"--mqtt: broker 127.0.0.1:{broker.port} refused the login" in err
    finally:
        broker.stop()


def test_bad_security_settings_name_the_file(tmp_path):
    with pytest.raises(DataError, match="ca file .*nope.crt: no such file"):
        MqttSecurity(ca_file=str(tmp_path / "nope.crt"))
    (tmp_path / "c.pem").write_text("x")
    with pytest.raises(DataError, match="needs its key file"):
        MqttSecurity(ca_file=str(tmp_path / "c.pem"), cert_file=str(tmp_path / "c.pem"))


def test_a_run_that_never_reaches_its_broker_exits_non_zero(tmp_path, bundle_dir, certificates,
                                                            capsys):
    plain = Broker(tmp_path / "plain").start()  # no TLS on this listener
    try:
        code = main(["run", str(bundle_dir), "--out", str(tmp_path / "run"), "--per-class", "2",
                     "--scorer", "tflite", "--mqtt", f"127.0.0.1:{plain.port}", "--mqtt-ca",
                     str(certificates / "ca.crt")])
    finally:
        plain.stop()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert f"nothing could be delivered to 127.0.0.1:{plain.port}" in err[0]
    assert "does that listener speak TLS?" in err[0] and "outbox.sqlite" in err[0]
