"""Opt-in periodic maintenance: what the guide's ``periodic_cleanup`` loop does.

With ``maintenance_enabled=True`` the orchestrator starts a background task
that, every ``maintenance_interval`` seconds (first run one interval after
start), deletes episodes older than ``episode_retention_days`` and
consolidates memory (expired cache entries have one sweeper of their own, the
cache manager's, switched by ``cache_auto_invalidate``). Each step is isolated: one
failing is logged and reported, and the others still run. ``aclose()`` stops
the task cleanly.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from victor_core._tasks import cancel_task

if TYPE_CHECKING:
    from victor_core.memory._memory import MemoryManager

__all__ = ["Maintenance", "MaintenanceConfig"]


@attrs.frozen
class MaintenanceConfig:
    """When maintenance runs and what it keeps; the orchestrator builds it from the settings.

    Attributes:
        enabled: ``maintenance_enabled``: :meth:`Maintenance.start` starts the task.
        interval: ``maintenance_interval``: seconds between runs.
        episode_retention_days: ``episode_retention_days``: older episodes go.
    """

    enabled: bool = False
    interval: float = 3600.0
    episode_retention_days: float = 30.0


class Maintenance:
    """Runs the maintenance steps once (:meth:`run_once`) or periodically (:meth:`start`).

    Args:
        config: whether, how often, and how long episodes are kept.
        memory: the memory manager (None: skip the memory steps).
        sleep: awaitable sleep (tests inject a fast one).
    """

    def __init__(
        self,
        config: MaintenanceConfig,
        *,
        memory: MemoryManager | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> None:
        self.config = config
        self.memory = memory
        self._sleep = sleep
        self._task: Any = None
        self.runs = 0
        self.last_report: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        """Whether the periodic task is running."""
        return self._task is not None and not self._task.done()

    def start(self, *, force: bool = False) -> bool:
        """Start the periodic task (needs a running event loop).

        Args:
            force: start even when ``enabled`` is False.

        Returns:
            True if started; False if disabled or already running.
        """
        if not (self.config.enabled or force) or self.running:
            return False
        import asyncio

        self._task = asyncio.get_running_loop().create_task(self._loop())
        return True

    async def stop(self) -> None:
        """Cancel the periodic task and wait for it to end (idempotent)."""
        task, self._task = self._task, None
        await cancel_task(task)

    async def _loop(self) -> None:
        import asyncio

        sleep = self._sleep or asyncio.sleep
        while True:
            await sleep(self.config.interval)
            await self.run_once()

    async def run_once(self) -> dict[str, Any]:
        """Run every step now; return what each did.

        Returns:
            ``{"episodes_removed": int | None,
            "consolidation": dict | None, "errors": {step: message}, "duration_s": float}``
            (None: the step did not run).
        """
        started = time.perf_counter()
        report: dict[str, Any] = {
            "episodes_removed": None,
            "consolidation": None,
            "errors": {},
        }
        if self.memory is not None:
            days = self.config.episode_retention_days
            await self._step(
                report,
                "episodes_removed",
                lambda: self.memory.episodic.clear_old_episodes(days=days),  # type: ignore[union-attr]
            )
        if self.memory is not None:
            await self._step(report, "consolidation", self.memory.consolidate)
        report["duration_s"] = time.perf_counter() - started
        self.runs += 1
        self.last_report = report
        from victor_core._log import get_logger

        get_logger().info(
            "maintenance_done",
            episodes_removed=report["episodes_removed"],
            errors=report["errors"] or None,
        )
        return report

    async def _step(self, report: dict[str, Any], key: str, call: Callable[[], Any]) -> None:
        import inspect

        try:
            result = call()
            if inspect.isawaitable(result):
                result = await result
            report[key] = result
        except Exception as exc:
            # One failing step (a locked cache, a backend error) must not stop the others.
            report["errors"][key] = repr(exc)
            from victor_core._log import get_logger

            get_logger().warning("maintenance_step_failed", step=key, error=repr(exc))
