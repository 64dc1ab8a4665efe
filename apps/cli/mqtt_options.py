"""The broker options that `tinyfuse run` and `tinyfuse outbox flush` share: where the broker
is and how to log in (password file, TLS)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tinyfuse.core.errors import DataError


def add_arguments(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    parser.add_argument("--mqtt", default=None, metavar="HOST:PORT", required=required,
                        help="the MQTT broker (QoS 1 from the persistent outbox)")
    parser.add_argument("--mqtt-username", default="", help="broker login")
    parser.add_argument("--mqtt-password-file", default="", metavar="FILE",
                        help="a file holding the broker password (first line)")
    parser.add_argument("--mqtt-ca", default="", metavar="FILE",
                        help="CA certificate: connect with TLS and verify the broker")
    parser.add_argument("--mqtt-cert", default="", metavar="FILE",
                        help="client certificate for TLS (with --mqtt-key)")
    parser.add_argument("--mqtt-key", default="", metavar="FILE", help="client key for TLS")


def address(text: str, option: str = "--mqtt") -> tuple[str, int]:
    """``HOST:PORT`` -> ``(host, port)``, or a one-line ``DataError`` naming ``option``."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise DataError(f"{option}: expected HOST:PORT, got {text!r}")
    return host, int(port)


def security(args: argparse.Namespace):
    """The login the options name (``alerts.MqttSecurity``)."""
    from tinyfuse.apps.alerts import MqttSecurity

    password = ""
    if args.mqtt_password_file:
        try:
            lines = Path(args.mqtt_password_file).read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"--mqtt-password-file {args.mqtt_password_file}: {exc}") from None
        password = lines[0] if lines else ""
    return MqttSecurity(username=args.mqtt_username, password=password, ca_file=args.mqtt_ca,
                        cert_file=args.mqtt_cert, key_file=args.mqtt_key)
