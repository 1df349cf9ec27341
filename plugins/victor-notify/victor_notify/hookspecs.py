"""Hooks of the ``notify`` family (entry-point group ``victor_core.notify``).

victor-notify declares this module under the entry-point group
``victor_core.hookspecs`` with the name ``notify``: victor-core adds these
specifications the first time a ``victor_notify*`` hook is looked up, and
imports the plugins of the group ``victor_core.notify`` the first time one of
them is dispatched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from victor_core import hookspec

if TYPE_CHECKING:
    from victor_core import Settings


@hookspec
def victor_notify(event: str, payload: Mapping[str, Any], settings: Settings) -> Any:
    """Deliver one notification.

    Called for every event sent with :func:`victor_notify.notify` or
    :func:`victor_notify.anotify`; victor-notify itself sends
    ``"episode_stored"`` after every episode the agent records, with the
    episode as a dict. Every implementation is called (collect-all) and may be
    ``async def``. An implementation that raises does not stop the others
    when the event was sent with ``anotify``.

    Args:
        event: what happened, a short snake_case name.
        payload: JSON-friendly details of the event.
        settings: the orchestrator's settings (``data_dir`` and the like).

    Returns:
        Something true (where it was delivered) when delivered, or None when the
        event is not for this channel.
    """


@hookspec
def victor_notify_channels() -> list[str]:
    """Return the names of the channels this plugin delivers to.

    Called by :func:`victor_notify.channels`, for listings and health checks.

    Returns:
        A list of channel names (``["log"]``).
    """
