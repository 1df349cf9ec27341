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
