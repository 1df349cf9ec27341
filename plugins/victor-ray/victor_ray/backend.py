"""The Ray executor backend: tool calls run in actors on a Ray cluster.

:class:`RayBackend` satisfies victor-core's
:class:`~victor_core.execution.ExecutorBackend`: the executor still looks
tools up, checks parameters, bounds concurrency (``max_parallel_workers``),
records metrics and dispatches ``victor_tool_result``; the backend only
moves each call to a worker and its result back.

Where calls run: in :class:`~victor_ray._host.ToolHost` actors, async actors
that each run many calls at once (async tools on their event loop, blocking
ones on their threads) and hold no CPU slot, so I/O-bound tools never wait
for a core. A backend starts one actor at its first call and adds one when
every actor is busy, up to ``actors`` (default: the cluster's CPUs, at most
``threads``), spread over the nodes. The process connects to Ray at the first
call (:mod:`victor_ray._connection`), not before.

Failures are results, as with the local backend: a tool that raises, runs
past its timeout, cannot be imported on the worker or returns a value that
cannot be pickled gives ``ok=False`` naming the tool. A blocking tool past
its timeout leaves a thread that cannot be stopped, so its actor takes no
new calls and is killed as soon as its other calls are done (which kills the
hung call). An actor that stops answering (past the timeout plus
:data:`GRACE_S`) or dies is replaced; its calls fail, the others go on. Only
Ray itself being unreachable raises, :class:`~victor_ray.RayConnectionError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from victor_core.execution import (
    ToolCall,
    error_result,
    error_text,
    run_bounded,
    timeout_result,
)
from victor_core.models import ToolResult
from victor_ray._connection import connect
from victor_ray._host import ToolHost, dumps, loads

__all__ = ["GRACE_S", "HOST_CONCURRENCY", "RayBackend"]

#: Seconds past a call's timeout to wait for its actor's own timeout result.
GRACE_S = 1.0
#: Calls one actor accepts at once (coroutines; blocking ones also take a thread).
HOST_CONCURRENCY = 1000
#: Most blocking calls running at once in one actor (threads start on demand).
_HOST_THREADS = 64
_CACHE_LIMIT = 4096

_remote_class: Any = None
_remote_lock = threading.Lock()


def _host_class() -> Any:
    """``ray.remote(ToolHost)``, made once per process."""
    global _remote_class
    with _remote_lock:
        if _remote_class is None:
            import ray

            _remote_class = ray.remote(ToolHost)
        return _remote_class


class _Host:
    """The driver's view of one actor."""

    __slots__ = ("handle", "in_flight", "retired")

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.in_flight = 0
        self.retired = False


class RayBackend:
    """Runs tool calls in Ray actors (see the module docstring).

    Args:
        address: ``ray_address`` (``""``: join or start a local instance).
        threads: ``max_parallel_workers``; bounds the default number of actors.
        actors: most actors this backend runs (default: the cluster's CPUs,
            between 1 and ``threads``).
        grace: seconds past a call's timeout before its actor counts as stuck.
    """

    name = "ray"

    def __init__(
        self,
        *,
        address: str = "",
        threads: int = 8,
        actors: int | None = None,
        grace: float = GRACE_S,
    ) -> None:
        if actors is not None and (isinstance(actors, bool) or not isinstance(actors, int)):
            raise TypeError(f"actors must be an int of at least 1 or None (got {actors!r})")
        if actors is not None and actors < 1:
            raise ValueError(f"actors must be an int of at least 1 or None (got {actors!r})")
        self.address = address
        self.threads = threads
        self.actors = actors
        self.grace = grace
        self._hosts: list[_Host] = []
        self._retired: list[_Host] = []
        self._limit: int | None = None
        self._payloads: dict[Any, tuple[str | None, bytes]] = {}
        self._ray: Any = None  # the ray module, once connected

    # -- the protocol ---------------------------------------------------------------------

    async def run(self, call: ToolCall) -> ToolResult:
        """Run ``call`` in an actor under its timeout (see the module docstring).

        Raises:
            RayConnectionError: Ray could not be reached or started.
        """
        name, func, params, timeout = call
        if self._ray is None or not self._ray.is_initialized():
            await self._connect(name)
        started = time.perf_counter()
        try:
            module, func_data = self._payload(func)
            params_data = dumps(dict(params))
        except Exception as exc:
            return _failed(
                name,
                f"tool {name!r} cannot be sent to the Ray workers: its function or parameters "
                f"do not pickle ({error_text(exc)})",
                exc,
                started,
            )
        host = self._pick()
        host.in_flight += 1
        ref = host.handle.run.remote(name, module, func_data, params_data, timeout)
        try:
            deadline = None if timeout is None else timeout + self.grace
            data = await asyncio.wait_for(asyncio.wrap_future(ref.future()), deadline)
        except (TimeoutError, asyncio.TimeoutError):
            self._cancel(ref)
            self._retire(host)
            return timeout_result(name, timeout, started)
        except asyncio.CancelledError:
            self._cancel(ref)
            raise
        except Exception as exc:
            return self._ray_failure(name, host, exc, started)
        finally:
            host.in_flight -= 1
            if host.retired:
                self._reap()
        try:
            result, hung = loads(data)
        except Exception as exc:
            return _failed(
                name,
                f"tool {name!r}: its result from the Ray worker cannot be read here "
                f"({error_text(exc)})",
                exc,
                started,
            )
        if hung:
            self._retire(host)
            self._reap()
        return ToolResult(
            name=result.name,
            ok=result.ok,
            value=result.value,
            error=result.error,
            error_type=result.error_type,
            duration_s=time.perf_counter() - started,
        )

    async def run_batch(self, calls: Sequence[ToolCall], workers: int) -> list[ToolResult]:
        """Run ``calls``, at most ``workers`` at once, results in order.

        Raises:
            RayConnectionError: Ray could not be reached or started.
        """
        if calls and (self._ray is None or not self._ray.is_initialized()):
            await self._connect(calls[0].name)
        run = self.run
        return await run_bounded([_bind(run, call) for call in calls], workers)

    def close(self) -> None:
        """Kill this backend's actors (the process stays connected to Ray)."""
        hosts, self._hosts = self._hosts, []
        retired, self._retired = self._retired, []
        if not hosts and not retired:
            return
        import ray

        for host in (*hosts, *retired):
            _kill(ray, host)

    # -- machinery ------------------------------------------------------------------------

    async def _connect(self, tool: str) -> None:
        if self._ray is not None:
            # Ray was shut down since: the actors went with it, and Ray would
            # start a default instance at the next call; connect afresh.
            self._hosts, self._retired = [], []
        # ray.init blocks for seconds: keep the event loop (and streams) going.
        await asyncio.to_thread(connect, self.address, tool=tool)
        if self._limit is None:
            self._limit = self.actors or await asyncio.to_thread(self._default_actors)
        import ray

        self._ray = ray

    def _default_actors(self) -> int:
        import ray

        try:
            cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        except Exception:  # the count is only a default
            cpus = 1
        return max(1, min(cpus, int(self.threads)))

    def _pick(self) -> _Host:
        hosts = self._hosts
        best = min(hosts, key=_load, default=None)
        if best is None or (best.in_flight and len(hosts) < (self._limit or 1)):
            best = _Host(
                _host_class()
                .options(
                    num_cpus=0,
                    max_concurrency=HOST_CONCURRENCY,
                    scheduling_strategy="SPREAD",
                    max_restarts=0,
                )
                .remote(max(_HOST_THREADS, int(self.threads)))
            )
            hosts.append(best)
        return best

    def _payload(self, func: Any) -> tuple[str | None, bytes]:
        try:
            return self._payloads[func]
        except KeyError:
            pass
        except TypeError:  # unhashable callable: pickled at every call
            return _module_of(func), dumps(func)
        payload = (_module_of(func), dumps(func))
        if len(self._payloads) >= _CACHE_LIMIT:
            self._payloads.clear()
        self._payloads[func] = payload
        return payload

    def _retire(self, host: _Host) -> None:
        """Take ``host`` out of service; :meth:`_reap` kills it when its calls are done."""
        if host.retired:
            return
        host.retired = True
        if host in self._hosts:
            self._hosts.remove(host)
        self._retired.append(host)
        logging.getLogger("victor_ray").warning(
            "a Ray tool host was retired with %d calls in flight", host.in_flight
        )

    def _reap(self) -> None:
        done = [h for h in self._retired if h.in_flight == 0]
        if not done:
            return
        import ray

        for host in done:
            self._retired.remove(host)
            _kill(ray, host)

    def _cancel(self, ref: Any) -> None:
        import ray

        # An async actor's call: its coroutine is cancelled. Already finished
        # or the actor gone: nothing to cancel.
        with contextlib.suppress(Exception):
            ray.cancel(ref)

    def _ray_failure(self, name: str, host: _Host, exc: Exception, started: float) -> ToolResult:
        from ray import exceptions as rex

        if isinstance(exc, (rex.RayActorError, rex.ActorUnavailableError)):
            self._retire(host)
            why = "died" if isinstance(exc, rex.RayActorError) else "is unavailable"
            return _failed(
                name,
                f"tool {name!r}: the Ray worker running it {why} ({_first_line(exc)})",
                exc,
                started,
            )
        return _failed(
            name, f"tool {name!r}: Ray failed to run it ({_first_line(exc)})", exc, started
        )


def _load(host: _Host) -> int:
    return host.in_flight


def _kill(ray: Any, host: _Host) -> None:
    with contextlib.suppress(Exception):  # already dead, or Ray shut down
        ray.kill(host.handle, no_restart=True)


def _module_of(func: Any) -> str | None:
    inner = getattr(func, "func", func)  # functools.partial
    module = getattr(inner, "__module__", None)
    return module if isinstance(module, str) else None


def _first_line(exc: BaseException) -> str:
    text = error_text(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _failed(name: str, message: str, exc: BaseException, started: float) -> ToolResult:
    result = error_result(name, exc, started)
    return ToolResult(
        name=name,
        ok=False,
        error=message,
        error_type=result.error_type,
        duration_s=result.duration_s,
    )


def _bind(func: Any, *args: Any) -> Any:
    def thunk() -> Any:
        return func(*args)

    return thunk
