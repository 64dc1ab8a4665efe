"""`tinyfuse run --source serial:PORT`: a board's alert records in, the host's alerts out.

Framing and record checks on known lines; the gateway on a pty against the host-compiled app's
records; and against the emulated UART board (netduinoplus2, QEMU's own pty), whose alerts
must be the ones `tinyfuse run` raises when the host scores the same stream."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from bench import app_c as bench
from tests.apps.test_alert_payload import SCHEMA, problems
from tinyfuse.apps import device_check
from tinyfuse.apps.alerts import read_local
from tinyfuse.apps.cli import main
from tinyfuse.apps.serial_gateway import (
    MAX_LINE_BYTES,
    RecordReader,
    SerialSource,
    decision_from_record,
    parse_source,
)
from tinyfuse.core.bundle import Bundle
from tinyfuse.core.errors import DataError, DeployError
from tinyfuse.firmware import app_c
from tinyfuse.firmware.compiler import compile_bundle

HAVE_ARM = all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm"))
HASH = "ab" * 32
CLASSES, MODALITIES = ("empty", "lying"), ("thermal", "depth")
RECORD = {"t": 12.0, "label": "lying", "score": 0.9961, "q": 127, "hits": 2, "state": "raised",
          "reason": "confident", "bundle": HASH[:12], "missing": []}


def line(**changes) -> str:
    return json.dumps({**RECORD, **changes}, separators=(",", ":"))


def decide(text: str):
    return decision_from_record(text, classes=CLASSES, modalities=MODALITIES, bundle_hash=HASH)


@pytest.mark.parametrize("text, want", [
    ("serial:/dev/ttyACM0", ("/dev/ttyACM0", 115200)),
    ("serial:/dev/ttyUSB1:9600", ("/dev/ttyUSB1", 9600)),
    ("serial:COM3:921600", ("COM3", 921600)),
])
def test_the_source_names_port_and_baud(text, want):
    assert parse_source(text) == want


@pytest.mark.parametrize("text, message", [
    ("serial:", "expected serial:PORT"), ("serial:/dev/ttyACM0:1234", "baud 1234 is not")])
def test_a_bad_source_is_one_clear_error(text, message):
    with pytest.raises(DataError, match=message):
        parse_source(text)


def test_both_framings_in_any_chunking_give_the_same_records():
    first, second = line(), line(t=20.0, state="awaiting", reason="uncertain")
    framed = (first + "\n" + second + "\n").encode()
    hex_lines = [f"records.jsonl:{framed[i:i + 32].hex()}" for i in range(0, len(framed), 32)]
    wire = "\r\n".join(["tinyfuse boot", "records.jsonl:", *hex_lines, "scores.bin:7f80",
                        first, ""]).encode()
    for size in (1, 7, 64, len(wire)):
        reader = RecordReader()
        got = [r for start in range(0, len(wire), size)
               for r in reader.feed(wire[start:start + size])]
        assert got == [first, second, first]
        assert reader.counts.ignored == 2  # the banner and scores.bin
    reader = RecordReader()
    assert reader.feed(b"x" * (3 * MAX_LINE_BYTES) + b"\n" + first.encode() + b"\n") == [first]
    assert reader.counts.too_long == 1
    assert reader.feed(b"records.jsonl:zz\n") == [] and reader.counts.rejected


def test_a_record_becomes_the_decision_it_states():
    decision = decide(line(state="awaiting", reason="missing", missing=["depth"]))
    assert (decision.label, decision.score, decision.time_s, decision.hits) == (
        "lying", 0.9961, 12.0, 2)
    assert decision.needs_confirmation and decision.missing == ("depth",)
    assert not decide(line()).needs_confirmation


@pytest.mark.parametrize("text, message", [
    ("{\"t\":", "not JSON"), ("[1, 2]", "not a JSON object"),
    (json.dumps({k: v for k, v in RECORD.items() if k != "score"}), "lacks \\['score'\\]"),
    (line(t=-1), "field 't'"), (line(t=float("nan")), "not JSON|field 't'"),
    (line(score=1.5), "field 'score'"), (line(label="sitting"), "field 'label'"),
    (line(state="cleared"), "field 'state'"), (line(hits=True), "field 'hits'"),
    (line(q=300), "field 'q'"), (line(missing=["sound"]), "field 'missing'"),
    (line(reason="x" * 100), "field 'reason'"),
])
def test_a_broken_record_names_its_field(text, message):
    with pytest.raises(DataError, match=message):
        decide(text)


def test_a_record_of_another_bundle_or_an_app_error_stops_the_run():
    with pytest.raises(DeployError, match="come from bundle '000000000000'"):
        decide(line(bundle="0" * 12))
    with pytest.raises(DeployError, match="the board's app stopped"):
        decide(json.dumps({"error": "bundle hash", "app": "0" * 12, "model": "1" * 12}))


def _expected(bundle: Bundle, tmp_path: Path):
    """What `tinyfuse run` raises when the host scores the bench stream (device "check")."""
    policy, stream = bench.demo_policy(bundle), bench.demo_stream()
    result, _ = device_check.host_run(bundle, policy, stream, tmp_path / "host_outbox")
    return sorted((a.alert_id, a.decision.label, a.decision.time_s, a.decision.needs_confirmation)
                  for a in result.alerts.values())


def _gateway(bundle_dir: Path, port: str, out: Path, *extra: str) -> int:
    return main(["run", str(bundle_dir), "--source", f"serial:{port}", "--device", "check",
                 "--out", str(out), "--idle-s", "20", *extra])


def _relayed(out: Path) -> tuple[list[dict], list[tuple]]:
    payloads = [r["payload"] for r in read_local(out / "outbox" / "alerts.jsonl")]
    for payload in payloads:
        assert problems(payload, SCHEMA) == []
    first = {}
    for p in payloads:  # the first update of each alert: its decision
        first.setdefault(p["alert_id"], p)
    return payloads, sorted((i, p["decision"]["label"], p["decision"]["time_s"],
                             p["decision"]["needs_confirmation"]) for i, p in first.items())


def test_the_gateway_on_a_pty_raises_the_host_runs_alerts(bundle_dir, tmp_path, capsys):
    """The host-compiled app's record lines, written to a pty with a boot banner and CRLF,
    become the alerts the host run raises (same ids, labels, times, confirmation needs)."""
    bundle = Bundle.read(bundle_dir)
    host_app = app_c.HostApp(app_c.generate_app(bundle, policy=bench.demo_policy(bundle)),
                             compile_bundle(bundle), tmp_path / "host_app")
    records = host_app.run(device_check.windows_of(bundle, bench.demo_stream())).lines
    master, slave = os.openpty()
    port = os.ttyname(slave)

    def board() -> None:
        time.sleep(0.5)
        os.write(master, b"tinyfuse app boot\r\n")
        for text in records:
            os.write(master, text.encode() + b"\r\n")
        time.sleep(0.5)
        os.close(master)  # the board goes away: the gateway's read ends

    writer = threading.Thread(target=board)
    writer.start()
    try:
        assert _gateway(bundle_dir, port, tmp_path / "run") == 0
    finally:
        writer.join()
        os.close(slave)
    payloads, relayed = _relayed(tmp_path / "run")
    assert relayed == _expected(bundle, tmp_path) and len(relayed) >= 2
    summary = json.loads((tmp_path / "run" / "run_summary.json").read_text())
    assert summary["serial_source"]["records"] == len(records)
    assert summary["serial_source"]["ended_by"] == "closed"
    assert summary["scorer"] == "board" and summary["n_alerts"] == len(relayed)
    assert {p["confirmation"]["state"] for p in payloads} >= {"awaiting", "confirmed"}
    assert "alert records used" in capsys.readouterr().out


def test_a_silent_port_ends_after_idle_s(bundle_dir, tmp_path):
    master, slave = os.openpty()
    try:
        source = SerialSource(os.ttyname(slave), bundle=Bundle.read(bundle_dir), idle_s=0.5)
        started = time.monotonic()
        assert list(source) == [] and source.ended_by == "idle"
        assert time.monotonic() - started < 5
        source.close()
    finally:
        os.close(master)
        os.close(slave)


def test_a_port_that_cannot_be_opened_is_one_clear_error(bundle_dir, tmp_path, capsys):
    assert _gateway(bundle_dir, str(tmp_path / "no-such-tty"), tmp_path / "run") != 0
    assert "cannot open" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_ARM, reason="arm-none-eabi-gcc / qemu-system-arm not installed")
def test_the_gateway_on_the_emulated_uart_board(bundle_dir, tmp_path):
    """netduinoplus2 runs the app and writes its result files on USART1 to QEMU's pty; the
    gateway reads that pty, picks the records out of the harness framing and raises the
    host run's alerts."""
    from tinyfuse.firmware import deploy
    from tinyfuse.firmware.boards import find_board

    bundle = Bundle.read(bundle_dir)
    app = app_c.generate_app(bundle, policy=bench.demo_policy(bundle))
    board = find_board("netduinoplus2")
    elf = app_c.build_app_for_qemu(app, compile_bundle(bundle), tmp_path / "build",
                                   board=board.name)
    run_dir = tmp_path / "qemu"
    run_dir.mkdir()
    (run_dir / "windows.bin").write_bytes(app_c.windows_bytes(
        app, device_check.windows_of(bundle, bench.demo_stream())))
    command = board.qemu_command(Path(elf).resolve())
    command[0] = deploy._tool(command[0], board.family)
    monitor = command.index("-monitor")
    del command[monitor:monitor + 2]  # paused_qemu sets the monitor and the pty
    with deploy.qemu_on_pty(command, cwd=run_dir) as (qemu, port):
        source = SerialSource(port, bundle=bundle, idle_s=60)  # opened before the board runs
        deploy.qemu_continue(qemu)
        decisions = list(source)
        summary = source.summary()
        source.close()
        assert qemu.wait(timeout=120) == 0
    assert summary["ended_by"] == "closed" and not summary["rejected"]
    assert summary["ignored_lines"] > 0  # the other result files share the UART
    host = _expected(bundle, tmp_path)
    assert sorted((d.label, d.time_s, d.needs_confirmation) for d in decisions) == sorted(
        (label, t, needs) for _, label, t, needs in host)
