"""Hooks of the ``tools`` family (entry-point group ``victor_core.tools``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from victor_core._markers import hookspec

if TYPE_CHECKING:
    from victor_core.models import Tool, ToolResult


@hookspec
def victor_tools() -> list[Tool]:  # type: ignore[empty-body]
    """Return the tools this plugin provides.

    Called once, the first time the orchestrator needs its tool registry (to
    execute or select a tool). Every implementation's list is collected; a
    later plugin's tool of the same name replaces an earlier one's.

    Returns:
        A list of :class:`victor_core.Tool` (or an awaitable of one).
    """


@hookspec
def victor_tool_result(result: ToolResult, params: dict[str, Any]) -> None:
    """Observe a tool execution after it finished (event).

    Called after every tool execution with its :class:`victor_core.ToolResult`
    and the parameters it ran with; return values are ignored. Use it for
    auditing or learning which tools succeed.

    Args:
        result: the outcome.
        params: the keyword parameters the tool was given.
    """


@hookspec
def victor_tools_close(settings: Any) -> None:
    """Release what the tools of ``settings`` hold: server processes, connections (event).

    Called once by the orchestrator's ``aclose()``, with its settings, when
    the tools family was loaded (never otherwise, so closing loads no
    plugin). A plugin whose tools start processes or open connections stops
    them here; return values are ignored.

    Args:
        settings: the :class:`victor_core.Settings` of the orchestrator that closes.
    """
