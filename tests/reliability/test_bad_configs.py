"""Bad configs are refused when loaded, in one line naming the file (or ``--set``) that wrote
the key, the key, the value and what is expected: values out of range or not finite, splits
that share folds / tiles / roots / groups (leakage), a metric the task does not log, YAML
files that are not UTF-8, not regular files or hold a key twice. What depends on the machine
(the accelerator) is :func:`~sitsfusion.config_checks.check_runtime`'s, before any data is
read."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import os
import textwrap
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import Ran
from sitsfusion.config import ConfigError, ExperimentConfig, load_config
from sitsfusion.config_checks import (
    ACCELERATORS,
    MONITOR_METRICS,
    PRECISIONS,
    VALID,
    check_runtime,
)

# (the YAML of a config file, what the one-line message says after the file name)
VALUES: dict[str, tuple[str, str]] = {
    "epochs 0": ("train: {epochs: 0}", "train.epochs: expected >= 1, got 0"),
    "epochs -1 (forever)": ("train: {epochs: -1}", "train.epochs: expected >= 1, got -1"),
    "lr 0": ("train: {lr: 0}", "train.lr: expected > 0, got 0.0"),
    "lr negative": ("train: {lr: -0.001}", "train.lr: expected > 0"),
    "lr NaN": ("train: {lr: .nan}", "train.lr: expected a finite number, got nan"),
    "lr inf": ("train: {lr: .inf}", "train.lr: expected a finite number, got inf"),
    "lr overflowing": ("train: {lr: 1.0e+400}", "train.lr: expected a finite number"),
    "limit_train_batches 0": (
        "train: {limit_train_batches: 0}",
        "train.limit_train_batches: expected a share in (0, 1] or a number of batches >= 1",
    ),
    "limit_train_batches negative": ("train: {limit_train_batches: -2}", "got -2"),
    "limit_train_batches share > 1": ("train: {limit_train_batches: 1.5}", "got 1.5"),
    "devices 0": ("train: {devices: 0}", "train.devices: expected an integer >= 1, -1 (all)"),
    "devices -2": ("train: {devices: -2}", "train.devices: expected"),
    "devices '0'": ("train: {devices: '0'}", "train.devices: expected"),
    "devices garbled": ("train: {devices: '0,,1'}", "train.devices: expected"),
    "unknown accelerator": (
        "train: {accelerator: quantum}",
        "train.accelerator: expected one of auto, cpu, gpu, cuda, mps, tpu, got 'quantum'",
    ),
    "unknown precision": ("train: {precision: 8-bit}", "train.precision: expected one of"),
    "unknown monitor": (
        "train: {monitor: val_accuracy}",
        "train.monitor: 'val_accuracy' is not logged by the parcel task; expected one of "
        "val_loss, val_miou, val_oa, val_macro_f1",
    ),
    "monitor of another task": (
        "task: panoptic\ntrain: {monitor: val_loss}",
        "not logged by the panoptic task; expected one of val_pq",
    ),
    "seed negative": ("train: {seed: -1}", "train.seed: expected in [0, 4294967295], got -1"),
    "seed too large": ("train: {seed: 4294967296}", "train.seed: expected in [0, 4294967295]"),
    "early stopping patience 0": (
        "train: {early_stopping_patience: 0}",
        "train.early_stopping_patience: expected >= 1",
    ),
    "step_size 0": ("train: {step_size: 0}", "train.step_size: expected >= 1"),
    "step_gamma 0": ("train: {step_gamma: 0}", "train.step_gamma: expected in (0, 1]"),
    "plateau_factor 1": (
        "train: {plateau_factor: 1.0}",
        "train.plateau_factor: expected in (0, 1)",
    ),
    "milestones decreasing": (
        "train: {milestones: [50, 10]}",
        "train.milestones: expected increasing epochs, got [50, 10]",
    ),
    "focal_gamma negative": ("train: {focal_gamma: -1}", "train.focal_gamma: expected >= 0"),
    "log_every_n_steps 0": ("train: {log_every_n_steps: 0}", "train.log_every_n_steps"),
    "warmup_epochs negative": ("train: {warmup_epochs: -1}", "train.warmup_epochs: expected >= 0"),
    "out_dir blank": ("train: {out_dir: ' '}", "train.out_dir: expected non-empty"),
    "batch_size 0": ("data: {batch_size: 0}", "data.batch_size: expected >= 1, got 0"),
    "num_workers negative": ("data: {num_workers: -1}", "data.num_workers: expected >= 0"),
    "n_pixels 0": ("data: {n_pixels: 0}", "data.n_pixels: expected >= 1"),
    "temporal dropout > 1": (
        "data: {temporal_dropout: {S2: 1.5}}",
        "data.temporal_dropout: expected in [0, 1], got 1.5 in {'S2': 1.5}",
    ),
    "eval_drop negative": ("data: {eval_drop: {S2: -0.1}}", "data.eval_drop: expected in [0, 1]"),
    "subsequence 0": ("data: {subsequence: {S2: 0}}", "data.subsequence: expected >= 1"),
    "split fractions not summing to 1": (
        "data: {split_fractions: [0.6, 0.3, 0.3]}",
        "data.split_fractions: expected 3 shares (train, val, test) summing to 1",
    ),
    "two split fractions": ("data: {split_fractions: [0.5, 0.5]}", "expected 3 shares"),
    "split fraction out of [0, 1]": (
        "data: {split_fractions: [1.2, -0.1, -0.1]}",
        "data.split_fractions: expected in [0, 1], got 1.2",
    ),
    "split_seed negative": ("data: {split_seed: -3}", "data.split_seed: expected in [0, "),
    "n_folds 2": ("data: {n_folds: 2}", "data.n_folds: expected >= 3, got 2"),
    "fold beyond n_folds": ("data: {fold: 5}", "data.fold: expected 0..4 (data.n_folds 5), got 5"),
    "month 13": ("data: {months: [4, 13]}", "data.months: expected in [1, 12], got 13"),
    "month twice": ("data: {months: [4, 4]}", "data.months: expected distinct months"),
    "class scheme 12": ("data: {class_scheme: 12}", "data.class_scheme: expected one of 14, 10, 6"),
    "root empty": ("data: {root: ''}", "data.root: expected non-empty"),
    "test fold also a training fold": (
        "data: {test_folds: [1]}",
        "data.train_folds and data.test_folds share [1]: the test samples would leak into the "
        "train split",
    ),
    "val fold also a training fold": ("data: {val_folds: [3]}", "share [3]"),
    "a fold twice": ("data: {train_folds: [1, 1, 2]}", "data.train_folds: [1] listed twice"),
    "fold 0": ("data: {train_folds: [0, 1]}", "data.train_folds: expected >= 1"),
    "a tile in two splits": (
        "data: {train_tiles: [T31UFQ, 31UFP], val_tiles: [31UFQ]}",
        "data.train_tiles and data.val_tiles share ['31UFQ']",
    ),
    "a root in two splits": (
        "data: {train_roots: [a/b.csv], test_roots: [./a/b.csv]}",
        "data.train_roots and data.test_roots share",
    ),
    "a group in two splits": (
        "data: {split: groups, train_groups: [france/2019], test_groups: [france/2019]}",
        "data.train_groups and data.test_groups share ['france/2019']",
    ),
    "num_classes 0": ("model: {num_classes: 0}", "model.num_classes: expected >= 1"),
    "auxiliary negative": ("model: {auxiliary: -0.5}", "model.auxiliary: expected >= 0"),
    "a decoder width 0": ("model: {decoder: [64, 0]}", "model.decoder: expected >= 1, got 0"),
    "NaN in a free-form option": (
        "model: {temporal: {name: ltae, dropout: .nan}}",
        "model.temporal.dropout: expected a finite number, got nan",
    ),
    "name empty": ("name: ''", "name: expected non-empty"),
}


def _one_line(exc: pytest.ExceptionInfo[ConfigError]) -> str:
    message = str(exc.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("case", list(VALUES), ids=lambda c: c.replace(" ", "_"))
def test_a_bad_value_is_refused_naming_the_file_and_key(tmp_path: Path, case: str) -> None:
    text, match = VALUES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = _one_line(info)
    assert message.startswith(f"{path}: ") and match in message, message


def test_a_value_written_by_set_names_the_override() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["data.val_folds=[1]"])
    assert _one_line(info).startswith("--set data.val_folds=[1]: data.train_folds and data.val")


VALID_EDGES = [
    "train.epochs=1",
    "train.lr=1e-9",
    "train.devices=-1",
    "train.devices=0,1",
    "train.devices=auto",
    "train.limit_train_batches=0.5",
    "train.limit_train_batches=3",
    "train.seed=4294967295",
    "train.accelerator=cuda",  # machine-independent: check_runtime says if it is present
    "train.precision=bf16-mixed",
    "data.split_fractions=[1, 0, 0]",
    "data.temporal_dropout={S2: 1.0}",
    "data.train_folds=[1, 2]",
]


@pytest.mark.parametrize("override", VALID_EDGES)
def test_valid_edge_values_load(override: str) -> None:
    load_config(None, [override])


def test_custom_disjoint_folds_and_panoptic_metrics_load() -> None:
    cfg = load_config(
        None, ["task=panoptic", "train.monitor=val_pq", "data.val_folds=[5]", "data.test_folds=[4]"]
    )
    assert cfg.data.test_folds == [4] and cfg.train.monitor == "val_pq"


# ------------------------------------------------------------------------------- YAML files


def _fifo(path: Path) -> None:
    os.mkfifo(path)


FILES: dict[str, tuple[Callable[[Path], Any], str]] = {
    "missing": (lambda p: None, "config file not found"),
    "a directory": (lambda p: p.mkdir(), "is a directory, expected a config file"),
    "a named pipe": (_fifo, "is a named pipe, expected a config file"),
    "invalid UTF-8": (
        lambda p: p.write_bytes(b"name: ok\ndescription: caf\xe9\n"),
        "not UTF-8 text (byte 0xe9 at offset 25, line 2)",
    ),
    "UTF-16": (lambda p: p.write_text("name: x\n", encoding="utf-16"), "not UTF-8 text"),
    "a key twice": (
        lambda p: p.write_text("name: a\nname: b\n"),
        "line 2: key 'name' written twice",
    ),
    "a nested key twice": (
        lambda p: p.write_text("train:\n  lr: 0.1\n  epochs: 3\n  lr: 0.01\n"),
        "line 4: key 'lr' written twice",
    ),
    "a Python object tag": (
        lambda p: p.write_text("name: !!python/object:os.system [ls]\n"),
        "not valid YAML",
    ),
    "a list at the top": (lambda p: p.write_text("- name\n"), "the top level must be a mapping"),
    "a tab indent": (lambda p: p.write_text("train:\n\tlr: 1\n"), "not valid YAML"),
    "extends a directory": (
        lambda p: (p.parent.joinpath("base.yaml").mkdir(), p.write_text("extends: base.yaml\n")),
        "extends 'base.yaml': ",
    ),
    "extends a named pipe": (
        lambda p: (_fifo(p.parent / "base.yaml"), p.write_text("extends: base.yaml\n")),
        "is a named pipe, expected a YAML file",
    ),
}


@pytest.mark.parametrize("case", list(FILES), ids=lambda c: c.replace(" ", "_"))
def test_a_bad_yaml_file_is_refused_naming_it(tmp_path: Path, alarm: None, case: str) -> None:
    make, match = FILES[case]
    path = tmp_path / "bad.yaml"
    make(path)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = _one_line(info)
    assert message.startswith(str(path)) and match in message, message


# ---------------------------------------------------------------------------------- runtime


@pytest.mark.parametrize(
    ("accelerator", "present"),
    [
        ("gpu", torch.cuda.is_available() or torch.backends.mps.is_available()),
        ("cuda", torch.cuda.is_available()),
        ("mps", torch.backends.mps.is_available()),
        ("tpu", False),
    ],
)
def test_an_accelerator_that_is_not_present_is_refused(accelerator: str, present: bool) -> None:
    if present:
        pytest.skip(f"this machine has {accelerator}")
    cfg = load_config(None, [f"train.accelerator={accelerator}"])
    with pytest.raises(ConfigError) as info:
        check_runtime(cfg)
    assert _one_line(info).startswith(f"train.accelerator: {accelerator!r} is not present")


@pytest.mark.parametrize("accelerator", ["auto", "cpu"])
def test_the_cpu_is_always_present(accelerator: str) -> None:
    check_runtime(load_config(None, [f"train.accelerator={accelerator}"]))


# ----------------------------------------------------------------- the lists match their source


def _logged(cls: type, method: str) -> set[str]:
    """The metric names ``self.log("val_...")`` of ``method`` as ``cls`` resolves it."""
    source = textwrap.dedent(inspect.getsource(getattr(cls, method)))
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "log" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and str(first.value).startswith("val_"):
                names.add(first.value)
    return names


@pytest.mark.parametrize("task", sorted(MONITOR_METRICS))
def test_monitor_metrics_are_those_the_task_logs(task: str) -> None:
    from sitsfusion.tasks.base import task_class

    cls = task_class(task)
    logged = _logged(cls, "validation_step") | _logged(cls, "on_validation_epoch_end")
    assert logged == set(MONITOR_METRICS[task])


def test_accelerators_and_precisions_are_lightnings() -> None:
    from lightning.fabric.connector import _PRECISION_INPUT_STR, _PRECISION_INPUT_STR_ALIAS
    from lightning.pytorch.accelerators import AcceleratorRegistry

    assert set(ACCELERATORS) == {"auto", "gpu", *AcceleratorRegistry.available_accelerators()}
    lightning = typing.get_args(_PRECISION_INPUT_STR) + typing.get_args(_PRECISION_INPUT_STR_ALIAS)
    assert set(PRECISIONS) == set(lightning)


def test_every_checked_key_exists() -> None:
    keys = {f.name for f in dataclasses.fields(ExperimentConfig)}
    for section in ("data", "model", "train"):
        cls = typing.get_type_hints(ExperimentConfig)[section]
        keys |= {f"{section}.{f.name}" for f in dataclasses.fields(cls)}
    assert set(VALID) <= keys


# ----------------------------------------------------------------------------- command line


@pytest.mark.parametrize(
    ("command", "case"),
    [
        ("show", "epochs -1 (forever)"),
        ("show", "test fold also a training fold"),
        ("fit", "unknown monitor"),
        ("fit", "batch_size 0"),
    ],
)
def test_commands_print_one_line(
    sitsfusion_main: Callable[..., Ran], tmp_path: Path, command: str, case: str
) -> None:
    text, match = VALUES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text + "\n")
    args = ["config", "show", path] if command == "show" else ["fit", "--config", path]
    ran = sitsfusion_main(*args)
    _assert_one_line(ran, f"{path}: ", match)


@pytest.mark.parametrize("case", ["invalid UTF-8", "a named pipe", "a directory"])
def test_bad_files_on_the_command_line(
    sitsfusion_main: Callable[..., Ran], tmp_path: Path, alarm: None, case: str
) -> None:
    make, match = FILES[case]
    path = tmp_path / "bad.yaml"
    make(path)
    _assert_one_line(sitsfusion_main("config", "show", path), str(path), match)


def _assert_one_line(ran: Ran, start: str, match: str) -> None:
    output = ran.stdout + ran.stderr
    lines = [line for line in output.splitlines() if line.strip()]
    assert ran.code == 2 and "Traceback" not in output, output
    assert len(lines) == 1 and lines[0].startswith(f"error: {start}") and match in lines[0], output
