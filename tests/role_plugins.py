"""The roles' filter plugins, imported as plain modules so tests call their functions directly."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROLES = Path(__file__).resolve().parent.parent / "roles"


def load_filter_plugin(role: str, name: str) -> ModuleType:
    """roles/<role>/filter_plugins/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(name, ROLES / role / "filter_plugins" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
