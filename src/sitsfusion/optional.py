"""Optional dependencies: import them with an error that says which extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """``import module``, or an ImportError naming ``pip install 'sitsfusion[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{purpose} needs {module.split('.')[0]}: pip install 'sitsfusion[{extra}]'"
        ) from None
