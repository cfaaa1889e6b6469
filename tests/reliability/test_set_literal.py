"""``--set KEY=VALUE``: a text key (a path, a name, a choice) takes VALUE literally; every other
key reads it as YAML, then checks its type, and refuses a YAML comment rather than dropping
it. The rule is decided per key from the config dataclasses' annotations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import Ran
from sitsfusion.config import ConfigError, load_config


def _get(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = cfg[part] if isinstance(cfg, dict) else getattr(cfg, part)
    return cfg


LITERAL = [
    ("data.root", "2019", "2019"),  # YAML: the integer 2019
    ("data.root", "my: folder", "my: folder"),  # YAML: a mapping
    ("data.root", "runs #1", "runs #1"),  # YAML: "runs", the rest a comment
    ("data.root", "[a]", "[a]"),  # YAML: a list
    ("data.root", "'quoted'", "'quoted'"),  # YAML: the quotes removed
    ("data.root", "data/2019-06-01", "data/2019-06-01"),  # YAML 1.1 dates stay text
    ("data.root", "true", "true"),  # YAML: a boolean
    ("name", "2019", "2019"),
    ("description", "Table 1: late fusion #3", "Table 1: late fusion #3"),
    ("train.out_dir", "1e3", "1e3"),  # YAML: the float 1000.0 would become "1000.0"
    ("train.precision", "32", "32"),  # a Lightning alias of 32-true
    ("data.nomenclature", "123", "123"),  # str or null: text
    ("data.resample_to", "null", None),  # ... null where null is allowed
    ("data.resample_to", "~", None),
    ("data.resample_to", "S2", "S2"),
]


@pytest.mark.parametrize(("key", "text", "expected"), LITERAL)
def test_a_text_key_takes_the_value_literally(key: str, text: str, expected: Any) -> None:
    assert _get(load_config(None, [f"{key}={text}"]), key) == expected


YAML = [
    ("train.epochs", "2", 2),
    ("train.lr", "1e-3", 1e-3),
    ("data.cache", "true", True),
    ("data.modalities", "[S2, S1A]", ["S2", "S1A"]),
    ("data.temporal_dropout", "{S2: 0.4}", {"S2": 0.4}),
    ("model.temporal.n_head", "8", 8),
    ("data.classes", "null", None),
    ("train.devices", "2", 2),  # int or str: YAML where it gives one of the types ...
    ("train.devices", "0,1", "0,1"),
    ("train.devices", "auto", "auto"),
    ("train.limit_train_batches", "3", 3),  # float or int: an int stays a number of batches
    ("train.limit_train_batches", "0.5", 0.5),
]


@pytest.mark.parametrize(("key", "text", "expected"), YAML)
def test_other_keys_read_yaml(key: str, text: str, expected: Any) -> None:
    value = _get(load_config(None, [f"{key}={text}"]), key)
    assert value == expected and type(value) is type(expected)


BAD = [
    ("train.epochs=abc", "train.epochs: expected an integer, got 'abc'"),
    ("train.epochs=5 #quick", "YAML comment"),
    ("data.modalities=[S2] # S1 too", "YAML comment"),
    ("train.lr=fast", "train.lr: expected a number, got 'fast'"),
    ("train.lr=.nan", "train.lr: expected a finite number"),
    ("data.batch_size=1.5", "data.batch_size: expected an integer, got 1.5"),
    ("data.modalities=S2", "data.modalities: expected a list, got 'S2'"),
    ("data.cache=maybe", "data.cache: expected true or false, got 'maybe'"),
    ("model.fusion=late #x", "model.fusion: 'late #x' is not one of"),
    ("train.devices=my: gpus", "train.devices: expected an integer >= 1"),
    ("train.early_stopping_patience='20'", "expected int or null, got '20'"),
    ("data.format=2019", "data.format: '2019' is not one of"),
    ("data.root", "expected KEY=VALUE"),
    ("data..root=x", "expected a dotted key"),
    ("data.rot=x", "did you mean 'root'?"),
    ("data.reader.bands=[B2", "not valid YAML"),
]


@pytest.mark.parametrize(("override", "match"), BAD)
def test_a_bad_value_is_one_line_naming_the_key(override: str, match: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    message = str(info.value)
    assert match in message and "\n" not in message, message
    assert message.startswith(f"--set {override}") or message.startswith(f"--set {override!r}")


def test_config_show_writes_a_literal_value_back_as_text(
    sitsfusion_main: Callable[..., Ran], tmp_path: Path
) -> None:
    ran = sitsfusion_main("config", "show", "--set", "data.root=2019", "--set", "name=runs #1")
    assert ran.code == 0, ran.stdout
    shown = tmp_path / "shown.yaml"
    shown.write_text(ran.stdout)
    assert yaml.safe_load(ran.stdout)["data"]["root"] == "2019"
    again = load_config(shown)
    assert again.data.root == "2019" and again.name == "runs #1"


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("train.epochs=abc", "train.epochs: expected an integer, got 'abc'"),
        ("train.epochs=3 #x", "YAML comment"),
        ("train.devices=0", "train.devices: expected"),
    ],
)
def test_the_command_line_prints_one_line(
    sitsfusion_main: Callable[..., Ran], override: str, match: str
) -> None:
    ran = sitsfusion_main("config", "show", "--set", override)
    output = ran.stdout + ran.stderr
    lines = [line for line in output.splitlines() if line.strip()]
    assert ran.code == 2 and "Traceback" not in output, output
    assert len(lines) == 1 and match in lines[0], output
