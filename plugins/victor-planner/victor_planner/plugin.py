"""The ``victor_core.planning`` hook implementation of victor-planner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from victor_core import hookimpl
from victor_core.models import Plan

from victor_planner._planner import GoalPlanner

__all__ = ["victor_plan"]


@hookimpl
def victor_plan(goal: str, context: Mapping[str, Any]) -> Plan | None:
    """Plan ``goal`` over the tools and skills of ``context`` (None when there are none)."""
    return GoalPlanner.from_context(context).plan(goal)
