"""The lazy plugin manager: discovery, lazy loading, isolation, async dispatch."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pluggy import HookCaller
from structlog.testing import capture_logs

from victor_core import PluginManager, Settings, Skill, Tool, hookimpl, hookspec
from victor_core.exceptions import HookError, PluginLoadError, PluginValidationError
from victor_core.testing import EntryPointInstaller, make_distribution

TOOLS_PLUGIN = """
from victor_core import Tool, hookimpl

@hookimpl
def victor_tools():
    return [Tool(name="{tool}", description="a tool", func=lambda: "{tool}")]
"""

SKILLS_PLUGIN = """
from victor_core import Skill, hookimpl

@hookimpl
def victor_skills():
    return [Skill(name="{skill}", description="a skill", func=lambda: 1)]
"""


def _settings(tmp_path: Path, **kw: Any) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data", **kw)


def _pm(tmp_path: Path, eps: EntryPointInstaller, **kw: Any) -> PluginManager:
    """A manager discovering only the test's distributions (not what the venv has)."""
    return PluginManager(_settings(tmp_path, **kw), paths=[str(eps.site)])


@pytest.fixture
def eps(victor_entry_points: EntryPointInstaller) -> EntryPointInstaller:
    return victor_entry_points


def _install_two_families(eps: EntryPointInstaller) -> None:
    eps.add(
        "victor-t1",
        {"victor_core.tools": {"t1": "vt_one"}},
        modules={"vt_one": TOOLS_PLUGIN.format(tool="one")},
    )
    eps.add(
        "victor-s1",
        {"victor_core.skills": {"s1": "vs_one"}},
        modules={"vs_one": SKILLS_PLUGIN.format(skill="sk")},
        version="2.5",
    )


def test_list_plugins_imports_nothing(tmp_path: Path, eps: EntryPointInstaller) -> None:
    _install_two_families(eps)
    pm = _pm(tmp_path, eps)
    infos = {p.name: p for p in pm.list_plugins()}
    assert "vt_one" not in sys.modules and "vs_one" not in sys.modules
    assert infos["t1"].family == "tools"
    assert infos["s1"].dist_name == "victor-s1"
    assert infos["s1"].dist_version == "2.5"
    assert not infos["t1"].loaded and infos["t1"].error is None


def test_family_loads_on_first_dispatch_and_only_that_family(
    tmp_path: Path, eps: EntryPointInstaller
) -> None:
    _install_two_families(eps)
    pm = _pm(tmp_path, eps)
    caller = pm.hook.victor_tools
    assert type(caller) is not HookCaller
    [[tool]] = pm.hook.victor_tools()
    assert tool.name == "one"
    assert "vt_one" in sys.modules
    assert "vs_one" not in sys.modules
    # no wrapper left: the very same object is now a plain pluggy HookCaller
    assert type(pm.hook.victor_tools) is HookCaller
    assert type(caller) is HookCaller
    infos = {p.name: p for p in pm.list_plugins()}
    assert infos["t1"].loaded and infos["t1"].import_time_s is not None
    assert not infos["s1"].loaded


def test_eager_mode_and_family_flags(tmp_path: Path, eps: EntryPointInstaller) -> None:
    _install_two_families(eps)
    _pm(tmp_path, eps, lazy_load_skills=False)
    assert "vs_one" in sys.modules and "vt_one" not in sys.modules
    eps.cleanup()
    pm = _pm(tmp_path, eps, lazy_loading_enabled=False)
    assert "vs_one" in sys.modules and "vt_one" in sys.modules
    assert all(pm.is_family_loaded(f) for f in pm.families)


def test_failing_plugin_is_isolated_and_reported(tmp_path: Path, eps: EntryPointInstaller) -> None:
    eps.add(
        "victor-mixed",
        {"victor_core.tools": {"good": "vt_good", "bad": "vt_bad", "gone": "vt_missing"}},
        modules={
            "vt_good": TOOLS_PLUGIN.format(tool="good"),
            "vt_bad": "raise RuntimeError('boom')",
        },
    )
    pm = _pm(tmp_path, eps)
    with capture_logs() as logs:
        results = pm.hook.victor_tools()
    assert [t.name for batch in results for t in batch] == ["good"]
    infos = {p.name: p for p in pm.list_plugins()}
    assert infos["bad"].error == "RuntimeError: boom"
    assert "ModuleNotFoundError" in (infos["gone"].error or "")
    assert infos["good"].loaded
    failed = [e for e in logs if e["event"] == "plugin_failed"]
    assert {e["plugin"] for e in failed} == {"bad", "gone"}
    assert all(e["log_level"] == "warning" for e in failed)


def test_strict_plugins_raise_naming_plugin_and_entry_point(
    tmp_path: Path, eps: EntryPointInstaller
) -> None:
    eps.add("victor-bad", {"victor_core.tools": {"bad": "vt_bad2"}}, modules={"vt_bad2": "1/0"})
    pm = _pm(tmp_path, eps, strict_plugins=True)
    with pytest.raises(PluginLoadError) as info:
        pm.hook.victor_tools()
    assert info.value.plugin == "bad"
    assert info.value.entry_point == "vt_bad2"
    assert "'bad'" in str(info.value) and "victor_core.tools" in str(info.value)


def test_disabled_plugins_are_never_imported(tmp_path: Path, eps: EntryPointInstaller) -> None:
    _install_two_families(eps)
    pm = _pm(tmp_path, eps, disabled_plugins=["t1"])
    assert pm.hook.victor_tools() == []
    assert "vt_one" not in sys.modules
    assert {p.name: p.disabled for p in pm.list_plugins()}["t1"]


def test_duplicate_entry_points_register_once(tmp_path: Path, eps: EntryPointInstaller) -> None:
    source = TOOLS_PLUGIN.format(tool="dup") + SKILLS_PLUGIN.format(skill="dup")
    eps.add(
        "victor-dup",
        {"victor_core.tools": {"dup": "vt_dup"}, "victor_core.skills": {"dup": "vt_dup"}},
        modules={"vt_dup": source},
    )
    make_distribution(
        eps.site / "second", "victor-dup-copy", {"victor_core.tools": {"dup2": "vt_dup"}}
    )
    pm = PluginManager(_settings(tmp_path), paths=[str(eps.site), str(eps.site / "second")])
    assert len(pm.hook.victor_tools()) == 1
    assert len(pm.hook.victor_skills()) == 1
    assert all(p.loaded for p in pm.list_plugins() if p.name.startswith("dup"))


def test_unknown_victor_hook_is_rejected(pm: PluginManager) -> None:
    class Typo:
        @hookimpl
        def victor_toolz(self) -> list[Tool]:
            return []

    with pytest.raises(PluginValidationError) as info:
        pm.register(Typo(), name="typo")
    assert info.value.plugin == "typo" and info.value.hook == "victor_toolz"
    assert "did you mean 'victor_tools'" in str(info.value)
    assert pm.get_plugin("typo") is None


def test_unknown_hook_through_loading_is_isolated(tmp_path: Path, eps: EntryPointInstaller) -> None:
    eps.add(
        "victor-typo",
        {"victor_core.tools": {"typo": "vt_typo"}},
        modules={
            "vt_typo": "from victor_core import hookimpl\n@hookimpl\ndef victor_toolz():\n    return []\n"
        },
    )
    pm = _pm(tmp_path, eps)
    assert pm.hook.victor_tools() == []
    error = {p.name: p.error for p in pm.list_plugins()}["typo"]
    assert error is not None and "victor_toolz" in error


def test_inline_plugins_and_plain_pluggy_results(pm: PluginManager) -> None:
    class A:
        @hookimpl
        def victor_tools(self) -> list[Tool]:
            return [Tool(name="a", description="a", func=lambda: 1)]

    class B:
        @hookimpl
        def victor_plan(self, goal: str, context: Any) -> Any:
            return None

    pm.register(A())
    pm.register(B())
    assert [t.name for t in pm.hook.victor_tools()[0]] == ["a"]
    assert pm.hook.victor_plan(goal="g", context={}) is None


def test_ahook_awaits_async_implementations_concurrently(pm: PluginManager) -> None:
    order: list[str] = []

    class Slow:
        @hookimpl
        async def victor_skills(self) -> list[Skill]:
            order.append("slow-start")
            await asyncio.sleep(0.05)
            order.append("slow-end")
            return [Skill(name="slow", description="s", func=lambda: 1)]

    class Fast:
        @hookimpl
        async def victor_skills(self) -> list[Skill]:
            order.append("fast-start")
            await asyncio.sleep(0)
            order.append("fast-end")
            return [Skill(name="fast", description="f", func=lambda: 1)]

    class Sync:
        @hookimpl
        def victor_skills(self) -> list[Skill]:
            return [Skill(name="sync", description="s", func=lambda: 1)]

    pm.register(Slow())
    pm.register(Fast())
    pm.register(Sync())
    results = asyncio.run(pm.ahook.victor_skills())
    assert [s.name for batch in results for s in batch] == ["sync", "fast", "slow"]
    # both coroutines were running at once
    assert order.index("fast-end") < order.index("slow-end")
    assert order.index("slow-start") < order.index("fast-end")
    # plain pluggy call returns coroutines for the async ones
    raw = pm.hook.victor_skills()
    assert sum(asyncio.iscoroutine(r) for r in raw) == 2
    for r in raw:
        if asyncio.iscoroutine(r):
            r.close()


def test_ahook_firstresult_skips_async_none(pm: PluginManager) -> None:
    class Declines:
        @hookimpl
        async def victor_plan(self, goal: str, context: Any) -> Any:
            return None

    class Answers:
        @hookimpl(trylast=True)
        async def victor_plan(self, goal: str, context: Any) -> Any:
            return f"plan for {goal}"

    pm.register(Answers())
    pm.register(Declines())
    assert asyncio.run(pm.ahook.victor_plan(goal="x", context={})) == "plan for x"


def test_ahook_unknown_hook(pm: PluginManager) -> None:
    with pytest.raises(HookError, match="victor_nope"):
        pm.ahook.victor_nope  # noqa: B018


class NotifySpecs:
    @hookspec
    def victor_notify(self, event: str) -> list[str]:  # type: ignore[empty-body]
        """Send a notification."""


def test_custom_family_via_add_hookspecs(tmp_path: Path, eps: EntryPointInstaller) -> None:
    eps.add(
        "victor-notify-impl",
        {"victor_core.notify": {"log": "vn_impl"}},
        modules={
            "vn_impl": "from victor_core import hookimpl\n@hookimpl\ndef victor_notify(event):\n    return 'got ' + event\n"
        },
    )

    class Definer:
        @hookimpl
        def victor_add_hookspecs(self, plugin_manager: PluginManager) -> None:
            plugin_manager.add_hookspecs(NotifySpecs, family="notify")

    pm = _pm(tmp_path, eps)
    pm.register(Definer())
    assert pm.family_of("victor_notify") == "notify"
    assert "vn_impl" not in sys.modules
    assert pm.hook.victor_notify(event="e") == ["got e"]
    assert "vn_impl" in sys.modules


def test_custom_family_via_hookspecs_group(tmp_path: Path, eps: EntryPointInstaller) -> None:
    eps.add(
        "victor-alerts",
        {"victor_core.hookspecs": {"alerts": "va_specs"}},
        modules={
            "va_specs": "from victor_core import hookspec\n@hookspec\ndef victor_alert(level):\n    'Raise an alert.'\n"
        },
    )
    eps.add(
        "victor-alerts-impl",
        {"victor_core.alerts": {"pager": "va_impl"}},
        modules={
            "va_impl": "from victor_core import hookimpl\n@hookimpl\ndef victor_alert(level):\n    return level * 2\n"
        },
    )
    pm = _pm(tmp_path, eps)
    assert "va_specs" not in sys.modules
    assert pm.hook.victor_alert(level=2) == [4]
    assert pm.family_of("victor_alert") == "alerts"
    assert pm.is_family_loaded("alerts")
    assert not pm.is_family_loaded("tools")


def test_warm_up_respects_thresholds(pm: PluginManager) -> None:
    from victor_core.plugins._warmup import warm_up

    busy = iter([(100.0, 0.95), (100.0, 0.95)] + [(100.0, 0.1)] * 50)
    sleeps: list[float] = []
    loaded = warm_up(pm, readings=lambda: next(busy), sleep=sleeps.append)
    assert set(loaded) == set(pm.families)
    assert len(sleeps) == 2
    pm2 = PluginManager(pm.settings, discover=False)
    assert warm_up(pm2, readings=lambda: (10_000.0, 0.0), sleep=lambda s: None, max_waits=3) == []
    assert not any(pm2.is_family_loaded(f) for f in pm2.families)


# -- the discovery index ------------------------------------------------------------------


def test_index_is_reused_and_notices_changes(tmp_path: Path, eps: EntryPointInstaller) -> None:
    from victor_core.plugins._discovery import Discovery

    index = tmp_path / "index.json"
    paths = [str(eps.site)]
    eps.add("victor-a", {"victor_core.tools": {"a": "mod_a"}})
    first = Discovery(index, paths)
    assert [e.name for e in first.load()] == ["a"] and first.scanned
    again = Discovery(index, paths)
    assert [e.name for e in again.load()] == ["a"] and not again.scanned
    # installed
    eps.add("victor-b", {"victor_core.tools": {"b": "mod_b"}})
    d = Discovery(index, paths)
    assert sorted(e.name for e in d.load()) == ["a", "b"] and d.scanned
    # upgraded
    import shutil

    shutil.rmtree(eps.site / "victor_b-1.0.dist-info")
    eps.add("victor-b", {"victor_core.tools": {"b2": "mod_b"}}, version="2.0")
    d = Discovery(index, paths)
    assert {(e.name, e.dist_version) for e in d.load()} == {("a", "1.0"), ("b2", "2.0")}
    # removed
    shutil.rmtree(eps.site / "victor_a-1.0.dist-info")
    assert [e.name for e in Discovery(index, paths).load()] == ["b2"]
    # sys.path changed
    other = tmp_path / "other"
    make_distribution(other, "victor-c", {"victor_core.skills": {"c": "mod_c"}})
    d = Discovery(index, [*paths, str(other)])
    assert sorted(e.name for e in d.load()) == ["b2", "c"] and d.scanned


def test_corrupt_index_is_rebuilt(tmp_path: Path, eps: EntryPointInstaller) -> None:
    from victor_core.plugins._discovery import Discovery

    eps.add("victor-a", {"victor_core.tools": {"a": "mod_a"}})
    index = tmp_path / "index.json"
    index.write_text("{not json")
    d = Discovery(index, [str(eps.site)])
    assert [e.name for e in d.load()] == ["a"]
    assert d.warning and "unreadable" in d.warning
    assert json.loads(index.read_text())["entries"]


def test_unwritable_index_still_discovers(tmp_path: Path, eps: EntryPointInstaller) -> None:
    from victor_core.plugins._discovery import Discovery

    eps.add("victor-a", {"victor_core.tools": {"a": "mod_a"}})
    blocker = tmp_path / "file"
    blocker.write_text("")
    d = Discovery(blocker / "index.json", [str(eps.site)])
    assert [e.name for e in d.load()] == ["a"]
    assert d.warning and "could not be written" in d.warning


def _run(code: str, *, env_extra: dict[str, str] | None = None) -> Any:
    env = {**os.environ, **(env_extra or {})}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


HEAVY = ["asyncio", "sqlite3", "diskcache", "structlog", "psutil", "importlib.metadata", "httpx"]


def test_startup_imports_nothing_heavy_in_a_fresh_interpreter(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_distribution(
        site,
        "victor-heavy",
        {"victor_core.tools": {"h": "heavy_plugin"}},
        modules={"heavy_plugin": "x = 1"},
    )
    code = f"""
        import json, sys
        from victor_core import AgentOrchestrator, Settings
        s = Settings(cache_dir={str(tmp_path / "cache")!r}, data_dir={str(tmp_path / "data")!r})
        AgentOrchestrator(s).plugin_manager.list_plugins()   # cold: builds the index
        before = set(sys.modules)
        print(json.dumps(sorted(before)))
    """
    _run(code, env_extra={"PYTHONPATH": str(site)})
    warm = f"""
        import json, sys
        from victor_core import AgentOrchestrator, Settings
        s = Settings(cache_dir={str(tmp_path / "cache")!r}, data_dir={str(tmp_path / "data")!r})
        o = AgentOrchestrator(s)
        names = [p.name for p in o.plugin_manager.list_plugins()]
        print(json.dumps({{"modules": sorted(sys.modules), "names": names}}))
    """
    result = _run(warm, env_extra={"PYTHONPATH": str(site)})
    loaded = set(result["modules"])
    assert "h" in result["names"]
    assert not loaded & {*HEAVY, "heavy_plugin"}, sorted(loaded & {*HEAVY, "heavy_plugin"})


def test_hookspecs_added_twice_are_reported_not_fatal(
    tmp_path: Path, eps: EntryPointInstaller
) -> None:
    eps.add(
        "victor-twice",
        {"victor_core.hookspecs": {"twice": "tw_specs"}},
        modules={
            "tw_specs": "from victor_core import hookspec\n@hookspec\ndef victor_twice(x):\n    'Twice.'\n"
        },
    )
    import importlib

    specs = importlib.import_module("tw_specs")

    class Adder:
        @hookimpl
        def victor_add_hookspecs(self, plugin_manager: PluginManager) -> None:
            plugin_manager.add_hookspecs(specs, family="twice")

    pm = _pm(tmp_path, eps)
    pm.register(Adder())
    assert pm.family_of("victor_twice") == "twice"
    assert pm._load_spec_modules() is False  # the group's copy is reported, not raised
    assert pm.hook.victor_twice(x=1) == []


def test_concurrent_first_dispatch_waits_for_the_whole_family(
    tmp_path: Path, eps: EntryPointInstaller
) -> None:
    import threading

    slow = "import time\ntime.sleep(0.2)\n" + TOOLS_PLUGIN.format(tool="slow")
    eps.add(
        "victor-conc",
        {"victor_core.tools": {"a_slow": "vc_slow", "b_fast": "vc_fast"}},
        modules={"vc_slow": slow, "vc_fast": TOOLS_PLUGIN.format(tool="fast")},
    )
    pm = _pm(tmp_path, eps)
    results: list[list[str]] = []

    def dispatch() -> None:
        results.append(sorted(t.name for batch in pm.hook.victor_tools() for t in batch))

    threads = [threading.Thread(target=dispatch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [["fast", "slow"]] * 4


def test_a_plugin_dispatching_its_own_family_while_loading(
    tmp_path: Path, eps: EntryPointInstaller
) -> None:
    reentrant = """
from victor_core import Tool, hookimpl

@hookimpl
def victor_add_hookspecs(plugin_manager):
    # dispatching its own family from inside the load must not recurse forever
    plugin_manager.hook.victor_tools()

@hookimpl
def victor_tools():
    return [Tool(name="re", description="d", func=lambda: 1)]
"""
    eps.add("victor-re", {"victor_core.tools": {"re": "vc_re"}}, modules={"vc_re": reentrant})
    pm = _pm(tmp_path, eps)
    assert [t.name for batch in pm.hook.victor_tools() for t in batch] == ["re"]
