"""Awaitable dispatch: ``pm.ahook`` and the helpers the core dispatches with."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from victor_core.exceptions import HookError

if TYPE_CHECKING:
    from pluggy import HookCaller

    from victor_core.plugins._manager import PluginManager

__all__ = ["AsyncHookRelay", "acall", "first_result", "flatten_results", "gather_results"]


class AsyncHookRelay:
    """``pm.ahook``: awaitable hook calls that await every async implementation.

    ``await pm.ahook.NAME(**kwargs)`` returns what ``pm.hook.NAME(**kwargs)``
    returns, with awaitable results awaited concurrently (collect-all hooks)
    or in order until one is not None (first-result hooks).
    """

    def __init__(self, manager: PluginManager) -> None:
        self._manager = manager

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        manager = self._manager
        try:
            getattr(manager.hook, name)
        except AttributeError:
            raise HookError(f"unknown hook {name!r}: no hookspec defines it", hook=name) from None

        async def call(**kwargs: Any) -> Any:
            return await acall(manager, name, kwargs)

        call.__name__ = name
        return call


def flatten_results(results: Any) -> list[Any]:
    """One list of the items of a collect-all hook's results.

    Each implementation returns a list (or tuple) of items, a single item, or
    None; the lists are concatenated in call order and the Nones dropped.
    """
    out: list[Any] = []
    for result in results or ():
        if isinstance(result, (list, tuple)):
            out.extend(result)
        elif result is not None:
            out.append(result)
    return out


async def _awaited(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


async def first_result(impls: Iterable[Any], kwargs: dict[str, Any]) -> Any:
    # pluggy calls the last registered implementation first.
    for impl in reversed(list(impls)):
        if impl.hookwrapper or getattr(impl, "wrapper", False):
            continue
        args = [kwargs[a] for a in impl.argnames]
        value = impl.function(*args)
        if inspect.isawaitable(value):
            value = await value
        if value is not None:
            return value
    return None


async def gather_results(results: list[Any]) -> list[Any]:
    """``results`` with every awaitable awaited concurrently, in order."""
    import asyncio

    return list(await asyncio.gather(*(_awaited(r) for r in results)))


async def acall(manager: PluginManager, name: str, kwargs: dict[str, Any]) -> Any:
    """``await pm.ahook.NAME(**kwargs)``: the hook's results, awaitables awaited."""
    caller: HookCaller = getattr(manager.hook, name)
    manager.load_hook_family(name)
    spec = caller.spec
    if spec is not None and spec.opts.get("firstresult"):
        impls = caller.get_hookimpls()
        if any(inspect.iscoroutinefunction(i.function) for i in impls):
            return await first_result(impls, kwargs)
    result = caller(**kwargs)
    if isinstance(result, list):
        if any(inspect.isawaitable(r) for r in result):
            return await gather_results(result)
        return result
    if inspect.isawaitable(result):
        return await result
    return result
