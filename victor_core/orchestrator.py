"""The facade: :class:`AgentOrchestrator` wires services and delegates to them.

Constructing an orchestrator builds :class:`~victor_core.Settings` and the
plugin manager and nothing else; every service (caches, executor, skills,
planning, tool selection, memory, metrics, the agent loop) is built the first
time it is used, and imports its dependencies then.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from victor_core.exceptions import SettingsError
from victor_core.plugins._manager import PluginManager
from victor_core.settings import Settings, settings_bound

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

    from victor_core.agent._events import AgentEvent, EventHook
    from victor_core.agent._loop import AgentLoop, RunResult
    from victor_core.agent._services import Approver
    from victor_core.cache._manager import CacheManager
    from victor_core.execution._executor import ToolExecutor
    from victor_core.execution._tools import ToolRegistry
    from victor_core.health._maintenance import Maintenance
    from victor_core.health._memory_monitor import MemoryMonitor
    from victor_core.health._monitor import Monitor
    from victor_core.memory._memory import EpisodicMemory, MemoryManager, SemanticMemory
    from victor_core.metrics._registry import MetricsRegistry
    from victor_core.models import Persona, Tool, ToolResult
    from victor_core.planning._service import PlanningService
    from victor_core.planning._skills import SkillService
    from victor_core.selection._selector import ToolSelector

__all__ = ["AgentOrchestrator"]


class AgentOrchestrator:
    """The entry point of an agent: settings, plugins and the services around them.

    Args:
        settings: the settings (default: ``Settings()``).
        plugin_manager: a ready plugin manager (default: one built from ``settings``).

    Use it as an async context manager, or call :meth:`aclose` when done.
    """

    def __init__(
        self, settings: Settings | None = None, *, plugin_manager: PluginManager | None = None
    ) -> None:
        if settings is None:
            settings = Settings()
        elif not isinstance(settings, Settings):
            raise SettingsError(
                f"settings must be a victor_core.Settings (got {type(settings).__name__})",
                field="settings",
                value=settings,
            )
        self.settings = settings
        self.plugin_manager = plugin_manager or PluginManager(settings)
        self._closed = False
        self._started = False
        self._undo_instrumentation: Any = None
        if settings.metrics_enabled and settings.hook_metrics_enabled:
            self.plugin_manager.call_before_first_load(self._instrument)
        if not (settings.lazy_loading_enabled and settings.lazy_load_tool_executor):
            # The executor is wanted ready at start: build it (and load tools) now.
            _ = self.executor

    def _instrument(self) -> None:
        if self._closed or self._undo_instrumentation is not None:
            return
        from victor_core.metrics._hooks import instrument

        self._undo_instrumentation = instrument(self.plugin_manager, self.metrics)

    def __repr__(self) -> str:
        loaded = sorted(
            f for f in self.plugin_manager.families if self.plugin_manager.is_family_loaded(f)
        )
        return f"<AgentOrchestrator loaded_families={loaded} closed={self._closed}>"

    # -- services (built on first use) ---------------------------------------------------

    @cached_property
    def metrics(self) -> MetricsRegistry:
        """The metrics registry of this orchestrator."""
        from victor_core.metrics._registry import MetricsRegistry

        return MetricsRegistry()

    @cached_property
    def caches(self) -> CacheManager:
        """The tool-selection, response and embedding caches."""
        from victor_core.cache._manager import CacheManager

        return CacheManager(
            self.settings,
            metrics=self.metrics,
            find_backend=self.plugin_manager.hook.victor_cache_backend,
        )

    @cached_property
    def tools(self) -> ToolRegistry:
        """The registry of tools gathered from the tools family."""
        from victor_core.execution._tools import ToolRegistry

        return ToolRegistry(self.plugin_manager)

    @cached_property
    def executor(self) -> ToolExecutor:
        """Runs tools, alone or in parallel."""
        from victor_core.execution._executor import ToolExecutor

        return ToolExecutor(
            self.settings, self.tools, plugin_manager=self.plugin_manager, metrics=self.metrics
        )

    @cached_property
    def skills(self) -> SkillService:
        """Skills and skill chains (``plan_chain``, ``execute_chain``)."""
        from victor_core.planning._skills import SkillService

        return SkillService(self.plugin_manager, self.settings, self.executor)

    @cached_property
    def selector(self) -> ToolSelector:
        """Ranks tools for a query by semantic similarity, with caching."""
        from victor_core.selection._selector import ToolSelector

        return ToolSelector(
            self.tools,
            settings=self.settings,
            plugin_manager=self.plugin_manager,
            cache_manager=self.caches,
        )

    @cached_property
    def planning(self) -> PlanningService:
        """Plans goals (``plan_for_goal``) and runs plans."""
        from victor_core.planning._service import PlanningService

        return PlanningService(
            self.plugin_manager,
            self.settings,
            executor=self.executor,
            skills=self.skills,
            selector=self.selector,
        )

    @cached_property
    def memory(self) -> MemoryManager:
        """Episodic and semantic memory on the memory family's backend."""
        from victor_core.memory._manager import MemoryManager
        from victor_core.selection._embedding import HashingEmbedder

        # Without concept groups: "tests pass" and "tests fail" must stay apart.
        embedder = HashingEmbedder(concepts=None)
        return MemoryManager(self.plugin_manager, self.settings, embedder=embedder)

    @property
    def episodic_memory(self) -> EpisodicMemory:
        """Episodes: what the agent did, and how it went."""
        return self.memory.episodic

    @property
    def semantic_memory(self) -> SemanticMemory:
        """Facts the agent knows."""
        return self.memory.semantic

    @cached_property
    def memory_monitor(self) -> MemoryMonitor:
        """The memory watchdog: warns near ``memory_limit_mb``, sheds while at or over it."""
        from victor_core.health._memory_monitor import MemoryMonitor, WatchdogConfig

        settings = self.settings
        monitor = MemoryMonitor(
            WatchdogConfig(
                limit_mb=settings.memory_limit_mb,
                warning_fraction=settings.memory_warning_threshold,
            )
        )
        monitor.add_shedder("caches", self._shed_caches)
        return monitor

    def _shed_caches(self) -> int:
        # Only caches that exist hold memory; building them to shrink them would not help.
        # Each shed halves what is left, so memory that stays high empties the L1s.
        caches = self.__dict__.get("caches")
        return caches.shrink(0.5) if caches is not None else 0

    @cached_property
    def maintenance(self) -> Maintenance:
        """Periodic clean-up: old episodes, consolidation."""
        from victor_core.health._maintenance import Maintenance, MaintenanceConfig

        settings = self.settings
        config = MaintenanceConfig(
            enabled=settings.maintenance_enabled,
            interval=settings.maintenance_interval,
            episode_retention_days=settings.episode_retention_days,
        )
        return Maintenance(config, memory=self.memory)

    @cached_property
    def monitor(self) -> Monitor:
        """Checks latency and error rate against the thresholds periodically."""
        from victor_core.health._monitor import Monitor, MonitorConfig

        settings = self.settings
        config = MonitorConfig(
            interval=settings.monitoring_interval,
            latency_warning_ms=settings.latency_warning_ms,
            error_rate_threshold=settings.error_rate_threshold,
        )
        return Monitor(config, self.get_metrics)

    def _start_background(self) -> None:
        """Start the opt-in background tasks (needs a running loop; once)."""
        self._started = True
        if self._closed:
            return
        settings = self.settings
        if settings.maintenance_enabled:
            self.maintenance.start()
        if settings.monitoring_enabled:
            self.monitor.start()
        # The watchdog samples in its own thread: memory that grows during one
        # long operation is seen (and shed) while it runs.
        self.memory_monitor.start()

    def _after_task(self) -> None:
        # Throttled inside: reads memory at most once a second.
        self.memory_monitor.check()

    @cached_property
    def agent(self) -> AgentLoop:
        """The agent loop behind :meth:`run`, :meth:`chat` and :meth:`stream_chat`."""
        from victor_core.agent._loop import AgentLoop
        from victor_core.agent._services import AgentServices

        services = AgentServices(
            settings=self.settings,
            plugin_manager=self.plugin_manager,
            tools=lambda: self.tools,
            executor=lambda: self.executor,
            skills=lambda: self.skills,
            planning=lambda: self.planning,
            selector=lambda: self.selector,
            memory=lambda: self.memory,
            metrics=lambda: self.metrics,
            response_cache=lambda: self.caches.get("response"),
        )
        return AgentLoop(services)

    # -- tools -----------------------------------------------------------------------------

    async def execute_tool(self, name: str, **params: Any) -> ToolResult:
        """Run one tool and return its result (``ok``, ``value``, ``error``, ``duration_s``)."""
        if not self._started:
            self._start_background()
        with settings_bound(self.settings):
            return await self.executor.execute(name, **params)

    async def execute_tools_parallel(
        self,
        tools: list[Any],
        parameters: dict[str, Any] | None = None,
        max_workers: int | None = None,
    ) -> list[ToolResult]:
        """Run ``tools`` concurrently (bounded) and return their results in input order.

        Args:
            tools: tool names (or ``(name, params)`` pairs).
            parameters: one dict of keyword parameters passed to every tool.
            max_workers: most tools at once (default: ``max_parallel_workers``).
        """
        if not self._started:
            self._start_background()
        with settings_bound(self.settings):
            results = await self.executor.execute_parallel(
                tools, parameters=parameters, max_workers=max_workers
            )
        self._after_task()
        return results

    async def select_tools(
        self, query: str, context: Any = None, max_tools: int | None = None
    ) -> list[Tool]:
        """The tools best suited to ``query``, best first (cached)."""
        with settings_bound(self.settings):
            return await self.selector.aselect_tools(query, context=context, max_tools=max_tools)

    async def execute_task(self, task: Any) -> Any:
        """Run a task: a :class:`~victor_core.Plan`, a step, or a goal.

        A goal (a string) with a provider configured is a model-driven :meth:`run`
        (its :class:`~victor_core.agent.RunResult`); otherwise it is planned first.
        """
        if not self._started:
            self._start_background()
        if isinstance(task, str) and self.settings.provider:
            return await self.run(task)
        with settings_bound(self.settings):
            result = await self.planning.execute_task(task)
        self._after_task()
        return result

    # -- the agent loop ------------------------------------------------------------------------

    async def run(
        self,
        goal: str,
        *,
        path: str | Path | None = None,
        persona: str | Persona | None = None,
        on_event: EventHook | None = None,
        max_tools: int | None = None,
        use_cache: bool = True,
        approve: Approver | None = None,
        stream: bool | None = None,
    ) -> RunResult:
        """Run ``goal``: the model drives with a provider, the offline planner without.

        See :meth:`victor_core.agent.AgentLoop.run` for the arguments.
        """
        if not self._started:
            self._start_background()
        with settings_bound(self.settings):
            result = await self.agent.run(
                goal,
                path=path,
                persona=persona,
                on_event=on_event,
                max_tools=max_tools,
                use_cache=use_cache,
                approve=approve,
                stream=stream,
            )
        self._after_task()
        return result

    async def run_events(
        self,
        goal: str,
        *,
        path: str | Path | None = None,
        persona: str | Persona | None = None,
        max_tools: int | None = None,
        use_cache: bool = True,
        approve: Approver | None = None,
    ) -> AsyncIterator[AgentEvent]:
        """The events of a streamed :meth:`run`, as they happen; the last is ``RunFinished``."""
        import asyncio

        queue: asyncio.Queue[AgentEvent | None] = asyncio.Queue()

        async def runner() -> RunResult:
            try:
                return await self.run(
                    goal,
                    path=path,
                    persona=persona,
                    on_event=queue.put_nowait,
                    max_tools=max_tools,
                    use_cache=use_cache,
                    approve=approve,
                    stream=True,
                )
            finally:
                queue.put_nowait(None)

        task = asyncio.ensure_future(runner())
        try:
            while (event := await queue.get()) is not None:
                yield event
            await task  # raises what the run raised
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def chat(self, message: str, use_cache: bool = True, **options: Any) -> str:
        """Answer ``message`` through the configured provider (cached when ``use_cache``)."""
        if not self._started:
            self._start_background()
        answer = await self.agent.chat(message, use_cache=use_cache, **options)
        self._after_task()
        return answer  # type: ignore[no-any-return]

    async def stream_chat(self, message: str, **options: Any) -> AsyncIterator[str]:
        """Answer ``message`` as a stream of text chunks."""
        if not self._started:
            self._start_background()
        async for chunk in self.agent.stream_chat(message, **options):
            yield chunk
        self._after_task()

    # -- caches --------------------------------------------------------------------------------

    async def get_cache_stats(self, cache_type: str | None = None) -> dict[str, Any]:
        """Hit rate, miss rate, size, evictions... of one cache type or all of them."""
        return self.caches.stats(cache_type)

    async def invalidate_cache(self, cache_type: str, pattern: str) -> int:
        """Remove the entries of ``cache_type`` whose readable key matches the glob ``pattern``."""
        return self.caches.invalidate(cache_type, pattern)

    async def clear_expired_cache(self) -> int:
        """Remove expired entries from every cache; return how many went."""
        return self.caches.clear_expired()

    # -- memory and metrics ----------------------------------------------------------------------

    async def consolidate_memories(self) -> dict[str, Any]:
        """Turn repeated episodes into facts and merge near-duplicate facts."""
        return await self.memory.consolidate()

    async def get_metrics(self) -> dict[str, Any]:
        """Latency, error rate, memory use, cache and hook figures of this process."""
        from victor_core.health._monitor import collect_metrics

        cache_stats = self.caches.stats() if "caches" in self.__dict__ else None
        metrics = collect_metrics(
            self.metrics, plugin_manager=self.plugin_manager, cache_stats=cache_stats
        )
        if "memory_monitor" in self.__dict__:
            metrics["memory_monitor"] = self.memory_monitor.stats()
        return metrics

    # -- life cycle -------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop background tasks and close caches, memory and providers (idempotent)."""
        if self._closed:
            return
        self._closed = True
        services = self.__dict__
        # Background tasks first: they use the services closed below.
        for name in ("monitor", "maintenance"):
            if name in services:
                await services[name].stop()
        if "memory_monitor" in services:
            services["memory_monitor"].stop()
        if "agent" in services and hasattr(services["agent"], "aclose"):
            await services["agent"].aclose()
        if "memory" in services:
            await services["memory"].aclose()
        if "executor" in services and hasattr(services["executor"], "aclose"):
            await services["executor"].aclose()
        if self.plugin_manager.is_family_loaded("tools"):
            # Tools that started processes (MCP servers) stop them; loads no plugin.
            # The registry is bound so that a plugin stops this orchestrator's only.
            from victor_core.execution._tools import call_hook, registry_bound

            with registry_bound(services.get("tools")):
                await call_hook(self.plugin_manager, "victor_tools_close", settings=self.settings)
        if "caches" in services:
            services["caches"].close()
        if self._undo_instrumentation is not None:
            self._undo_instrumentation()
            self._undo_instrumentation = None

    async def __aenter__(self) -> AgentOrchestrator:
        if not self._started:
            self._start_background()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
