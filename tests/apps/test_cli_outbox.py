"""`tinyfuse outbox show|flush`: what a run left queued, sent later to a real broker."""

from __future__ import annotations

import json

from tests.apps.mosquitto import Subscriber, broker, free_port, wait_for
from tests.apps.test_alerts import make_alert
from tinyfuse.apps.alerts import alert_topic, payload_text
from tinyfuse.apps.cli import main
from tinyfuse.apps.outbox import Outbox

__all__ = ["broker"]


def _queued(folder, count: int = 3):
    queue = Outbox(folder / "outbox.sqlite")
    for index in range(count):
        alert = make_alert(index)
        queue.put(alert_topic(alert.app, alert.device), payload_text(alert),
                  created_s=alert.updated_s)
    queue.close()


def test_show_lists_what_is_queued(tmp_path, capsys):
    _queued(tmp_path)
    assert main(["outbox", "show", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "3 alert update(s) queued" in out and "tinyfuse/factory/vibration/alert" in out
    assert main(["outbox", "show", str(tmp_path / "outbox.sqlite"), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3]
    assert main(["outbox", "show", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no outbox here" in err and len(err.splitlines()) == 1


def test_flush_sends_the_queue_and_says_what_is_left(tmp_path, broker, capsys):
    _queued(tmp_path)
    closed = free_port()
    assert main(["outbox", "flush", str(tmp_path), "--mqtt", f"127.0.0.1:{closed}",
                 "--timeout-s", "1"]) == 1
    assert "0 of 3 alert update(s) sent" in capsys.readouterr().out
    subscriber = Subscriber(broker.port)
    try:
        assert main(["outbox", "flush", str(tmp_path), "--mqtt",
                     f"127.0.0.1:{broker.port}"]) == 0
        assert "3 of 3 alert update(s) sent" in capsys.readouterr().out
        wait_for(lambda: len(subscriber.messages) == 3, what="the three updates")
    finally:
        subscriber.close()
    assert len(Outbox(tmp_path / "outbox.sqlite")) == 0
