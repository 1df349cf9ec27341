"""Names a package imports from their modules on first use (PEP 562).

A package's value classes are built by attrs, and its services import
asyncio, when their modules are imported: milliseconds each. A package that
re-exports them lazily lets ``import victor_core`` (and a process that only
constructs an orchestrator) skip what it does not use.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``names`` maps each name to its module.

    The first lookup of a name imports its module and keeps the value in the
    package, so later lookups are plain attribute reads. Other names raise
    :class:`AttributeError`, as a module does.
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
