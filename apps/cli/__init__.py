"""The `tinyfuse` command: wiring only. Each subcommand lives in its own module here and
exposes ``register(subparsers)``; the module's handler prints, the libraries only log."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import NoReturn

from tinyfuse import __version__
from tinyfuse.apps.cli import quiet
from tinyfuse.core.errors import TinyfuseError

# Modules under apps/cli that provide ``register(subparsers)``; one per subcommand family.
COMMAND_MODULES = ("new", "features", "data", "build", "evaluate", "demo", "compile", "verify",
                   "deploy", "boards", "run", "outbox", "export")


class OneLineParser(argparse.ArgumentParser):
    """Usage errors in one line (the usage block is what ``--help`` is for), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="tinyfuse",
        description="Multimodal TinyML: sensors -> fused int8 model -> C on a microcontroller.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"tinyfuse {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"tinyfuse.apps.cli.{name}")
        module.register(subparsers)
    for command in subparsers.choices.values():  # every option's help shows its default
        command.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    verbose = any(arg in ("-v", "--verbose") for arg in given)  # accepted anywhere
    args = parser.parse_args([arg for arg in given if arg not in ("-v", "--verbose")])
    args.verbose = verbose
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    if not args.verbose:
        quiet.filter_native_stderr()
    try:
        return int(args.handler(args) or 0)
    except TinyfuseError as exc:
        print(f"tinyfuse {args.command}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        quiet.restore()


if __name__ == "__main__":
    sys.exit(main())
