"""The agent loop, its events, its results and the report."""

from __future__ import annotations

from victor_core.agent._events import AgentEvent as AgentEvent
from victor_core.agent._events import EventHook as EventHook
from victor_core.agent._events import PlanReady as PlanReady
from victor_core.agent._events import RunFinished as RunFinished
from victor_core.agent._events import StageFinished as StageFinished
from victor_core.agent._events import StepFinished as StepFinished
from victor_core.agent._events import StepStarted as StepStarted
from victor_core.agent._events import TextDelta as TextDelta
from victor_core.agent._events import ToolCallFinished as ToolCallFinished
from victor_core.agent._events import ToolCallStarted as ToolCallStarted
from victor_core.agent._events import TurnFinished as TurnFinished
from victor_core.agent._events import TurnStarted as TurnStarted
from victor_core.agent._loop import DEFAULT_PERSONA as DEFAULT_PERSONA
from victor_core.agent._loop import STAGES as STAGES
from victor_core.agent._loop import AgentLoop as AgentLoop
from victor_core.agent._loop import RunResult as RunResult
from victor_core.agent._loop import StepSummary as StepSummary
from victor_core.agent._loop import write_report as write_report
from victor_core.agent._model import ToolCallRecord as ToolCallRecord
from victor_core.agent._model import check_arguments as check_arguments
from victor_core.agent._services import AgentServices as AgentServices
from victor_core.agent._services import ApprovalRequest as ApprovalRequest
from victor_core.agent._services import Approver as Approver

__all__ = [
    "DEFAULT_PERSONA",
    "STAGES",
    "AgentEvent",
    "AgentLoop",
    "AgentServices",
    "ApprovalRequest",
    "Approver",
    "EventHook",
    "PlanReady",
    "RunFinished",
    "RunResult",
    "StageFinished",
    "StepFinished",
    "StepStarted",
    "StepSummary",
    "TextDelta",
    "ToolCallFinished",
    "ToolCallRecord",
    "ToolCallStarted",
    "TurnFinished",
    "TurnStarted",
    "check_arguments",
    "write_report",
]
