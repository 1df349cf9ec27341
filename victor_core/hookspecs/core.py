"""Core hooks: they belong to no family and load no plugin."""

from __future__ import annotations

from typing import Any

from victor_core._markers import hookspec


@hookspec(historic=True)
def victor_add_hookspecs(plugin_manager: Any) -> None:
    """Add hook specifications of a new family.

    Called once for every plugin as it registers (a historic hook, like
    pytest's ``pytest_addhooks``). Call
    ``plugin_manager.add_hookspecs(module, family="NAME")``; the plugins of
    family ``NAME`` are then listed under the entry-point group
    ``victor_core.NAME`` and imported the first time one of the new hooks is
    dispatched.

    Args:
        plugin_manager: the :class:`victor_core.plugins.PluginManager`.
    """
