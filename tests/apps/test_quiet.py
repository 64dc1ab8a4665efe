"""The CLI keeps TensorFlow's C++ log lines off the terminal and passes everything else."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import os, sys
    from tinyfuse.apps.cli import quiet
    assert quiet.filter_native_stderr()
    os.write(2, b"I0000 00:00:1796175388.651088    8352 port.cc:153] oneDNN custom ops\\n")
    os.write(2, b"E0000 00:00:1796175392.926302    8352 cuda_platform.cc:52] cuInit\\n")
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called\\n")
    os.write(2, b"fully_quantize: 0, inference_type: 6\\n")
    print("tinyfuse build: error: kept", file=sys.stderr)
    os.write(2, b"a native line that is not noise\\n")
    quiet.restore()
    print("after restore", file=sys.stderr)
""")


def test_noise_is_dropped_and_the_rest_kept():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["tinyfuse build: error: kept",
                                          "a native line that is not noise", "after restore"]
