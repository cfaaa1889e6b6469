"""The house rules of the layout: no base module imports its own subclasses (registries are
filled by the subclasses' packages), and every registry is complete whichever module of its
package is imported first."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

import sitsfusion

SRC = Path(sitsfusion.__file__).parent

BASES = {
    "tasks/base.py": "sitsfusion.tasks",
    "data/readers/base.py": "sitsfusion.data.readers",
    "data/modules/base.py": "sitsfusion.data.modules",
    "models/registry.py": "sitsfusion.models",
}


def _imports(path: Path) -> set[str]:
    """Every module an import statement of ``path`` names (any depth, lazy imports too), and
    every string passed to ``importlib.import_module``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            names.update(a.value for a in node.args if isinstance(a, ast.Constant))
    return names


@pytest.mark.parametrize("base", sorted(BASES))
def test_no_base_imports_its_subclasses(base: str) -> None:
    package = BASES[base]
    folder = SRC / Path(base).parent
    own = {f"{package}.{p.stem}" for p in folder.glob("*.py")} | {
        f"{package}.{p.name}" for p in folder.iterdir() if (p / "__init__.py").is_file()
    }
    own -= {f"{package}.__init__", f"{package}.{Path(base).stem}"}
    imported = _imports(SRC / base)
    assert not {m for m in imported for o in own if m == o or m.startswith(o + ".")}, base
    assert package not in imported, f"{base} imports its own package"


@pytest.mark.parametrize(
    ("leaf", "registry", "expected"),
    [
        (
            "sitsfusion.data.readers.sen4agrinet",
            "sitsfusion.data.readers.base:reader_formats",
            ["pastis", "multisenge", "sen4agrinet", "pixelset", "jrc", "oad", "long_table"],
        ),
        (
            "sitsfusion.data.modules.oad",
            "sitsfusion.data.modules.base:datamodule_formats",
            ["multisenge", "oad", "pastis", "pixelset", "sen4agrinet", "long_table"],
        ),
    ],
)
def test_a_registry_is_complete_whichever_module_comes_first(
    leaf: str, registry: str, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The package's modules taken out of ``sys.modules`` (restored afterwards), one leaf
    imported first: the registry already holds every built-in entry."""
    package = leaf.rsplit(".", 1)[0]
    parent = importlib.import_module(package.rsplit(".", 1)[0])
    monkeypatch.setattr(parent, package.rsplit(".", 1)[1], importlib.import_module(package))
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        monkeypatch.delitem(sys.modules, name)
    importlib.import_module(leaf)
    module, function = registry.split(":")
    found = getattr(sys.modules[module], function)()
    assert set(expected) <= set(found)
