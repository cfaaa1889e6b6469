"""The task registry: tasks register themselves by ``task_name``; ``tasks/base.py`` imports
none of its subclasses (no import circle)."""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from torch import Tensor, nn

import sitsfusion
import sitsfusion.tasks
from sitsfusion.config import ExperimentConfig
from sitsfusion.data.sample import Batch
from sitsfusion.models.builder import build_parcel_model
from sitsfusion.tasks import base
from sitsfusion.tasks.base import CheckpointError, SupervisedTask, task_class
from sitsfusion.tasks.panoptic import PanopticSegmentationTask
from sitsfusion.tasks.parcel import ParcelClassificationTask
from sitsfusion.tasks.semantic import SemanticSegmentationTask

TASKS_DIR = Path(sitsfusion.tasks.__file__).parent


@pytest.fixture
def scratch_tasks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A copy of the task registry for a test that defines tasks; restored afterwards."""
    monkeypatch.setattr(base, "_TASKS", dict(base._TASKS))
    yield


def _imported_modules(path: Path) -> set[str]:
    """Every module named by an import statement of ``path`` (at any depth, lazy ones too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_base_imports_no_sibling_task_module() -> None:
    siblings = {f"sitsfusion.tasks.{p.stem}" for p in TASKS_DIR.glob("*.py")} - {
        "sitsfusion.tasks.__init__",
        "sitsfusion.tasks.base",
    }
    assert siblings >= {
        "sitsfusion.tasks.parcel",
        "sitsfusion.tasks.semantic",
        "sitsfusion.tasks.panoptic",
    }
    assert not _imported_modules(TASKS_DIR / "base.py") & siblings
    # nor the package itself (which imports the siblings)
    assert "sitsfusion.tasks" not in _imported_modules(TASKS_DIR / "base.py")


def test_importing_the_base_first_registers_every_task(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import sitsfusion.tasks.base`` on its own (the task modules not yet imported) works —
    no circle — and every task is then known, since the package's ``__init__`` imports the
    task modules. Done in this interpreter with the task modules taken out of ``sys.modules``
    (restored afterwards); torch and Lightning stay loaded, so it takes milliseconds."""
    for name in [
        m for m in sys.modules if m == "sitsfusion.tasks" or m.startswith("sitsfusion.tasks.")
    ]:
        monkeypatch.delitem(sys.modules, name)
    fresh = importlib.import_module("sitsfusion.tasks.base")
    assert fresh is not base  # a new module object: imported from scratch
    names = [fresh.task_class(t).__name__ for t in ("panoptic", "semantic", "parcel")]
    assert names == [
        "PanopticSegmentationTask",
        "SemanticSegmentationTask",
        "ParcelClassificationTask",
    ]


def test_the_builtin_tasks_are_registered() -> None:
    assert task_class("parcel") is ParcelClassificationTask
    assert task_class("semantic") is SemanticSegmentationTask
    assert task_class("panoptic") is PanopticSegmentationTask
    with pytest.raises(CheckpointError, match=r"unknown task 'instance'; known: \['panoptic', 'p"):
        task_class("instance")


@pytest.mark.usefixtures("scratch_tasks")
def test_a_new_task_registers_itself_and_is_found() -> None:
    class FirstDateTask(SupervisedTask):
        """A toy task for this test: the parcel label, a parcel model."""

        task_name = "toy_parcel"

        def build_model(self, channels: dict[str, int]) -> nn.Module:
            return build_parcel_model(self.cfg.model, channels)

        def target(self, batch: Batch) -> Tensor:
            assert batch.label is not None
            return batch.label

    assert task_class("toy_parcel") is FirstDateTask
    config = ExperimentConfig().to_dict()
    config["model"]["num_classes"] = 2
    task = task_class("toy_parcel")(config, {"S2": 3}, ["a", "b"])
    assert isinstance(task, FirstDateTask)

    # a subclass inheriting the task_name does not replace its parent
    class Variant(FirstDateTask):
        pass

    assert task_class("toy_parcel") is FirstDateTask


@pytest.mark.usefixtures("scratch_tasks")
def test_a_task_name_cannot_be_taken_twice() -> None:
    with pytest.raises(TypeError, match=r"task 'parcel' is already registered by sitsfusion"):

        class Parcel(SupervisedTask):
            task_name = "parcel"
