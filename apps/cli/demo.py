"""`tinyfuse demo {cough,posture,factory} --out DIR [--data DIR]`: the build pipeline on an
app's own config (simulated data by default, a real set with --data)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tinyfuse.apps.cli.build import add_common, run_config, with_overrides
from tinyfuse.fusion.config import load_config

APPS = ("cough", "posture", "factory")


def app_config_path(name: str) -> Path:
    return Path(__file__).resolve().parent.parent / name / "app.toml"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="build one of the bundled apps end to end (simulated data by default)",
        description="Run `tinyfuse build` on apps/<APP>/app.toml: simulated sensors unless "
        "--data points at a real dataset folder.")
    parser.add_argument("app", choices=APPS, help="which app")
    add_common(parser)
    parser.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    path = app_config_path(args.app)
    return run_config(with_overrides(load_config(path), args), args)
