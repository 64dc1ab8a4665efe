"""`tinyfuse outbox show|flush DIR`: what the persistent alert outbox of a run still holds, and
sending it to a broker without running the app again.

``DIR`` is the outbox folder of a run (``OUT/outbox``, or ``--outbox``), holding
``outbox.sqlite``, or the sqlite file itself. ``show`` lists the queued updates, oldest
first; ``flush`` sends them (QoS 1, each removed on its PUBACK) and exits with status 1 when
some are still queued afterwards. The outbox is locked while a run uses it, so neither
command runs beside a live `tinyfuse run` on the same outbox.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tinyfuse.apps.cli import mqtt_options, numbers
from tinyfuse.core.errors import DataError

SHOWN = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "outbox", help="show or send the alerts a run's outbox still holds",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
        epilog="example: tinyfuse outbox flush out/factory/run/outbox --mqtt 127.0.0.1:1883")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="list the queued alert updates")
    show.add_argument("folder", metavar="DIR", help="the outbox folder or its outbox.sqlite")
    show.add_argument("--json", action="store_true", help="every queued update as JSON lines")
    show.set_defaults(handler=show_command)
    flush = actions.add_parser("flush", help="send the queued updates to a broker")
    flush.add_argument("folder", metavar="DIR", help="the outbox folder or its outbox.sqlite")
    mqtt_options.add_arguments(flush, required=True)
    flush.add_argument("--timeout-s", type=numbers.seconds, default=10.0,
                       help="give up after this long without reaching the broker")
    flush.set_defaults(handler=flush_command)


def outbox_path(text: str) -> Path:
    path = Path(text)
    path = path / "outbox.sqlite" if path.is_dir() else path
    if not path.is_file():
        raise DataError(f"{text}: no outbox here (expected DIR/outbox.sqlite)")
    return path


def show_command(args: argparse.Namespace) -> int:
    from tinyfuse.apps.outbox import Outbox

    queue = Outbox(outbox_path(args.folder))
    try:
        messages = queue.pending(limit=100_000)
    finally:
        queue.close()
    if args.json:
        for message in messages:
            print(json.dumps({"seq": message.seq, "topic": message.topic,
                              "attempts": message.attempts,
                              "payload": json.loads(message.payload)}))
        return 0
    print(f"{args.folder}: {len(messages)} alert update(s) queued")
    for message in messages[:SHOWN]:
        payload = json.loads(message.payload)
        state = payload.get("confirmation", {}).get("state", "?")
        print(f"  #{message.seq}  {message.topic}  {payload.get('alert_id')} "
              f"r{payload.get('revision')} {state}  ({message.attempts} attempt(s))")
    if len(messages) > SHOWN:
        print(f"  ... and {len(messages) - SHOWN} more (--json lists them all)")
    return 0


def flush_command(args: argparse.Namespace) -> int:
    from tinyfuse.apps.alerts import MqttSink

    host, port = mqtt_options.address(args.mqtt)
    sink = MqttSink(host=host, port=port, outbox=outbox_path(args.folder),
                    security=mqtt_options.security(args),
                    connect_timeout_s=min(args.timeout_s, 5.0),
                    ack_timeout_s=min(args.timeout_s, 5.0))
    try:
        before = len(sink.outbox)
        sent = sink.flush(force=True)
        left = len(sink.outbox)
    finally:
        sink.close()
    if sink.fatal_error:
        raise DataError(f"--mqtt: {sink.fatal_error}; {left} update(s) still queued")
    print(f"{args.folder}: {sent} of {before} alert update(s) sent to {args.mqtt}; "
          f"{left} still queued" + (f" ({sink.last_error})" if left else ""))
    return 1 if left else 0
