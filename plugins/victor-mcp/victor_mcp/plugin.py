"""The ``victor_core.tools`` hook implementations of victor-mcp.

``victor_tools`` turns the tools of every server in ``mcp_servers`` into
victor tools named ``mcp__<server>__<tool>``, from each server's cached
catalogue (starting a server only when it has none cached, just to list it);
``victor_tools_close`` stops the servers when the orchestrator closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from victor_core import Settings, Tool, hookimpl
from victor_core.execution import current_registry
from victor_core.settings import active_settings

if TYPE_CHECKING:
    from victor_mcp._pool import ServerPool

__all__ = ["tool_name", "victor_tools", "victor_tools_close"]


def _warn(event: str, **fields: Any) -> None:
    # structlog is imported on the first warning: loading this plugin with
    # the tools family must stay cheap when every server answers.
    import structlog

    structlog.get_logger("victor_mcp").warning(event, **fields)


# The pool of each (settings, tool registry) pair that listed tools, by
# identity: Settings compare by value, and two orchestrators sharing one
# Settings have a registry each, so each starts (and stops) its own servers.
# The registry is None for a plain ``plugin_manager.hook.victor_tools()`` call.
_POOLS: dict[tuple[int, int], tuple[Settings, object, ServerPool]] = {}


def tool_name(server: str, tool: str) -> str:
    """The victor name of ``tool`` of ``server``: ``mcp__<server>__<tool>``.

    Characters a victor tool name cannot hold become ``_``.
    """
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "_-.") else "_" for c in tool)
    return f"mcp__{server}__{safe}"


def _settings() -> Settings:
    settings = active_settings()
    if settings is None:
        settings, _sources = Settings.discover()
    return settings


def _pool(settings: Settings) -> ServerPool:
    registry = current_registry()
    key = (id(settings), id(registry))
    entry = _POOLS.get(key)
    if entry is None or entry[0] is not settings or entry[1] is not registry or entry[2].closed:
        from victor_mcp._pool import ServerPool

        pool = ServerPool(
            dict(settings.mcp_servers),
            cache_dir=settings.cache_dir,
            timeout=float(settings.tool_execution_timeout),
        )
        _POOLS[key] = (settings, registry, pool)
        return pool
    return entry[2]


def _make_tool(pool: ServerPool, server: str, item: dict[str, Any], timeout: float) -> Tool:
    remote = item["name"]

    async def call(**arguments: Any) -> dict[str, Any]:
        return await pool.call(server, remote, arguments, timeout=timeout)

    call.__name__ = call.__qualname__ = tool_name(server, remote)
    if item.get("read_only"):
        effects: tuple[str, ...] = ("read",)
    else:
        effects = ("run",) if "command" in pool.servers[server] else ("network",)
    description = item["description"] or f"The tool {remote!r} of the MCP server {server!r}."
    schema = dict(item["input_schema"])
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    return Tool(
        name=tool_name(server, remote),
        description=description,
        func=call,
        parameters=schema,
        tags=("mcp", f"mcp:{server}"),
        effects=effects,
    )


@hookimpl
def victor_tools() -> list[Tool]:
    """The tools of every configured MCP server (a server that cannot list is skipped).

    Synchronous, as plain ``plugin_manager.hook.victor_tools()`` callers expect;
    a server with no cached catalogue is listed on the MCP thread meanwhile.
    """
    settings = _settings()
    if not settings.mcp_servers:
        return []
    pool = _pool(settings)
    names = list(pool.servers)
    listings = pool.catalogues(names)
    tools: list[Tool] = []
    seen: set[str] = set()
    timeout = float(settings.tool_execution_timeout)
    for server, listing in zip(names, listings, strict=True):
        if isinstance(listing, BaseException):
            _warn(
                "mcp_server_unavailable",
                server=server,
                error=str(listing) or type(listing).__name__,
                detail="its tools are not offered in this run",
            )
            continue
        for item in listing:
            tool = _make_tool(pool, server, item, timeout)
            if tool.name in seen:
                _warn("mcp_tool_name_clash", server=server, tool=item["name"], name=tool.name)
                continue
            seen.add(tool.name)
            tools.append(tool)
    return tools


@hookimpl
async def victor_tools_close(settings: Settings) -> None:
    """Stop the server processes started for ``settings`` by the closing orchestrator's tools."""
    registry = current_registry()
    entry = _POOLS.get((id(settings), id(registry)))
    if entry is not None and entry[0] is settings and entry[1] is registry:
        del _POOLS[(id(settings), id(registry))]
        await entry[2].aclose()
