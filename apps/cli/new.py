"""`tinyfuse new NAME --from factory|cough|posture|blank [--dir DIR]`: a commented app.toml
(and a README stub) to start a user's own app from."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from tinyfuse.core.errors import DataError

STARTS = ("factory", "cough", "posture", "blank")

BLANK = '''# {name}: a tinyfuse app. Every table but [[modalities]] and model.classes is optional;
# see README.md ("app.toml") for every key and its default.
name = "{name}"

[data]
# Your recordings, one folder per class: data/<class>/<file> (wav, flac, png, npy, npz, csv), or
# data/<class>/<group>/<file> with groups = "folder" (a group never sits on both sides of a
# split: a patient, a machine, a recording). The path is relative to this file.
dataset = "folder"
path = "data"
options = {{ groups = "folder" }}
test_fraction = 0.3
seed = 0

[[modalities]]
# One table per sensor: its name is the key of the data, the model input and the C table.
name = "audio"
kind = "audio"              # audio | image | vibration | vector
sample_rate_hz = 16000      # the front-end resamples every recording to this rate
duration_s = 1.0
n_mfcc = 13

[model]
classes = ["normal", "event"]   # the folder names under data/
width = 8
depth = 2

[budget]
board = "nrf52840"          # nrf52840 | stm32l4r5 | stm32f746 | rp2040 | esp32s3

[policy]
alert_classes = ["event"]   # which classes raise an alert
k = 2                       # 2 of the last 3 windows must agree
n = 3
cooldown_s = 30.0
target_recall = 0.9         # thresholds calibrated on the validation split for this
'''

README = '''# {name}

A tinyfuse app.

```sh
tinyfuse data inspect {data}          # what the data holds
tinyfuse build app.toml --out build          # train, compress, calibrate: the bundle
tinyfuse evaluate app.toml --out eval        # grouped cross-validation of the same build
tinyfuse deploy build --board qemu-m4        # the model on the emulated Cortex-M4
tinyfuse run build --source {data}    # the app loop over recordings, with alerts
```
'''


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "new", help="start an app: a commented app.toml and a README",
        description="Write DIR/NAME/app.toml (from a bundled app or a blank template) and a "
        "README stub. Example: tinyfuse new pump --from factory")
    parser.add_argument("name", help="app name (lower case letters, digits, _)")
    parser.add_argument("--from", dest="start", choices=STARTS, default="blank",
                        help="start from a bundled app or a blank template (default: blank)")
    parser.add_argument("--dir", default=".", help="parent folder (default: .)")
    parser.set_defaults(handler=run)


def app_toml(name: str, start: str) -> str:
    """The ``app.toml`` text of a new app ``name`` started from ``start``."""
    if start == "blank":
        return BLANK.format(name=name)
    from tinyfuse.apps.cli.demo import app_config_path

    text = app_config_path(start).read_text()
    header = (f"# {name}: started from the bundled {start} app (simulated sensors). Point\n"
              f"# [data] at your recordings (dataset + path, relative to this file) and set\n"
              f"# model.classes to their labels.\n")
    return header + re.sub(r'(?m)^name = ".*"$', f'name = "{name}"', text, count=1)


def run(args: argparse.Namespace) -> int:
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", args.name):
        raise DataError(f"new: {args.name!r} is not an app name (lower case letters, digits "
                        f"and _, starting with a letter)")
    folder = Path(args.dir) / args.name
    if (folder / "app.toml").exists():
        raise DataError(f"{folder / 'app.toml'}: already exists; not overwritten")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.toml").write_text(app_toml(args.name, args.start))
    data = "data" if args.start == "blank" else "DIR"
    (folder / "README.md").write_text(README.format(name=args.name, data=data))
    print(f"wrote {folder / 'app.toml'} and {folder / 'README.md'}")
    return 0
