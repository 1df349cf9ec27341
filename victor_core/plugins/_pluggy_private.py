"""Every use the kernel makes of pluggy beyond its public API, in one place.

pluggy has no public way to do what each function below does; each one is
pinned by ``tests/test_pluggy_private.py``, which names the pluggy version
when a release changes one of them. Nothing else in
:mod:`victor_core.plugins` touches a private pluggy name (the metrics
instrumentation owns the manager's ``_inner_hookexec``, see
:mod:`victor_core.metrics._hooks`; the test covers it too).

Why each is unavoidable:

- :func:`set_caller_class` assigns ``HookCaller.__class__``. A lazy family's
  callers are a ``HookCaller`` subclass whose call loads the family first;
  once loaded they turn back into plain ``HookCaller`` objects, so that a
  loaded hook costs exactly what pluggy costs. Replacing the caller objects
  instead would break every reference a user kept (``call = pm.hook.NAME``)
  and pluggy's ``subset_hook_caller``; a wrapper would cost a call forever.
  It works because both classes have the same (slotted) layout.
- :func:`manager_of` reads ``HookCaller._hookexec.__self__``: a caller knows
  its manager only through that bound method, and a lazy caller must reach
  the manager to load its family (a slot on the subclass would break the
  ``__class__`` switch, which needs identical layouts).
- :func:`hookimpls_of` reads ``HookCaller._hookimpls``: ``get_hookimpls()``
  of a lazy caller loads the family (a user asking must not miss installed
  plugins), while the kernel's own bookkeeping (call isolation,
  ``get_hookcallers``) must see what is registered without loading anything.
- :func:`replace_impl_function` sets ``HookImpl.function`` (``Final`` for
  typing only): call isolation wraps an entry-point plugin's implementation
  in place, keeping pluggy's argument names, ordering and options; pluggy
  reads the attribute at every call.
- :func:`new_hook_caller` builds a ``HookCaller`` from a hookspec already
  parsed (``HookCaller(name, manager._hookexec)``, then ``spec`` and, for a
  historic hook, ``_call_history``, holding a ``call_historic`` made when no
  implementation could answer it): ``add_hookspecs`` re-inspects every
  hookspec function's signature, which made most of a manager's
  construction, although the hookspecs of a module never change.
- The hook relay is a ``pluggy.HookRelay`` subclass (``@final`` for typing
  only) whose ``__getattr__`` builds callers on first access: pluggy looks
  hooks up with ``getattr(pm.hook, name, None)`` and keeps the callers in
  the relay's ``__dict__`` (:func:`relay_callers`), which it iterates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pluggy import HookCaller

if TYPE_CHECKING:
    import pluggy

__all__ = [
    "hookimpls_of",
    "manager_of",
    "new_hook_caller",
    "relay_callers",
    "replace_impl_function",
    "set_caller_class",
]


def manager_of(caller: HookCaller) -> Any:
    """The plugin manager ``caller`` belongs to."""
    return caller._hookexec.__self__  # type: ignore[attr-defined]


def set_caller_class(caller: HookCaller, cls: type[HookCaller]) -> None:
    """Turn ``caller`` into an instance of ``cls`` (``HookCaller`` or a slot-less subclass)."""
    caller.__class__ = cls  # type: ignore[assignment]


def hookimpls_of(caller: HookCaller) -> list[Any]:
    """``caller``'s implementations as pluggy keeps them (read only; loads nothing)."""
    return caller._hookimpls


def replace_impl_function(impl: Any, function: Callable[..., Any]) -> None:
    """Make pluggy call ``function`` for ``impl`` from now on."""
    object.__setattr__(impl, "function", function)


def new_hook_caller(
    manager: pluggy.PluginManager, name: str, spec: Any, history: dict[str, object] | None = None
) -> HookCaller:
    """A caller of ``manager`` for hook ``name`` whose hookspec is ``spec`` (a ``HookSpec``).

    What ``HookCaller(name, hookexec, namespace, opts)`` builds, without
    inspecting the hookspec function again. ``history`` (historic hooks only):
    the keyword arguments of a ``call_historic`` made before any implementation
    was registered, which calls nothing and only records them.
    """
    caller = HookCaller(name, manager._hookexec)
    caller.spec = spec
    if spec.opts.get("historic"):
        caller._call_history = [] if history is None else [(history, None)]
    return caller


def relay_callers(relay: pluggy.HookRelay) -> dict[str, Any]:
    """The hook callers pluggy has set on ``relay`` (``pm.hook``), by name."""
    return relay.__dict__
