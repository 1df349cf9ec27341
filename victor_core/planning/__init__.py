"""Planning: goals to plans, and skill chains."""

from __future__ import annotations

from victor_core.planning._service import PlanningService as PlanningService
from victor_core.planning._service import builtin_plan as builtin_plan
from victor_core.planning._service import split_goal as split_goal
from victor_core.planning._skills import STRATEGIES as STRATEGIES
from victor_core.planning._skills import SkillService as SkillService
from victor_core.planning._skills import call_skill_kwargs as call_skill_kwargs

__all__ = [
    "STRATEGIES",
    "PlanningService",
    "SkillService",
    "builtin_plan",
    "call_skill_kwargs",
    "split_goal",
]
