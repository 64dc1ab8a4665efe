"""Alert delivery through a site's broker: nothing lost across broker crashes and an app crash,
and how long ``publish`` takes while the broker is stalled.

Loss run: a real mosquitto with a password file, a TLS-only listener (certificates made here)
and persistence (saved on every change), a dashboard subscriber logged in over TLS on a
persistent session (what it misses while it reconnects is queued for it), and the app as a
separate process (an ``MqttSink`` with its background sender and persistent outbox, as
``tinyfuse run --mqtt`` uses it) publishing ``--updates`` alert updates (each alert raised,
then confirmed: two updates). Mid-stream the broker is killed (SIGKILL) and restarted, and the
app is killed (SIGKILL) and restarted on the same outbox, where it resumes after the last
update it had queued. The broker is killed a second time before the last updates, which are
queued while it is down; it comes back after the app has published its last update, so the
time until the dashboard has them all is delivery with no new alert. Counts: sent (distinct
updates the app queued), received (distinct ``(alert_id, revision)`` at the dashboard), lost
(sent, never received), duplicates (repeats, removable by ``alert_id`` and ``revision``).

Stall run: the same broker is stopped with SIGSTOP (its port stays open, nothing answers)
while the app publishes; the time each ``publish`` call takes is recorded for the background
sender and for the foreground sink (sending in the caller's thread).

Usage: ``python bench/mqtt_delivery.py [--updates 1000] [--out PATH]``; writes
``bench/results/mqtt_delivery.json``. Exit status 1 when anything was lost.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: import bench.* like the tests do
    sys.path.insert(0, str(REPO))

from bench.mosquitto import Broker, make_certificates, wait_for  # noqa: E402

USER, PASSWORD = "site", "bench-pass"
APP, DEVICE = "bench", "pump1"
RESULT = REPO / "bench" / "results" / "mqtt_delivery.json"


def update(index: int):
    """Update ``index``: alert ``index // 2`` raised (even) or confirmed (odd)."""
    from tinyfuse.apps.confirm import apply_answer, raise_alert
    from tinyfuse.apps.policy import Decision

    time_s = float(index // 2)
    decision = Decision(label="fault", score=0.9, time_s=time_s, classes=("ok", "fault"),
                        scores=(0.1, 0.9), hits=2, needs_confirmation=False, reason="bench")
    alert = raise_alert(decision, alert_id=f"{APP}-{index // 2:05d}", app=APP, device=DEVICE,
                        bundle_hash="ab" * 32)
    return alert if index % 2 == 0 else apply_answer(alert, "confirm", now_s=time_s + 0.5,
                                                     by="policy")


def security(folder: Path):
    from tinyfuse.apps.alerts import MqttSecurity

    return MqttSecurity(username=USER, password=PASSWORD, ca_file=str(folder / "ca.crt"))


def sink(port: int, folder: Path, outbox: Path, *, background: bool):
    from tinyfuse.apps.alerts import MqttSink, availability_topic

    return MqttSink(host="127.0.0.1", port=port, outbox=outbox, security=security(folder),
                    connect_timeout_s=2.0, ack_timeout_s=3.0, retry_interval_s=1.0,
                    availability_topic=availability_topic(APP, DEVICE), background=background)


def publisher(args: argparse.Namespace) -> int:
    """The app process: publish updates [first, stop), recording progress after each."""
    folder, progress = Path(args.folder), Path(args.progress)
    app = sink(args.port, folder, folder / "outbox.sqlite", background=True)
    try:
        for index in range(args.first, args.stop):
            app.publish(update(index))
            progress.write_text(str(index + 1))
            if args.pause_at and index + 1 == args.pause_at:
                Path(str(progress) + ".paused").write_text("1")
                wait_for(lambda: Path(str(progress) + ".go").exists(), timeout_s=120,
                         what="the go file")
            time.sleep(args.period_s)
        Path(str(progress) + ".done").write_text("1")
        deadline = time.monotonic() + 120
        while len(app.outbox) and time.monotonic() < deadline:  # no new alert: drain
            time.sleep(0.02)
    finally:
        app.close()
    return 0


class Dashboard:
    """The site's subscriber (login + TLS); reconnects and resubscribes after a broker
    restart; keeps every ``(alert_id, revision)`` with its arrival time."""

    def __init__(self, port: int, folder: Path) -> None:
        self.received: list[tuple[str, int, float]] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                  client_id="bench-dashboard", clean_session=False,
                                  protocol=mqtt.MQTTv311)
        self.client.username_pw_set(USER, PASSWORD)
        self.client.tls_set(ca_certs=str(folder / "ca.crt"))
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(
            f"tinyfuse/{APP}/+/alert", qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_disconnect = lambda c, u, f, rc, p: self.subscribed.clear()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()
        wait_for(self.subscribed.is_set, timeout_s=10, what="the dashboard's SUBACK")

    def _on_message(self, client, userdata, message) -> None:
        payload = json.loads(message.payload)
        self.received.append((payload["alert_id"], int(payload["revision"]), time.monotonic()))

    def distinct(self) -> set[tuple[str, int]]:
        return {(a, r) for a, r, _ in self.received}

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _progress(path: Path) -> int:
    try:
        return int(path.read_text() or 0)
    except (OSError, ValueError):
        return 0


def _start_app(port: int, folder: Path, first: int, stop: int, *, pause_at: int = 0):
    progress = folder / "progress"
    command = [sys.executable, str(Path(__file__).resolve()), "--publisher", "--port",
               str(port), "--folder", str(folder), "--progress", str(progress), "--first",
               str(first), "--stop", str(stop), "--pause-at", str(pause_at)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL,
                            stderr=open(folder / "app.log", "ab"))  # noqa: SIM115


def _restart_broker(broker: Broker, dashboard: Dashboard, down_s: float) -> float:
    broker.kill()
    time.sleep(down_s)
    broker.start()
    wait_for(dashboard.subscribed.is_set, timeout_s=15, what="the dashboard back")
    return time.monotonic()


def loss_run(n_updates: int, folder: Path) -> dict[str, Any]:
    certificates = make_certificates(folder / "tls")
    broker = Broker(folder / "broker", users={USER: PASSWORD}, tls=(
        certificates / "ca.crt", certificates / "server.crt", certificates / "server.key"),
        persistent=True)
    broker.start()
    dashboard = Dashboard(broker.port, certificates)
    progress = folder / "app" / "progress"
    (folder / "app").mkdir()
    (folder / "app" / "ca.crt").write_bytes((certificates / "ca.crt").read_bytes())
    events: list[dict[str, Any]] = []
    tail = max(10, n_updates // 20)  # queued while the broker is down, nothing new after
    kill_broker_at, kill_app_at = n_updates * 3 // 10, n_updates * 6 // 10
    started = time.monotonic()
    app = _start_app(broker.port, folder / "app", 0, n_updates, pause_at=n_updates - tail)
    try:
        wait_for(lambda: _progress(progress) >= kill_broker_at, timeout_s=300, what="progress")
        events.append({"event": "broker killed (SIGKILL), restarted after 2 s",
                       "at_update": _progress(progress)})
        _restart_broker(broker, dashboard, down_s=2.0)
        wait_for(lambda: _progress(progress) >= kill_app_at, timeout_s=300, what="progress")
        events.append({"event": "app killed (SIGKILL), restarted on the same outbox",
                       "at_update": _progress(progress)})
        app.kill()
        app.wait(timeout=10)
        resumed = _progress(progress)
        app = _start_app(broker.port, folder / "app", resumed, n_updates,
                         pause_at=n_updates - tail)
        paused = Path(str(progress) + ".paused")
        wait_for(paused.exists, timeout_s=300, what="the app at the last updates")
        broker.kill()
        events.append({"event": "broker killed (SIGKILL); the last updates are queued",
                       "at_update": _progress(progress)})
        Path(str(progress) + ".go").write_text("1")
        wait_for(lambda: Path(str(progress) + ".done").exists(), timeout_s=300,
                 what="the app's last update")
        time.sleep(2.0)  # the app now publishes nothing new
        back = _restart_broker(broker, dashboard, down_s=0.0)
        events.append({"event": "broker restarted; the app publishes nothing new",
                       "at_update": _progress(progress)})
        expected = {(update(i).alert_id, update(i).revision) for i in range(n_updates)}
        last = {(update(i).alert_id, update(i).revision) for i in range(n_updates - tail,
                                                                         n_updates)}
        try:
            wait_for(lambda: last <= dashboard.distinct(), timeout_s=60, what="the queued tail")
        except AssertionError:
            pass
        arrivals = [t for a, r, t in dashboard.received if (a, r) in last]
        drained_s = max(arrivals) - back if arrivals and last <= dashboard.distinct() else None
        app.wait(timeout=130)
        wall_s = time.monotonic() - started
    finally:
        if app.poll() is None:
            app.kill()
        dashboard.close()
        broker.stop()
    received = dashboard.distinct()
    return {"updates": n_updates,
            "broker": "mosquitto, password file, TLS-only listener, persistence",
            "events": events, "sent": len(expected), "received": len(received & expected),
            "lost": len(expected - received),
            "lost_updates": sorted(expected - received)[:20],
            "duplicates": len(dashboard.received) - len(received), "queued_tail_updates": tail,
            "tail_delivered_after_broker_return_s": None if drained_s is None
            else round(drained_s, 3), "wall_s": round(wall_s, 1)}


def stall_run(folder: Path, *, n_normal: int = 20, n_stalled: int = 40) -> dict[str, Any]:
    certificates = folder / "tls"
    broker = Broker(folder / "stall-broker", users={USER: PASSWORD}, tls=(
        certificates / "ca.crt", certificates / "server.crt", certificates / "server.key"))
    broker.start()
    out: dict[str, Any] = {}
    try:
        for background in (True, False):
            name = "background_sender" if background else "foreground"
            app = sink(broker.port, certificates, folder / f"{name}.sqlite",
                       background=background)
            timings: dict[str, list[float]] = {"broker_up": [], "broker_stalled": []}
            try:
                for phase, count in (("broker_up", n_normal), ("broker_stalled", n_stalled)):
                    if phase == "broker_stalled":
                        broker.pause()
                    for index in range(count):
                        began = time.perf_counter()
                        app.publish(update(2 * (index + (0 if phase == "broker_up"
                                                         else n_normal))))
                        timings[phase].append(time.perf_counter() - began)
                        time.sleep(0.1)
                broker.resume()
                began = time.monotonic()
                app.flush()
                drained = time.monotonic() - began
                left = len(app.outbox)
            finally:
                broker.resume()
                app.close()
            out[name] = {phase: {"publishes": len(values),
                                 "median_ms": round(1e3 * statistics.median(values), 2),
                                 "max_ms": round(1e3 * max(values), 2),
                                 "total_s": round(sum(values), 3)}
                         for phase, values in timings.items()}
            out[name]["flush_after_resume_s"] = round(drained, 3)
            out[name]["left_in_outbox"] = left
    finally:
        broker.stop()
    return {"publish_period_s": 0.1, **out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=RESULT)
    parser.add_argument("--publisher", action="store_true", help=argparse.SUPPRESS)
    for name in ("--port", "--first", "--stop", "--pause-at"):
        parser.add_argument(name, type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--folder", default="", help=argparse.SUPPRESS)
    parser.add_argument("--progress", default="", help=argparse.SUPPRESS)
    parser.add_argument("--period-s", type=float, default=0.02, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.publisher:
        return publisher(args)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        loss = loss_run(args.updates, folder)
        stall = stall_run(folder)
    document = {"loss": loss, "stall": stall,
                "environment": {"python": platform.python_version(),
                                "machine": platform.machine(),
                                "note": "wall times on a shared 2-core machine"}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))
    return 1 if loss["lost"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
