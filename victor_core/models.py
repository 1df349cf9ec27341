"""The value objects plugins return and the core passes around.

``Tool``, ``Skill`` and ``Persona`` come from the hooks of their families;
``Plan`` and ``PlanStep`` describe work as a DAG; ``ToolResult`` is what an
execution gives back. All are attrs classes built with keyword arguments.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from victor_core.exceptions import (
    ArgumentTypeError,
    ChainError,
    InvalidArgumentError,
    StepNotFoundError,
    ToolParameterError,
)

__all__ = [
    "EFFECTS",
    "Persona",
    "Plan",
    "PlanResult",
    "PlanStep",
    "Skill",
    "StepResult",
    "Tool",
    "ToolResult",
]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def _check_name(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidArgumentError(
            f"{type(inst).__name__}.{attribute.name} must be a non-empty identifier of letters, "
            f"digits, '_', '-' or '.', starting with a letter or '_' (got {value!r})",
            argument=attribute.name,
            value=value,
        )


def _check_callable(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not callable(value):
        raise ArgumentTypeError(
            f"{type(inst).__name__} {getattr(inst, 'name', '?')!r}: func must be callable "
            f"(got {value!r})",
            argument=attribute.name,
            value=value,
        )


def _to_tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(value)


def _frozen_tuple(value: Any) -> tuple[Any, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


#: What a tool or skill may do, for approval (``agent_approval``): ``read`` (looks at
#: things, changes nothing), ``write`` (creates, changes or deletes files or data),
#: ``run`` (runs code or processes), ``network`` (reaches other machines).
EFFECTS = ("read", "write", "run", "network")


def _effects(value: Any) -> tuple[str, ...]:
    effects = _frozen_tuple(value)
    unknown = [e for e in effects if e not in EFFECTS]
    if unknown or not effects:
        raise ToolParameterError(
            f"effects must be a non-empty tuple of {', '.join(map(repr, EFFECTS))} (got {value!r})",
            tool=None,
        )
    return effects


_JSON_TYPES = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
}


def signature_schema(func: Callable[..., Any]) -> dict[str, Any]:
    """A JSON-schema-like description of ``func``'s keyword parameters.

    ``**kwargs`` makes the schema open (``additionalProperties: true``).
    """
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return {"type": "object", "properties": {}, "required": [], "additionalProperties": True}
    props: dict[str, Any] = {}
    required: list[str] = []
    open_ = False
    for param in sig.parameters.values():
        if param.kind is param.VAR_KEYWORD:
            open_ = True
            continue
        if param.kind in (param.VAR_POSITIONAL, param.POSITIONAL_ONLY):
            continue
        prop: dict[str, Any] = {}
        ann = param.annotation
        if isinstance(ann, str):
            base = ann.split("|")[0].strip().split("[")[0]
            ann = {
                "str": str,
                "int": int,
                "float": float,
                "bool": bool,
                "list": list,
                "dict": dict,
            }.get(base, ann)
        if ann in _JSON_TYPES:
            prop["type"] = _JSON_TYPES[ann]
        if param.default is param.empty:
            required.append(param.name)
        else:
            prop["default"] = param.default
        props[param.name] = prop
    return {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": open_,
    }


def keyword_names(target: Any) -> tuple[frozenset[str], bool]:
    """The keyword names ``target`` accepts, and whether it takes any other keyword.

    ``target`` is a :class:`Tool` (its parameter schema), a schema mapping, or
    a callable (its signature, as :func:`signature_schema` reads it). The one
    answer to "does this take keyword X" in victor-core.
    """
    schema = getattr(target, "parameters", None)
    if isinstance(target, Mapping):
        schema = target
    elif not isinstance(schema, Mapping):
        schema = signature_schema(target)
    props = schema.get("properties")
    if props is None:
        return frozenset(), True
    return frozenset(props), bool(schema.get("additionalProperties", False))


def accepts_keyword(target: Any, name: str) -> bool:
    """Whether ``target`` (a Tool, a schema or a callable) takes the keyword ``name``."""
    names, open_ = keyword_names(target)
    return open_ or name in names


def is_async_callable(func: Callable[..., Any]) -> bool:
    """Whether calling ``func`` gives a coroutine (``async def``, or ``async def __call__``)."""
    # An object with ``async def __call__`` is async too.
    target = getattr(func, "__call__", None) if not inspect.isroutine(func) else func  # noqa: B004
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(target)


@attrs.define(kw_only=True, frozen=True, eq=False)
class Tool:
    """A callable an agent can run.

    Args:
        name: unique name (``read_file``).
        description: what it does, in words; tool selection ranks by it.
        func: sync or async callable taking keyword parameters.
        parameters: JSON-schema-like object schema; derived from ``func``'s
            signature when omitted.
        tags: free-form labels (``"filesystem"``, ``"read-only"``).
        timeout: seconds, overriding ``tool_execution_timeout`` for this tool.
        effects: what calling it may do, from :data:`EFFECTS` (default ``("read",)``);
            with ``agent_approval="writes"`` a model's call of a tool that may
            ``write``, ``run`` or reach the ``network`` waits for approval.
    """

    name: str = attrs.field(validator=_check_name)
    description: str = attrs.field(validator=attrs.validators.instance_of(str))
    func: Callable[..., Any] = attrs.field(validator=_check_callable, repr=False)
    parameters: Mapping[str, Any] = attrs.field(default=None, repr=False)
    tags: tuple[str, ...] = attrs.field(default=(), converter=_frozen_tuple)
    timeout: float | None = attrs.field(default=None)
    effects: tuple[str, ...] = attrs.field(default=("read",), converter=_effects)

    def __attrs_post_init__(self) -> None:
        if self.parameters is None:
            object.__setattr__(self, "parameters", signature_schema(self.func))

    @property
    def is_async(self) -> bool:
        """Whether ``func`` is a coroutine function (runs on the event loop)."""
        return is_async_callable(self.func)


@attrs.define(kw_only=True, frozen=True, eq=False)
class Skill:
    """A named capability, usually composed of tools.

    Args:
        name: unique name (``code_review``).
        description: what it achieves.
        func: sync or async callable taking keyword parameters; in a chain it
            also receives ``inputs`` (outputs of the steps it depends on) when
            it accepts that parameter or ``**kwargs``.
        tools: names of the tools it uses (documentation and selection).
        tags: free-form labels.
        depends_on: names of skills whose outputs it consumes; when both are
            in a chain, this one runs after them and receives their outputs.
        effects: what calling it may do, from :data:`EFFECTS` (see :class:`Tool`).
    """

    name: str = attrs.field(validator=_check_name)
    description: str = attrs.field(validator=attrs.validators.instance_of(str))
    func: Callable[..., Any] = attrs.field(validator=_check_callable, repr=False)
    tools: tuple[str, ...] = attrs.field(default=(), converter=_frozen_tuple)
    tags: tuple[str, ...] = attrs.field(default=(), converter=_frozen_tuple)
    depends_on: tuple[str, ...] = attrs.field(default=(), converter=_frozen_tuple)
    effects: tuple[str, ...] = attrs.field(default=("read",), converter=_effects)

    @property
    def is_async(self) -> bool:
        """Whether ``func`` is a coroutine function."""
        return is_async_callable(self.func)


@attrs.define(kw_only=True, frozen=True)
class Persona:
    """How the agent behaves: which tools it prefers and how it reports.

    Args:
        name: unique name (``reviewer``).
        description: one line about it.
        system_prompt: instructions given to a provider.
        tool_preferences: tool or tag name -> weight multiplying its selection
            score (``{"run_tests": 1.5}``).
        style: how reports read: ``"concise"``, ``"detailed"`` or ``"bullet"``.
        tags: free-form labels.
    """

    name: str = attrs.field(validator=_check_name)
    description: str = attrs.field(validator=attrs.validators.instance_of(str))
    system_prompt: str = ""
    tool_preferences: Mapping[str, float] = attrs.field(factory=dict)
    style: str = attrs.field(
        default="concise",
        validator=attrs.validators.in_(("concise", "detailed", "bullet")),
    )
    tags: tuple[str, ...] = attrs.field(default=(), converter=_frozen_tuple)


@attrs.define(kw_only=True, frozen=True)
class PlanStep:
    """One step of a plan: run a tool or a skill once its dependencies are done.

    Args:
        id: unique within the plan.
        action: the tool or skill name.
        kind: ``"tool"`` or ``"skill"``.
        params: keyword parameters.
        depends_on: ids of steps whose outputs this step needs.
        description: what the step is for, in words.
    """

    id: str = attrs.field(validator=attrs.validators.instance_of(str))
    action: str = attrs.field(validator=attrs.validators.instance_of(str))
    kind: str = attrs.field(default="tool", validator=attrs.validators.in_(("tool", "skill")))
    params: Mapping[str, Any] = attrs.field(factory=dict)
    depends_on: tuple[str, ...] = attrs.field(default=(), converter=_frozen_tuple)
    description: str = ""


@attrs.define(kw_only=True, frozen=True)
class Plan:
    """A goal and the DAG of steps that achieves it.

    Args:
        goal: the goal in words.
        steps: the steps; dependencies refer to step ids.
        metadata: free-form (planner name, sub-goals...).
    """

    goal: str = attrs.field(validator=attrs.validators.instance_of(str))
    steps: tuple[PlanStep, ...] = attrs.field(default=(), converter=_to_tuple)
    metadata: Mapping[str, Any] = attrs.field(factory=dict)

    def waves(self) -> list[list[PlanStep]]:
        """The steps grouped in waves: every step's dependencies are in earlier waves.

        Raises:
            ChainError: duplicate ids, a dependency on a missing step, or a cycle;
                the message names the steps.
        """
        by_id: dict[str, PlanStep] = {}
        for step in self.steps:
            if step.id in by_id:
                raise ChainError(f"plan has two steps with id {step.id!r}", steps=(step.id,))
            by_id[step.id] = step
        for step in self.steps:
            missing = [d for d in step.depends_on if d not in by_id]
            if missing:
                raise ChainError(
                    f"step {step.id!r} depends on missing step(s) {', '.join(map(repr, missing))}; "
                    f"known steps: {', '.join(map(repr, by_id)) or 'none'}",
                    steps=(step.id, *missing),
                )
        done: set[str] = set()
        remaining = list(self.steps)
        waves: list[list[PlanStep]] = []
        while remaining:
            wave = [s for s in remaining if all(d in done for d in s.depends_on)]
            if not wave:
                stuck = tuple(s.id for s in remaining)
                raise ChainError(
                    f"plan has a dependency cycle among steps {', '.join(map(repr, stuck))}",
                    steps=stuck,
                )
            waves.append(wave)
            done.update(s.id for s in wave)
            remaining = [s for s in remaining if s.id not in done]
        return waves


@attrs.define(kw_only=True, frozen=True)
class ToolResult:
    """The outcome of one tool (or step) execution.

    ``ok`` is False when the tool raised or timed out; ``error`` then says why
    and ``value`` is None.
    """

    name: str
    ok: bool
    value: Any = None
    error: str | None = None
    duration_s: float = 0.0
    error_type: str | None = None


#: The states a step of an executed plan ends in.
STEP_STATUSES = ("ok", "failed", "timeout", "skipped")


@attrs.define(kw_only=True, frozen=True)
class StepResult:
    """The outcome of one step of an executed plan or skill chain.

    Args:
        id: the step's id.
        action: the tool or skill it ran.
        kind: ``"tool"`` or ``"skill"``.
        status: ``"ok"``, ``"failed"`` (it raised), ``"timeout"`` or
            ``"skipped"`` (a dependency did not succeed).
        value: what it returned (None unless ``status == "ok"``).
        error: why it did not succeed.
        error_type: the exception class name behind ``error``.
        duration_s: seconds it ran.
        wave: index of the dependency wave it belonged to.
    """

    id: str
    action: str
    kind: str = "tool"
    status: str = attrs.field(validator=attrs.validators.in_(STEP_STATUSES))
    value: Any = None
    error: str | None = None
    error_type: str | None = None
    duration_s: float = 0.0
    wave: int = 0

    @property
    def ok(self) -> bool:
        """Whether the step succeeded."""
        return self.status == "ok"


@attrs.define(kw_only=True, frozen=True)
class PlanResult:
    """The outcome of an executed plan or skill chain.

    Args:
        goal: the plan's goal.
        steps: one result per step, in the plan's step order.
        duration_s: seconds the whole plan took.
        waves: the step ids of each dependency wave, in execution order.
        metadata: the plan's metadata.
    """

    goal: str
    steps: tuple[StepResult, ...] = attrs.field(default=(), converter=_to_tuple)
    duration_s: float = 0.0
    waves: tuple[tuple[str, ...], ...] = ()
    metadata: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every step succeeded."""
        return all(step.ok for step in self.steps)

    @property
    def outputs(self) -> dict[str, Any]:
        """Step id -> value of every step that succeeded."""
        return {step.id: step.value for step in self.steps if step.ok}

    @property
    def value(self) -> Any:
        """The value of the last step of the last wave (the chain's final output), or None."""
        if not self.waves or not self.waves[-1]:
            return None
        last = self[self.waves[-1][-1]]
        return last.value

    @property
    def failed(self) -> list[StepResult]:
        """Steps that failed, timed out or were skipped."""
        return [step for step in self.steps if not step.ok]

    def __getitem__(self, step_id: str) -> StepResult:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise StepNotFoundError(
            f"plan has no step {step_id!r}; steps: {', '.join(s.id for s in self.steps) or 'none'}",
            step=step_id,
        )
