"""The settings of the orchestrator whose work runs in the current context."""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from victor_core.settings._settings import Settings

# The settings of the orchestrator whose work runs in the current context. Tools
# take keyword parameters only; those that honour settings (the analysis limits,
# the cache directory) read them here. The executor copies the context into its
# worker threads, so a tool sees the settings of the call that started it.
_ACTIVE: contextvars.ContextVar[Settings | None] = contextvars.ContextVar(
    "victor_core_active_settings", default=None
)


def active_settings() -> Settings | None:
    """The settings of the orchestrator running the current tool call, or None outside one."""
    return _ACTIVE.get()


def bind_settings(settings: Settings | None) -> contextvars.Token[Settings | None]:
    """Make ``settings`` those :func:`active_settings` returns; undo with ``_ACTIVE.reset``.

    Returns:
        The token to pass to :func:`unbind_settings`.
    """
    return _ACTIVE.set(settings)


def unbind_settings(token: contextvars.Token[Settings | None]) -> None:
    """Restore the settings active before :func:`bind_settings` returned ``token``."""
    _ACTIVE.reset(token)


class settings_bound:
    """Bind ``settings`` for the ``with`` block (:func:`bind_settings`, then undo it)."""

    def __init__(self, settings: Settings | None) -> None:
        self._settings = settings
        self._tokens: list[contextvars.Token[Settings | None]] = []

    def __enter__(self) -> Settings | None:
        self._tokens.append(_ACTIVE.set(self._settings))
        return self._settings

    def __exit__(self, *exc_info: object) -> None:
        _ACTIVE.reset(self._tokens.pop())
