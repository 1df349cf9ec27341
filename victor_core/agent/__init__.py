"""The agent loop, its results and the report."""

from __future__ import annotations

from victor_core.agent._loop import DEFAULT_PERSONA as DEFAULT_PERSONA
from victor_core.agent._loop import STAGES as STAGES
from victor_core.agent._loop import AgentLoop as AgentLoop
from victor_core.agent._loop import RunResult as RunResult
from victor_core.agent._loop import StepSummary as StepSummary
from victor_core.agent._loop import write_report as write_report

__all__ = [
    "DEFAULT_PERSONA",
    "STAGES",
    "AgentLoop",
    "RunResult",
    "StepSummary",
    "write_report",
]
