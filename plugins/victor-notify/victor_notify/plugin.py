"""The memory-family plugin of victor-notify: each stored episode becomes a notification.

It is imported with the ``memory`` family (the first time memory is used).
``victor_episode_stored(episode)`` receives no plugin manager, so the plugin
takes it from ``victor_add_hookspecs(plugin_manager)``, the hook every plugin
gets as it registers, and registers one :class:`EpisodeNotifier` per manager:
two orchestrators in one process never see each other's episodes.

A plugin that is *not* installed with a ``victor_core.hookspecs`` entry point
(a conftest, an application's own module) would add its family right there:
``plugin_manager.add_hookspecs(my_hookspecs, family="notify")``.
victor-notify declares its hookspecs through the entry point instead, so
they exist even before this plugin is imported, and does not add them twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from victor_core import hookimpl

if TYPE_CHECKING:
    from victor_core import PluginManager

NOTIFIER_NAME = "notify.episodes"


class EpisodeNotifier:
    """Forwards ``victor_episode_stored`` to ``victor_notify`` on one plugin manager."""

    def __init__(self, plugin_manager: PluginManager) -> None:
        self.plugin_manager = plugin_manager

    @hookimpl
    async def victor_episode_stored(self, episode: Any) -> None:
        """Send ``"episode_stored"`` with the episode as a dict."""
        from victor_notify import anotify

        # The notify family (victor-notify-log...) is imported here, at the
        # first episode, not before.
        await anotify(self.plugin_manager, "episode_stored", episode.to_dict())


@hookimpl
def victor_add_hookspecs(plugin_manager: PluginManager) -> None:
    """Register this manager's :class:`EpisodeNotifier` (once)."""
    if plugin_manager.get_plugin(NOTIFIER_NAME) is None:
        plugin_manager.register(EpisodeNotifier(plugin_manager), name=NOTIFIER_NAME)
