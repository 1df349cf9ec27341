"""The kernel: the plugin manager, discovery, lazy families and dispatch."""

from __future__ import annotations

from victor_core.plugins._manager import BUILTIN_FAMILIES as BUILTIN_FAMILIES
from victor_core.plugins._manager import DEFAULT_PLUGINS as DEFAULT_PLUGINS
from victor_core.plugins._manager import PluginCallError as PluginCallError
from victor_core.plugins._manager import PluginInfo as PluginInfo
from victor_core.plugins._manager import PluginManager as PluginManager
from victor_core.plugins._manager import flatten_results as flatten_results

__all__ = [
    "BUILTIN_FAMILIES",
    "DEFAULT_PLUGINS",
    "PluginCallError",
    "PluginInfo",
    "PluginManager",
    "flatten_results",
]
