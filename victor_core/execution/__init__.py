"""Execution: the tool registry, the executor, its backends and the plan runner."""

from __future__ import annotations

from typing import TYPE_CHECKING

from victor_core._lazy import lazy_names as _lazy_names
from victor_core.execution._tools import ToolRegistry as ToolRegistry
from victor_core.execution._tools import call_hook as call_hook
from victor_core.execution._tools import current_registry as current_registry
from victor_core.execution._tools import describe_params as describe_params
from victor_core.execution._tools import flatten_hook_results as flatten_hook_results
from victor_core.execution._tools import validate_params as validate_params

if TYPE_CHECKING:
    from victor_core.execution._backend import ExecutorBackend as ExecutorBackend
    from victor_core.execution._backend import LocalBackend as LocalBackend
    from victor_core.execution._backend import ToolCall as ToolCall
    from victor_core.execution._backend import error_result as error_result
    from victor_core.execution._backend import error_text as error_text
    from victor_core.execution._backend import run_bounded as run_bounded
    from victor_core.execution._backend import timeout_result as timeout_result
    from victor_core.execution._executor import StepRunner as StepRunner
    from victor_core.execution._executor import ToolExecutor as ToolExecutor

__all__ = [
    "ExecutorBackend",
    "LocalBackend",
    "StepRunner",
    "ToolCall",
    "ToolExecutor",
    "ToolRegistry",
    "call_hook",
    "current_registry",
    "describe_params",
    "error_result",
    "error_text",
    "flatten_hook_results",
    "run_bounded",
    "timeout_result",
    "validate_params",
]

_LAZY = {
    "ExecutorBackend": "victor_core.execution._backend",
    "LocalBackend": "victor_core.execution._backend",
    "ToolCall": "victor_core.execution._backend",
    "error_result": "victor_core.execution._backend",
    "error_text": "victor_core.execution._backend",
    "run_bounded": "victor_core.execution._backend",
    "timeout_result": "victor_core.execution._backend",
    "StepRunner": "victor_core.execution._executor",
    "ToolExecutor": "victor_core.execution._executor",
}


# The executor and its backends import asyncio: load them on first use only.
__getattr__ = _lazy_names(__name__, _LAZY)
