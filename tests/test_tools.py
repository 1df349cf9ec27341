"""The tool registry: gathering from plugins, lookup, parameter validation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from victor_core._markers import hookimpl
from victor_core.exceptions import PluginValidationError, ToolNotFoundError, ToolParameterError
from victor_core.execution._tools import ToolRegistry, call_hook
from victor_core.models import Tool
from victor_core.plugins import PluginManager
from victor_core.settings import Settings


def make_pm(*plugins: Any) -> PluginManager:
    pm = PluginManager(Settings(), discover=False, builtins=False)
    for plugin in plugins:
        pm.register(plugin)
    return pm


def read_file(path: str, encoding: str = "utf-8") -> str:
    return f"{path}:{encoding}"


def tool(name: str, description: str = "a tool", func: Any = read_file) -> Tool:
    return Tool(name=name, description=description, func=func)


class FirstPlugin:
    @hookimpl
    def victor_tools(self) -> list[Tool]:
        return [tool("read_file", "first"), tool("grep", "search text")]


class SecondPlugin:
    @hookimpl
    async def victor_tools(self) -> list[Tool]:
        return [tool("read_file", "second")]


def test_gathers_tools_from_plugins_and_later_plugin_wins() -> None:
    registry = asyncio.run(ToolRegistry.from_plugins(make_pm(FirstPlugin(), SecondPlugin())))
    assert registry.names() == ["grep", "read_file"]
    assert registry.get("read_file").description == "second"
    assert "grep" in registry
    assert len(registry) == 2


def test_inline_registration_replaces_plugin_tool() -> None:
    registry = ToolRegistry(make_pm(FirstPlugin()))
    registry.register(tool("read_file", "inline"))
    asyncio.run(registry.ensure_loaded())
    assert registry.get("read_file").description == "inline"
    registry.unregister("read_file")
    assert registry.get("read_file").description == "first"


def test_load_happens_once_and_version_changes() -> None:
    calls = []

    class Counting:
        @hookimpl
        def victor_tools(self) -> list[Tool]:
            calls.append(1)
            return [tool("a")]

    registry = ToolRegistry(make_pm(Counting()))
    assert not registry.loaded
    before = registry.version
    asyncio.run(registry.ensure_loaded())
    asyncio.run(registry.ensure_loaded())
    assert calls == [1]
    assert registry.version != before
    asyncio.run(registry.load(reload=True))
    assert calls == [1, 1]


def test_plugin_returning_a_non_tool_is_rejected() -> None:
    class Bad:
        @hookimpl
        def victor_tools(self) -> list[Any]:
            return ["read_file"]

    with pytest.raises(PluginValidationError, match="victor_tools"):
        asyncio.run(ToolRegistry.from_plugins(make_pm(Bad())))


def test_single_tool_and_none_results_are_accepted() -> None:
    class Single:
        @hookimpl
        def victor_tools(self) -> Any:
            return tool("solo")

    class Nothing:
        @hookimpl
        def victor_tools(self) -> Any:
            return None

    registry = asyncio.run(ToolRegistry.from_plugins(make_pm(Single(), Nothing())))
    assert registry.names() == ["solo"]


def test_unknown_tool_names_close_matches() -> None:
    registry = ToolRegistry(tools=[tool("read_file"), tool("write_file")])
    with pytest.raises(ToolNotFoundError, match="did you mean 'read_file'") as info:
        registry.get("read_fil")
    assert info.value.tool == "read_fil"
    with pytest.raises(ToolNotFoundError, match="known tools: 'read_file', 'write_file'"):
        registry.get("zzz")
    with pytest.raises(ToolNotFoundError, match="no tools are registered"):
        ToolRegistry().get("x")


def test_validate_rejects_unknown_and_missing_parameters() -> None:
    registry = ToolRegistry(tools=[tool("read_file")])
    assert registry.validate("read_file", {"path": "a"}) == {"path": "a"}
    with pytest.raises(ToolParameterError) as info:
        registry.validate("read_file", {"pth": "a"})
    message = str(info.value)
    assert "'read_file'" in message
    assert "unknown parameter(s) 'pth'" in message
    assert "missing required parameter(s) 'path'" in message
    assert "path (required), encoding" in message
    assert info.value.tool == "read_file"


def test_open_schema_accepts_any_keyword() -> None:
    def anything(**kwargs: Any) -> dict[str, Any]:
        return kwargs

    registry = ToolRegistry(tools=[tool("any", func=anything)])
    assert registry.validate("any", {"x": 1}) == {"x": 1}
    assert registry.accepted(registry.get("any"), {"x": 1}) == {"x": 1}


def test_accepted_filters_shared_parameters() -> None:
    registry = ToolRegistry(tools=[tool("read_file")])
    assert registry.accepted(registry.get("read_file"), {"path": "p", "other": 1}) == {"path": "p"}


def test_register_rejects_non_tools() -> None:
    with pytest.raises(TypeError, match=r"victor_core\.Tool"):
        ToolRegistry().register("read_file")  # type: ignore[arg-type]


def test_call_hook_awaits_async_results_of_plain_pluggy() -> None:
    results = asyncio.run(call_hook(make_pm(FirstPlugin(), SecondPlugin()), "victor_tools"))
    assert [[t.description for t in r] for r in results] == [["second"], ["first", "search text"]]


def test_call_hook_works_on_a_plain_pluggy_manager() -> None:
    import pluggy

    from victor_core import hookspecs
    from victor_core._markers import PROJECT_NAME

    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs.tools)
    pm.register(FirstPlugin())
    pm.register(SecondPlugin())
    results = asyncio.run(call_hook(pm, "victor_tools"))
    assert [[t.description for t in r] for r in results] == [["second"], ["first", "search text"]]
