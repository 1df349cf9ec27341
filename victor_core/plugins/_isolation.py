"""Call isolation: a plugin's hook implementation that raises is reported, not fatal.

A plugin loaded from an entry point is isolated twice: an import that fails
is reported by the manager, and each of its hook implementations is wrapped
so that an exception raised when it is called is reported (once per plugin
and hook, as the ``plugin_call_failed`` warning) and counts as a None result:
pluggy keeps the other implementations' results (a first-result hook moves
on to the next implementation). With ``strict_plugins`` the wrapper raises
:class:`PluginCallError` instead. Plugins registered by hand with
:meth:`~victor_core.plugins.PluginManager.register` are not wrapped: they
behave exactly as in pluggy. ``KeyboardInterrupt`` and ``GeneratorExit``
always propagate.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from victor_core.exceptions import PluginError
from victor_core.plugins._pluggy_private import hookimpls_of, replace_impl_function

if TYPE_CHECKING:
    from pluggy import HookCaller

__all__ = ["ISOLATED", "PluginCallError", "isolate_calls", "raw_hookimpls"]

#: What an isolated call catches: everything a plugin may raise by mistake,
#: ``sys.exit()`` included, but not a user's Ctrl-C.
ISOLATED = (Exception, SystemExit)


class PluginCallError(PluginError):
    """A plugin's hook implementation raised when called (raised in strict mode).

    Attributes:
        plugin: the plugin's registered name.
        hook: the hook whose implementation raised.
        family: the plugin's family.
    """

    def __init__(
        self,
        message: str,
        *,
        plugin: str | None = None,
        hook: str | None = None,
        entry_point: str | None = None,
        family: str | None = None,
    ) -> None:
        super().__init__(message, plugin=plugin, entry_point=entry_point)
        self.hook = hook
        self.family = family


Report = Callable[[str, BaseException], None]


def isolate_calls(callers: list[HookCaller], plugin: object, report: Report) -> None:
    """Wrap ``plugin``'s implementations in ``callers`` so that a raising call is reported.

    Args:
        callers: the hook callers the plugin implements (``get_hookcallers``).
        plugin: the registered plugin object.
        report: called with the hook name and the exception of a failed call; it
            raises :class:`PluginCallError` in strict mode, else the call returns None.
    """
    for caller in callers:
        for impl in raw_hookimpls(caller):
            if impl.plugin is not plugin or impl.wrapper or impl.hookwrapper:
                continue
            # HookImpl.function is Final for typing only; replacing it keeps
            # pluggy's argument names, ordering and options as they were.
            replace_impl_function(impl, _wrap(impl.function, caller.name, report))


def raw_hookimpls(caller: HookCaller) -> list[Any]:
    """``caller``'s implementations as they are, without loading its family.

    ``get_hookimpls`` of a lazy caller loads the family first (a user asking
    must not miss installed plugins); the kernel's own bookkeeping must not.
    """
    return hookimpls_of(caller)


def _wrap(function: Callable[..., Any], hook: str, report: Report) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def acall(*args: Any) -> Any:
            try:
                return await function(*args)
            except ISOLATED as exc:
                report(hook, exc)
                return None

        return acall

    @functools.wraps(function)
    def call(*args: Any) -> Any:
        try:
            return function(*args)
        except ISOLATED as exc:
            report(hook, exc)
            return None

    return call
