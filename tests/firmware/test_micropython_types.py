"""The board package type-checks against the MicroPython stubs of the ESP32 and RP2040 ports
(mypy with the stubs as ``mypy_path`` and MicroPython's stdlib stubs as the typeshed). The
stubs are installed once with ``pip install --no-deps --target`` into ``build/``: they cannot
live in the virtual environment (each port ships its own ``machine``, ``time``, ...)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tinyfuse.firmware.micropython_export import PACKAGE_DIR

REPO = Path(__file__).resolve().parent.parent.parent
CACHE = REPO / "build" / "micropython-stubs"
STUBS = {"esp32": "micropython-esp32-stubs==1.28.0.post4",
         "rp2": "micropython-rp2-stubs==1.28.0.post4",
         "stdlib": "micropython-stdlib-stubs>=1.28.0,<1.29.0"}
# the stub files themselves do not all pass mypy; only the package's own modules are checked
STUB_MODULES = ("machine", "network", "socket", "time", "math", "vfs", "micropython",
                "_mpy_shed.*", "binascii", "gc", "os", "struct", "array", "json", "io")


def stubs(name: str) -> Path:
    target = CACHE / name
    done = target / ".installed"
    if not done.exists() or done.read_text() != STUBS[name]:
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--target", str(target), STUBS[name]], check=True, timeout=600,
                       capture_output=True)
        done.write_text(STUBS[name])
    return target


@pytest.mark.slow
@pytest.mark.parametrize("port", ["esp32", "rp2"])
def test_board_package_type_checks_against_the_port_stubs(port, tmp_path):
    board, stdlib = stubs(port), stubs("stdlib")
    shutil.copytree(PACKAGE_DIR / "tfmp", tmp_path / "tfmp")
    shutil.copyfile(PACKAGE_DIR / "main.py", tmp_path / "main.py")
    config = tmp_path / "mypy.ini"
    config.write_text(f"[mypy]\nmypy_path = {board}:{stdlib}\ncustom_typeshed_dir = {stdlib}\n"
                      "python_version = 3.11\nfollow_imports = silent\n\n"
                      f"[mypy-{','.join(STUB_MODULES)}]\nignore_errors = True\n")
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(config),
                             "--no-incremental", "--cache-dir", "/dev/null", "tfmp", "main.py"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Success: no issues found" in result.stdout
