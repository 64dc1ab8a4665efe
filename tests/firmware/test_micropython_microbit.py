"""Memory-constrained smoke test: the board package's decision policy and fixed-point
arithmetic on the BBC micro:bit's MicroPython (Debian's ``firmware-microbit-micropython``,
MicroPython 1.9.2, about 9 KB of heap, no ``json``) under ``qemu-system-arm -M microbit``,
driven over its raw REPL on a TCP serial socket. The modules are sent as source with
docstrings and comments removed (the board compiles them in its own heap)."""

from __future__ import annotations

import ast
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.apps.mosquitto import free_port
from tinyfuse.apps.policy import initial_state, step
from tinyfuse.core.policy import Policy
from tinyfuse.firmware.compiler.quant import quantize_multiplier
from tinyfuse.firmware.micropython_export import PACKAGE_DIR

FIRMWARE = Path("/usr/share/firmware-microbit-micropython/firmware.hex")
QEMU = shutil.which("qemu-system-arm") or "/usr/bin/qemu-system-arm"


def statements(path: Path, names: tuple[str, ...] = ()) -> list[str]:
    """A module's top-level statements (those defining ``names``, or all) as separate
    sources, docstrings removed (``ast.unparse`` also drops comments): the board compiles
    one at a time."""
    tree = ast.parse(path.read_text())
    if names:
        tree.body = [node for node in tree.body if {
            getattr(node, "name", None),
            *(getattr(t, "id", None) for t in getattr(node, "targets", []))} & set(names)]
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return [ast.unparse(node) + "\n" for node in tree.body]


class MicroBit:
    """QEMU's micro:bit with MicroPython; ``run(code)`` executes in the raw REPL and returns
    (stdout, stderr). Bytes go one at a time: the emulated UART has no receive FIFO."""

    def __init__(self) -> None:
        port = free_port()
        self.qemu = subprocess.Popen(
            [QEMU, "-M", "microbit", "-display", "none", "-monitor", "none",
             "-device", f"loader,file={FIRMWARE}",
             "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(0.2)
        self.sock.sendall(b"\r\x03\x03")
        self._until(b">>> ", 20)
        self.sock.sendall(b"\x01")
        self._until(b"raw REPL; CTRL-B to exit\r\n>", 10)

    def _until(self, marker: bytes, timeout_s: float) -> bytes:
        data, deadline = b"", time.monotonic() + timeout_s
        while marker not in data:
            if time.monotonic() > deadline:
                raise AssertionError(f"micro:bit: no {marker!r} in {timeout_s} s: {data[-300:]!r}")
            try:
                data += self.sock.recv(4096)
            except TimeoutError:
                continue
        return data

    def load(self, path: Path, names: tuple[str, ...] = ()) -> None:
        """Define a module's names in the REPL's globals, one statement per exec."""
        for source in statements(path, names):
            out, err = self.run(source + "import gc\ngc.collect()\n")
            assert not err, f"{path.name}: {err}\n{source[:200]}"

    def run(self, code: str, timeout_s: float = 60, attempts: int = 3) -> tuple[str, str]:
        """Execute ``code``; a SyntaxError means a byte was lost on the emulated UART (the
        board's receive buffer overflows when the host is busy): nothing ran, so send it
        again."""
        for _ in range(attempts):
            for byte in code.encode():
                self.sock.sendall(bytes([byte]))
                time.sleep(0.001)
            self.sock.sendall(b"\x04")
            reply = self._until(b"\x04>", timeout_s)
            body = reply[reply.index(b"OK") + 2:]
            out, err = (part.decode(errors="replace") for part in body.split(b"\x04")[:2])
            if "SyntaxError" not in err:
                break
        return out, err

    def close(self) -> None:
        self.sock.close()
        self.qemu.kill()
        self.qemu.wait(timeout=10)


@pytest.fixture
def microbit():
    assert FIRMWARE.exists(), f"{FIRMWARE}: apt-get install firmware-microbit-micropython " \
                              "(tools/system_packages.sh)"
    board = MicroBit()
    try:
        yield board
    finally:
        board.close()


SCORES = [(0.1, 0.8, 0.1), (0.1, 0.9, 0.0), (0.2, 0.3, 0.5), (0.1, 0.1, 0.8), (0.0, 0.1, 0.9),
          (0.3, 0.6, 0.1), (0.1, 0.7, 0.2), (0.2, 0.75, 0.05), (0.5, 0.4, 0.1), (0.1, 0.2, 0.7)]


@pytest.mark.slow
def test_policy_and_fixed_point_run_on_a_microbit(microbit):
    policy = Policy(classes=("a", "b", "c"), alert_classes=("b", "c"), on_levels=(0.5, 0.6),
                    off_levels=(0.4, 0.5), confident_levels=(0.85, 0.8), k=2, n=3,
                    cooldown_s=2.0)
    microbit.load(PACKAGE_DIR / "tfmp" / "policy.py")
    driver = (f"p = Policy({policy.to_dict()!r})\ns = State(p)\n"
              f"for i, sc in enumerate({SCORES!r}):\n"
              "    d = step(p, s, sc, float(i), ('depth',) if i == 6 else ())\n"
              "    if d:\n        print(i, d['label'], d['hits'], d['needs_confirmation'])\n"
              "import gc\ngc.collect()\nprint('free', gc.mem_free())\n")
    out, err = microbit.run(driver)
    assert not err, err
    state, expected = initial_state(policy), []
    for i, scores in enumerate(SCORES):
        state, decision = step(policy, state, scores, now_s=float(i),
                               missing=("depth",) if i == 6 else ())
        if decision is not None:
            expected.append(f"{i} {decision.label} {decision.hits} "
                            f"{decision.needs_confirmation}")
    lines = out.strip().splitlines()
    print("micro:bit decisions:", lines)
    assert lines[:-1] == expected and len(expected) >= 2
    assert int(lines[-1].split()[1]) > 0
    # fixed point: the board's mbqm against the compiler's multipliers
    microbit.run("del Policy, State, step\nimport gc\ngc.collect()\n")
    microbit.load(PACKAGE_DIR / "tfmp" / "fixed.py",
                  ("INT32_MIN", "INT32_MAX", "wrap32", "srdhm", "rdbpot", "mbqm"))
    cases = [(12345, 0.0071), (-987654, 0.000113), (2**20, 1.7), (-3, 0.49)]
    checks = [(x, *quantize_multiplier(r)) for x, r in cases]
    out, err = microbit.run(f"print([mbqm(x, m, s) for x, m, s in {checks!r}])\n")
    assert not err, err
    assert out.strip() == str([_mbqm(x, m, s) for x, m, s in checks])


def _mbqm(x: int, multiplier: int, shift: int) -> int:
    """MultiplyByQuantizedMultiplier in plain Python (an independent reference)."""
    left, right = max(shift, 0), max(-shift, 0)
    value = ((x << left) + (1 << 31)) % (1 << 32) - (1 << 31)
    value = (value * multiplier + (1 << 30)) >> 31
    mask = (1 << right) - 1
    remainder, threshold = value & mask, (mask >> 1) + (1 if value < 0 else 0)
    return (value >> right) + (1 if remainder > threshold else 0)
