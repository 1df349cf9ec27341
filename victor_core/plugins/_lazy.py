"""Lazy families: hook callers that load their family on first use, and ``pm.hook``.

Until a family is loaded, its hook callers are instances of
:class:`LazyHookCaller`, a :class:`pluggy.HookCaller` subclass whose call
loads the family and then turns every caller of the family back into a plain
``HookCaller`` (see :mod:`victor_core.plugins._pluggy_private` for why the
class is switched in place), so that once loaded a call costs what pluggy
costs.

A manager parses no hookspec of its own: the built-in families' hookspecs are
parsed once per process (:func:`builtin_specs`) and each built-in hook's
caller is built from them the first time ``pm.hook.NAME`` is looked up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import pluggy
from pluggy import HookCaller

# Bound now, like the manager's base class: whoever replaces ``pluggy.PluginManager``
# later (pluggy's own suite, run against ours) does not replace the parser.
from pluggy import PluginManager as _PluggyManager

from victor_core.plugins._pluggy_private import (
    manager_of,
    new_hook_caller,
    relay_callers,
    set_caller_class,
)

if TYPE_CHECKING:
    from victor_core.plugins._manager import PluginManager

__all__ = [
    "ADD_HOOKSPECS",
    "CORE",
    "BuiltinSpecs",
    "LazyHookCaller",
    "LazyHookRelay",
    "builtin_specs",
    "materialize",
]

#: The family of hooks that load nothing.
CORE = "core"

#: The historic hook every manager calls with itself (see :func:`materialize`).
ADD_HOOKSPECS = "victor_add_hookspecs"


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
    """``pm.hook``: builds a built-in hook's caller on first access (:func:`materialize`)
    and resolves hooks of families declared by installed hookspec modules."""

    # pluggy iterates ``__dict__`` as the set of hook callers: keep the manager out of it.
    __slots__ = ("_victor_manager",)

    def __init__(self, manager: PluginManager) -> None:
        self._victor_manager = manager

    def __getattr__(self, name: str) -> HookCaller:
        # Only reached for names that are not set yet: never on the hot path.
        if name == "_victor_manager":
            raise AttributeError(name)
        manager: PluginManager = self._victor_manager
        if name in manager._pending_specs:
            caller = materialize(manager, name)
            if caller is not None:
                return caller
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

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._victor_manager._pending_specs})


class BuiltinSpecs(NamedTuple):
    """The built-in hookspecs, parsed once per process (see :func:`builtin_specs`)."""

    #: hook name -> (family, its ``pluggy.HookSpec``).
    pending: dict[str, tuple[str, Any]]
    #: hook name -> family.
    families: dict[str, str]
    #: the families other than ``core``, in :data:`victor_core.hookspecs.FAMILIES` order.
    lazy_families: tuple[str, ...]


_BUILTIN_SPECS: list[BuiltinSpecs] = []


def builtin_specs() -> BuiltinSpecs:
    """The hookspecs of :data:`victor_core.hookspecs.FAMILIES`, as pluggy parses them.

    Parsed by a plain ``pluggy.PluginManager`` the first time a manager is built;
    every manager then shares the (read-only) ``HookSpec`` objects instead of
    inspecting each hookspec function's signature again.
    """
    if _BUILTIN_SPECS:
        return _BUILTIN_SPECS[0]
    from victor_core import hookspecs
    from victor_core._markers import PROJECT_NAME

    plain = _PluggyManager(PROJECT_NAME)
    pending: dict[str, tuple[str, Any]] = {}
    for family, module in hookspecs.FAMILIES.items():
        plain.add_hookspecs(module)
        for name, caller in relay_callers(plain.hook).items():
            pending.setdefault(name, (family, caller.spec))
    specs = BuiltinSpecs(
        pending,
        {name: family for name, (family, _spec) in pending.items()},
        tuple(family for family in hookspecs.FAMILIES if family != CORE),
    )
    _BUILTIN_SPECS.append(specs)
    return specs


def materialize(manager: PluginManager, name: str) -> HookCaller | None:
    """Build and set the caller of built-in hook ``name`` (None: not a pending hook).

    A caller of a family not loaded yet is lazy, like one ``add_hookspecs`` builds.
    The caller of :data:`ADD_HOOKSPECS` holds the manager's historic call.
    """
    with manager._lock:
        callers = relay_callers(manager.hook)
        caller: HookCaller | None = callers.get(name)
        if caller is not None:
            return caller
        entry = manager._pending_specs.pop(name, None)
        if entry is None:
            return None
        family, spec = entry
        # The manager's own historic call, made when the caller is built: before
        # any implementation of it can be registered, so it only records it.
        history: dict[str, object] | None = None
        if name == ADD_HOOKSPECS:
            history = {"plugin_manager": manager}
        caller = new_hook_caller(manager, name, spec, history)
        if family != CORE:
            manager._family_hooks.setdefault(family, []).append(caller)
            if family not in manager._loaded_families:
                set_caller_class(caller, LazyHookCaller)
        callers[name] = caller
        return caller
