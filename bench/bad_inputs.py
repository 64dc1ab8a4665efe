"""Bad input through the command line, as a user meets it: every case must end in one clear
line (or be counted where the issue says so), never a traceback.

Each case runs ``tinyfuse ...`` in a fresh process (so an uncaught exception would show as a
traceback and a crash would show as a signal), with inputs made here: a WAV whose header says
1 Hz, a CSV of 1e308, files no reader takes, an empty folder, nonsense numbers, misspelt and
mistyped ``app.toml`` entries, malformed ``.tflite`` files, recordings of a modality the
bundle lacks, thermal frames of 10^6 degC and vibration of 10^30 g, and a broker that refuses
the login or speaks no TLS. Cases that need a bundle use ``tinyfuse demo posture``'s.

Usage: ``python bench/bad_inputs.py [--out PATH]``; writes ``bench/results/bad_inputs.json``
(one row per case: command, exit status, the last line on stderr, whether a traceback
appeared) and exits 1 when any case printed a traceback or died of a signal.
"""

from __future__ import annotations

import argparse
import json
import platform
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.mosquitto import Broker, make_certificates  # noqa: E402
from tinyfuse.apps.cli.quiet import NOISE  # noqa: E402  (TensorFlow's start-up lines)

RESULT = REPO / "bench" / "results" / "bad_inputs.json"
CLI = "from tinyfuse.apps.cli import main; raise SystemExit(main())"
BASE_CONFIG = """name = "x"
[data]
simulator = "factory"
[[modalities]]
name = "vibration"
kind = "vibration"
[model]
classes = ["normal", "fault"]
[budget]
board = "nrf52840"
[train]
student_epochs = 5
"""
CONFIG_EDITS = (  # (what, old, new): one edit of BASE_CONFIG each
    ("misspelt table [trian]", "[train]", "[trian]"),
    ("misspelt top-level key", 'name = "x"', 'nmae = "x"'),
    ("learning_rate = \"fast\"", "student_epochs = 5",
     'student_epochs = 5\nlearning_rate = "fast"'),
    ("student_epochs = true", "student_epochs = 5", "student_epochs = true"),
    ("student_epochs = 2.5", "student_epochs = 5", "student_epochs = 2.5"),
    ("negative epochs", "student_epochs = 5", "student_epochs = -3"),
    ("target_recall = 2.0", "student_epochs = 5",
     "student_epochs = 5\n[policy]\ntarget_recall = 2.0"),
    ("classes = \"normal\"", 'classes = ["normal", "fault"]', 'classes = "normal"'),
    ("board = 52840", 'board = "nrf52840"', "board = 52840"),
    ("options = \"many\"", 'simulator = "factory"', 'simulator = "factory"\noptions = "many"'),
    ("an unknown simulator option", 'simulator = "factory"',
     'simulator = "factory"\noptions = { colour = "red" }'),
    ("a typo beside board", 'board = "nrf52840"', 'board = "nrf52840"\nbaord = "x"'),
)


def run_cli(args: list[str], *, timeout_s: float = 600.0) -> dict[str, Any]:
    """``tinyfuse ARGS`` in a fresh process: exit status, stderr's last line, traceback."""
    try:
        done = subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True,
                              text=True, timeout=timeout_s, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"exit": None, "error": f"hung for more than {timeout_s:.0f} s",
                "traceback": False, "stderr_lines": 0}
    lines = [line for line in done.stderr.splitlines() if line.strip()
             and not NOISE.match(line.encode())]
    return {"exit": done.returncode, "error": lines[-1] if lines else "",
            "traceback": "Traceback (most recent call last)" in done.stderr,
            "stderr_lines": len(lines)}


def _wav_with_rate(path: Path, rate_hz: int, n_bytes: int = 400_000) -> Path:
    fmt = struct.pack("<HHIIHH", 1, 1, rate_hz, rate_hz * 2, 2, 16)
    header = (b"RIFF" + struct.pack("<I", 36 + n_bytes) + b"WAVEfmt " + struct.pack("<I", 16)
              + fmt + b"data" + struct.pack("<I", n_bytes))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + bytes(n_bytes))
    return path


def make_inputs(root: Path) -> dict[str, Path]:
    """The bad files and folders the cases read."""
    paths: dict[str, Path] = {}
    paths["wav_1hz"] = _wav_with_rate(root / "audio_1hz" / "cough" / "a.wav", 1)
    paths["audio_1hz"] = root / "audio_1hz"
    huge = root / "huge.csv"
    huge.write_text("\n".join(",".join(["1e308"] * 3) for _ in range(2000)) + "\n")
    paths["csv_1e308"] = huge
    odd = root / "odd_files" / "cough"
    odd.mkdir(parents=True)
    (odd / "notes.txt").write_text("not audio\n")
    (odd / "matrix.mat").write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))
    _wav_with_rate(odd / "good.wav", 16000, 32000)
    paths["odd_files"] = root / "odd_files"
    (root / "empty").mkdir()
    paths["empty"] = root / "empty"
    for name, content in (("truncated.tflite", b"TFL3" + bytes(10)),
                          ("garbage.tflite", np.random.default_rng(0).bytes(4096)),
                          ("empty.tflite", b"")):
        (root / name).write_bytes(content)
        paths[name] = root / name
    (root / "config_ok.toml").write_text(BASE_CONFIG)
    paths["config_ok"] = root / "config_ok.toml"
    for index, (_, old, new) in enumerate(CONFIG_EDITS):
        config = root / f"config_{index}.toml"
        config.write_text(BASE_CONFIG.replace(old, new, 1))
        paths[f"config_{index}"] = config
    hot = root / "hot_thermal"
    for label in ("standing", "lying"):
        (hot / label).mkdir(parents=True)
        for index in range(3):
            np.save(hot / label / f"f{index}.npy", np.full((8, 8), 1e6, np.float32))
    paths["hot_thermal"] = hot
    shapes = root / "wrong_shape"
    (shapes / "lying").mkdir(parents=True)
    for index in range(3):
        np.save(shapes / "lying" / f"f{index}.npy", np.zeros((3, 5, 7), np.float32))
    paths["wrong_shape"] = shapes
    return paths


def cases(paths: dict[str, Path], bundle: Path, out: Path, broker_port: int,
          tls_port: int, ca_file: Path) -> list[tuple[str, list[str]]]:
    run = ["run", str(bundle), "--out", str(out / "run"), "--scorer", "tflite"]
    table: list[tuple[str, list[str]]] = [
        ("WAV whose header says 1 Hz: data inspect",
         ["data", "inspect", str(paths["audio_1hz"])]),
        ("WAV whose header says 1 Hz: features",
         ["features", "--modality", "audio", "--input", str(paths["wav_1hz"]), "--out",
          str(out / "f.npy")]),
        ("CSV of 1e308 (inf as float32): features",
         ["features", "--modality", "vibration", "--input", str(paths["csv_1e308"]), "--out",
          str(out / "f.npy"), "--sample-rate-hz", "1000"]),
        (".txt and .mat files in an audio folder: data inspect (listed, not ignored)",
         ["data", "inspect", str(paths["odd_files"])]),
        ("an empty folder: data inspect", ["data", "inspect", str(paths["empty"])]),
        ("a folder that does not exist: build --data",
         ["build", str(paths["config_ok"]), "--out", str(out / "b"), "--data",
          str(out / "nowhere")]),
        ("--period-s nan", [*run, "--period-s", "nan"]),
        ("--seed -1", [*run, "--seed", "-1"]),
        ("--limit -5", [*run, "--limit", "-5"]),
        ("--limit 0", [*run, "--limit", "0"]),
        ("--drop-modality of a sensor the bundle lacks", [*run, "--drop-modality", "sonar"]),
        ("--mqtt without a port", [*run, "--mqtt", "localhost"]),
    ]
    for index, (what, _, _) in enumerate(CONFIG_EDITS):
        table.append((f"app.toml: {what}", ["build", str(paths[f"config_{index}"]), "--out",
                                            str(out / "b")]))
    for name in ("truncated.tflite", "garbage.tflite", "empty.tflite"):
        table.append((f"compile {name}", ["compile", str(paths[name]), "--out",
                                          str(out / "c")]))
        table.append((f"verify {name}", ["verify", str(paths[name])]))
    table += [
        ("run --source with recordings of a modality the bundle lacks (audio)",
         [*run, "--source", str(paths["odd_files"])]),
        ("evaluate BUNDLE --data with recordings of a modality the bundle lacks",
         ["evaluate", str(bundle), "--data", str(paths["odd_files"]), "--out",
          str(out / "e")]),
        ("run --source with thermal frames of 10^6 degC (counted as sensor faults)",
         [*run, "--source", str(paths["hot_thermal"]), "--option", "modality=thermal"]),
        ("run --source where every frame has the wrong shape (the loader skips them all)",
         [*run, "--source", str(paths["wrong_shape"]), "--option", "modality=thermal"]),
        ("run --mqtt with a wrong password",
         [*run, "--mqtt", f"127.0.0.1:{broker_port}", "--mqtt-username", "site",
          "--mqtt-password-file", str(paths["wrong_password"])]),
        ("run --mqtt with TLS against a plain listener",
         [*run, "--mqtt", f"127.0.0.1:{tls_port}", "--mqtt-ca", str(ca_file)]),
        ("run --mqtt-ca that does not exist",
         [*run, "--mqtt", f"127.0.0.1:{broker_port}", "--mqtt-ca", str(out / "no.crt")]),
    ]
    return table


def _faults(out: Path) -> dict[str, Any] | None:
    summary = out / "run" / "run_summary.json"
    if not summary.exists():
        return None
    document = json.loads(summary.read_text())
    return {"sensor_faults": document.get("sensor_faults"),
            "skipped_samples": len(document.get("skipped_samples", [])),
            "n_steps": document.get("n_steps"),
            "alerts_by_state": document.get("alerts_by_state")}


def measure(root: Path, *, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    paths = make_inputs(root / "inputs")
    bundle = root / "posture"
    progress("building the posture demo bundle")
    built = run_cli(["demo", "posture", "--out", str(bundle)], timeout_s=1800)
    if built["exit"] != 0:
        raise SystemExit(f"tinyfuse demo posture failed: {built['error']}")
    paths["wrong_password"] = root / "inputs" / "password"
    paths["wrong_password"].write_text("wrong\n")
    certificates = make_certificates(root / "tls")
    secured = Broker(root / "broker", users={"site": "right"}).start()
    plain = Broker(root / "plain").start()
    rows = []
    try:
        for what, args in cases(paths, bundle, root / "out", secured.port, plain.port,
                                certificates / "ca.crt"):
            (root / "out" / "run" / "run_summary.json").unlink(missing_ok=True)
            progress(what)
            row = {"case": what, "command": "tinyfuse " + " ".join(
                a.replace(str(root), "TMP") for a in args), **run_cli(args)}
            row["error"] = row["error"].replace(str(root), "TMP")
            if args[0] == "run":
                row["run_summary"] = _faults(root / "out")
            rows.append(row)
    finally:
        secured.stop()
        plain.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temporary:
        rows = measure(Path(temporary), progress=lambda text: print(f"- {text}", flush=True))
    bad = [r for r in rows if r["traceback"] or r["exit"] is None or r["exit"] < 0]
    document = {"cases": len(rows), "tracebacks_or_crashes": len(bad),
                "multi_line_errors": sum(r["stderr_lines"] > 2 for r in rows),
                "rows": rows,
                "environment": {"python": platform.python_version(),
                                "machine": platform.machine()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    for row in rows:
        print(f"{row['exit']!s:>4}  {row['case']}: {row['error']}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
