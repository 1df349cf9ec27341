"""Lazy families: hook callers that load their family on first use, and ``pm.hook``.

Until a family is loaded, its hook callers are instances of
:class:`LazyHookCaller`, a :class:`pluggy.HookCaller` subclass whose call
loads the family and then turns every caller of the family back into a plain
``HookCaller`` (see :mod:`victor_core.plugins._pluggy_private` for why the
class is switched in place), so that once loaded a call costs what pluggy
costs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy
from pluggy import HookCaller

from victor_core.plugins._pluggy_private import manager_of, relay_callers

if TYPE_CHECKING:
    from victor_core.plugins._manager import PluginManager

__all__ = ["LazyHookCaller", "LazyHookRelay"]


class LazyHookCaller(HookCaller):
    """A hook caller of a family not loaded yet: the first call loads the family."""

    __slots__ = ()

    def _load(self) -> None:
        manager_of(self).load_hook_family(self.name)

    def __call__(self, **kwargs: object) -> Any:
        self._load()
        return HookCaller.__call__(self, **kwargs)

    def call_extra(self, methods: Any, kwargs: Any) -> Any:
        self._load()
        return HookCaller.call_extra(self, methods, kwargs)

    def get_hookimpls(self) -> list[Any]:
        self._load()
        return HookCaller.get_hookimpls(self)

    def call_historic(
        self, result_callback: Any = None, kwargs: Any = None
    ) -> None:  # pragma: no cover - no lazy family has historic hooks by default
        self._load()
        HookCaller.call_historic(self, result_callback, kwargs)


class LazyHookRelay(pluggy.HookRelay):  # type: ignore[misc]  # final for typing only
    """``pm.hook``: resolves hooks of families declared by installed hookspec modules."""

    # pluggy iterates ``__dict__`` as the set of hook callers: keep the manager out of it.
    __slots__ = ("_victor_manager",)

    def __init__(self, manager: PluginManager) -> None:
        self._victor_manager = manager

    def __getattr__(self, name: str) -> HookCaller:
        # Only reached for names that are not set yet: never on the hot path.
        if name == "_victor_manager":
            raise AttributeError(name)
        manager: PluginManager = self._victor_manager
        # pluggy probes for missing names while registering: that is no reason to
        # import hookspec modules.
        if manager._probing:
            raise AttributeError(name)
        if name.startswith("victor_") and manager._load_spec_modules():
            try:
                return relay_callers(self)[name]  # type: ignore[no-any-return]
            except KeyError:
                pass
        raise AttributeError(name)
