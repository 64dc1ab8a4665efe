"""QEMU with a board's UART on a pty, paused before its first instruction: the serial tests
open the pty, then start the board, so no byte it sends is lost."""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Iterator


@contextlib.contextmanager
def paused_qemu(command: list[str], **popen) -> Iterator[tuple[subprocess.Popen, str]]:
    """Run ``command`` (a qemu-system-* line without ``-monitor``/``-serial``) with
    ``-monitor stdio -serial pty -S``; yields ``(process, pty path)``; :func:`start` runs it.
    The emulator is killed on exit."""
    qemu = subprocess.Popen([*command, "-monitor", "stdio", "-serial", "pty", "-S"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)
    try:
        port = None
        for _ in range(50):
            found = re.search(r"char device redirected to (\S+)", qemu.stdout.readline())
            if found:
                port = found.group(1)
                break
        assert port, "qemu did not name its pty"
        yield qemu, port
    finally:
        qemu.kill()
        qemu.wait()


def start(qemu: subprocess.Popen) -> None:
    """Let the paused emulator run (the monitor's ``cont``)."""
    qemu.stdin.write("cont\n")
    qemu.stdin.flush()
