"""What the agent loop is given: its services, each built on first use, and approval.

The orchestrator builds :class:`AgentServices` from its own services; the loop
asks each getter when it first needs that service, so a chat builds no
memory and a run with no provider opens no connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from victor_core.cache._tiered import TieredCache
    from victor_core.execution._executor import ToolExecutor
    from victor_core.execution._tools import ToolRegistry
    from victor_core.memory._memory import MemoryManager
    from victor_core.metrics._registry import MetricsRegistry
    from victor_core.planning._service import PlanningService
    from victor_core.planning._skills import SkillService
    from victor_core.plugins._manager import PluginManager
    from victor_core.selection._selector import ToolSelector
    from victor_core.settings import Settings

__all__ = ["AgentServices", "ApprovalRequest", "Approver"]


@attrs.define(frozen=True, kw_only=True)
class AgentServices:
    """The services of the agent loop.

    Args:
        settings: the run's settings (budgets, approval, provider; planners receive
            them in their ``victor_plan`` context, as that hook promises).
        plugin_manager: personas and providers are asked from it.
        tools, executor, skills, planning, selector, memory, metrics: getters of
            those services.
        response_cache: the getter of the response cache (None when disabled).
    """

    settings: Settings
    plugin_manager: PluginManager
    tools: Callable[[], ToolRegistry]
    executor: Callable[[], ToolExecutor]
    skills: Callable[[], SkillService]
    planning: Callable[[], PlanningService]
    selector: Callable[[], ToolSelector]
    memory: Callable[[], MemoryManager]
    metrics: Callable[[], MetricsRegistry]
    response_cache: Callable[[], TieredCache | None]


@attrs.define(frozen=True, kw_only=True)
class ApprovalRequest:
    """A tool call waiting for approval.

    Args:
        name: the tool or skill.
        arguments: the arguments the model gave (validated).
        effects: what the tool declares it may do (``write``, ``run``, ``network``...).
        turn: the model turn that asked for it.
    """

    name: str
    arguments: dict[str, Any]
    effects: tuple[str, ...]
    turn: int


#: ``approve(request) -> bool`` (or an awaitable of it): True lets the call run.
Approver = Callable[[ApprovalRequest], "bool | Awaitable[bool]"]
