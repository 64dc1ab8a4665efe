"""app.toml is strict: every misspelt name, wrong type or out-of-range value is a one-line
SpecError naming the table, the key and the value; never a traceback, never a silent default."""

from __future__ import annotations

import tomllib

import pytest

from tinyfuse.core.errors import DataError, SpecError
from tinyfuse.fusion.config import DataSettings, parse_config
from tinyfuse.fusion.features import load_samples

BASE = """
name = "x"
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

BAD = [
    ('[train]\nstudent_epochs = 5',
     '[trian]\nstudent_epochs = 5',
     "top level: unknown keys \\['trian'\\] \\(did you mean 'train'"),
    ('student_epochs = 5',
     'student_epochs = 5\nlearning_rate = "fast"',
     "\\[train\\]\\.learning_rate: expected a finite number, got 'fast'"),
    ('student_epochs = 5',
     'student_epochs = true',
     '\\[train\\]\\.student_epochs: expected an integer, got True'),
    ('student_epochs = 5',
     'student_epochs = 2.5',
     '\\[train\\]\\.student_epochs: expected an integer, got 2.5'),
    ('student_epochs = 5',
     'student_epochs = -3',
     'train\\.student_epochs: must be >= 1'),
    ('student_epochs = 5',
     'student_epochs = 5\nfinetune_epochs = -1',
     'train\\.finetune_epochs: must be >= 0'),
    ('classes = ["normal", "fault"]',
     'classes = "normal"',
     "\\[model\\]\\.classes: expected a list of strings, got 'normal'"),
    ('board = "nrf52840"',
     'board = 52840',
     '\\[budget\\]\\.board: expected a preset name'),
    ('board = "nrf52840"',
     'board = "nrf52840"\nflash = 1',
     "\\[budget\\] beside board: unknown keys \\['flash'\\]"),
    ('simulator = "factory"',
     'simulator = "factory"\noptions = "many"',
     '\\[data\\]\\.options: expected a table'),
    ('simulator = "factory"',
     'simulator = "factory"\ntest_fraction = "half"',
     '\\[data\\]\\.test_fraction: expected a finite number'),
    ('student_epochs = 5',
     'student_epochs = 5\n[policy]\ntarget_recall = 2.0',
     'policy\\.target_recall: must be a number in \\[0.0, 1.0\\]'),
    ('student_epochs = 5',
     'student_epochs = 5\nwidth_multipliers = ["wide"]',
     '\\[train\\]\\.width_multipliers: expected a list of numbers'),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD)
def test_bad_values_name_the_table_key_and_value(old, new, message):
    assert old in BASE
    with pytest.raises(SpecError, match=message) as caught:
        parse_config(tomllib.loads(BASE.replace(old, new, 1)), source="app.toml")
    assert str(caught.value).startswith("app.toml: ") and "\n" not in str(caught.value)


def test_the_base_config_parses():
    assert parse_config(tomllib.loads(BASE)).train.student_epochs == 5


def test_an_unknown_simulator_option_is_a_data_error():
    with pytest.raises(DataError, match=r"\[data\]\.options: the factory simulator: .*colour"):
        load_samples(DataSettings(simulator="factory", options=(("colour", "red"),)))
