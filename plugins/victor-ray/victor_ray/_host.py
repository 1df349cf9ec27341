"""What runs on the Ray workers: an async actor hosting tool calls.

One :class:`ToolHost` actor is one worker process. It runs each call with
victor-core's own :class:`~victor_core.execution.LocalBackend` (async tools
on the actor's event loop, blocking ones on its daemon threads, each under
its timeout), so a tool gives the same result, error text and timeout on Ray
as at home. Calls travel as pickles the host opens itself, so a tool whose
module the worker cannot import fails with a message naming the tool and the
module instead of a Ray deserialisation error, and results go back the same
way, so a value that cannot be pickled is that call's failed result.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from victor_core.execution import LocalBackend, ToolCall, error_text
from victor_core.models import ToolResult, is_async_callable

__all__ = ["ToolHost", "dumps", "loads"]

_CACHE_LIMIT = 4096


def dumps(value: Any) -> bytes:
    """``value`` pickled with Ray's cloudpickle (functions of ``__main__`` by value)."""
    from ray import cloudpickle

    return bytes(cloudpickle.dumps(value))  # type: ignore[no-untyped-call]  # untyped in Ray


def loads(data: bytes) -> Any:
    """The inverse of :func:`dumps`."""
    from ray import cloudpickle

    return cloudpickle.loads(data)


def where() -> str:
    """``"host (pid N)"``: the worker, for error messages."""
    return f"{socket.gethostname()} (pid {os.getpid()})"


class ToolHost:
    """An actor running tool calls (made a Ray actor by :class:`~victor_ray.backend.RayBackend`).

    Args:
        threads: most blocking tools running at once in this process.
    """

    def __init__(self, threads: int) -> None:
        self._backend = LocalBackend(threads)
        self._funcs: dict[bytes, Any] = {}

    def info(self) -> dict[str, Any]:
        """The worker's host name and pid."""
        return {"host": socket.gethostname(), "pid": os.getpid()}

    async def run(
        self,
        name: str,
        module: str | None,
        func_data: bytes,
        params_data: bytes,
        timeout: float | None,
    ) -> bytes:
        """Run one call; the pickled ``(result, hung)``.

        ``hung`` is True when a blocking tool ran past its timeout: its thread
        cannot be stopped, so the caller retires this actor.
        """
        started = time.perf_counter()
        try:
            func = self._load(func_data)
            params = loads(params_data)
        except ImportError as exc:
            return dumps((_not_importable(name, module, exc, started), False))
        except Exception as exc:
            result = ToolResult(
                name=name,
                ok=False,
                error=f"tool {name!r} could not be loaded on the Ray worker {where()}: "
                f"{error_text(exc)}",
                error_type=type(exc).__name__,
                duration_s=time.perf_counter() - started,
            )
            return dumps((result, False))
        result = await self._backend.run(ToolCall(name, func, params, timeout))
        hung = result.error_type == "ToolTimeoutError" and not is_async_callable(func)
        try:
            return dumps((result, hung))
        except Exception as exc:
            failed = ToolResult(
                name=name,
                ok=False,
                error=f"tool {name!r} returned a value that cannot be sent back from the Ray "
                f"worker (it must pickle): {error_text(exc)}",
                error_type=type(exc).__name__,
                duration_s=result.duration_s,
            )
            return dumps((failed, hung))

    def _load(self, data: bytes) -> Any:
        func = self._funcs.get(data)
        if func is None:
            func = loads(data)
            if len(self._funcs) >= _CACHE_LIMIT:
                self._funcs.clear()
            self._funcs[data] = func
        return func


def _not_importable(name: str, module: str | None, exc: ImportError, started: float) -> ToolResult:
    missing = exc.name or module or "?"
    needed = f" (needed by its module {module!r})" if module and module != missing else ""
    return ToolResult(
        name=name,
        ok=False,
        error=f"tool {name!r} cannot run on the Ray worker {where()}: module {missing!r}{needed} "
        f"is not importable there ({error_text(exc)}); install it on every node of the "
        "cluster (or ship it in the job's runtime_env)",
        error_type=type(exc).__name__,
        duration_s=time.perf_counter() - started,
    )
