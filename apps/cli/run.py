"""`tinyfuse run BUILD_DIR`: the app loop over a simulated or recorded stream, with alerts.

Writes ``stream.png`` (scores, truth and alerts over time) and ``run_summary.json`` into
``--out`` (default ``BUILD_DIR/run``); alerts go to MQTT (``--mqtt HOST:PORT``, with the
persistent outbox in ``--outbox``) and always to ``<outbox>/alerts.jsonl`` when no broker
took them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from sensors.errors import DataError

CONFIRM_CHOICES = ("auto", "console", "file")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help="run a built app on a stream: score, decide, confirm, alert",
        description="Score a stream with the bundle in BUILD_DIR (model.tflite + params.json), "
        "apply the app's policy, ask a person when unsure and publish alerts.")
    parser.add_argument("build_dir", metavar="BUILD_DIR", help="output of tinyfuse build/demo")
    parser.add_argument("--source", default="simulate", metavar="simulate|PATH",
                        help="simulated sensors of the bundle's app, or a dataset folder")
    parser.add_argument("--mqtt", default=None, metavar="HOST:PORT",
                        help="publish to this MQTT broker (QoS 1, persistent outbox)")
    parser.add_argument("--outbox", default=None, metavar="DIR",
                        help="outbox and local alert log folder (default OUT/outbox)")
    parser.add_argument("--confirm", choices=CONFIRM_CHOICES, default="auto",
                        help="who answers uncertain alerts (file: OUT/confirm/answers/<id>)")
    parser.add_argument("--confirm-timeout-s", type=float, default=30.0,
                        help="stream seconds to wait for an answer before escalating")
    parser.add_argument("--scorer", choices=("host", "tflite"), default="host",
                        help="compiled C model (host) or TFLite Micro reference (tflite)")
    parser.add_argument("--out", default=None, metavar="DIR", help="default BUILD_DIR/run")
    parser.add_argument("--device", default=None, help="device part of the MQTT topic")
    parser.add_argument("--period-s", type=float, default=1.0, help="seconds between samples")
    parser.add_argument("--per-class", type=int, default=12,
                        help="simulated samples per class (--source simulate)")
    parser.add_argument("--limit", type=int, default=None, help="at most N samples")
    parser.add_argument("--drop-modality", action="append", default=[], metavar="NAME",
                        help="pretend this sensor is missing (fed as zeros, flagged)")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(handler=run_command)


def _mqtt_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise DataError(f"--mqtt: expected HOST:PORT, got {text!r}")
    return host, int(port)


def _samples(args: argparse.Namespace, app: str) -> list:
    from apps.runner import episodes

    if args.source == "simulate":
        from sensors import simulate

        maker = getattr(simulate, f"simulate_{app}", None)
        if maker is None:
            raise DataError(f"no simulator for app {app!r}; pass --source PATH")
        result = maker(seed=args.seed + 1000, n_per_class=args.per_class)
        samples = episodes(result.samples, seed=args.seed)
    else:
        from sensors.sources import load_dataset

        options = {"limit": args.limit} if args.limit else {}
        samples = list(load_dataset("auto", args.source, **options).samples)
    if args.drop_modality:
        gone = set(args.drop_modality)
        samples = [dataclasses.replace(s, data={k: v for k, v in s.data.items()
                                                if k not in gone}) for s in samples]
    return samples[: args.limit] if args.limit else samples


def _sink(args: argparse.Namespace, outbox: Path):
    from apps.alerts import FallbackSink, LocalOutbox, MqttSink

    local = LocalOutbox(outbox)
    if not args.mqtt:
        return local
    host, port = _mqtt_address(args.mqtt)
    mqtt = MqttSink(host=host, port=port, outbox=outbox / "outbox.sqlite",
                    connect_timeout_s=2.0, ack_timeout_s=3.0, retry_interval_s=5.0)
    return FallbackSink([mqtt, local])


def _hook(args: argparse.Namespace, out: Path):
    from apps.confirm import AutoConfirm, ConsoleConfirm, FileConfirm

    if args.confirm == "console":
        return ConsoleConfirm(stdin=sys.stdin, out=sys.stdout)
    if args.confirm == "file":
        return FileConfirm(out / "confirm")
    return AutoConfirm()


def run_command(args: argparse.Namespace) -> int:
    from apps.confirm import Confirmations
    from apps.runner import default_policy, plot_stream, replay, run_stream
    from apps.scoring import load_bundle, make_scorer

    bundle = load_bundle(args.build_dir)
    out = Path(args.out or Path(args.build_dir) / "run")
    out.mkdir(parents=True, exist_ok=True)
    outbox = Path(args.outbox) if args.outbox else out / "outbox"
    policy = default_policy(bundle)
    samples = _samples(args, bundle.app)
    device = args.device or (bundle.modalities[0] if len(bundle.modalities) == 1 else "fused")
    sink = _sink(args, outbox)
    try:
        result = run_stream(
            replay(samples, period_s=args.period_s), scorer=make_scorer(bundle, kind=args.scorer),
            policy=policy, sink=sink, device=device,
            confirmations=Confirmations(_hook(args, out), timeout_s=args.confirm_timeout_s))
    finally:
        sink.close()
    summary = {**result.summary(), "policy": policy.to_dict(), "scorer": args.scorer,
               "source": args.source, "outbox": str(outbox)}
    (out / "run_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot_stream(result, out / "stream.png", policy=policy)
    print(f"{bundle.app}: {summary['n_steps']} samples, {summary['n_alerts']} alerts "
          f"{summary['alerts_by_state']} ({summary['alerts_matching_truth']} match the true "
          f"label); deliveries {summary['deliveries']}")
    if result.skipped:
        print(f"  skipped {len(result.skipped)} samples (see run_summary.json)")
    print(f"  wrote {out}/stream.png and {out}/run_summary.json; alert log {outbox}")
    return 0
