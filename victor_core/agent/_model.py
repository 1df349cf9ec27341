"""The model-driven loop: the model asks for tools, the executor runs them, until it answers.

Each model turn is offered the selected tools and skills as function
definitions. Every tool call of one turn is checked (a known name, arguments
that are a JSON object matching the schema, approval where ``agent_approval``
wants it) and the accepted ones run in parallel through the executor; each
result (or error) goes back as a ``role: "tool"`` message with its call id.
The loop ends when the model answers without tool calls, or when a budget is
reached: ``agent_max_turns``, ``agent_max_tool_calls`` (per turn) or
``agent_max_tokens`` (per run); the status then names the budget.
"""

from __future__ import annotations

import inspect
import json
import os
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from victor_core.agent._events import (
    EventHook,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
    TurnStarted,
)
from victor_core.agent._services import ApprovalRequest, Approver
from victor_core.exceptions import ProviderError
from victor_core.models import Skill, Tool, ToolResult, signature_schema
from victor_core.providers._types import ModelReply, ToolCall, Usage, function_name, tool_definition

if TYPE_CHECKING:
    from victor_core.execution._executor import ToolExecutor
    from victor_core.providers._registry import Responder

__all__ = ["ModelOutcome", "ModelRun", "ToolCallRecord", "check_arguments"]

#: Most characters of one tool result sent back to the model.
RESULT_CHARS = 20_000

_JSON_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


@attrs.define(frozen=True, kw_only=True)
class ToolCallRecord:
    """One tool call of a run: what the model asked for and how it went.

    ``arguments`` is the parsed object, or the raw text when it was not valid JSON.
    """

    id: str
    name: str
    arguments: Any
    ok: bool
    error: str | None
    duration_s: float
    turn: int

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-serialisable dict."""
        return attrs.asdict(self)


@attrs.define(kw_only=True)
class ModelOutcome:
    """What the model-driven loop produced."""

    answer: str
    tool_calls: list[ToolCallRecord]
    turns: int
    usage: Usage
    status: str
    errors: list[str]
    outputs: dict[str, Any]


@attrs.define(kw_only=True)
class _RunState:
    """What a model-driven run gathered so far."""

    records: list[ToolCallRecord] = attrs.field(factory=list)
    errors: list[str] = attrs.field(factory=list)
    outputs: dict[str, Any] = attrs.field(factory=dict)
    usage: Usage = attrs.field(factory=Usage)
    answer: str = ""
    status: str = "agent_max_turns"
    turns: int = 0


def check_arguments(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> list[str]:
    """What is wrong with ``arguments`` for the JSON Schema ``schema`` ([] when nothing).

    Checks unknown names (unless ``additionalProperties``), missing required
    names and the JSON ``type`` of each given value.
    """
    problems: list[str] = []
    props = schema.get("properties") or {}
    if not schema.get("additionalProperties", False):
        unknown = sorted(k for k in arguments if k not in props)
        if unknown:
            problems.append(f"unknown argument(s) {', '.join(map(repr, unknown))}")
    missing = [k for k in schema.get("required", ()) if k not in arguments]
    if missing:
        problems.append(f"missing required argument(s) {', '.join(map(repr, missing))}")
    for name, value in arguments.items():
        spec = props.get(name)
        if not isinstance(spec, Mapping) or "type" not in spec:
            continue
        wanted = spec["type"]
        types = [wanted] if isinstance(wanted, str) else list(wanted)
        checks = [_JSON_CHECKS[t] for t in types if t in _JSON_CHECKS]
        if checks and not any(check(value) for check in checks):
            problems.append(f"argument {name!r} must be {' or '.join(types)} (got {value!r})")
    return problems


class ModelRun:
    """One model-driven run (see the module documentation).

    Args:
        responder: asks the model (response cache and metrics included).
        executor: runs the accepted tool calls, in parallel up to ``workers``.
        offered: the tools and skills the model may call.
        settings: budgets (``agent_max_*``), ``agent_approval``, parallelism.
        emit: receives the events of the run.
        approve: decides calls that need approval (None: they are denied).
        workspace: the directory given as ``path`` to tools that take one and got none.
        key_system: the system prompt the response cache keys the replies by, when it
            is not the one sent (the recalled memories are left out of the key).
    """

    def __init__(
        self,
        *,
        responder: Responder,
        executor: ToolExecutor,
        offered: Sequence[Tool | Skill],
        settings: Any,
        emit: EventHook,
        approve: Approver | None,
        workspace: str,
        use_cache: bool = True,
        stream: bool = True,
        key_system: str | None = None,
    ) -> None:
        self._responder = responder
        self._executor = executor
        self._settings = settings
        self._emit = emit
        self._approve = approve
        self._workspace = workspace
        self._use_cache = use_cache
        self._stream = stream
        self._key_system = key_system
        self._by_function: dict[str, Tool | Skill] = {}
        self.definitions: list[dict[str, Any]] = []
        for item in offered:
            fname = function_name(item.name)
            if fname in self._by_function:
                continue  # a tool and a skill of one name: the first (the tool) wins
            self._by_function[fname] = item
            self.definitions.append(_described(item)[1])

    async def run(self, messages: list[dict[str, Any]]) -> ModelOutcome:
        """Drive the conversation ``messages`` (system and user) to an answer or a budget."""
        settings = self._settings
        state = _RunState()
        for turn in range(1, int(settings.agent_max_turns) + 1):
            state.turns = turn
            if await self._turn(messages, turn, state):
                break
        if state.status == "agent_max_turns" and not state.errors:
            state.errors.append(f"stopped: agent_max_turns ({settings.agent_max_turns}) reached")
        return ModelOutcome(
            answer=state.answer,
            tool_calls=state.records,
            turns=state.turns,
            usage=state.usage,
            status=state.status,
            errors=state.errors,
            outputs=state.outputs,
        )

    async def _turn(self, messages: list[dict[str, Any]], turn: int, state: _RunState) -> bool:
        """One model turn and its tool calls; True when the run ends with it."""
        self._emit(TurnStarted(turn=turn))
        try:
            reply = await self._ask(messages, turn)
        except ProviderError as exc:
            state.status = "provider_error"
            state.errors.append(f"provider: {exc}")
            return True
        state.usage = state.usage + reply.usage
        state.answer = reply.text or state.answer
        self._emit(
            TurnFinished(
                turn=turn,
                finish_reason=reply.finish_reason,
                tool_calls=len(reply.tool_calls),
                usage=reply.usage.to_dict(),
            )
        )
        if self._ends(reply, turn, state):
            return True
        messages.append(reply.to_message())
        return await self._calls(list(reply.tool_calls), messages, turn, state)

    def _ends(self, reply: ModelReply, turn: int, state: _RunState) -> bool:
        """Whether the run ends after ``reply`` (an answer, or a budget reached)."""
        settings = self._settings
        limit = int(settings.agent_max_tokens)
        if limit and state.usage.total_tokens > limit:
            state.status = "agent_max_tokens"
            state.errors.append(
                f"stopped: the run used {state.usage.total_tokens} tokens, over agent_max_tokens "
                f"({limit})"
            )
            return True
        if not reply.tool_calls:
            state.status = "completed"
            return True
        if turn == int(settings.agent_max_turns):
            state.errors.append(
                f"stopped: the model still asked for {len(reply.tool_calls)} tool call(s) "
                f"after agent_max_turns ({settings.agent_max_turns}) turns"
            )
            return True
        return False

    async def _calls(
        self, calls: list[ToolCall], messages: list[dict[str, Any]], turn: int, state: _RunState
    ) -> bool:
        """Run a turn's calls (refusing those over ``agent_max_tool_calls``); True: the run ends."""
        most = int(self._settings.agent_max_tool_calls)
        done = await self._run_calls(calls[:most], turn, state.outputs)
        for call in calls[most:]:
            error = (
                f"refused: the turn asked for {len(calls)} tool calls, over "
                f"agent_max_tool_calls ({most})"
            )
            done.append(self._refused(call, _parse(call.arguments)[0], error, turn))
        for call, record in zip(calls, done, strict=True):
            messages.append(_tool_message(call, record, state.outputs.get(call.id)))
        state.records.extend(done)
        if len(calls) > most:
            state.status = "agent_max_tool_calls"
            state.errors.append(
                f"stopped: turn {turn} asked for {len(calls)} tool calls, over "
                f"agent_max_tool_calls ({most})"
            )
            return True
        return False

    async def _ask(self, messages: list[dict[str, Any]], turn: int) -> ModelReply:
        responder = self._responder
        tools = self.definitions
        key = None
        if self._key_system is not None and messages and messages[0].get("role") == "system":
            key = [{**messages[0], "content": self._key_system}, *messages[1:]]
        if not self._stream:
            reply = await responder.reply(
                messages, tools=tools, use_cache=self._use_cache, key_messages=key
            )
            if reply.text:
                self._emit(TextDelta(text=reply.text, turn=turn))
            return reply
        final: ModelReply | None = None
        async for item in responder.stream_reply(
            messages, tools=tools, use_cache=self._use_cache, key_messages=key
        ):
            if isinstance(item, ModelReply):
                final = item
            elif item:
                self._emit(TextDelta(text=item, turn=turn))
        if final is None:  # pragma: no cover - the responder always ends with the reply
            final = ModelReply()
        return final

    # -- tool calls --------------------------------------------------------------------------

    async def _run_calls(
        self, calls: Sequence[ToolCall], turn: int, outputs: dict[str, Any]
    ) -> list[ToolCallRecord]:
        records: list[ToolCallRecord | None] = [None] * len(calls)
        thunks: list[Callable[[], Awaitable[None]]] = []
        for index, call in enumerate(calls):
            target, arguments, problem = self._check(call)
            if problem is None and target is not None:
                problem = await self._approval(target, arguments, turn)
            self._emit(ToolCallStarted(id=call.id, name=call.name, arguments=arguments, turn=turn))
            if problem is not None or target is None:
                records[index] = self._refused(call, arguments, problem or "", turn)
                continue
            thunks.append(
                self._thunk(
                    index,
                    call,
                    target=target,
                    arguments=arguments,
                    turn=turn,
                    records=records,
                    outputs=outputs,
                )
            )
        settings = self._settings
        workers = int(settings.max_parallel_workers) if settings.parallel_execution_enabled else 1
        await self._executor.run_bounded(thunks, workers)
        return [r for r in records if r is not None]

    def _thunk(
        self,
        index: int,
        call: ToolCall,
        *,
        target: Tool | Skill,
        arguments: dict[str, Any],
        turn: int,
        records: list[ToolCallRecord | None],
        outputs: dict[str, Any],
    ) -> Callable[[], Awaitable[None]]:
        executor = self._executor

        async def thunk() -> None:
            if isinstance(target, Tool):
                result: ToolResult = await executor.run_tool(target, dict(arguments))
            else:
                result = await executor.call(target.name, target.func, dict(arguments))
            if result.ok:
                outputs[call.id] = result.value
            record = ToolCallRecord(
                id=call.id,
                name=call.name,
                arguments=arguments,
                ok=result.ok,
                error=result.error,
                duration_s=result.duration_s,
                turn=turn,
            )
            records[index] = record
            self._emit(_finished(record))

        return thunk

    def _check(self, call: ToolCall) -> tuple[Tool | Skill | None, Any, str | None]:
        """The call's target and arguments, or why it is refused."""
        arguments, problem = _parse(call.arguments)
        target = self._by_function.get(call.name)
        if target is None:
            offered = ", ".join(sorted(self._by_function)) or "none"
            return None, arguments, f"unknown tool {call.name!r}; the tools offered: {offered}"
        if problem is not None:
            return None, arguments, problem
        schema = _described(target)[0]
        if "path" in (schema.get("properties") or {}):
            arguments["path"] = _in_workspace(arguments.get("path"), self._workspace)
        problems = check_arguments(schema, arguments)
        if problems:
            return None, arguments, f"tool {call.name!r}: {'; '.join(problems)}"
        return target, arguments, None

    async def _approval(
        self, target: Tool | Skill, arguments: dict[str, Any], turn: int
    ) -> str | None:
        """None when the call may run; otherwise why not."""
        mode = str(self._settings.agent_approval)
        effects = tuple(target.effects)
        if mode == "never" or (mode == "writes" and set(effects) <= {"read"}):
            return None
        why = f"tool {target.name!r} may {'/'.join(effects)} and agent_approval is {mode!r}"
        if self._approve is None:
            return f"denied: {why}, and no one was asked to approve it"
        request = ApprovalRequest(
            name=target.name, arguments=dict(arguments), effects=effects, turn=turn
        )
        answer = self._approve(request)
        if inspect.isawaitable(answer):
            answer = await answer
        return None if answer else f"denied: {why}, and the call was not approved"

    def _refused(self, call: ToolCall, arguments: Any, error: str, turn: int) -> ToolCallRecord:
        record = ToolCallRecord(
            id=call.id,
            name=call.name,
            arguments=arguments,
            ok=False,
            error=error,
            duration_s=0.0,
            turn=turn,
        )
        self._emit(_finished(record))
        return record


#: Each offered tool or skill -> (its parameters' schema, its definition for the model).
#: Tools and skills are frozen, so what is built from one holds for its lifetime;
#: building it per run was a measurable part of a turn's cost.
_DESCRIBED: weakref.WeakKeyDictionary[Tool | Skill, tuple[Mapping[str, Any], dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)


def _described(item: Tool | Skill) -> tuple[Mapping[str, Any], dict[str, Any]]:
    """The schema of ``item``'s parameters and its function definition (built once)."""
    found = _DESCRIBED.get(item)
    if found is None:
        schema = item.parameters if isinstance(item, Tool) else signature_schema(item.func)
        found = (schema, tool_definition(item.name, item.description, _for_model(schema)))
        _DESCRIBED[item] = found
    return found


def _finished(record: ToolCallRecord) -> ToolCallFinished:
    return ToolCallFinished(
        id=record.id,
        name=record.name,
        ok=record.ok,
        error=record.error,
        duration_s=record.duration_s,
        turn=record.turn,
    )


def _in_workspace(path: Any, workspace: Any) -> Any:
    """The ``path`` a tool gets: the workspace when the model gave none, and a
    relative path (``"."``, ``"src"``) under the workspace, since the workspace
    is the root the model is told it works in."""
    if path is None:
        return workspace
    if workspace is None or not isinstance(path, str) or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(str(workspace), path))


def _parse(text: str) -> tuple[Any, str | None]:
    """The arguments as a dict, or the raw text and why it is refused."""
    try:
        value = json.loads(text or "{}")
    except ValueError as exc:
        return text, f"arguments are not valid JSON ({exc}): {text[:200]!r}"
    if not isinstance(value, dict):
        return value, f"arguments must be a JSON object (got {text[:200]!r})"
    return value, None


def _for_model(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema the model sees: ``path`` is optional (the workspace is its default)."""
    doc = dict(schema)
    required = [r for r in doc.get("required", ()) if r != "path"]
    doc["required"] = required
    return doc


def _tool_message(call: ToolCall, record: ToolCallRecord, value: Any) -> dict[str, Any]:
    content = _result_text(value) if record.ok else json.dumps({"error": record.error})
    return {"role": "tool", "tool_call_id": call.id, "content": content}


def _result_text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    if len(text) > RESULT_CHARS:
        text = text[:RESULT_CHARS] + f"... [truncated: {len(text)} characters in all]"
    return text
