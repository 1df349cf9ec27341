"""victor-mcp: the tools of MCP servers as victor-core tools.

Each server of the ``mcp_servers`` setting contributes its tools as
``mcp__<server>__<tool>``. Importing this package starts no server and does
not import the ``mcp`` SDK; a server starts at the first call of one of its
tools (or, once, to list its tools when no catalogue of them is cached).
"""

from __future__ import annotations

from victor_mcp._errors import McpServerError, McpToolError

__all__ = [
    "McpServerError",
    "McpToolError",
]
