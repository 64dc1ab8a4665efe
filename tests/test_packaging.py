"""The distribution: one top-level import name (``tinyfuse``) in the wheel, a user's own
``apps`` package importable beside it, and serving (compile, verify, run, the bundle and the
preprocessor) working with TensorFlow and Keras unimportable."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(out), str(REPO)], check=True,
                   capture_output=True, timeout=300)
    [path] = out.glob("tinyfuse-*.whl")
    return path


def test_the_wheel_has_one_top_level_name(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top_level = {name.split("/")[0] for name in names if not name.startswith(
            "tinyfuse-") or "dist-info" not in name.split("/")[0]}
        info = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        declared = archive.read(info[0]).decode().split() if info else ["tinyfuse"]
    assert top_level == {"tinyfuse"}, sorted(top_level)
    assert declared == ["tinyfuse"]
    for needed in ("tinyfuse/core/bundle.py", "tinyfuse/sensors/preprocess.py",
                   "tinyfuse/fusion/pipeline.py", "tinyfuse/firmware/runtime/tf_conv.c",
                   "tinyfuse/firmware/boards/harness/main.c",
                   "tinyfuse/firmware/boards/image/app_uart_main.c",
                   "tinyfuse/apps/factory/app.toml", "tinyfuse/py.typed"):
        assert needed in names, needed
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_a_users_own_apps_package_sits_beside_tinyfuse(tmp_path):
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "__init__.py").write_text('WHOSE = "mine"\n')
    script = textwrap.dedent("""
        import apps
        import tinyfuse.apps.cli
        from tinyfuse.apps.cli import build_parser
        assert apps.WHOSE == "mine", apps.__file__
        assert tinyfuse.apps.cli.__name__ == "tinyfuse.apps.cli"
        build_parser()  # every command module loads
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


BLOCK_TENSORFLOW = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
            raise ImportError(f"{name} is blocked: serving must not need it")
        return None
sys.meta_path.insert(0, Block())
"""


def test_serving_needs_no_tensorflow(bundle_tflite_dir, tmp_path):
    """``compile``, ``verify --target host``, ``deploy`` (emulated board) and ``run`` (both
    scorers) on a real bundle, in a process where importing TensorFlow or Keras fails."""
    build, tflite = bundle_tflite_dir
    board = tmp_path / "board"
    shutil.copytree(build, board)
    script = BLOCK_TENSORFLOW + textwrap.dedent(f"""
        from tinyfuse.apps.cli import main
        codes = [
            main(["compile", {str(tflite)!r}, "--out", {str(tmp_path / "c")!r}]),
            main(["verify", {str(tflite)!r}, "--vectors", "4"]),
            main(["deploy", {str(board)!r}, "--vectors", "3"]),
            main(["run", {str(build)!r}, "--out", {str(tmp_path / "run")!r},
                  "--per-class", "2", "--scorer", "host"]),
            main(["run", {str(build)!r}, "--out", {str(tmp_path / "run2")!r},
                  "--per-class", "2", "--scorer", "tflite"]),
        ]
        assert codes == [0, 0, 0, 0, 0], codes
        import sys
        assert not {{"tensorflow", "keras"}} & set(sys.modules)
        print("served")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "served" in result.stdout
    assert (tmp_path / "c" / "model.c").is_file() and (tmp_path / "run2" / "stream.png").is_file()


@pytest.fixture
def bundle_tflite_dir(bundle_dir):
    return bundle_dir, bundle_dir / "model.tflite"


def test_version_is_one_number_everywhere(capsys):
    from importlib.metadata import version

    import tinyfuse
    from tinyfuse.apps.cli import main
    from tinyfuse.core.bundle import Bundle

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"tinyfuse {tinyfuse.__version__}"
    assert version("tinyfuse") == tinyfuse.__version__
    assert Bundle.__module__ == "tinyfuse.core.bundle"
