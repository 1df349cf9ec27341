"""victor-planner: goals into DAG plans over the selected tools and skills."""

from __future__ import annotations

from victor_planner._planner import TODO_PATTERN, GoalPlanner, extract_parameters, split_subgoals

__all__ = ["TODO_PATTERN", "GoalPlanner", "extract_parameters", "split_subgoals"]
