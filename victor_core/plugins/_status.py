"""What the manager knows of each plugin's loading, and the reports of its failures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from victor_core.exceptions import PluginLoadError
from victor_core.plugins._discovery import GROUP_PREFIX
from victor_core.plugins._isolation import PluginCallError

if TYPE_CHECKING:
    from victor_core.plugins._manager import PluginManager

__all__ = ["Status", "call_failed", "load_failed", "warn"]


class Status:
    """What the manager knows of one plugin's loading (a plain class: cheap to define)."""

    __slots__ = ("call_errors", "error", "import_time_s", "loaded", "plugin_name")

    def __init__(self) -> None:
        self.loaded = False
        self.error: str | None = None
        self.import_time_s: float | None = None
        self.plugin_name: str | None = None
        #: hook name -> the last error its implementation raised when called.
        self.call_errors: dict[str, str] = {}


def load_failed(
    manager: PluginManager, family: str, name: str, value: str, exc: BaseException
) -> None:
    """Record and report that plugin ``name`` failed to import or register.

    Raises:
        PluginLoadError: with ``strict_plugins``.
    """
    message = f"{type(exc).__name__}: {exc}"
    status = manager._status.setdefault((family, name), Status())
    status.error = message
    warn(
        "plugin_failed",
        plugin=name,
        family=family,
        entry_point=value,
        error=message,
    )
    if manager.settings.strict_plugins:
        raise PluginLoadError(
            f"plugin {name!r} (entry point {value!r} of group "
            f"'{GROUP_PREFIX}{family}') failed to load: {message}",
            plugin=name,
            entry_point=value,
            family=family,
        ) from exc


def call_failed(
    manager: PluginManager, origin: tuple[str, str, str, str], hook: str, exc: BaseException
) -> None:
    """Record and report that a plugin's implementation of ``hook`` raised ``exc``.

    ``origin`` is the plugin's ``(family, entry-point name, value, registered name)``;
    the first failure of each plugin and hook is warned about.

    Raises:
        PluginCallError: with ``strict_plugins``.
    """
    family, name, value, plugin_name = origin
    key = (family, name)
    message = f"{type(exc).__name__}: {exc}"
    status = manager._status.setdefault(key, Status())
    first = hook not in status.call_errors
    status.call_errors[hook] = message
    if first:
        # Once per plugin and hook: a hook called in a loop must not flood stderr.
        warn(
            "plugin_call_failed",
            message=f"plugin {plugin_name!r} failed in hook {hook!r} "
            f"and was left out of its results: {message}",
            plugin=plugin_name,
            hook=hook,
            family=family,
            error=message,
        )
    if manager.settings.strict_plugins:
        raise PluginCallError(
            f"plugin {plugin_name!r} (entry point {value!r}) failed in hook {hook!r}: {message}",
            plugin=plugin_name,
            hook=hook,
            entry_point=value,
            family=family,
        ) from exc


def warn(event: str, **fields: Any) -> None:
    """Log a warning (the logger is built on first use)."""
    from victor_core._log import get_logger

    get_logger().warning(event, **fields)
