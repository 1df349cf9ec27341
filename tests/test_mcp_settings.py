"""The ``mcp_servers`` setting, and the ``victor_tools_close`` hook that stops tool servers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from victor_core import AgentOrchestrator, PluginManager, Settings, Tool, hookimpl
from victor_core.exceptions import SettingsError
from victor_core.settings import SettingTypeError


def test_stdio_and_http_servers_are_normalised() -> None:
    settings = Settings(
        mcp_servers={
            "files": {"command": "mcp-files", "args": ["--root", "."]},
            "web": {"url": "https://example.test/mcp", "headers": {"Authorization": "x"}},
        }
    )
    assert settings.mcp_servers == {
        "files": {"command": "mcp-files", "args": ["--root", "."], "env": {}},
        "web": {"url": "https://example.test/mcp", "headers": {"Authorization": "x"}},
    }


def test_a_toml_table(tmp_path: Path) -> None:
    path = tmp_path / "victor.toml"
    path.write_text(
        '[mcp_servers.files]\ncommand = "mcp-files"\nargs = ["--root", "."]\n'
        'env = { LOG = "1" }\ncwd = "/srv"\n',
        encoding="utf-8",
    )
    assert Settings.load(path).mcp_servers == {
        "files": {
            "command": "mcp-files",
            "args": ["--root", "."],
            "env": {"LOG": "1"},
            "cwd": "/srv",
        }
    }


def test_json_in_the_environment_and_the_claude_desktop_shape() -> None:
    plain = {"files": {"command": "mcp-files"}}
    desktop = {"mcpServers": plain, "globalShortcut": "Ctrl+Space"}
    for document in (plain, desktop):
        settings = Settings.from_env({"VICTOR_MCP_SERVERS": json.dumps(document)})
        assert settings.mcp_servers == {"files": {"command": "mcp-files", "args": [], "env": {}}}
    assert Settings.from_env({"VICTOR_MCP_SERVERS": ""}).mcp_servers == {}


def test_type_and_disabled_keys_of_other_clients() -> None:
    settings = Settings(
        mcp_servers={
            "a": {"type": "stdio", "command": "x"},
            "b": {"type": "streamable-http", "url": "http://127.0.0.1:9/mcp"},
            "off": {"command": "y", "disabled": True},
        }
    )
    assert sorted(settings.mcp_servers) == ["a", "b"]


@pytest.mark.parametrize(
    ("servers", "message"),
    [
        ("{nope", r"must be a JSON object of servers.*got '\{nope'"),
        ({"a__b": {"command": "x"}}, r"server name 'a__b' must be letters, digits"),
        ({"my server": {"command": "x"}}, r"server name 'my server'"),
        ({"s": "mcp-files"}, r"server 's' must be a table with 'command'.*got 'mcp-files'"),
        ({"s": {"args": []}}, r"server 's' needs exactly one of 'command'.*got keys \['args'\]"),
        ({"s": {"command": "x", "url": "http://h"}}, r"server 's' needs exactly one of"),
        ({"s": {"command": ""}}, r"server 's': command must be a non-empty string"),
        ({"s": {"command": "x", "args": "-v"}}, r"server 's': args must be a list of strings"),
        ({"s": {"command": "x", "env": {"A": 1}}}, r"server 's': env must be a table"),
        ({"s": {"command": "x", "cwd": 3}}, r"server 's': cwd must be a non-empty string"),
        ({"s": {"command": "x", "port": 1}}, r"unknown key\(s\) 'port'; a stdio server accepts"),
        ({"s": {"url": "ftp://h"}}, r"server 's': url must be an http:// or https:// URL"),
        ({"s": {"url": "http://h", "env": {}}}, r"'env'; a streamable HTTP server accepts 'url'"),
        ({"s": {"url": "http://h", "headers": []}}, r"server 's': headers must be a table"),
        ({"s": {"type": "sse", "url": "http://h"}}, r"server 's': type must be one of"),
        ({"s": {"type": "stdio", "url": "http://h"}}, r"server 's': type 'stdio' does not match"),
        ({"s": {"command": "x", "disabled": "yes"}}, r"server 's': disabled must be a bool"),
    ],
)
def test_a_bad_server_names_the_server_the_value_and_what_is_accepted(
    servers: Any, message: str
) -> None:
    with pytest.raises(SettingsError, match=message) as caught:
        Settings(mcp_servers=servers)
    assert caught.value.field == "mcp_servers"
    assert str(caught.value).startswith("mcp_servers")


def test_not_a_mapping_is_a_type_error() -> None:
    with pytest.raises(SettingTypeError, match=r"mcp_servers must be a mapping of server names"):
        Settings(mcp_servers=["files"])
    settings = Settings()
    with pytest.raises(SettingsError, match=r"server 'x'"):
        settings.mcp_servers = {"x": {}}
    assert settings.mcp_servers == {}


class _Closing:
    def __init__(self) -> None:
        self.closed: list[Any] = []

    @hookimpl
    def victor_tools(self) -> list[Tool]:
        return [Tool(name="ping", description="Answer pong.", func=lambda: "pong")]

    @hookimpl
    def victor_tools_close(self, settings: Any) -> None:
        self.closed.append(settings)


def _orchestrator(tmp_path: Path) -> tuple[AgentOrchestrator, _Closing]:
    settings = Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")
    manager = PluginManager(settings, discover=False)
    plugin = _Closing()
    manager.register(plugin, name="closing")
    return AgentOrchestrator(settings, plugin_manager=manager), plugin


def test_aclose_dispatches_victor_tools_close_with_its_settings(tmp_path: Path) -> None:
    orchestrator, plugin = _orchestrator(tmp_path)

    async def main() -> None:
        assert (await orchestrator.execute_tool("ping")).value == "pong"
        await orchestrator.aclose()
        await orchestrator.aclose()  # idempotent: once

    asyncio.run(main())
    assert plugin.closed == [orchestrator.settings]
    assert plugin.closed[0] is orchestrator.settings


def test_aclose_without_tools_loaded_dispatches_nothing(tmp_path: Path) -> None:
    orchestrator, plugin = _orchestrator(tmp_path)
    asyncio.run(orchestrator.aclose())
    assert plugin.closed == []
    assert not orchestrator.plugin_manager.is_family_loaded("tools")
