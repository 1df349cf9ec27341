"""victor-notify: a hook family of its own for victor-core.

It shows every step of a custom family: the hookspecs (:mod:`victor_notify.hookspecs`,
declared in the entry-point group ``victor_core.hookspecs``), a plugin of an
existing family that dispatches the new hooks (:mod:`victor_notify.plugin`),
and this small API for applications and other plugins::

    from victor_notify import anotify, channels

    await anotify(orchestrator.plugin_manager, "deploy_done", {"service": "api"})
    channels(orchestrator.plugin_manager)  # ["log"] with victor-notify-log
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from victor_core import PluginManager

__all__ = ["EVENT_NAME", "anotify", "channels", "notify"]

#: What an event name must look like (a short snake_case word).
EVENT_NAME = "a non-empty snake_case name such as 'episode_stored'"


def _check(event: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(event, str) or not event.isidentifier() or event != event.lower():
        raise ValueError(f"event must be {EVENT_NAME} (got {event!r})")
    if not isinstance(payload, Mapping):
        raise TypeError(f"payload must be a mapping (got {type(payload).__name__})")
    return dict(payload)


def notify(plugin_manager: PluginManager, event: str, payload: Mapping[str, Any]) -> list[Any]:
    """Send ``event`` to every channel now (a plain pluggy call).

    Results of ``async def`` channels are awaitables here; use :func:`anotify`
    from async code.

    Returns:
        The channels' results, None ones left out.

    Raises:
        ValueError: ``event`` is not a snake_case name.
        TypeError: ``payload`` is not a mapping.
    """
    data = _check(event, payload)
    results = plugin_manager.hook.victor_notify(
        event=event, payload=data, settings=plugin_manager.settings
    )
    return [r for r in results if r is not None]


async def anotify(
    plugin_manager: PluginManager, event: str, payload: Mapping[str, Any]
) -> list[Any]:
    """Send ``event`` to every channel, awaiting async channels concurrently.

    Returns:
        The channels' results, None ones left out.

    Raises:
        ValueError: ``event`` is not a snake_case name.
        TypeError: ``payload`` is not a mapping.
    """
    data = _check(event, payload)
    results = await plugin_manager.ahook.victor_notify(
        event=event, payload=data, settings=plugin_manager.settings
    )
    return [r for r in results if r is not None]


def channels(plugin_manager: PluginManager) -> list[str]:
    """The names of every installed channel, sorted."""
    names = plugin_manager.hook.victor_notify_channels()
    return sorted({name for batch in names for name in batch})
