"""The MCP thread and the servers of one ``mcp_servers`` setting.

Every session lives on one event loop run by a daemon thread, so that a tool
call works from whichever loop or thread the executor runs it on: the call
is handed over with ``run_coroutine_threadsafe`` and awaited with
``asyncio.wrap_future``. Importing this module imports neither the ``mcp``
SDK nor starts the thread; the first call does.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from victor_mcp._catalogue import CatalogueTool, load_catalogue, save_catalogue
from victor_mcp._errors import McpServerError, McpToolError

__all__ = ["ServerPool", "map_result"]

_CLOSE_S = 15.0


class _LoopThread:
    """A daemon thread running one asyncio loop, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                started = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(started.set)
                    loop.run_forever()

                threading.Thread(target=run, name="victor-mcp", daemon=True).start()
                started.wait()
                self._loop = loop
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop())

    @property
    def running(self) -> bool:
        return self._loop is not None and self._loop.is_running()


_THREAD = _LoopThread()
_POOLS: set[ServerPool] = set()
_POOLS_LOCK = threading.Lock()


def _text_of(raw: dict[str, Any]) -> str:
    return "\n".join(
        block.get("text", "") for block in raw["content"] if block.get("type") == "text"
    ).strip()


def map_result(server: str, tool: str, raw: dict[str, Any]) -> dict[str, Any]:
    """An MCP tool result as a victor tool result (``summary``, ``highlights``, details).

    Raises:
        McpToolError: the result has ``isError``; the message is the server's.
    """
    text = _text_of(raw)
    if raw["is_error"]:
        raise McpToolError(
            f"MCP tool {tool!r} of server {server!r} reported an error: {text or 'no message'}",
            server=server,
            tool=f"mcp__{server}__{tool}",
        )
    lines = [line for line in text.splitlines() if line.strip()]
    others = [b for b in raw["content"] if b.get("type") != "text"]
    if lines:
        summary = lines[0][:200]
    elif others:
        summary = f"{len(others)} {others[0].get('type', 'content')} item(s)"
    else:
        summary = "done"
    value: dict[str, Any] = {
        "summary": summary,
        "highlights": [line[:200] for line in lines[1:11]],
        "text": text,
    }
    if raw["structured"] is not None:
        value["structured"] = raw["structured"]
    if others:
        value["content"] = others
    return value


class ServerPool:
    """The servers of one ``mcp_servers`` mapping: catalogues, calls, shutdown.

    Args:
        servers: ``mcp_servers`` (checked and normalised by the settings).
        cache_dir: the victor cache directory (catalogues go to ``<cache_dir>/mcp``).
        timeout: seconds listing one server may take.
    """

    def __init__(self, servers: dict[str, Any], *, cache_dir: Path, timeout: float) -> None:
        self.servers = servers
        self.cache_dir = Path(cache_dir)
        self.timeout = timeout
        self._sessions: dict[str, Any] = {}
        self.closed = False
        with _POOLS_LOCK:
            _POOLS.add(self)

    def _save(self, server: str, tools: list[CatalogueTool]) -> None:
        save_catalogue(self.cache_dir, server, self.servers[server], tools)

    # -- listing ---------------------------------------------------------------------

    def catalogues(self, names: list[str]) -> list[list[CatalogueTool] | BaseException]:
        """Each server's tools: from the cache, else by starting it once just to list.

        Servers without a cached catalogue are listed concurrently on the MCP
        thread, each within ``timeout``; a server that cannot list gives its
        :class:`McpServerError` in place of its tools.
        """
        found: list[list[CatalogueTool] | BaseException | None] = []
        pending: dict[int, concurrent.futures.Future[Any]] = {}
        for index, server in enumerate(names):
            cached = load_catalogue(self.cache_dir, server, self.servers[server])
            found.append(cached)
            if cached is None:
                pending[index] = _THREAD.submit(self._list(server))
        for index, future in pending.items():
            try:
                tools = future.result(self.timeout + _CLOSE_S)
            except Exception as exc:  # reported by the caller, per server
                found[index] = exc
                continue
            self._save(names[index], tools)
            found[index] = tools
        return [item if item is not None else [] for item in found]

    async def _list(self, server: str) -> list[CatalogueTool]:
        from victor_mcp._session import list_server_tools

        return await list_server_tools(server, self.servers[server], self.timeout)

    # -- calls -----------------------------------------------------------------------

    async def _session_call(
        self, server: str, tool: str, arguments: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        if self.closed:
            raise McpServerError(
                f"MCP server {server!r}: its orchestrator is closed", server=server
            )
        session = self._sessions.get(server)
        if session is None:
            from victor_mcp._session import ServerSession

            session = self._sessions[server] = ServerSession(
                server, self.servers[server], on_tools=self._save
            )
        result: dict[str, Any] = await session.call(tool, arguments, timeout)
        return result

    async def call(
        self, server: str, tool: str, arguments: dict[str, Any], *, timeout: float
    ) -> dict[str, Any]:
        """Call ``tool`` of ``server`` from any loop or thread; the victor result."""
        future = _THREAD.submit(self._session_call(server, tool, arguments, timeout))
        raw = await asyncio.wrap_future(future)
        return map_result(server, tool, raw)

    def pids(self) -> dict[str, int]:
        """The pid of each running stdio server process."""
        return {
            name: session.process.pid
            for name, session in self._sessions.items()
            if session.process is not None and session.process.returncode is None
        }

    # -- shutdown --------------------------------------------------------------------

    async def _stop_all(self) -> None:
        sessions = list(self._sessions.values())
        await asyncio.gather(*(s.stop() for s in sessions), return_exceptions=True)

    async def aclose(self) -> None:
        """Stop every server process of this pool (idempotent)."""
        if self.closed:
            return
        self.closed = True
        with _POOLS_LOCK:
            _POOLS.discard(self)
        if self._sessions and _THREAD.running:
            await asyncio.wrap_future(_THREAD.submit(self._stop_all()))

    def close(self) -> None:
        """:meth:`aclose` from synchronous code (interpreter exit)."""
        if self.closed:
            return
        self.closed = True
        with _POOLS_LOCK:
            _POOLS.discard(self)
        if self._sessions and _THREAD.running:
            # Whatever goes wrong here, the kill below still runs.
            with contextlib.suppress(Exception):
                _THREAD.submit(self._stop_all()).result(_CLOSE_S)
        from victor_mcp._stdio import terminate

        for session in self._sessions.values():
            if session.process is not None and session.process.returncode is None:
                terminate(session.process, 9)


@atexit.register
def _close_all() -> None:
    # Never leave a child process behind, even without aclose().
    with _POOLS_LOCK:
        pools = list(_POOLS)
    for pool in pools:
        pool.close()
