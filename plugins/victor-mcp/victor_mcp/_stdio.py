"""A stdio transport that keeps hold of its server process.

The SDK's own ``stdio_client`` hides the process; this one exposes it (its
pid, its exit code) and writes the server's stderr to a file whose tail goes
into the error of a server that crashed. Runs on the MCP thread's loop only,
and is the one module besides ``_session`` that imports the ``mcp`` SDK.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import IO, Any

import anyio
import mcp_types
from anyio.abc import Process
from mcp.shared.message import SessionMessage

__all__ = ["stdio_transport", "terminate"]

_GRACE_S = 2.0
_POLL_S = 0.02


def terminate(process: Any, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to the server's process group (its own session), or to it alone."""
    if process.returncode is not None:
        return
    with suppress(ProcessLookupError, PermissionError, OSError):
        if sys.platform != "win32":
            os.killpg(process.pid, sig)
        elif sig == signal.SIGTERM:
            process.terminate()
        else:
            process.kill()


async def _exited(process: Process, within: float) -> bool:
    deadline = anyio.current_time() + within
    while process.returncode is None:
        if anyio.current_time() >= deadline:
            return False
        await anyio.sleep(_POLL_S)
    return True


async def _stop(process: Process) -> None:
    # The MCP shutdown sequence: close stdin, wait, SIGTERM, wait, SIGKILL.
    if process.stdin is not None:
        with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            await process.stdin.aclose()
    if await _exited(process, _GRACE_S):
        return
    terminate(process, signal.SIGTERM)
    if await _exited(process, _GRACE_S):
        return
    terminate(process, getattr(signal, "SIGKILL", signal.SIGTERM))
    await _exited(process, _GRACE_S)


@asynccontextmanager
async def stdio_transport(
    config: dict[str, Any], *, stderr: IO[bytes], on_start: Any
) -> AsyncIterator[tuple[Any, Any]]:
    """Spawn the server of ``config`` and yield the session's (read, write) streams.

    Args:
        config: ``command``, ``args``, ``env`` (added to this process's environment), ``cwd``.
        stderr: a file the server's stderr goes to.
        on_start: called with the process once it is spawned.
    """
    env = {**os.environ, **config.get("env", {})}
    process = await anyio.open_process(
        [config["command"], *config.get("args", [])],
        env=env,
        cwd=config.get("cwd"),
        stderr=stderr,
        start_new_session=sys.platform != "win32",
    )
    on_start(process)
    read_send, read_recv = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_send, write_recv = anyio.create_memory_object_stream[SessionMessage](0)

    async def reader() -> None:
        if process.stdout is None:
            return
        buffer = b""
        async with read_send:
            with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                async for chunk in process.stdout:
                    *lines, buffer = (buffer + chunk).split(b"\n")
                    for line in lines:
                        if not line.strip():
                            continue
                        try:
                            message = mcp_types.jsonrpc_message_adapter.validate_json(line)
                        except ValueError as exc:
                            await read_send.send(exc)
                            continue
                        await read_send.send(SessionMessage(message))

    async def writer() -> None:
        if process.stdin is None:
            return
        async with write_recv:
            with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                async for item in write_recv:
                    data = item.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await process.stdin.send((data + "\n").encode("utf-8"))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(reader)
        tasks.start_soon(writer)
        try:
            yield read_recv, write_send
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(process)
                for stream in (read_recv, write_send):
                    await stream.aclose()
            tasks.cancel_scope.cancel()
