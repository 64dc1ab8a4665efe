"""Decisions -> alerts on MQTT through the flash outbox, in the host's alert format
(``apps/alert.schema.json``, schema 1) on the host's topics: ``tinyfuse/<app>/<device>/alert``
and the retained ``.../availability`` (``online`` after connecting, ``offline`` as the last
will).

``Sender.alert(decision)`` writes the alert to the outbox and tries to deliver everything
pending; ``Sender.flush()`` retries (call it from the main loop). A failed connection or
publish leaves the messages in the outbox and closes the socket; the next flush reconnects.
"""

import json
import time

from .clock import ticks_diff, ticks_ms
from .mqtt import MQTTClient
from .outbox import Outbox

PAYLOAD_SCHEMA = 1
DECISION_FIELDS = ("label", "score", "time_s", "hits", "reason", "missing",
                   "needs_confirmation")


def topics(app, device):
    base = "tinyfuse/%s/%s/" % (app, device)
    return base + "alert", base + "availability"


def wall_utc():
    """The board's clock as ISO 8601 UTC (right once NTP or an RTC has set it)."""
    return "%04d-%02d-%02dT%02d:%02d:%02d.000Z" % time.gmtime()[:6]


def payload(decision, alert_id, app, device, bundle_hash):
    """A new alert (state ``raised``, revision 0) for a ``policy.step`` decision."""
    now = decision["time_s"]
    return {"schema": PAYLOAD_SCHEMA, "alert_id": alert_id, "revision": 0, "app": app,
            "device": device, "bundle_hash": bundle_hash,
            "decision": {key: decision[key] for key in DECISION_FIELDS},
            "scores": dict(zip(decision["classes"], decision["scores"])),
            "confirmation": {"state": "raised", "answered_by": "", "escalated": False,
                             "deadline_s": None},
            "timestamps": {"raised_s": now, "updated_s": now, "wall_utc": wall_utc(),
                           "history": [["raised", now]]}}


def client_from_config(mqtt, app):
    """An ``MQTTClient`` from ``config.json``'s ``mqtt`` object, with the retained last will
    ``offline`` on the availability topic."""
    device = mqtt.get("device", "board")
    return MQTTClient(mqtt.get("client_id", "tinyfuse-" + device), mqtt["host"],
                      port=int(mqtt.get("port", 1883)), username=mqtt.get("username"),
                      password=mqtt.get("password"), keepalive_s=int(mqtt.get("keepalive_s", 60)),
                      will=(topics(app, device)[1], b"offline", 1, True))


class Sender:
    def __init__(self, client, outbox_dir, app, device, bundle_hash="", retry_ms=2000):
        self.client = client
        self.outbox = Outbox(outbox_dir)
        self.app = app
        self.device = device
        self.topic, self.availability = topics(app, device)
        self.bundle_hash = bundle_hash
        self.retry_ms = retry_ms
        self.connected = False
        self.last_try_ms = None
        self.sent = 0

    def alert(self, decision):
        """Store an alert for ``decision`` (a ``policy.step`` result), then flush; returns
        its ``alert_id`` (app, device and the outbox's sequence number)."""
        alert_id = "%s-%s-%d" % (self.app, self.device, self.outbox.next_seq)
        body = payload(decision, alert_id, self.app, self.device, self.bundle_hash)
        self.outbox.put(self.topic, json.dumps(body))
        self.flush(force=True)
        return alert_id

    def flush(self, force=False):
        """Deliver pending alerts (oldest first); returns how many are still pending."""
        now = ticks_ms()
        if not force and self.last_try_ms is not None and \
                ticks_diff(now, self.last_try_ms) < self.retry_ms:
            return len(self.outbox)
        self.last_try_ms = now
        try:
            if not self.connected:
                self.client.connect()
                self.connected = True
                self.client.publish(self.availability, b"online", qos=1, retain=True)
            for seq, topic, data in self.outbox.pending():
                self.client.publish(topic, data, qos=1)
                self.outbox.remove(seq)
                self.sent += 1
            self.client.keepalive()
        except OSError:
            self.client.close()
            self.connected = False
        return len(self.outbox)
