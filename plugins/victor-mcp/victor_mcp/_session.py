"""One MCP server's connection, owned by one long-lived task on the MCP loop.

The SDK's sessions are anyio context managers: entered and left in the same
task. :class:`ServerSession` runs that task (``_main``); calls come from
other tasks of the same loop and share its session. This module imports the
``mcp`` SDK; only the MCP thread (:mod:`victor_mcp._pool`) imports it.
"""

from __future__ import annotations

import asyncio
import tempfile
from contextlib import AsyncExitStack
from typing import IO, Any

import mcp_types
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError

from victor_mcp._errors import McpServerError
from victor_mcp._stdio import stdio_transport, terminate

__all__ = ["ServerSession", "list_server_tools"]

_STOP_S = 10.0
_STDERR_TAIL = 2000


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups, as anyio raises them."""
    # Duck-typed: Python 3.10 has no built-in BaseExceptionGroup (anyio's backport has one).
    while isinstance(getattr(exc, "exceptions", None), tuple) and exc.exceptions:  # type: ignore[attr-defined]
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    return exc


def _text(exc: BaseException) -> str:
    exc = _leaf(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _describe(tool: Any) -> dict[str, Any]:
    annotations = getattr(tool, "annotations", None)
    read_only = getattr(annotations, "read_only_hint", None) if annotations else None
    return {
        "name": tool.name,
        "description": tool.description or "",
        "input_schema": dict(tool.input_schema or {"type": "object"}),
        "read_only": bool(read_only),
    }


def _plain(result: Any) -> dict[str, Any]:
    return {
        "content": [
            block.model_dump(mode="json", by_alias=True, exclude_none=True)
            for block in result.content
        ],
        "structured": result.structured_content,
        "is_error": bool(result.is_error),
    }


class ServerSession:
    """The connection to one server: started on demand, restarted once after a crash.

    Args:
        name: the server's name in ``mcp_servers``.
        config: its normalised table (``command``... or ``url``...).
        on_tools: called with the server's tool list each time it starts.
    """

    def __init__(self, name: str, config: dict[str, Any], *, on_tools: Any = None) -> None:
        self.name = name
        self.config = config
        self.process: Any = None
        self.tools: dict[str, dict[str, Any]] = {}
        self.crashes = 0
        self._failed: str | None = None
        self._on_tools = on_tools
        self._session: ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop_event: asyncio.Event | None = None
        self._stderr: IO[bytes] | None = None
        self._lock = asyncio.Lock()

    # -- the owning task ---------------------------------------------------------------

    def _spawned(self, process: Any) -> None:
        self.process = process

    async def _main(self, ready: asyncio.Future[None]) -> None:
        stop = self._stop_event = asyncio.Event()
        try:
            async with AsyncExitStack() as stack:
                if "command" in self.config:
                    self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
                    streams = await stack.enter_async_context(
                        stdio_transport(self.config, stderr=self._stderr, on_start=self._spawned)
                    )
                else:
                    import httpx2
                    from mcp.client.streamable_http import streamable_http_client

                    client = await stack.enter_async_context(
                        httpx2.AsyncClient(
                            headers=self.config.get("headers") or None,
                            timeout=httpx2.Timeout(30.0, read=300.0),
                        )
                    )
                    streams = await stack.enter_async_context(
                        streamable_http_client(self.config["url"], http_client=client)
                    )
                read, write = streams[0], streams[1]
                info = mcp_types.Implementation(name="victor-mcp", version="0.1.0")
                session = await stack.enter_async_context(
                    ClientSession(read, write, client_info=info)
                )
                await session.initialize()
                self.tools = {t["name"]: t for t in await self._list(session)}
                self._session = session
                if self._on_tools is not None:
                    self._on_tools(self.name, list(self.tools.values()))
                ready.set_result(None)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
        finally:
            self._session = None

    @staticmethod
    async def _list(session: ClientSession) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await session.list_tools(params=params)
            tools.extend(_describe(tool) for tool in page.tools)
            cursor = page.next_cursor
            if not cursor:
                return tools

    # -- state -------------------------------------------------------------------------

    def alive(self) -> bool:
        """Whether the server is connected (and, for stdio, its process runs)."""
        if self._task is None or self._task.done() or self._session is None:
            return False
        return self.process is None or self.process.returncode is None

    def stderr_tail(self) -> str:
        """The last lines the server wrote to stderr ("" when none)."""
        if self._stderr is None:
            return ""
        try:
            self._stderr.flush()
            size = self._stderr.seek(0, 2)
            self._stderr.seek(max(0, size - _STDERR_TAIL))
            text = self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        return " | ".join(text.splitlines()[-3:])

    def _exit_info(self) -> str:
        parts = []
        if self.process is not None and self.process.returncode is not None:
            parts.append(f"exit code {self.process.returncode}")
        tail = self.stderr_tail()
        if tail:
            parts.append(f"stderr: {tail}")
        return f" ({'; '.join(parts)})" if parts else ""

    @staticmethod
    def _lost_connection(exc: BaseException) -> bool:
        """Whether ``exc`` says the connection is gone (not an error answer of a live server)."""
        exc = _leaf(exc)
        if isinstance(exc, MCPError):
            return exc.code == mcp_types.CONNECTION_CLOSED
        return not isinstance(exc, (TimeoutError, asyncio.TimeoutError))

    async def _died(self) -> bool:
        # After a lost connection, give the loop a moment to see the process exit.
        for _ in range(100):
            if self._task is None or self._task.done():
                return True
            if self.process is not None and self.process.returncode is not None:
                return True
            if self.process is None and self._session is not None:
                return False
            await asyncio.sleep(0.02)
        return False

    async def _crashed(self, during: str) -> McpServerError:
        self.crashes += 1
        info = self._exit_info() or " (it closed the connection)"
        await self.stop()
        message = f"MCP server {self.name!r} crashed {during}{info}"
        if self.crashes >= 2:
            self._failed = f"{message}; it crashed {self.crashes} times and is not restarted again"
            return McpServerError(self._failed, server=self.name)
        return McpServerError(f"{message}; it is restarted at the next call", server=self.name)

    # -- operations --------------------------------------------------------------------

    async def start(self, timeout: float) -> None:
        """Connect (spawning the process for stdio) unless connected.

        Raises:
            McpServerError: it cannot start, or crashed twice before.
        """
        async with self._lock:
            if self.alive():
                return
            if self._task is not None:  # it was connected and has gone since
                error = await self._crashed("while idle")
                if self._failed is not None:
                    raise error
            if self._failed is not None:
                raise McpServerError(self._failed, server=self.name)
            ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._task = asyncio.ensure_future(self._main(ready))
            try:
                await asyncio.wait_for(asyncio.shield(ready), timeout)
            except (asyncio.TimeoutError, TimeoutError):
                await self.stop()
                raise McpServerError(
                    f"MCP server {self.name!r} did not start within {timeout:g} s"
                    f"{self._exit_info()}",
                    server=self.name,
                ) from None
            except Exception as exc:
                info = self._exit_info()
                await self.stop()
                raise McpServerError(
                    f"MCP server {self.name!r} failed to start: {_text(exc)}{info}",
                    server=self.name,
                ) from None

    async def call(self, tool: str, arguments: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Call ``tool``; its content, structured content and ``is_error`` as plain data.

        Raises:
            McpServerError: the server could not start, does not have the tool,
                crashed, or the request failed.
        """
        await self.start(timeout)
        if tool not in self.tools:
            offered = ", ".join(sorted(self.tools)) or "none"
            raise McpServerError(
                f"MCP server {self.name!r} has no tool {tool!r} any more (it offers: {offered}); "
                "its catalogue is refreshed, so the next run lists the current tools",
                server=self.name,
                tool=tool,
            )
        session = self._session
        if session is None:  # pragma: no cover - alive() checked it under the lock
            raise await self._crashed(f"before the call to {tool!r}")
        try:
            result = await session.call_tool(tool, arguments, read_timeout_seconds=timeout)
        except Exception as exc:
            lost = self._lost_connection(exc)
            if lost and await self._died():
                raise await self._crashed(f"during the call to {tool!r}") from None
            if lost:
                await self.stop()  # a live process or HTTP server: reconnect at the next call
            raise McpServerError(
                f"MCP server {self.name!r}: calling {tool!r} failed: {_text(exc)}",
                server=self.name,
                tool=tool,
            ) from None
        return _plain(result)

    async def stop(self) -> None:
        """Disconnect and stop the process (idempotent; never leaves the process running)."""
        task, self._task = self._task, None
        if task is not None:
            if self._stop_event is not None:
                self._stop_event.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), _STOP_S)
            except BaseException:
                task.cancel()
        if self.process is not None and self.process.returncode is None:
            terminate(self.process, 9)
        self._session = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


async def list_server_tools(name: str, config: dict[str, Any], timeout: float) -> list[Any]:
    """Start the server, list its tools, stop it."""
    server = ServerSession(name, config)
    try:
        await server.start(timeout)
        return list(server.tools.values())
    finally:
        await server.stop()
