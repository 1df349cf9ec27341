"""Execution: the tool registry, the executor and the plan runner."""

from __future__ import annotations

from victor_core.execution._executor import StepRunner as StepRunner
from victor_core.execution._executor import ToolExecutor as ToolExecutor
from victor_core.execution._tools import ToolRegistry as ToolRegistry
from victor_core.execution._tools import call_hook as call_hook
from victor_core.execution._tools import describe_params as describe_params
from victor_core.execution._tools import flatten_hook_results as flatten_hook_results
from victor_core.execution._tools import validate_params as validate_params

__all__ = [
    "StepRunner",
    "ToolExecutor",
    "ToolRegistry",
    "call_hook",
    "describe_params",
    "flatten_hook_results",
    "validate_params",
]
