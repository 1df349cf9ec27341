"""Fixtures of the victor-ray tests: one local Ray instance per session, both backends."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from victor_ray.testing import NAMESPACE, RayInstance, meet, ray_instance

from victor_core import AgentOrchestrator, Settings, Tool

__all__ = ["ray_instance"]


@pytest.fixture(scope="session")
def ray_ready(ray_instance: RayInstance) -> RayInstance:
    """The session's instance, with the test tools' module shipped to workers by value.

    The workers cannot import this conftest (pytest imports it from its
    path); cloudpickle's by-value registration sends its functions whole,
    the documented way to use such a module on Ray.
    """
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    return ray_instance


# -- the tools ----------------------------------------------------------------------------


def add(a: int, b: int = 1) -> int:
    return a + b


async def shout(text: str) -> str:
    await asyncio.sleep(0)
    return text.upper()


def fail(message: str = "bad input") -> None:
    raise ValueError(message)


async def afail() -> None:
    raise KeyError("missing key")


def pid() -> int:
    return os.getpid()


def hang(pid_file: str) -> None:
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(3600)


async def ahang() -> None:
    await asyncio.sleep(3600)


def lock() -> Any:
    return threading.Lock()  # cannot be pickled


def crash() -> None:
    os._exit(3)  # the worker process dies


def gather_here(rendezvous: str) -> int:
    """Blocking: wait at the rendezvous, then return this call's arrival number."""
    return meet(rendezvous)


async def agather_here(rendezvous: str) -> int:
    """Async: the same from the actor's event loop."""
    import ray

    handle = ray.get_actor(rendezvous, namespace=NAMESPACE)
    return int(await handle.arrive.remote(60.0))


def total(inputs: dict[str, Any]) -> int:
    return sum(inputs.values())


def tools() -> list[Tool]:
    t = sys.modules[__name__]
    return [
        Tool(name="add", description="Add two numbers", func=t.add),
        Tool(name="shout", description="Upper-case a text", func=t.shout),
        Tool(name="fail", description="Always raises ValueError", func=t.fail),
        Tool(name="afail", description="Always raises KeyError", func=t.afail),
        Tool(name="pid", description="The process id", func=t.pid),
        Tool(name="hang", description="Never returns", func=t.hang, timeout=3.0),
        Tool(name="ahang", description="Never returns", func=t.ahang, timeout=3.0),
        Tool(name="lock", description="Returns a lock", func=t.lock),
        Tool(name="crash", description="Ends its process", func=t.crash),
        Tool(name="gather_here", description="Blocking rendezvous", func=t.gather_here),
        Tool(name="agather_here", description="Async rendezvous", func=t.agather_here),
        Tool(name="total", description="Sum the inputs", func=t.total),
    ]


def _orchestrator(tmp_path: Path, backend: str, **settings: Any) -> AgentOrchestrator:
    orchestrator = AgentOrchestrator(
        Settings(
            cache_dir=tmp_path / "cache",
            data_dir=tmp_path / "data",
            executor_backend=backend,
            **settings,
        )
    )
    for tool in tools():
        orchestrator.tools.register(tool)
    return orchestrator


@pytest.fixture(params=["local", "ray"])
def orchestrator(request: Any, tmp_path: Path) -> Iterator[AgentOrchestrator]:
    """An orchestrator with the test tools, on the local backend and on Ray."""
    if request.param == "ray":
        request.getfixturevalue("ray_ready")
    made = _orchestrator(tmp_path, request.param)
    yield made
    asyncio.run(made.aclose())


@pytest.fixture
def ray_orchestrator(ray_ready: RayInstance, tmp_path: Path) -> Iterator[AgentOrchestrator]:
    """An orchestrator with the test tools on the session's Ray instance."""
    made = _orchestrator(tmp_path, "ray")
    yield made
    asyncio.run(made.aclose())


@pytest.fixture
def test_tools() -> dict[str, Tool]:
    """The test tools by name."""
    return {tool.name: tool for tool in tools()}


@pytest.fixture
def make_orchestrator(tmp_path: Path) -> Iterator[Any]:
    """``make_orchestrator(backend)``: an orchestrator with the test tools, closed afterwards."""
    made: list[AgentOrchestrator] = []

    def make(backend: str, **settings: Any) -> AgentOrchestrator:
        orchestrator = _orchestrator(tmp_path / f"{backend}-{len(made)}", backend, **settings)
        made.append(orchestrator)
        return orchestrator

    yield make
    for orchestrator in made:
        asyncio.run(orchestrator.aclose())
