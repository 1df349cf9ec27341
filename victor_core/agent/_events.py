"""The events of a run, as typed objects: what the CLI shows and programs can follow.

Every event has a ``kind`` and :meth:`~AgentEvent.to_dict` (``{"event": kind, ...}``,
one JSON line of ``victor run --stream-json``). The offline planner emits
``stage``, ``plan``, ``step_started`` and ``step_finished``; the model-driven
loop ``turn_started``, ``text``, ``tool_call_started``, ``tool_call_finished``
and ``turn_finished``; every run ends with ``run_finished``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

if TYPE_CHECKING:
    from victor_core.agent._results import RunResult

__all__ = [
    "AgentEvent",
    "EventHook",
    "PlanReady",
    "RunFinished",
    "StageFinished",
    "StepFinished",
    "StepStarted",
    "TextDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "TurnFinished",
    "TurnStarted",
]


@attrs.define(frozen=True, kw_only=True)
class AgentEvent:
    """Base of the events of a run."""

    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        """``{"event": kind, **fields}``, JSON-serialisable."""
        return {"event": self.kind, **attrs.asdict(self)}


@attrs.define(frozen=True, kw_only=True)
class StageFinished(AgentEvent):
    """A stage of the run ended (``persona``, ``recall``, ``selection``...), after ``ms``."""

    kind: ClassVar[str] = "stage"
    stage: str
    ms: float


@attrs.define(frozen=True, kw_only=True)
class PlanReady(AgentEvent):
    """The offline planner's plan: its steps (``id``, ``action``, ``kind``, ``params``...)."""

    kind: ClassVar[str] = "plan"
    steps: list[dict[str, Any]]


@attrs.define(frozen=True, kw_only=True)
class StepStarted(AgentEvent):
    """A step of the plan started."""

    kind: ClassVar[str] = "step_started"
    id: str
    action: str
    step_kind: str = "tool"


@attrs.define(frozen=True, kw_only=True)
class StepFinished(AgentEvent):
    """A step of the plan ended: ``status`` ok, failed or timeout, after ``ms``."""

    kind: ClassVar[str] = "step_finished"
    id: str
    action: str
    status: str
    ms: float
    error: str | None = None


@attrs.define(frozen=True, kw_only=True)
class TurnStarted(AgentEvent):
    """A model turn (one request to the model) started; turns count from 1."""

    kind: ClassVar[str] = "turn_started"
    turn: int


@attrs.define(frozen=True, kw_only=True)
class TextDelta(AgentEvent):
    """Text the model wrote, as it arrives."""

    kind: ClassVar[str] = "text"
    text: str
    turn: int


@attrs.define(frozen=True, kw_only=True)
class TurnFinished(AgentEvent):
    """A model turn ended: why (``finish_reason``), how many tool calls, tokens."""

    kind: ClassVar[str] = "turn_finished"
    turn: int
    finish_reason: str | None
    tool_calls: int
    usage: dict[str, int | None]


@attrs.define(frozen=True, kw_only=True)
class ToolCallStarted(AgentEvent):
    """A tool call the model asked for started (``arguments`` as parsed, or the raw text)."""

    kind: ClassVar[str] = "tool_call_started"
    id: str
    name: str
    arguments: Any
    turn: int


@attrs.define(frozen=True, kw_only=True)
class ToolCallFinished(AgentEvent):
    """A tool call ended; ``error`` says why it failed (refused, denied, raised, timed out)."""

    kind: ClassVar[str] = "tool_call_finished"
    id: str
    name: str
    ok: bool
    error: str | None
    duration_s: float
    turn: int


@attrs.define(frozen=True, kw_only=True)
class RunFinished(AgentEvent):
    """The run ended; ``result`` is its :class:`~victor_core.agent.RunResult`."""

    kind: ClassVar[str] = "run_finished"
    result: RunResult

    def to_dict(self) -> dict[str, Any]:
        """``{"event": "run_finished", "result": {...}}``."""
        return {"event": self.kind, "result": self.result.to_dict()}


#: Receives every event of a run, in order.
EventHook = Callable[[AgentEvent], None]
