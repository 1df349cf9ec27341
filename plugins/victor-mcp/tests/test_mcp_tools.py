"""victor-mcp end to end: the demo server (tests/demo_server.py) through the orchestrator."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from victor_core import AgentOrchestrator
from victor_core.exceptions import ToolError

from victor_mcp import McpServerError, McpToolError
from victor_mcp._catalogue import catalogue_path, load_catalogue, save_catalogue
from victor_mcp._pool import map_result
from victor_mcp.plugin import tool_name


def run_async(test: Any) -> Any:
    """Run an ``async def`` test in a fresh event loop (as the CLI runs victor)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(test(*args, **kwargs))

    return wrapper


DEMO = Path(__file__).with_name("demo_server.py")


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (a reaped child does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _mcp_tools(orchestrator: AgentOrchestrator) -> dict[str, Any]:
    await orchestrator.select_tools("add two numbers")
    return {t.name: t for t in orchestrator.tools.tools() if t.name.startswith("mcp__")}


@run_async
async def test_tools_are_named_for_their_server_and_carry_its_schemas(make_settings, demo):
    async with AgentOrchestrator(make_settings({"demo": demo})) as orchestrator:
        tools = await _mcp_tools(orchestrator)
    assert sorted(tools) == [
        "mcp__demo__add",
        "mcp__demo__crash",
        "mcp__demo__divide",
        "mcp__demo__sleep",
    ]
    add = tools["mcp__demo__add"]
    assert add.description == "Add two integers and return their sum."
    assert add.parameters["required"] == ["a", "b"]
    assert add.parameters["properties"]["a"]["type"] == "integer"
    assert add.effects == ("run",)
    assert "mcp:demo" in add.tags


@run_async
async def test_listing_without_a_catalogue_starts_the_server_once_and_stops_it(
    make_settings, demo, pids, tmp_path
):
    settings = make_settings({"demo": demo})
    orchestrator = AgentOrchestrator(settings)
    assert pids() == []  # constructing the orchestrator starts nothing
    await _mcp_tools(orchestrator)
    [lister] = pids()
    assert not alive(lister)  # started to list, then stopped
    cached = load_catalogue(tmp_path / "cache", "demo", settings.mcp_servers["demo"])
    assert [t["name"] for t in cached] == ["add", "divide", "sleep", "crash"]
    await orchestrator.aclose()

    # A second orchestrator lists from the cached catalogue: no process at all.
    async with AgentOrchestrator(make_settings({"demo": demo})) as again:
        assert "mcp__demo__add" in await _mcp_tools(again)
        assert pids() == [lister]


@run_async
async def test_execute_tool_starts_the_server_at_the_first_call(make_settings, demo, pids):
    async with AgentOrchestrator(make_settings({"demo": demo})) as orchestrator:
        await _mcp_tools(orchestrator)
        started = len(pids())
        result = await orchestrator.execute_tool("mcp__demo__add", a=2, b=3)
        assert result.ok, result.error
        assert result.value["summary"] == "5"
        assert result.value["structured"] == {"result": 5}
        again = await orchestrator.execute_tool("mcp__demo__add", a=40, b=2)
        assert again.value["summary"] == "42"
        assert len(pids()) == started + 1  # one process serves every call


@run_async
async def test_aclose_stops_the_server_process(make_settings, demo, pids):
    orchestrator = AgentOrchestrator(make_settings({"demo": demo}))
    assert (await orchestrator.execute_tool("mcp__demo__add", a=1, b=1)).ok
    server = pids()[-1]
    assert alive(server)
    await orchestrator.aclose()
    assert not alive(server)
    result = await orchestrator.execute_tool("mcp__demo__add", a=1, b=1)
    assert not result.ok
    assert "closed" in result.error


@run_async
async def test_is_error_is_a_failed_result_with_the_servers_message(make_settings, demo):
    async with AgentOrchestrator(make_settings({"demo": demo})) as orchestrator:
        result = await orchestrator.execute_tool("mcp__demo__divide", a=1, b=0)
    assert not result.ok
    assert result.error_type == "McpToolError"
    assert "division by zero" in result.error
    assert "'demo'" in result.error


@run_async
async def test_a_call_past_the_timeout_fails_and_the_server_keeps_serving(
    make_settings, demo, pids
):
    settings = make_settings({"demo": demo})
    async with AgentOrchestrator(settings) as orchestrator:
        assert (await orchestrator.execute_tool("mcp__demo__add", a=1, b=2)).ok
        settings.tool_execution_timeout = 0.5  # the server runs: only the call is timed
        slow = await orchestrator.execute_tool("mcp__demo__sleep", seconds=600)
        assert not slow.ok
        assert slow.error_type == "ToolTimeoutError"
        settings.tool_execution_timeout = 30.0
        after = await orchestrator.execute_tool("mcp__demo__add", a=1, b=2)
        assert after.ok, after.error
        assert len(set(pids())) == 2  # the lister, then one server for every call
    assert not any(alive(pid) for pid in pids())


@run_async
async def test_a_crash_is_reported_and_restarted_once(make_settings, demo, pids):
    async with AgentOrchestrator(make_settings({"demo": demo})) as orchestrator:
        first = await orchestrator.execute_tool("mcp__demo__crash")
        assert not first.ok
        assert "MCP server 'demo' crashed" in first.error
        assert "exit code 3" in first.error
        assert "demo: crashing now" in first.error
        assert "restarted at the next call" in first.error
        crashed = pids()[-1]
        assert not alive(crashed)

        restarted = await orchestrator.execute_tool("mcp__demo__add", a=2, b=2)
        assert restarted.ok
        assert restarted.value["summary"] == "4"
        assert pids()[-1] != crashed

        second = await orchestrator.execute_tool("mcp__demo__crash")
        assert "not restarted again" in second.error
        count = len(pids())
        after = await orchestrator.execute_tool("mcp__demo__add", a=2, b=2)
        assert not after.ok
        assert "crashed 2 times" in after.error
        assert len(pids()) == count  # no third start


@run_async
async def test_a_server_that_fails_to_list_is_a_warning_and_the_others_stay(
    make_settings, demo, pids
):
    broken = {**demo, "env": {**demo["env"], "DEMO_CRASH_ON_START": "1"}}
    missing = {"command": str(Path(sys.executable).with_name("no-such-mcp-server"))}
    settings = make_settings({"demo": demo, "broken": broken, "missing": missing})
    with structlog.testing.capture_logs() as logs:
        async with AgentOrchestrator(settings) as orchestrator:
            tools = await _mcp_tools(orchestrator)
    assert sorted(tools) == [
        "mcp__demo__add",
        "mcp__demo__crash",
        "mcp__demo__divide",
        "mcp__demo__sleep",
    ]
    warnings = {e["server"]: e["error"] for e in logs if e["event"] == "mcp_server_unavailable"}
    assert set(warnings) == {"broken", "missing"}
    assert "MCP server 'broken' failed to start" in warnings["broken"]
    assert "demo: refusing to start" in warnings["broken"]
    assert "MCP server 'missing' failed to start" in warnings["missing"]
    assert all(not alive(pid) for pid in pids())


@run_async
async def test_a_stale_catalogue_is_refreshed_by_a_call(make_settings, demo, tmp_path):
    settings = make_settings({"demo": demo})
    config = settings.mcp_servers["demo"]
    schema = {"type": "object", "properties": {}}
    save_catalogue(
        tmp_path / "cache",
        "demo",
        config,
        [{"name": "gone", "description": "Old.", "input_schema": schema}],
    )
    async with AgentOrchestrator(settings) as orchestrator:
        assert list(await _mcp_tools(orchestrator)) == ["mcp__demo__gone"]
        result = await orchestrator.execute_tool("mcp__demo__gone")
    assert not result.ok
    assert "has no tool 'gone' any more" in result.error
    assert "add" in result.error
    fresh = load_catalogue(tmp_path / "cache", "demo", config)
    assert [t["name"] for t in fresh] == ["add", "divide", "sleep", "crash"]


def test_a_corrupt_catalogue_is_ignored(tmp_path):
    config = {"command": "x", "args": [], "env": {}}
    path = catalogue_path(tmp_path, "demo", config)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert load_catalogue(tmp_path, "demo", config) is None
    path.write_text(json.dumps({"format": 1, "config_hash": "other", "tools": []}))
    assert load_catalogue(tmp_path, "demo", config) is None


def test_results_map_to_summary_and_highlights():
    raw = {
        "content": [
            {"type": "text", "text": "3 files\na.py\nb.py"},
            {"type": "image", "data": "x"},
        ],
        "structured": None,
        "is_error": False,
    }
    value = map_result("fs", "ls", raw)
    assert value["summary"] == "3 files"
    assert value["highlights"] == ["a.py", "b.py"]
    assert value["content"] == [{"type": "image", "data": "x"}]
    assert (
        map_result("fs", "ls", {"content": [], "structured": None, "is_error": False})["summary"]
        == "done"
    )
    with pytest.raises(McpToolError, match="reported an error: no message") as caught:
        map_result("fs", "ls", {"content": [], "structured": None, "is_error": True})
    assert isinstance(caught.value, ToolError)
    assert caught.value.server == "fs"
    assert issubclass(McpServerError, ToolError)


def test_tool_names_replace_what_a_victor_name_cannot_hold():
    assert tool_name("fs", "read/file") == "mcp__fs__read_file"
    assert tool_name("fs", "ok-name.v2") == "mcp__fs__ok-name.v2"


def test_importing_the_plugin_and_building_an_orchestrator_import_no_mcp(demo, tmp_path):
    env = {**os.environ, "VICTOR_MCP_SERVERS": json.dumps({"demo": demo})}
    code = (
        "import sys\n"
        "import victor_mcp.plugin\n"
        "from victor_core import AgentOrchestrator\n"
        "o = AgentOrchestrator()\n"
        "print(sorted(m for m in ('mcp', 'mcp_types', 'anyio') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
    assert not (tmp_path / "demo.pids").exists()


@pytest.mark.parametrize("command", [["plugins", "list"], ["plugins", "show", "mcp"], ["hooks"]])
def test_cli_listing_commands_start_no_server(demo, pid_file, command):
    env = {**os.environ, "VICTOR_MCP_SERVERS": json.dumps({"mcpServers": {"demo": demo}})}
    code = (
        "import sys\n"
        "from victor_core.cli import main\n"
        f"code = main({command!r})\n"
        "assert 'mcp' not in sys.modules, 'the mcp SDK was imported'\n"
        "sys.exit(code)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert not pid_file.exists()


@run_async
async def test_the_claude_desktop_shape_from_the_environment(demo, monkeypatch):
    from victor_core import Settings

    monkeypatch.setenv("VICTOR_MCP_SERVERS", json.dumps({"mcpServers": {"demo": demo}}))
    settings = Settings.from_env()
    async with AgentOrchestrator(settings) as orchestrator:
        result = await orchestrator.execute_tool("mcp__demo__add", a=20, b=22)
    assert result.ok
    assert result.value["summary"] == "42"


def test_victor_run_json_calls_the_tool_through_a_scripted_model(
    demo, pids, monkeypatch, capsys, tmp_path
):
    from victor_core.cli import main
    from victor_core.testing import ScriptedServer, tool_call

    replies = [[tool_call("mcp__demo__add", {"a": 19, "b": 23})], "The sum is 42."]
    with ScriptedServer(replies) as model:
        monkeypatch.setenv("VICTOR_MCP_SERVERS", json.dumps({"demo": demo}))
        monkeypatch.setenv("VICTOR_PROVIDER", "openai-compatible")
        monkeypatch.setenv("VICTOR_PROVIDER_BASE_URL", model.base_url)
        monkeypatch.setenv("VICTOR_MODEL", "scripted")
        monkeypatch.setenv("VICTOR_TOOL_SELECTION_MAX_TOOLS", "32")
        code = main(["run", "add 19 and 23", "--path", str(tmp_path), "--json", "--yes"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert report["ok"] is True
    assert report["answer"] == "The sum is 42."
    [call] = report["tool_calls"]
    assert call["name"] == "mcp__demo__add"
    assert call["ok"] is True
    assert all(not alive(pid) for pid in pids())  # the run's aclose stopped the server
    offered = [t["function"]["name"] for t in model.bodies[0]["tools"]]
    assert "mcp__demo__add" in offered


@run_async
async def test_a_server_over_streamable_http(make_settings, tmp_path):
    import socket
    import threading

    import uvicorn

    sys.path.insert(0, str(DEMO.parent))
    try:
        import demo_server
    finally:
        sys.path.remove(str(DEMO.parent))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = demo_server.server.streamable_http_app()
    web = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    try:
        while not web.started:
            await asyncio.sleep(0.02)
        settings = make_settings({"web": {"url": f"http://127.0.0.1:{port}/mcp"}})
        async with AgentOrchestrator(settings) as orchestrator:
            tools = await _mcp_tools(orchestrator)
            assert tools["mcp__web__add"].effects == ("network",)
            result = await orchestrator.execute_tool("mcp__web__add", a=5, b=6)
        assert result.ok, result.error
        assert result.value["summary"] == "11"
    finally:
        web.should_exit = True
        thread.join(10)


def test_interpreter_exit_stops_a_server_left_running(demo, pids):
    code = (
        "import asyncio, json, sys\n"
        "from victor_core import AgentOrchestrator, Settings\n"
        f"settings = Settings(mcp_servers={{'demo': json.loads({json.dumps(json.dumps(demo))})}})\n"
        "async def main():\n"
        "    orchestrator = AgentOrchestrator(settings)  # never closed\n"
        "    result = await orchestrator.execute_tool('mcp__demo__add', a=1, b=2)\n"
        "    print(result.value['summary'])\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3"
    assert len(pids()) == 2
    assert not any(alive(pid) for pid in pids())


@run_async
async def test_two_orchestrators_sharing_settings_keep_their_own_servers(make_settings, demo, pids):
    settings = make_settings({"demo": demo})
    first = AgentOrchestrator(settings)
    second = AgentOrchestrator(settings)
    assert (await first.execute_tool("mcp__demo__add", a=1, b=2)).ok
    [first_pid] = [pid for pid in pids() if alive(pid)]
    assert (await second.execute_tool("mcp__demo__add", a=3, b=4)).ok
    [second_pid] = [pid for pid in pids() if alive(pid) and pid != first_pid]

    await first.aclose()
    assert not alive(first_pid)
    assert alive(second_pid)  # the first's aclose() left the second's server alone
    result = await second.execute_tool("mcp__demo__add", a=40, b=2)
    assert result.ok, result.error
    assert result.value["summary"] == "42"
    assert [pid for pid in pids() if alive(pid)] == [second_pid]  # its own, not restarted

    await second.aclose()
    assert not alive(second_pid)


def test_victor_run_in_a_project_folder_calls_a_server_from_its_victor_toml(demo, pids, tmp_path):
    """As a user would: ``victor.toml`` in the project, the installed command, a subprocess."""
    from victor_core.testing import ScriptedServer, tool_call

    project = tmp_path / "project"
    project.mkdir()
    table = json.dumps(demo["args"])
    (project / "victor.toml").write_text(
        "[mcp_servers.demo]\n"
        f"command = {json.dumps(demo['command'])}\n"
        f"args = {table}\n"
        f"env = {{ DEMO_PID_FILE = {json.dumps(demo['env']['DEMO_PID_FILE'])} }}\n",
        encoding="utf-8",
    )
    installed = Path(sys.executable).with_name("victor")
    command = [str(installed)] if installed.exists() else [sys.executable, "-m", "victor_core"]
    replies = [[tool_call("mcp__demo__add", {"a": 19, "b": 23})], "The sum is 42."]
    with ScriptedServer(replies) as model:
        env = {
            **os.environ,
            "VICTOR_PROVIDER": "openai-compatible",
            "VICTOR_PROVIDER_BASE_URL": model.base_url,
            "VICTOR_MODEL": "scripted",
            "VICTOR_TOOL_SELECTION_MAX_TOOLS": "32",
            "XDG_CONFIG_HOME": str(tmp_path / "no-user-config"),
        }
        done = subprocess.run(
            [*command, "run", "add 19 and 23", "--json", "--yes"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    [call] = report["tool_calls"]
    assert (call["name"], call["ok"]) == ("mcp__demo__add", True)
    assert report["answer"] == "The sum is 42."
    assert pids()
    assert all(not alive(pid) for pid in pids())  # stopped when the run ended
