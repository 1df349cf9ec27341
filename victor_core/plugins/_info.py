"""The record :meth:`PluginManager.list_plugins` returns (imported when first listed)."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["PluginInfo"]


@attrs.define(frozen=True, kw_only=True)
class PluginInfo:
    """What :meth:`PluginManager.list_plugins` knows of a plugin, without importing it."""

    name: str
    family: str
    entry_point: str
    dist_name: str
    dist_version: str
    loaded: bool = False
    error: str | None = None
    import_time_s: float | None = None
    disabled: bool = False
    builtin: bool = False
    #: hook name -> the last error the plugin's implementation raised when called.
    call_errors: dict[str, str] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-friendly dict."""
        return attrs.asdict(self)
