"""The errors of victor-mcp (both are victor-core tool errors)."""

from __future__ import annotations

from victor_core.exceptions import ToolError


class McpServerError(ToolError):
    """An MCP server could not start, list its tools, or answer (it crashed, or is gone)."""

    def __init__(self, message: str, *, server: str, tool: str | None = None) -> None:
        super().__init__(message, tool=tool)
        self.server = server


class McpToolError(ToolError):
    """An MCP tool answered with ``isError``: the message is the server's."""

    def __init__(self, message: str, *, server: str, tool: str | None = None) -> None:
        super().__init__(message, tool=tool)
        self.server = server
