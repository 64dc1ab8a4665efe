"""`tinyfuse run BUILD_DIR`: the app loop over a simulated or recorded stream, with alerts.

Writes ``stream.png`` (scores, truth and alerts over time) and ``run_summary.json`` into
``--out`` (default ``BUILD_DIR/run``); alerts go to MQTT (``--mqtt HOST:PORT``, with the
persistent outbox in ``--outbox``) and always to ``<outbox>/alerts.jsonl`` when no broker
took them. The policy is the one calibrated by ``tinyfuse build`` (``bundle.json``), else the
app's default. ``--confirm auto`` records what a person would have been asked in
``OUT/confirm/asked.jsonl``. Every alert a person answers is kept as a labelled example in
``--feedback`` (default ``OUT/feedback``) for ``tinyfuse build --feedback DIR``; a bundle with
a drift reference is monitored and raises model-health alerts (``--no-drift``: not).
``--source mqtt://HOST:PORT/TOPIC`` scores live sensors instead
(``tinyfuse.sensors.sources.live_mqtt``: frames on ``TOPIC/<modality>``, aligned by
timestamp; the run ends on Ctrl-C, ``--limit`` or ``--idle-s``). ``--source serial:PORT[:BAUD]``
takes the decisions of a board that runs the app itself (``tinyfuse.apps.serial_gateway``:
its alert records on a serial port) and publishes them the same way; the run ends when the
port closes, on Ctrl-C, ``--limit`` records or ``--idle-s``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from tinyfuse.apps.cli import mqtt_options, numbers
from tinyfuse.core.errors import DataError, DeployError

CONFIRM_CHOICES = ("auto", "console", "file", "mqtt", "http")
DURABLE_HOOKS = ("file", "mqtt", "http")  # their waiting alerts survive a restart
STREAMS = ("episodes", "onsets")
MAX_ALERTS_LISTED = 12
LIVE_IDLE_S = 60.0  # sensors.sources.live_mqtt.DEFAULT_IDLE_S, without importing paho here
LIVE_OPTIONS = ("align_s", "stale_s", "idle_s")
SERIAL_ENDINGS = {"closed": "the port closing", "stopped": "Ctrl-C", "limit": "--limit",
                  "idle": "--idle-s without a byte", "replayed": "the stream's end"}
LIVE_ENDINGS = {"stopped": "Ctrl-C", "limit": "--limit", "idle": "--idle-s without frames",
                "broker": "the broker's refusal"}
DELIVERY_WORDS = {"delivered": "delivered to the broker",
                  "queued": "queued in the persistent outbox until a broker answers",
                  "written": "written to the local outbox (alerts.jsonl)"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help="run a built app on a stream: score, decide, confirm, alert",
        description="Score a stream with the bundle in BUILD_DIR (model.tflite + bundle.json), "
        "apply the app's policy, ask a person when unsure and publish alerts.")
    parser.add_argument("build_dir", metavar="BUILD_DIR", help="output of tinyfuse build/demo")
    parser.add_argument("--source", default="simulate",
                        metavar="simulate|PATH|mqtt://...|serial:PORT[:BAUD]",
                        help="simulated sensors of the bundle's app, a dataset folder, live "
                        "sensors over MQTT: mqtt://HOST:PORT/TOPIC (frames on TOPIC/<modality>, "
                        "see README 'Live sensors over MQTT'; logged in with the --mqtt-* "
                        "options), or the alert records of a board running the app: "
                        "serial:/dev/ttyACM0[:115200]")
    parser.add_argument("--on-board", default=None, metavar="serial:PORT[:BAUD]",
                        help="hardware in the loop: send each window of the stream to a board "
                        "that runs `tinyfuse export --format stm32|nrf52` and raise its decisions "
                        "(the board scores and decides, not the host)")
    parser.add_argument("--stream", choices=STREAMS, default="episodes",
                        help="simulated order: episodes (runs of 3-6 windows of one class, "
                        "random order) or onsets (each machine/person starts in the first "
                        "class that does not alert, then an alert class appears and stays)")
    mqtt_options.add_arguments(parser)
    parser.add_argument("--outbox", default=None, metavar="DIR",
                        help="outbox and local alert log folder (default OUT/outbox)")
    parser.add_argument("--confirm", choices=CONFIRM_CHOICES, default="auto",
                        help="who answers uncertain alerts (file: OUT/confirm/answers/<id>; "
                        "mqtt: questions and answers on the --mqtt broker; http: a webhook)")
    parser.add_argument("--confirm-url", default="", metavar="URL",
                        help="with --confirm http: the webhook that takes each question "
                        "(POST) and, without --confirm-listen, answers GET URL/<alert id>")
    parser.add_argument("--confirm-listen", default="", metavar="HOST:PORT",
                        help="with --confirm http: serve POST /answer here for the answers")
    parser.add_argument("--confirm-timeout-s", type=numbers.seconds, default=30.0,
                        help="stream seconds to wait for an answer before escalating")
    parser.add_argument("--scorer", choices=("host", "tflite"), default="host",
                        help="compiled C model (host) or TFLite Micro reference (tflite)")
    parser.add_argument("--out", default=None, metavar="DIR", help="default BUILD_DIR/run")
    parser.add_argument("--device", default=None, help="device part of the MQTT topic")
    parser.add_argument("--period-s", type=numbers.seconds, default=1.0,
                        help="seconds between samples")
    parser.add_argument("--per-class", type=numbers.count, default=12,
                        help="simulated samples per class (--source simulate)")
    parser.add_argument("--limit", type=numbers.count, default=None,
                        help="at most N samples of the stream (serial: N records)")
    parser.add_argument("--align-s", type=numbers.seconds, default=None,
                        help="with --source mqtt://: frames within this many seconds make one "
                        "sample (default: half the slowest modality's period, 1 s until known)")
    parser.add_argument("--stale-s", type=numbers.seconds, default=None,
                        help="with --source mqtt://: a modality silent this long (sender time) "
                        "is scored as missing (default: three of the slowest periods)")
    parser.add_argument("--idle-s", type=numbers.seconds, default=None,
                        help="with --source mqtt:// or serial:: end after this long without a "
                        f"frame or byte (default {LIVE_IDLE_S:g} s)")
    parser.add_argument("--drop-modality", action="append", default=[],
                        metavar="NAME[@FROM_S]",
                        help="pretend this sensor is missing (fed as zeros, flagged), for the "
                        "whole stream or from stream time FROM_S on (a sensor that fails)")
    parser.add_argument("--dataset", default="auto",
                        help="with --source PATH: its loader (default: auto-detect)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="with --source PATH: a loader option, e.g. channels=DE")
    parser.add_argument("--feedback", default=None, metavar="DIR",
                        help="keep every alert a person confirms or dismisses here as a "
                        "labelled example for `tinyfuse build --feedback DIR` (default "
                        "OUT/feedback)")
    parser.add_argument("--no-drift", action="store_true",
                        help="do not monitor the inputs' drift (no model-health alerts)")
    parser.add_argument("--seed", type=numbers.seed, default=0)
    parser.set_defaults(handler=run_command)


def _samples(args: argparse.Namespace, app: str, policy, modalities: tuple[str, ...]) -> list:
    if args.source == "simulate":
        samples = _simulated(args, app, policy)
    else:
        from tinyfuse.apps.cli.data import parse_options
        from tinyfuse.apps.runner import episodes
        from tinyfuse.sensors.sources import load_dataset

        loaded = load_dataset(args.dataset, args.source, **parse_options(args.option))
        # a recorded set comes sorted by recording: replay it as episodes of mixed classes
        samples = episodes(loaded.samples, seed=args.seed)
    samples = samples[: args.limit] if args.limit else samples
    for name, from_s in map(_outage, args.drop_modality):
        if name not in modalities:
            raise DataError(f"--drop-modality: {name!r} is not one of the bundle's "
                            f"modalities {list(modalities)}")
        first = math.ceil(from_s / args.period_s - 1e-9)
        samples[first:] = [dataclasses.replace(s, data={k: v for k, v in s.data.items()
                                                        if k != name}) for s in samples[first:]]
    return samples


def _live_source(args: argparse.Namespace, bundle):
    """The MQTT sensor source of ``--source mqtt://HOST:PORT/TOPIC``, logged in with the
    ``--mqtt-*`` options."""
    from tinyfuse.apps.alerts import new_client
    from tinyfuse.sensors.preprocess import Preprocessor
    from tinyfuse.sensors.sources.live_mqtt import LiveMqttSource, parse_source_url

    if args.drop_modality:
        raise DataError("--drop-modality goes with a recorded or simulated --source; a live "
                        "sensor is missing when it stops publishing")
    host, port, topic = parse_source_url(args.source)
    security = mqtt_options.security(args)
    source = LiveMqttSource(
        host=host, port=port, topic=topic,
        modalities=Preprocessor.from_bundle(bundle).modalities, align_s=args.align_s,
        stale_s=args.stale_s, idle_s=args.idle_s or LIVE_IDLE_S, limit=args.limit,
        client_factory=lambda client_id: new_client(client_id=client_id, security=security,
                                                    connect_timeout_s=5.0))
    print(f"listening on {source.url}/<{'|'.join(source.modalities)}> (Ctrl-C ends the run)")
    return source


def _serial_source(args: argparse.Namespace, bundle):
    """The board's records of ``--source serial:PORT[:BAUD]``."""
    from tinyfuse.apps.serial_gateway import SerialSource, parse_source

    if args.drop_modality or args.align_s is not None or args.stale_s is not None:
        raise DataError("--drop-modality, --align-s and --stale-s do not go with --source "
                        "serial: (the board scores and decides)")
    port, baud = parse_source(args.source)
    source = SerialSource(port, baud=baud, bundle=bundle, idle_s=args.idle_s or LIVE_IDLE_S,
                          limit=args.limit)
    print(f"listening on {port} at {baud} baud for the board's alert records (ends when the "
          f"port closes, or Ctrl-C)")
    return source


def _board_link(args: argparse.Namespace, bundle):
    """The board of ``--on-board serial:PORT[:BAUD]``, opened and (if it just reset) ready."""
    from tinyfuse.apps.serial_gateway import BoardLink, parse_source

    if args.source.startswith(("mqtt://", "serial:")):
        raise DataError("--on-board replays a simulated or recorded --source through the "
                        "board; a live source goes to the board's own sensors")
    port, baud = parse_source(args.on_board)
    link = BoardLink(port, baud=baud, bundle=bundle)
    print(f"replaying the stream through the board on {port} at {baud} baud "
          f"({'ready line seen' if link.ready else 'no ready line: it reset before'})")
    return link


def _board_decisions(link, bundle, samples: list, period_s: float):
    from tinyfuse.apps.device_check import windows_of
    from tinyfuse.apps.runner import replay
    from tinyfuse.apps.serial_gateway import board_windows

    return link.replay(board_windows(bundle, windows_of(bundle, replay(samples,
                                                                        period_s=period_s))))


def _print_serial(serial: dict) -> None:
    parts = [f"{serial['lines']} lines", f"{serial['records']} alert records used",
             f"{serial['ignored_lines']} other lines ignored"]
    if serial["too_long_lines"]:
        parts.append(f"{serial['too_long_lines']} too long")
    parts += [f"{count} rejected ({why})" for why, count in sorted(serial["rejected"].items())]
    print(f"  serial {serial['port']}: {', '.join(parts)}; ended by "
          f"{SERIAL_ENDINGS.get(serial['ended_by'], 'an error')}")


@contextlib.contextmanager
def _ctrl_c_ends(live) -> Iterator[None]:
    """While a live source runs, Ctrl-C ends its stream at the next sample (the run then
    writes its summary as usual); a second Ctrl-C interrupts at once."""
    if live is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    previous = previous if previous is not None else signal.default_int_handler

    def interrupted(signum, frame) -> None:
        live.stop()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _print_live(live: dict) -> None:
    reasons = ", ".join(f"{count} {reason}" for reason, count in
                        sorted(live["dropped_by_reason"].items())) or "none"
    missing = ", ".join(f"{name} {count}" for name, count in
                        sorted(live["missing_by_modality"].items()))
    print(f"  live source {live['url']}: {live['frames_received']} frames, "
          f"{live['frames_accepted']} used, dropped: {reasons}; {live['samples']} samples"
          f"{f' ({missing} with a modality missing)' if missing else ''}; ended by "
          f"{LIVE_ENDINGS.get(live['ended_by'], 'an error')}")


def _outage(text: str) -> tuple[str, float]:
    """``"NAME"`` -> (NAME, 0.0); ``"NAME@FROM_S"`` -> (NAME, FROM_S)."""
    name, sep, when = text.partition("@")
    try:
        from_s = float(when) if sep else 0.0
    except ValueError:
        from_s = -1.0
    if not name or not math.isfinite(from_s) or from_s < 0:
        raise DataError(f"--drop-modality: expected NAME or NAME@FROM_S (seconds >= 0), "
                        f"got {text!r}")
    return name, from_s


def _simulated(args: argparse.Namespace, app: str, policy) -> list:
    from tinyfuse.apps.runner import episodes, onsets
    from tinyfuse.sensors import simulate

    maker = getattr(simulate, f"simulate_{app}", None)
    if maker is None:
        raise DataError(f"no simulator for app {app!r}; pass --source PATH")
    result = maker(seed=args.seed + 1000, n_per_class=args.per_class)
    if args.stream == "episodes":
        return episodes(result.samples, seed=args.seed)
    quiet = [name for name in policy.classes if name not in policy.alert_classes]
    if not quiet:
        raise DataError("--stream onsets: every class alerts, so no class can be the "
                        "normal state")
    return onsets(result.samples, baseline=quiet[0], events=policy.alert_classes)


def _sink(args: argparse.Namespace, outbox: Path, *, availability: str):
    from tinyfuse.apps.alerts import FallbackSink, LocalOutbox, MqttSink

    local = LocalOutbox(outbox)
    if not args.mqtt:
        return local, None
    host, port = mqtt_options.address(args.mqtt)
    mqtt = MqttSink(host=host, port=port, outbox=outbox / "outbox.sqlite",
                    connect_timeout_s=2.0, ack_timeout_s=3.0, retry_interval_s=5.0,
                    security=mqtt_options.security(args), availability_topic=availability,
                    background=True)
    return FallbackSink([mqtt, local]), mqtt


def _hook(args: argparse.Namespace, out: Path, *, app: str, device: str):
    from tinyfuse.apps.confirm import AutoConfirm, ConsoleConfirm, FileConfirm
    from tinyfuse.apps.confirm_remote import HttpConfirm, MqttConfirm

    if args.confirm == "mqtt":
        if not args.mqtt:
            raise DataError("--confirm mqtt: needs --mqtt HOST:PORT (the questions go to the "
                            "alerts' broker)")
        host, port = mqtt_options.address(args.mqtt)
        return MqttConfirm(host=host, port=port, app=app, device=device,
                           security=mqtt_options.security(args))
    if args.confirm == "http":
        if not args.confirm_url:
            raise DataError("--confirm http: needs --confirm-url URL (the webhook)")
        listen = (mqtt_options.address(args.confirm_listen, "--confirm-listen")
                  if args.confirm_listen else None)
        return HttpConfirm(args.confirm_url, listen=listen)
    if args.confirm_url or args.confirm_listen:
        raise DataError("--confirm-url and --confirm-listen go with --confirm http")
    if args.confirm == "console":
        return ConsoleConfirm(stdin=sys.stdin, out=sys.stdout)
    if args.confirm == "file":
        return FileConfirm(out / "confirm")
    asked = out / "confirm" / "asked.jsonl"
    asked.unlink(missing_ok=True)
    return AutoConfirm(record=asked)


def run_command(args: argparse.Namespace) -> int:
    from tinyfuse.apps.alerts import availability_topic
    from tinyfuse.apps.confirm import Confirmations, FeedbackRecorder
    from tinyfuse.apps.runner import (
        bundle_policy,
        plot_stream,
        relay_decisions,
        replay,
        run_stream,
    )
    from tinyfuse.apps.scoring import load_bundle, make_scorer
    from tinyfuse.sensors.preprocess import Preprocessor

    bundle = load_bundle(args.build_dir)
    out = Path(args.out or Path(args.build_dir) / "run")
    out.mkdir(parents=True, exist_ok=True)
    outbox = Path(args.outbox) if args.outbox else out / "outbox"
    policy = bundle_policy(bundle)
    board = _board_link(args, bundle) if args.on_board else None
    serial = _serial_source(args, bundle) if args.source.startswith("serial:") else None
    live = _live_source(args, bundle) if args.source.startswith("mqtt://") else None
    if live is None and serial is None:
        if any(getattr(args, name) is not None for name in LIVE_OPTIONS):
            raise DataError("--align-s, --stale-s and --idle-s go with --source mqtt://... "
                            "(and --idle-s with serial:...)")
        samples = _samples(args, bundle.app, policy, bundle.modalities)
        Preprocessor.from_bundle(bundle).require_any(samples, where=str(args.source))
    device = args.device or (bundle.modalities[0] if len(bundle.modalities) == 1 else "fused")
    hook = _hook(args, out, app=bundle.app, device=device)
    feedback = FeedbackRecorder(Path(args.feedback) if args.feedback else out / "feedback",
                                quiet_classes=[c for c in policy.classes
                                               if c not in policy.alert_classes],
                                modalities=bundle.modalities)
    try:
        sink, mqtt = _sink(args, outbox, availability=availability_topic(bundle.app, device))
        try:
            durable = args.confirm in DURABLE_HOOKS
            confirmations = Confirmations(
                hook, timeout_s=args.confirm_timeout_s,
                state_file=out / "confirm" / "waiting.json" if durable else None)
            with _ctrl_c_ends(live or serial):
                if serial is not None or board is not None:
                    decisions = serial if serial is not None else _board_decisions(
                        board, bundle, samples, args.period_s)
                    result = relay_decisions(decisions, bundle=bundle, sink=sink,
                                             confirmations=confirmations, device=device)
                else:
                    result = run_stream(
                        replay(samples, period_s=args.period_s) if live is None else live,
                        scorer=make_scorer(bundle, kind=args.scorer), policy=policy,
                        sink=sink, device=device, confirmations=confirmations,
                        feedback=feedback, monitor_drift=not args.no_drift)
        finally:
            sink.close()
    finally:
        if hasattr(hook, "close"):
            hook.close()
        for source in (live, serial, board):
            if source is not None:
                source.close()
    summary = {**result.summary(), "policy": policy.to_dict(),
               "policy_source": "calibrated" if bundle.policy is not None else "default",
               "scorer": "board" if serial or board else args.scorer,
               "source": args.source, "outbox": str(outbox),
               "feedback_folder": str(feedback.folder)}
    if live is not None:
        summary["live_source"] = live.summary()
    if serial is not None:
        summary["serial_source"] = serial.summary()
    if board is not None:
        summary["board"] = board.summary()
    (out / "run_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if result.steps:
        plot_stream(result, out / "stream.png", policy=policy)
    _print_summary(summary, policy, getattr(hook, "record", None))
    if live is not None:
        _print_live(summary["live_source"])
    if serial is not None:
        _print_serial(summary["serial_source"])
    if board is not None:
        _print_serial(summary["board"])
        print(f"  board: {summary['board']['windows']} windows run, "
              f"{summary['board']['dropped_windows']} dropped (CRC)")
    if args.mqtt:
        print(f"  MQTT outbox: {_outbox_left(outbox)} updates still waiting in "
              f"{outbox / 'outbox.sqlite'} (sent first when a broker answers; reuse --outbox)")
    plotted = f"{out}/stream.png and " if result.steps else ""
    print(f"  wrote {plotted}{out}/run_summary.json; alert log {outbox}")
    if live is not None and not live.ever_connected:
        raise DeployError(f"--source {live.url}: never connected to the broker "
                          f"({live.fatal_error or live.last_error or 'no CONNACK'})")
    if mqtt is not None and mqtt.fatal_error:
        raise DeployError(f"--mqtt: {mqtt.fatal_error}; the alerts wait in "
                          f"{outbox / 'outbox.sqlite'}")
    if mqtt is not None and not mqtt.ever_connected and _outbox_left(outbox):
        raise DeployError(f"--mqtt: nothing could be delivered to {args.mqtt} during the run "
                          f"({mqtt.last_error or 'no CONNACK'}); the alerts wait in "
                          f"{outbox / 'outbox.sqlite'}")
    return 0


def _outbox_left(outbox: Path) -> int:
    from tinyfuse.apps.outbox import Outbox

    queue = Outbox(outbox / "outbox.sqlite")
    try:
        return len(queue)
    finally:
        queue.close()


def _print_summary(summary: dict, policy, asked: Path | None) -> None:
    states = summary["alerts_by_state"]
    levels = ", ".join(f"{name} {level:.3f}" for name, level in
                       zip(policy.alert_classes, policy.on_levels, strict=True))
    print(f"{summary['app']}: {summary['n_steps']} samples, {summary['policy_source']} "
          f"policy ({levels}; {policy.k} of {policy.n}, cooldown {policy.cooldown_s:g} s)")
    plural = "" if summary["n_alerts"] == 1 else "s"
    print(f"  {summary['n_alerts']} alert{plural} raised: {states.get('confirmed', 0)} "
          f"confirmed, "
          f"{states.get('dismissed', 0)} dismissed, {states.get('expired', 0)} expired "
          f"unanswered; {summary['alerts_matching_truth']} match the true label")
    for alert in summary["alerts"][:MAX_ALERTS_LISTED]:
        print(f"    t={alert['time_s']:>7.1f} s  {alert['label']:<12} score "
              f"{alert['score']:.3f}  {alert['state']} by {alert['answered_by']}")
    asked_count = sum(a["answered_by"] not in ("policy", "") for a in summary["alerts"])
    print(f"  {asked_count} needed a person")
    if asked is not None and asked.is_file():
        for line in asked.read_text().splitlines()[:MAX_ALERTS_LISTED]:
            print(f"    asked: {json.loads(line)['question']}")
        print(f"    (auto-answered; the questions are in {asked})")
    deliveries = ", ".join(f"{count} {DELIVERY_WORDS.get(status, status)}" for status, count
                           in summary["deliveries"].items()) or "none"
    print(f"  alert updates: {deliveries}")
    _print_health(summary)
    if summary["skipped_samples"]:
        print(f"  skipped {len(summary['skipped_samples'])} samples (see run_summary.json)")


def _print_health(summary: dict) -> None:
    drift = summary.get("drift") or {}
    if not drift.get("monitored"):
        print("  drift: not monitored (the bundle has no drift reference, or --no-drift)")
    else:
        print("  drift (running score / level): " + ", ".join(
            f"{name} {row['score']:.2f} / {row['level']:.2f}"
            f"{' DRIFTING' if row['drifting'] else ''}"
            for name, row in drift["modalities"].items()))
    for alert in summary.get("health_alerts", [])[:MAX_ALERTS_LISTED]:
        cleared = f", cleared at t={alert['cleared_s']:.1f} s" if alert["cleared_s"] is not None \
            else ", still raised"
        print(f"    model health: {alert['modality']} drifted at t={alert['raised_s']:.1f} s "
              f"(score {alert['drift_score']:.2f}){cleared}")
    if summary.get("feedback_examples"):
        count = len(summary["feedback_examples"])
        print(f"  {count} answered alert{'' if count == 1 else 's'} kept as labelled "
              f"example{'' if count == 1 else 's'} in {summary['feedback_folder']} (fold "
              f"{'it' if count == 1 else 'them'} in: tinyfuse build APP.toml "
              f"--feedback {summary['feedback_folder']})")
