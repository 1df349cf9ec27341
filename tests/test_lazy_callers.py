"""Built-in hook callers built on first access, from hookspecs parsed once per process."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pluggy
import pytest
from pluggy import HookCaller

from victor_core import PluginManager, Settings, hookimpl, hookspec, hookspecs
from victor_core.plugins._lazy import LazyHookCaller, builtin_specs


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")


def _pm(settings: Settings, **kw: Any) -> PluginManager:
    return PluginManager(settings, discover=False, builtins=False, **kw)


def _plain() -> pluggy.PluginManager:
    plain = pluggy.PluginManager("victor_core")
    for module in hookspecs.FAMILIES.values():
        plain.add_hookspecs(module)
    return plain


def test_a_new_manager_builds_no_caller_until_looked_up(settings: Settings) -> None:
    pm = _pm(settings)
    assert vars(pm.hook) == {}
    assert "victor_tools" in dir(pm.hook)
    caller = pm.hook.victor_tools
    assert type(caller) is LazyHookCaller  # its family is not loaded
    assert pm.hook.victor_tools is caller
    assert list(vars(pm.hook)) == ["victor_tools"]
    assert pm.family_of("victor_tools") == "tools"  # known before it is built


def test_built_callers_match_what_add_hookspecs_builds(settings: Settings) -> None:
    pm = _pm(settings)
    pm.load_all()
    plain = _plain()
    ours, theirs = vars(pm.hook), vars(plain.hook)
    assert set(ours) == set(theirs)
    for name, caller in theirs.items():
        built = ours[name]
        assert type(built) is HookCaller, name  # every family is loaded
        assert built.spec is not None and caller.spec is not None
        assert built.spec.argnames == caller.spec.argnames, name
        assert built.spec.opts == caller.spec.opts, name
        assert built.is_historic() == caller.is_historic(), name
    assert pm.families == [f for f in hookspecs.FAMILIES if f != "core"]


def test_specs_are_parsed_once_and_shared(settings: Settings) -> None:
    first, second = _pm(settings), _pm(settings)
    assert first.hook.victor_plan.spec is second.hook.victor_plan.spec
    assert builtin_specs() is builtin_specs()
    assert first.hook.victor_plan is not second.hook.victor_plan


def test_a_caller_built_after_its_family_loaded_is_plain(settings: Settings) -> None:
    pm = _pm(settings)
    pm.load_family("memory")
    assert type(pm.hook.victor_memory_backend) is HookCaller
    assert type(pm.hook.victor_tools) is LazyHookCaller
    assert pm.hook.victor_tools() == []
    assert type(pm.hook.victor_tools) is HookCaller


def test_registering_an_implementation_builds_its_caller(settings: Settings) -> None:
    class Plugin:
        @hookimpl
        def victor_personas(self) -> list[str]:
            return ["p"]

    pm = _pm(settings)
    pm.register(Plugin())
    assert "victor_personas" in vars(pm.hook)
    assert pm.hook.victor_personas() == [["p"]]


def test_the_historic_add_hookspecs_call_reaches_later_plugins(settings: Settings) -> None:
    seen: list[Any] = []

    class Adds:
        @hookimpl
        def victor_add_hookspecs(self, plugin_manager: Any) -> None:
            seen.append(plugin_manager)

    pm = _pm(settings)
    assert "victor_add_hookspecs" not in vars(pm.hook)
    pm.register(Adds())
    assert seen == [pm]
    pm.register(Adds())
    assert seen == [pm, pm]


def test_a_subclass_overriding_hookspec_parsing_is_asked(settings: Settings) -> None:
    asked: list[str] = []

    class Observing(PluginManager):
        def parse_hookspec_opts(self, module_or_class: Any, name: str) -> Any:
            opts = super().parse_hookspec_opts(module_or_class, name)
            if opts is not None:
                asked.append(name)
            return opts

    pm = Observing(settings, discover=False, builtins=False)
    assert {"victor_tools", "victor_add_hookspecs"} <= set(asked)
    assert "victor_tools" in vars(pm.hook)
    assert pm.hook.victor_tools() == []


def test_a_hookspec_clashing_with_a_builtin_hook_is_refused(settings: Settings) -> None:
    class Clash:
        @hookspec
        def victor_tools(self) -> None: ...

    pm = _pm(settings)
    with pytest.raises(ValueError, match="victor_tools"):
        pm.add_hookspecs(Clash)


def test_concurrent_first_lookups_get_one_caller(settings: Settings) -> None:
    pm = _pm(settings)
    got: list[HookCaller] = []
    barrier = threading.Barrier(8)

    def look() -> None:
        barrier.wait()
        got.append(pm.hook.victor_skills)

    threads = [threading.Thread(target=look) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 8 and all(caller is got[0] for caller in got)
