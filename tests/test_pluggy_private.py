"""Pins every private pluggy and diskcache detail victor-core relies on.

The kernel's uses live in ``victor_core/plugins/_pluggy_private.py`` (its
docstring says why each is needed), the hook instrumentation's in
``victor_core/metrics/_hooks.py`` (``_inner_hookexec``) and the disk cache's
in ``victor_core/cache/_disk.py`` (diskcache's ``_sql``). A release of either
library that changes one of them fails here, with a message naming the
version, before it fails somewhere less obvious.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import diskcache
import pluggy
import pytest
from pluggy import HookCaller

import victor_core
from victor_core.plugins import _pluggy_private as private

PACKAGE = Path(victor_core.__file__).parent
PLUGGY = f"pluggy {pluggy.__version__}"
DISKCACHE = f"diskcache {diskcache.__version__}"

spec = pluggy.HookspecMarker("pin")
impl = pluggy.HookimplMarker("pin")


class _Specs:
    @spec
    def pin_one(self, x: int) -> int:  # type: ignore[empty-body]
        ...

    @spec(historic=True)
    def pin_historic(self, x: int) -> None: ...


class _Plugin:
    @impl
    def pin_one(self, x: int) -> int:
        return x + 1


def _pm() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("pin")
    pm.add_hookspecs(_Specs)
    pm.register(_Plugin())
    return pm


def _pinned(condition: bool, library: str, what: str) -> None:
    if not condition:
        pytest.fail(
            f"{library} changed a private detail victor-core relies on: {what}. "
            "See the module that owns it (named in tests/test_pluggy_private.py).",
            pytrace=False,
        )


def test_only_the_owning_modules_touch_private_names() -> None:
    owners = {
        r"_hookexec\b": {"plugins/_pluggy_private.py"},
        r"\._inner_hookexec\b": {"metrics/_hooks.py"},
        r"__class__ =": {"plugins/_pluggy_private.py"},
        r"\._sql\b": {"cache/_disk.py"},
        r"\._hookimpls\b|\._call_history\b|\._name2plugin\b": {"plugins/_pluggy_private.py"},
    }
    for pattern, allowed in owners.items():
        users = {
            str(path.relative_to(PACKAGE))
            for path in PACKAGE.rglob("*.py")
            if re.search(pattern, path.read_text(encoding="utf-8"))
        }
        if pattern == r"_hookexec\b":
            users -= {"metrics/_hooks.py"}  # its _inner_hookexec, checked on its own
        assert users <= allowed, (pattern, users)


def test_hook_caller_accepts_a_class_switch_to_a_slotless_subclass() -> None:
    class Lazy(HookCaller):
        __slots__ = ()

    caller = _pm().hook.pin_one
    _pinned("__slots__" in HookCaller.__dict__, PLUGGY, "HookCaller has no __slots__ any more")
    try:
        private.set_caller_class(caller, Lazy)
        switched = type(caller) is Lazy
        private.set_caller_class(caller, HookCaller)
    except TypeError as exc:
        switched = False
        print(exc)
    _pinned(
        switched and type(caller) is HookCaller,
        PLUGGY,
        "a HookCaller's __class__ can no longer be switched to a subclass and back",
    )
    _pinned(caller(x=1) == [2], PLUGGY, "a HookCaller switched back no longer calls")


def test_hookexec_is_a_bound_method_of_the_manager() -> None:
    pm = _pm()
    hookexec = getattr(pm.hook.pin_one, "_hookexec", None)
    _pinned(
        inspect.ismethod(hookexec) and private.manager_of(pm.hook.pin_one) is pm,
        PLUGGY,
        "HookCaller._hookexec is no longer the manager's bound _hookexec method",
    )


def test_hookimpls_is_the_list_pluggy_calls() -> None:
    pm = _pm()
    caller = pm.hook.pin_one
    impls = private.hookimpls_of(caller)
    _pinned(
        isinstance(impls, list) and impls == caller.get_hookimpls(),
        PLUGGY,
        "HookCaller._hookimpls no longer holds the registered implementations",
    )


def test_replaced_impl_function_is_what_pluggy_calls() -> None:
    pm = _pm()
    (hookimpl,) = pm.hook.pin_one.get_hookimpls()
    private.replace_impl_function(hookimpl, lambda x: x * 10)
    _pinned(
        pm.hook.pin_one(x=2) == [20],
        PLUGGY,
        "pluggy no longer reads HookImpl.function at call time",
    )


def test_new_hook_caller_matches_what_add_hookspecs_builds() -> None:
    pm = _pm()
    for name in ("pin_one", "pin_historic"):
        built = getattr(pm.hook, name)
        assert built.spec is not None
        ours = private.new_hook_caller(pm, name, built.spec)
        slots = ("name", "spec", "_hookexec", "_hookimpls", "_call_history")
        _pinned(
            set(HookCaller.__slots__) == set(slots),
            PLUGGY,
            f"HookCaller's slots are now {sorted(HookCaller.__slots__)}",
        )
        same = all(
            getattr(ours, slot) == getattr(built, slot) for slot in slots if slot != "_hookimpls"
        )
        _pinned(same, PLUGGY, f"a HookCaller built from a parsed hookspec differs ({name})")
    # A historic caller built with a recorded call applies it to later
    # implementations, as pluggy's call_historic does.
    caller = private.new_hook_caller(pm, "pin_historic", pm.hook.pin_historic.spec, {"x": 3})
    seen: list[Any] = []

    class Later:
        @impl
        def pin_historic(self, x: int) -> None:
            seen.append(x)

    pm.hook.pin_historic = caller  # type: ignore[attr-defined]
    pm.register(Later())
    _pinned(
        caller.is_historic() and seen == [3],
        PLUGGY,
        "a historic HookCaller no longer replays (kwargs, callback) pairs of _call_history",
    )


def test_relay_keeps_callers_in_its_dict_and_pluggy_looks_them_up_with_getattr() -> None:
    looked_up: list[str] = []

    class Relay(pluggy.HookRelay):  # type: ignore[misc]
        __slots__ = ()

        def __getattr__(self, name: str) -> Any:
            looked_up.append(name)
            raise AttributeError(name)

    pm = pluggy.PluginManager("pin")
    pm.hook = Relay()  # type: ignore[misc]
    pm.add_hookspecs(_Specs)
    pm.register(_Plugin())
    callers = private.relay_callers(pm.hook)
    _pinned(
        {"pin_one", "pin_historic"} <= set(callers) and "pin_one" in looked_up,
        PLUGGY,
        "pluggy no longer keeps hook callers in pm.hook.__dict__ or finds them with getattr",
    )
    _pinned(
        pm.get_hookcallers(pm.get_plugins().pop()) == [callers["pin_one"]],
        PLUGGY,
        "get_hookcallers no longer reads the relay's __dict__",
    )


def test_inner_hookexec_keeps_the_shape_metrics_replaces() -> None:
    pm = _pm()
    inner = getattr(pm, "_inner_hookexec", None)
    _pinned(callable(inner), PLUGGY, "PluginManager._inner_hookexec is gone")
    params = list(inspect.signature(inner).parameters)
    _pinned(
        params == ["hook_name", "hook_impls", "caller_kwargs", "firstresult"],
        PLUGGY,
        f"PluginManager._inner_hookexec now takes {params}",
    )
    seen: list[str] = []

    def monitored(name: str, impls: Any, kwargs: Any, firstresult: bool) -> Any:
        seen.append(name)
        return inner(name, impls, kwargs, firstresult)

    pm._inner_hookexec = monitored
    _pinned(
        pm.hook.pin_one(x=1) == [2] and seen == ["pin_one"],
        PLUGGY,
        "hook calls no longer go through the instance's _inner_hookexec",
    )


def test_diskcache_sql_is_a_callable_execute(tmp_path: Path) -> None:
    for name in ("_sql", "_sql_retry", "_con"):
        _pinned(
            isinstance(inspect.getattr_static(diskcache.Cache, name, None), property),
            DISKCACHE,
            f"Cache.{name} is no longer a property",
        )
    store = diskcache.Cache(str(tmp_path / "d"))
    try:
        sql = store._sql
        _pinned(callable(sql), DISKCACHE, "Cache._sql is no longer callable")
        _pinned(
            sql("SELECT 1").fetchall() == [(1,)],
            DISKCACHE,
            "Cache._sql no longer executes a statement on the connection",
        )
    finally:
        store.close()
