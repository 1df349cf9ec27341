"""Hooks of the ``planning`` family (entry-point group ``victor_core.planning``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from victor_core._markers import hookspec

if TYPE_CHECKING:
    from victor_core.models import Plan


@hookspec(firstresult=True)
def victor_plan(goal: str, context: Mapping[str, Any]) -> Plan | None:  # type: ignore[empty-body]
    """Turn a goal into a :class:`victor_core.Plan` (a DAG of steps).

    Called by ``planning.plan_for_goal(goal)`` and by every agent turn. The
    first implementation returning a plan wins; return None to let the next
    planner (and finally the built-in one) try.

    Args:
        goal: the goal in words.
        context: ``tools`` (selected :class:`~victor_core.Tool` objects, best
            first), ``skills`` (available skills), ``persona`` (or None),
            ``memories`` (recalled episodes), ``settings``.

    Returns:
        A plan, an awaitable of one, or None.
    """
