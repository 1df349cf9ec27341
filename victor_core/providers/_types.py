"""The vocabulary of tool calling: tool calls, usage, a model's reply, tool definitions.

A provider that can call tools implements :class:`ToolCallingProvider` beside
:class:`~victor_core.providers.Provider`: it is offered tool definitions (the
chat-completions ``tools`` format, built by :func:`tool_definition`) and
answers with a :class:`ModelReply`: text, tool calls, or both, with the token
usage and the finish reason the server reported. Its stream yields text chunks
(``str``) as they arrive and, last, the whole :class:`ModelReply`.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

__all__ = [
    "ModelReply",
    "ToolCall",
    "ToolCallingProvider",
    "Usage",
    "function_name",
    "tool_definition",
]

#: Names a chat-completions function may have.
_FUNCTION_NAME = re.compile(r"[^A-Za-z0-9_-]")


@attrs.define(frozen=True, kw_only=True)
class ToolCall:
    """One call a model asks for.

    Args:
        id: the call id the result must carry back (``tool_call_id``).
        name: the function name, as offered.
        arguments: the arguments as the model wrote them (JSON text, maybe invalid).
    """

    id: str
    name: str
    arguments: str = "{}"

    def to_message(self) -> dict[str, Any]:
        """The call as an item of an assistant message's ``tool_calls``."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@attrs.define(frozen=True, kw_only=True)
class Usage:
    """Tokens of one model call or a whole run (None: the server did not say)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens (unknown counts as 0)."""
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)

    def __add__(self, other: Usage) -> Usage:
        def add(a: int | None, b: int | None) -> int | None:
            return None if a is None and b is None else (a or 0) + (b or 0)

        return Usage(
            prompt_tokens=add(self.prompt_tokens, other.prompt_tokens),
            completion_tokens=add(self.completion_tokens, other.completion_tokens),
        )

    def to_dict(self) -> dict[str, int | None]:
        """``prompt_tokens``, ``completion_tokens`` and ``total_tokens``."""
        known = self.prompt_tokens is not None or self.completion_tokens is not None
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens if known else None,
        }

    @classmethod
    def from_wire(cls, doc: Any) -> Usage:
        """From a chat-completions ``usage`` object (anything else: unknown)."""
        if not isinstance(doc, Mapping):
            return cls()
        prompt, completion = doc.get("prompt_tokens"), doc.get("completion_tokens")
        return cls(
            prompt_tokens=prompt if isinstance(prompt, int) else None,
            completion_tokens=completion if isinstance(completion, int) else None,
        )


def _calls(value: Any) -> tuple[ToolCall, ...]:
    return tuple(value)


@attrs.define(frozen=True, kw_only=True)
class ModelReply:
    """A model's answer to one request.

    Args:
        text: the text it wrote ("" when it only called tools).
        tool_calls: the calls it asks for, in its order.
        usage: the tokens the server reported.
        finish_reason: why it stopped (``stop``, ``tool_calls``, ``length``...).
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=_calls)
    usage: Usage = attrs.field(factory=Usage)
    finish_reason: str | None = None

    def to_message(self) -> dict[str, Any]:
        """The reply as the assistant message that goes back into the conversation."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text or None}
        if self.tool_calls:
            message["tool_calls"] = [call.to_message() for call in self.tool_calls]
        return message

    def to_dict(self) -> dict[str, Any]:
        """A JSON document of the reply (the response cache stores it)."""
        return {
            "text": self.text,
            "tool_calls": [attrs.asdict(call) for call in self.tool_calls],
            "usage": {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
            },
            "finish_reason": self.finish_reason,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ModelReply:
        """The reply :meth:`to_dict` wrote.

        Raises:
            KeyError, TypeError: ``doc`` is not such a document.
        """
        calls = tuple(
            ToolCall(id=str(c["id"]), name=str(c["name"]), arguments=str(c["arguments"]))
            for c in doc["tool_calls"]
        )
        return cls(
            text=str(doc["text"]),
            tool_calls=calls,
            usage=Usage.from_wire(doc.get("usage")),
            finish_reason=doc.get("finish_reason"),
        )


@runtime_checkable
class ToolCallingProvider(Protocol):
    """What a provider that can call tools implements (beside ``Provider``)."""

    name: str

    async def reply(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        **params: Any,
    ) -> ModelReply:
        """The model's reply to ``messages``, offered ``tools`` (function definitions).

        Raises:
            ProviderError: the request failed after the provider's retries.
        """
        ...

    def stream_reply(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        **params: Any,
    ) -> AsyncIterator[str | ModelReply]:
        """Text chunks as they arrive, then the whole :class:`ModelReply` (last item).

        Raises:
            ProviderError: the request failed, or the stream broke or was malformed.
        """
        ...


def function_name(name: str) -> str:
    """``name`` as a chat-completions function name (letters, digits, ``_`` and ``-``)."""
    return _FUNCTION_NAME.sub("_", name)[:64]


def tool_definition(name: str, description: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A chat-completions function definition for a tool or skill.

    ``parameters`` is the tool's JSON Schema (``Tool.parameters``); defaults that
    JSON cannot hold are left out of the copy sent to the model.
    """
    schema = _json_schema(parameters)
    return {
        "type": "function",
        "function": {"name": function_name(name), "description": description, "parameters": schema},
    }


def _json_schema(parameters: Mapping[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": {}}
    for key, value in parameters.items():
        if key == "properties" and isinstance(value, Mapping):
            props: dict[str, Any] = {}
            for prop, spec in value.items():
                clean = dict(spec) if isinstance(spec, Mapping) else {}
                if "default" in clean:
                    try:
                        json.dumps(clean["default"])
                    except (TypeError, ValueError):
                        del clean["default"]
                props[str(prop)] = clean
            schema["properties"] = props
        elif key == "required":
            schema["required"] = [str(r) for r in value]
        else:
            schema[str(key)] = value
    return schema
