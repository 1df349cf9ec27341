"""The records :meth:`PluginManager.list_plugins` returns (imported when first listed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from victor_core.plugins._discovery import HOOKSPECS_GROUP

if TYPE_CHECKING:
    from victor_core.plugins._manager import PluginManager

__all__ = ["PluginInfo", "plugin_infos"]


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


def plugin_infos(manager: PluginManager) -> list[PluginInfo]:
    """What :meth:`PluginManager.list_plugins` returns: every known plugin, none imported."""
    from victor_core._version import __version__

    infos: list[PluginInfo] = []
    disabled = set(manager.settings.disabled_plugins)
    for name, (family, module) in manager._builtins.items():
        infos.append(
            _info(
                manager, family, name, module, dist="victor-core", version=__version__, builtin=True
            )
        )
    for entry in manager._all_entries():
        if entry.group == HOOKSPECS_GROUP:
            continue
        infos.append(
            _info(
                manager,
                entry.family,
                entry.name,
                entry.value,
                dist=entry.dist_name,
                version=entry.dist_version,
                builtin=False,
                disabled=entry.name in disabled,
            )
        )
    return infos


def _info(
    manager: PluginManager,
    family: str,
    name: str,
    value: str,
    *,
    dist: str,
    version: str,
    builtin: bool,
    disabled: bool = False,
) -> PluginInfo:
    status = manager._status.get((family, name))
    return PluginInfo(
        name=name,
        family=family,
        entry_point=value,
        dist_name=dist,
        dist_version=version,
        loaded=status is not None and status.loaded,
        error=status.error if status is not None else None,
        call_errors=dict(status.call_errors) if status is not None else {},
        import_time_s=status.import_time_s if status is not None else None,
        disabled=disabled,
        builtin=builtin,
    )
