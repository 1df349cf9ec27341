"""Pytest helpers for the Ray backend: one light local Ray instance per test session.

``ray_instance`` (session fixture) starts a local instance for the session
and shuts it down at the end: two CPU slots, no dashboard, a small object
store, token authentication off (``RAY_AUTH_MODE=disabled``), no usage
reports, its temporary directory under the session's one. Its ``site``
folder is on every worker's ``sys.path``, as an installed package is on
every node: install test distributions there (with
:func:`victor_core.testing.make_distribution`). The test process is
connected to it, so every :class:`~victor_ray.backend.RayBackend` with an
empty ``ray_address`` uses it; a subprocess joins it with
``ray_address=ray_instance.address``. Import the fixture into a
``conftest.py``. It skips with the reason when Ray cannot start, and fails
instead when ``VICTOR_REQUIRE_SERVERS=1`` (as CI sets it).

:class:`Rendezvous` proves that tools run at the same time without timing
anything: ``Rendezvous.start(parties)`` makes a named actor, and each tool
calls :func:`meet` with its name; nobody returns until ``parties`` have
arrived, so tools run one after the other fail (their wait times out)
instead of passing.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["NAMESPACE", "RayInstance", "Rendezvous", "meet", "ray_instance", "servers_required"]

#: The Ray namespace of the test actors (shared by the session and its subprocesses).
NAMESPACE = "victor-tests"


def servers_required() -> bool:
    """Whether tests must fail, not skip, when Ray cannot start."""
    return os.environ.get("VICTOR_REQUIRE_SERVERS", "") == "1"


class RayInstance:
    """A local Ray instance this process started (and is connected to).

    Attributes:
        address: its GCS address (``"HOST:PORT"``), for ``ray_address``.
        temp_dir: Ray's session files and logs.
        num_cpus: its CPU slots.
        site: a folder on the workers' ``sys.path`` (their ``PYTHONPATH``), or None.
    """

    def __init__(self, temp_dir: Path, *, num_cpus: int = 2, site: Path | None = None) -> None:
        self.temp_dir = Path(temp_dir)
        self.num_cpus = num_cpus
        self.site = None if site is None else Path(site)
        self.address = ""
        self._env: dict[str, str | None] = {}

    def start(self) -> RayInstance:
        """Start the instance and connect this process to it.

        Raises:
            RuntimeError: Ray could not start (the message says why).
        """
        env = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
        if self.site is not None:
            # The instance's processes, and so its workers, inherit this environment.
            self.site.mkdir(parents=True, exist_ok=True)
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(self.site), os.environ.get("PYTHONPATH")])
            )
        for key, value in env.items():
            self._env[key] = os.environ.get(key)
            os.environ[key] = value
        try:
            import ray

            self.temp_dir.mkdir(parents=True, exist_ok=True)
            ray.init(
                address="local",
                num_cpus=self.num_cpus,
                include_dashboard=False,
                object_store_memory=96 * 1024 * 1024,
                _temp_dir=str(self.temp_dir),
                logging_level=logging.WARNING,
                log_to_driver=False,
                namespace=NAMESPACE,
            )
        except Exception as exc:
            self._restore_env()
            raise RuntimeError(f"a local Ray instance did not start: {exc}") from exc
        self.address = str(ray.get_runtime_context().gcs_address)
        if "PYTHONPATH" in self._env:  # the workers have it; this process keeps its own
            before = self._env.pop("PYTHONPATH")
            if before is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = before
        return self

    def stop(self) -> None:
        """Shut the instance down (its processes end) and restore the environment."""
        import ray

        ray.shutdown()
        self._restore_env()

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that joins this instance (``site`` on its path)."""
        env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
        if self.site is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(self.site), env.get("PYTHONPATH")])
            )
        return env

    def _restore_env(self) -> None:
        for key, value in self._env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._env.clear()


@pytest.fixture(scope="session")
def ray_instance(tmp_path_factory: Any) -> Iterator[RayInstance]:
    """A light local Ray instance for the test session (skipped when Ray cannot start)."""
    try:
        import ray
    except ImportError as exc:
        if servers_required():
            pytest.fail(f"VICTOR_REQUIRE_SERVERS=1 but Ray is not installed ({exc})")
        pytest.skip(f"Ray is not installed ({exc}); pip install ray")
    if ray.is_initialized():
        pytest.fail("this process is already connected to Ray; ray_instance starts its own")
    instance = RayInstance(tmp_path_factory.mktemp("ray"), site=tmp_path_factory.mktemp("ray-site"))
    try:
        instance.start()
    except RuntimeError as exc:
        if servers_required():
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        yield instance
    finally:
        instance.stop()


class Rendezvous:
    """A meeting point on Ray: :func:`meet` returns once ``parties`` callers arrived.

    Use :meth:`start` to create one as a named actor; :meth:`stop` removes it.
    """

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.arrived = 0
        self._all_here = asyncio.Event()

    async def arrive(self, timeout: float) -> int:
        """Wait for the others; this caller's arrival number (1-based)."""
        self.arrived += 1
        number = self.arrived
        if number >= self.parties:
            self._all_here.set()
        await asyncio.wait_for(self._all_here.wait(), timeout)
        return number

    @staticmethod
    def start(name: str, parties: int) -> Any:
        """Create the named actor ``name`` (in :data:`NAMESPACE`); its handle."""
        import ray

        actor = ray.remote(Rendezvous).options(
            name=name, namespace=NAMESPACE, num_cpus=0, max_concurrency=1000
        )
        handle = actor.remote(parties)
        ray.get(handle.__ray_ready__.remote())  # type: ignore[union-attr]  # an actor handle
        return handle

    @staticmethod
    def stop(handle: Any) -> None:
        """Kill the actor."""
        import ray

        ray.kill(handle)


def meet(name: str, timeout: float = 60.0) -> int:
    """Arrive at the rendezvous ``name`` and wait for the others (call it from a tool).

    Raises:
        TimeoutError: the others did not arrive within ``timeout`` seconds
            (the calls did not run at the same time).
    """
    import ray

    handle = ray.get_actor(name, namespace=NAMESPACE)
    try:
        return int(ray.get(handle.arrive.remote(timeout), timeout=timeout + 5))
    except ray.exceptions.RayTaskError as exc:
        raise TimeoutError(
            f"rendezvous {name!r}: the others did not arrive in {timeout} s"
        ) from exc
