"""What a turn returns (:class:`RunResult`, a :class:`StepSummary` per step), its stages."""

from __future__ import annotations

from typing import Any

import attrs

from victor_core.agent._model import ToolCallRecord
from victor_core.agent._report import jsonable
from victor_core.models import Persona
from victor_core.providers._types import Usage

__all__ = ["DEFAULT_PERSONA", "STAGES", "RunResult", "StepSummary"]

#: The stages of a turn, in order; :attr:`RunResult.timings_ms` has one entry per stage.
STAGES = (
    "persona",
    "recall",
    "selection",
    "planning",
    "execution",
    "response",
    "record",
    "metrics",
)

#: The persona used when none is named and no plugin offers ``assistant``.
DEFAULT_PERSONA = Persona(
    name="assistant",
    description="A general helper: picks tools by relevance and answers briefly.",
    system_prompt="You are a helpful assistant for a software project. Answer from the tool "
    "results you are given.",
    style="concise",
)


@attrs.define(frozen=True, kw_only=True)
class StepSummary:
    """One executed step: what ran, how it went, how long it took.

    ``id`` is the plan's step id; ``action`` the tool or skill it ran, also
    given as ``name``; ``status`` is ``ok``, ``failed``, ``timeout`` or ``skipped``.
    """

    id: str
    action: str
    kind: str
    status: str
    duration_ms: float
    summary: str = ""
    error: str | None = None
    wave: int = 0

    @property
    def name(self) -> str:
        """The tool or skill the step ran (its ``action``)."""
        return self.action

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict, plus ``name`` and ``duration_s``."""
        doc = attrs.asdict(self)
        doc["name"] = self.action
        doc["duration_s"] = self.duration_ms / 1000.0
        return doc


@attrs.define(kw_only=True)
class RunResult:
    """The outcome of :meth:`AgentLoop.run`.

    ``mode`` is ``"model"`` (the model called the tools) or ``"planner"`` (the
    offline planner planned; a text-only provider, if any, wrote the answer).
    ``answer`` is the model's final text (the report without a model);
    ``tool_calls`` the model's tool calls, ``turns`` its turns, ``usage`` the
    tokens the server reported. ``status`` is ``"completed"``, the budget that
    stopped the run (``"agent_max_turns"``, ``"agent_max_tool_calls"``,
    ``"agent_max_tokens"``) or ``"provider_error"``. ``ok``: the run completed
    and, with the planner, every step succeeded. ``errors`` lists what went
    wrong (a failed step, memory or provider trouble, the budget reached).
    ``outputs`` maps step (or call) ids to their values (left out of
    :meth:`to_dict` unless asked, since they can be large).
    """

    goal: str
    persona: str
    path: str
    steps: list[StepSummary]
    report: str
    response_source: str
    timings_ms: dict[str, float]
    total_ms: float
    cache: dict[str, Any]
    plan: dict[str, Any]
    memories: int = 0
    errors: list[str] = attrs.field(factory=list)
    outputs: dict[str, Any] = attrs.field(factory=dict, repr=False)
    mode: str = "planner"
    answer: str = ""
    tool_calls: list[ToolCallRecord] = attrs.field(factory=list)
    turns: int = 0
    usage: Usage = attrs.field(factory=Usage)
    status: str = "completed"

    @property
    def ok(self) -> bool:
        """Whether the run completed (and, with the planner, every step succeeded)."""
        if self.status != "completed":
            return False
        return self.mode == "model" or all(step.status == "ok" for step in self.steps)

    def to_dict(self, *, outputs: bool = False) -> dict[str, Any]:
        """A JSON-serialisable dict of the result (step outputs too when ``outputs``)."""
        doc = attrs.asdict(
            self,
            filter=lambda field, _: field.name not in ("outputs", "tool_calls", "usage"),
        )
        doc["steps"] = [step.to_dict() for step in self.steps]
        doc["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        doc["usage"] = self.usage.to_dict()
        doc["ok"] = self.ok
        if outputs:
            doc["outputs"] = jsonable(self.outputs)
        return doc
