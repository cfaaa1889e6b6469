"""Bad checkpoints are refused with one line naming the file: not a file, not a torch file, not
a sitsfusion checkpoint, non-finite weights, a tampered stored config, another dataset or
architecture. The bad files are copies of one tiny, valid checkpoint, corrupted.

The tasks are built without data (channels and class names given); a dataset folder is read
only by the command-line cases, from the tiny synthetic PASTIS-R of the session fixtures.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

from conftest import Ran
from paths import CONFIGS
from sitsfusion.config import load_config
from sitsfusion.tasks.base import (
    CheckpointError,
    SupervisedTask,
    check_same_architecture,
    check_same_dataset,
    load_task,
    task_class,
)

CONFIG = CONFIGS / "garnot2021" / "parcel" / "s2.yaml"
TINY = [
    "model.spatial={name: pse, mlp1: [4, 8], mlp2: [8]}",
    "model.temporal={name: ltae, n_head: 2, d_k: 2, d_model: 8, mlp: [8, 8]}",
    "model.decoder=[4]",
    "model.num_classes=3",
]
CLASSES = ["Meadow", "Wheat", "Maize"]


def _task(*overrides: str, channels: dict[str, int] | None = None, classes=CLASSES):
    cfg = load_config(CONFIG, [*TINY, *overrides])
    return task_class(cfg.task)(cfg.to_dict(), channels or {"S2": 10}, list(classes))


def _checkpoint(task: SupervisedTask) -> dict[str, Any]:
    """What Lightning's ``ModelCheckpoint`` stores, for a task that has not trained."""
    return {
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": L.__version__,
        "state_dict": task.state_dict(),
        "hyper_parameters": dict(task.hparams),
    }


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "best.ckpt"
    torch.save(_checkpoint(_task()), path)
    return path


@pytest.fixture
def ckpt(good: Path) -> dict[str, Any]:
    """A deep copy of the good checkpoint's content, to tamper with."""
    return copy.deepcopy(torch.load(good, weights_only=True))


def _refused(path: Path, match: str) -> str:
    with pytest.raises(CheckpointError) as info:
        load_task(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message, message
    assert match in message, message
    return message


def test_the_untouched_checkpoint_loads(good: Path) -> None:
    task = load_task(good)
    assert task.hparams["class_names"] == CLASSES
    stored = torch.load(good, weights_only=True)["state_dict"]
    assert all(torch.equal(task.state_dict()[k], v) for k, v in stored.items())


# ---------------------------------------------------------------------------- the file itself


def test_a_named_pipe_is_refused_without_opening_it(tmp_path: Path, alarm: None) -> None:
    fifo = tmp_path / "pipe.ckpt"
    os.mkfifo(fifo)
    _refused(fifo, "not a regular file")


FILES: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "missing": (lambda good, p: None, "checkpoint not found"),
    "directory": (lambda good, p: p.mkdir(), "is a directory"),
    "empty": (lambda good, p: p.write_bytes(b""), "empty file"),
    "garbage": (lambda good, p: p.write_bytes(b"not a checkpoint\n" * 20), "not a PyTorch"),
    "truncated": (
        lambda good, p: p.write_bytes(good.read_bytes()[: good.stat().st_size // 2]),
        "not a PyTorch",
    ),
    "text": (lambda good, p: p.write_text("epochs: 3\n"), "not a PyTorch"),
    "a tensor": (lambda good, p: torch.save(torch.zeros(3), p), "not a sitsfusion checkpoint"),
}


@pytest.mark.parametrize("kind", sorted(FILES))
def test_what_is_not_a_torch_file_is_refused(good: Path, tmp_path: Path, kind: str) -> None:
    make, match = FILES[kind]
    path = tmp_path / "bad.ckpt"
    make(good, path)
    _refused(path, match)


class Unsafe:
    """A class a weights-only load must not import."""


def test_a_pickled_object_is_refused_by_the_safe_loader(tmp_path: Path) -> None:
    path = tmp_path / "bad.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"config": Unsafe()}}, path)
    assert "Unsupported global" in _refused(path, "loads safely")


# -------------------------------------------------------------------------------- its content


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        tree = tree[part]
    tree[last] = value


def _weights(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    return ckpt["state_dict"]


def _first_weight(ckpt: dict[str, Any]) -> str:
    return next(k for k, v in _weights(ckpt).items() if v.is_floating_point())


def _nan(ckpt: dict[str, Any]) -> None:
    _weights(ckpt)[_first_weight(ckpt)].view(-1)[:2] = float("nan")


def _inf(ckpt: dict[str, Any]) -> None:
    weights = _weights(ckpt)
    last = [k for k, v in weights.items() if v.is_floating_point()][-1]
    weights[last].view(-1)[0] = float("-inf")


CONTENT: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "no hyper_parameters": (lambda c: c.pop("hyper_parameters"), "not a sitsfusion"),
    "no stored config": (lambda c: c["hyper_parameters"].pop("config"), "not a sitsfusion"),
    "no state_dict": (lambda c: c.pop("state_dict"), "not a sitsfusion checkpoint"),
    "NaN weights": (_nan, "hold 2 NaN or infinite value(s)"),
    "infinite weights": (_inf, "hold 1 NaN or infinite value(s)"),
    "a weight that is not a tensor": (
        lambda c: _weights(c).__setitem__(_first_weight(c), [1.0, 2.0]),
        "is not a tensor",
    ),
    "an unknown hyper-parameter": (
        lambda c: c["hyper_parameters"].__setitem__("dropout", 0.5),
        "unknown ['dropout']",
    ),
    "channels of the wrong type": (
        lambda c: c["hyper_parameters"].__setitem__("channels", {"S2": "ten"}),
        "hyper_parameters.channels",
    ),
    "class names not a list": (
        lambda c: c["hyper_parameters"].__setitem__("class_names", "Meadow"),
        "hyper_parameters.class_names",
    ),
    "NaN class weights": (
        lambda c: c["hyper_parameters"].__setitem__("class_weights", [1.0, float("nan"), 1.0]),
        "hyper_parameters.class_weights",
    ),
    "config: a value of the wrong type": (
        lambda c: _set(c["hyper_parameters"]["config"], "model.fusion", 3),
        "model.fusion",
    ),
    "config: an unknown key": (
        lambda c: _set(c["hyper_parameters"]["config"], "model.backdoor", "x"),
        "backdoor",
    ),
    "config: a section missing": (
        lambda c: c["hyper_parameters"]["config"].pop("model"),
        "stored config lacks ['model']",
    ),
    "config: an out-of-range value": (
        lambda c: _set(c["hyper_parameters"]["config"], "train.lr", -1.0),
        "train.lr: expected > 0",
    ),
    "config: a NaN value": (
        lambda c: _set(c["hyper_parameters"]["config"], "model.auxiliary", float("nan")),
        "model.auxiliary: expected a finite number",
    ),
    "config: a class count that is not the class names'": (
        lambda c: _set(c["hyper_parameters"]["config"], "model.num_classes", 5),
        "does not build a model",
    ),
    "config: an unknown encoder": (
        lambda c: _set(c["hyper_parameters"]["config"], "model.temporal.name", "nonesuch"),
        "does not build a model",
    ),
    "config: another architecture than the weights": (
        lambda c: _set(c["hyper_parameters"]["config"], "model.decoder", [6]),
        "weights do not fit the architecture",
    ),
    "a weight missing": (
        lambda c: _weights(c).pop(_first_weight(c)),
        "weights do not fit the architecture",
    ),
}


@pytest.mark.parametrize("kind", list(CONTENT), ids=lambda k: k.replace(" ", "_"))
def test_a_tampered_checkpoint_is_refused(ckpt: dict, tmp_path: Path, kind: str) -> None:
    change, match = CONTENT[kind]
    change(ckpt)
    path = tmp_path / "tampered.ckpt"
    torch.save(ckpt, path)
    _refused(path, match)


# ----------------------------------------------------- another dataset or another architecture

OTHER: dict[str, tuple[Callable[[], SupervisedTask], str]] = {
    "fewer channels": (
        lambda: _task(channels={"S2": 4}),
        "another dataset: channels per modality {'S2': 10}, the dataset has {'S2': 4}",
    ),
    "other class names": (
        lambda: _task(classes=["Meadow", "Wheat", "Soy"]),
        "another dataset: 3 classes (Maize, Meadow, Wheat), the dataset has 3 (Soy, Meadow",
    ),
    "more classes": (
        lambda: _task("model.num_classes=4", classes=[*CLASSES, "Soy"]),
        "3 classes (Meadow, Wheat, Maize), the dataset has 4 (Soy, Meadow",
    ),
    "other modalities": (
        lambda: _task("model.fusion=late", channels={"S2": 10, "S1A": 3}),
        "another architecture (parcel, fusion 'none', modalities ['S2'])",
    ),
    "other widths": (lambda: _task("model.decoder=[6]"), "another architecture"),
}


@pytest.mark.parametrize("kind", list(OTHER), ids=lambda k: k.replace(" ", "_"))
def test_a_checkpoint_of_another_dataset_or_architecture(good: Path, kind: str) -> None:
    build, match = OTHER[kind]
    with pytest.raises(CheckpointError) as info:
        check_same_architecture(build(), load_task(good), good)
    assert match in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_the_same_dataset_and_architecture_pass(good: Path) -> None:
    check_same_architecture(_task(), load_task(good), good)
    check_same_dataset(load_task(good), {"S2": 10, "S1A": 3}, CLASSES, good)  # S1A unused


@pytest.mark.parametrize(
    ("channels", "classes", "match"),
    [
        ({"S2": 13}, CLASSES, "channels per modality {'S2': 10}, the dataset has {'S2': 13}"),
        ({"S2": 10}, CLASSES[:2], "3 classes (Maize, Meadow, Wheat), the dataset has 2"),
        ({"S2": 10}, CLASSES[::-1], "3 classes (Meadow, Wheat, Maize), the dataset has 3"),
    ],
)
def test_a_dataset_without_a_config_model_is_checked_too(
    good: Path, channels: dict[str, int], classes: list[str], match: str
) -> None:
    """``predict`` builds no model from the config: the dataset alone is compared."""
    with pytest.raises(CheckpointError, match=re.escape(match)):
        check_same_dataset(load_task(good), channels, classes, good)


# ------------------------------------------------------------------------------ command line


@pytest.mark.parametrize("kind", ["garbage", "empty", "NaN weights", "config: an unknown key"])
def test_test_command_prints_one_line(
    sitsfusion_main: Callable[..., Ran],
    good: Path,
    ckpt: dict,
    pastis_r: Path,
    tmp_path: Path,
    kind: str,
) -> None:
    path = tmp_path / "bad.ckpt"
    if kind in FILES:
        make, match = FILES[kind]
        make(good, path)
    else:
        change, match = CONTENT[kind]
        change(ckpt)
        torch.save(ckpt, path)
    sets = [arg for item in [*TINY, f"data.root={pastis_r}"] for arg in ("--set", item)]
    ran = sitsfusion_main(
        "test", "--config", CONFIG, *sets, "--ckpt", path, "--out", tmp_path / "report"
    )
    output = ran.stdout + ran.stderr
    assert ran.code == 2, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and str(path) in lines[0] and match in lines[0], output
