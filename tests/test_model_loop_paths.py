"""Paths a model gives to tools resolve under the run's workspace, not the process's folder."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from victor_core import AgentOrchestrator, Settings, Tool, hookimpl
from victor_core.plugins import PluginManager
from victor_core.testing import ScriptedModel, tool_call


def where(path: str = ".") -> str:
    """The folder the tool was given."""
    return str(Path(path).resolve())


class _Tools:
    @hookimpl
    def victor_tools(self) -> list[Tool]:
        return [Tool(name="where", description="Say which folder.", func=where)]


def _run(tmp_path: Path, workspace: Path, arguments: dict[str, Any]) -> Any:
    settings = Settings(
        cache_dir=tmp_path / "cache",
        data_dir=tmp_path / "data",
        enable_semantic_memory=False,
        provider="scripted",
    )
    model = ScriptedModel([[tool_call("where", arguments, id="c1")], "done"])
    pm = PluginManager(settings, discover=False)
    pm.register(_Tools())
    pm.register(model.plugin())

    async def go() -> Any:
        orch = AgentOrchestrator(settings, plugin_manager=pm)
        try:
            return await orch.run("which folder", path=workspace)
        finally:
            await orch.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("given", "expected"),
    [({}, "."), ({"path": "."}, "."), ({"path": "src"}, "src"), ({"path": "./src/.."}, ".")],
)
def test_a_relative_or_missing_path_is_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: dict[str, Any], expected: str
) -> None:
    workspace = tmp_path / "project"
    (workspace / "src").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    result = _run(tmp_path, workspace, given)

    (call,) = result.tool_calls
    assert call.ok, call
    assert call.arguments["path"] == str((workspace / expected).resolve())


def test_an_absolute_path_is_kept(tmp_path: Path) -> None:
    workspace = tmp_path / "project"
    workspace.mkdir()
    other = tmp_path / "other"
    other.mkdir()

    result = _run(tmp_path, workspace, {"path": str(other)})

    (call,) = result.tool_calls
    assert call.ok, call
    assert call.arguments["path"] == str(other)
