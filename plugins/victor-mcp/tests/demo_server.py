"""A small MCP server for the tests, written with the SDK's MCPServer (FastMCP in mcp 1).

Each start appends its pid to the file named by ``DEMO_PID_FILE``; the tool
``crash`` exits the process with code 3, and ``DEMO_CRASH_ON_START`` makes the
server exit at once (after writing to stderr).
"""

from __future__ import annotations

import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

pid_file = os.environ.get("DEMO_PID_FILE")
if pid_file:
    with open(pid_file, "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")
if os.environ.get("DEMO_CRASH_ON_START"):
    print("demo: refusing to start", file=sys.stderr, flush=True)
    sys.exit(4)

server = MCPServer("demo")


@server.tool(description="Add two integers and return their sum.")
def add(a: int, b: int) -> int:
    return a + b


@server.tool(description="Divide a by b; fails when b is 0.")
def divide(a: float, b: float) -> float:
    if b == 0:
        raise ToolError("division by zero")
    return a / b


@server.tool(description="Sleep for the given seconds, then answer.")
async def sleep(seconds: float) -> str:
    import anyio

    await anyio.sleep(seconds)
    return "awake"


@server.tool(description="Exit the server process with code 3 (a crash).")
def crash() -> str:
    print("demo: crashing now", file=sys.stderr, flush=True)
    os._exit(3)


if __name__ == "__main__":
    server.run("stdio")
