"""`tinyfuse new`: every start writes an app.toml that parses (the blank one once its data
folder exists), and nothing is overwritten."""

from __future__ import annotations

import pytest

from tinyfuse.apps.cli import main
from tinyfuse.fusion.config import load_config


@pytest.mark.parametrize("start", ["factory", "cough", "posture", "blank"])
def test_new_app_configs_parse(tmp_path, start, capsys):
    if start == "blank":
        (tmp_path / "pump" / "data").mkdir(parents=True)
    assert main(["new", "pump", "--from", start, "--dir", str(tmp_path)]) == 0
    config = load_config(tmp_path / "pump" / "app.toml")
    assert config.name == "pump"
    assert (tmp_path / "pump" / "README.md").read_text().startswith("# pump")
    assert "wrote" in capsys.readouterr().out
    assert main(["new", "pump", "--from", start, "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_new_refuses_a_bad_name(tmp_path, capsys):
    assert main(["new", "My App", "--dir", str(tmp_path)]) == 2
    assert "is not an app name" in capsys.readouterr().err
